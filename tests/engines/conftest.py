"""Fixtures for the dbos engine: one real Postgres cluster per module, a fresh database per test, a project whose
``parac.yaml`` names it, and worker processes (the real ``parac worker``, with the side-effect test plugin)."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.postgres import PostgresCluster

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
WFCLI = [sys.executable, str(Path(__file__).resolve().parent / "enginecli.py")]
POLICY = "description: test tools\nallow:\n  - tools: [record, flaky, broken, probe]\n"
_names = itertools.count()


@pytest.fixture(scope="module")
def cluster():
    with PostgresCluster(fsync=False) as pg:
        yield pg


class DbosProject:
    """A project on the dbos engine: the CLI, workers, and the side-effect log of the test tools."""

    def __init__(self, root: Path, url: str) -> None:
        self.root = root
        self.url = url
        self.log = root / "side-effects.jsonl"
        self.workers: list[subprocess.Popen[str]] = []
        self.extra_env: dict[str, str] = {}  # e.g. an OTLP receiver's address, for the CLI and the workers
        (root / ".parac" / "policies" / "test-tools.yaml").write_text(POLICY)
        settings = root / ".parac" / "parac.yaml"
        settings.write_text(settings.read_text() + f"engine:\n  kind: dbos\n  database_url: {url}\n")

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "WFTEST_LOG": str(self.log), "PARAC_DATABASE_URL": "", **self.extra_env}

    def write_workflow(self, name: str, text: str) -> None:
        (self.root / ".parac" / "workflows" / f"{name}.yaml").write_text(text)

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*WFCLI, *args], cwd=self.root, env=self.env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def spawn(self, *args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen([*WFCLI, *args], cwd=cwd or self.root, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)

    def start_worker(self, *args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
        """A worker; ``cwd`` another checkout of the project, standing for another host (its own workspace
        database, the same Postgres)."""
        proc = self.spawn("worker", *args, cwd=cwd)
        self.workers.append(proc)
        return proc

    def hosts(self, count: int, where: Path) -> list[Path]:
        """The project and ``count - 1`` copies of it under ``where`` without its state: checkouts on as many
        hosts, each with its own workspace database, sharing the Postgres."""
        out = [self.root]
        for n in range(1, count):
            copy = where / f"host{n}"
            shutil.copytree(self.root, copy, ignore=shutil.ignore_patterns("state"))
            out.append(copy)
        return out

    def start_workers_on(self, hosts: list[Path], *args: str) -> None:
        """One worker per host, and wait until all of them beat."""
        for host in hosts:
            self.start_worker(*args, cwd=host)
        self.wait_workers(len(hosts))

    def wait_workers(self, count: int, timeout: float = 60) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.cli("workers", "--json")
            if result.returncode == 0:
                alive = [row for row in json.loads(result.stdout) if row["alive"]]
                if len(alive) >= count:
                    return alive
            time.sleep(0.2)
        dead = [proc.communicate()[1][-2000:] for proc in self.workers if proc.poll() is not None]
        raise AssertionError(f"{count} workers did not come up: {self.cli('workers', '--json').stdout} {dead}")

    def log_lines(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def wait_for(self, step: str, event: str, timeout: float = 60) -> str:
        """Wait until the side-effect log has ``event`` of ``step``; the run id of that line."""
        deadline = time.monotonic() + timeout
        while not (found := [line for line in self.log_lines() if line["step"] == step and line["event"] == event]):
            assert time.monotonic() < deadline, f"no {event} of step {step} within {timeout}s"
            time.sleep(0.05)
        return found[0]["run_id"]

    def stop_workers(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def dbos_project(project: Path, cluster: PostgresCluster):
    out = DbosProject(project, cluster.create_database(f"parac{next(_names)}"))
    yield out
    out.stop_workers()
