"""Fixtures for the dbos engine: one real Postgres cluster per session, a fresh database per test (a copy of one
DBOS's migrations were run on once), a project whose ``parac.yaml`` names it, and worker processes (the real
``parac worker``, with the side-effect test plugin).

What the tests wait for (workers up, a run's state) is read in this process through
:class:`~parac.core.engines.dbos.DbosRuns`, as ``parac workers`` and ``workflow status`` read it: a CLI process per
poll would cost a second of a loaded machine's CPU each time. The CLI is run where its own output is what is
checked."""

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
from typing import Any

import pytest

from tests.support.postgres import PostgresCluster

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
WFCLI = [sys.executable, str(Path(__file__).resolve().parent / "enginecli.py")]
POLICY = "description: test tools\nallow:\n  - tools: [record, flaky, broken, probe]\n"
TEMPLATE = "parac_template"
_names = itertools.count()


@pytest.fixture(scope="session")
def cluster():
    """The cluster, with the database every test's is copied from: DBOS's tables made once (``dbos migrate``), not
    by each test's first worker."""
    with PostgresCluster(fsync=False) as pg:
        url = pg.create_database(TEMPLATE)
        dbos = Path(sys.executable).parent / "dbos"
        subprocess.run([str(dbos), "migrate", "-s", url], check=True, capture_output=True, timeout=120)
        yield pg


class DbosProject:
    """A project on the dbos engine: the CLI, workers, and the side-effect log of the test tools."""

    def __init__(self, root: Path, url: str) -> None:
        self.root = root
        self.url = url
        self.log = root / "side-effects.jsonl"
        self.workers: list[subprocess.Popen[str]] = []
        self.extra_env: dict[str, str] = {}  # e.g. an OTLP receiver's address, for the CLI and the workers
        self._runs: Any = None
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

    @property
    def runs(self) -> Any:
        """The engine's client in this process (what ``parac workers``, ``workflow status`` read)."""
        if self._runs is None:
            from parac.core.engines.dbos import DbosRuns

            self._runs = DbosRuns(self.url)
        return self._runs

    def wait_workers(self, count: int, timeout: float = 60) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive = [row for row in self.runs.workers() if row["alive"]]
            if len(alive) >= count:
                return alive
            time.sleep(0.05)
        dead = [proc.communicate()[1][-2000:] for proc in self.workers if proc.poll() is not None]
        raise AssertionError(f"{count} workers did not come up: {self.runs.workers()} {dead}")

    def wait_status(self, run_id: str, status: str, timeout: float = 60) -> dict:
        """Wait until the run (as ``workflow status --json`` shows it) has ``status``; that status."""
        deadline = time.monotonic() + timeout
        while (found := self._status(run_id)) is None or found["status"] != status:
            assert time.monotonic() < deadline, f"run {run_id} is not {status} within {timeout}s: {found}"
            time.sleep(0.05)
        return found

    def _status(self, run_id: str) -> dict | None:
        from parac.core.diagnostics import ParacError

        try:
            return self.runs.status(run_id)
        except ParacError:  # not enqueued yet
            return None

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

    def close(self) -> None:
        self.stop_workers()
        if self._runs is not None:
            self._runs.close()
        from parac.core.engines import pool

        pool.dispose(self.url)  # the database's connections in this process (serve's in-process tests use it too)


@pytest.fixture
def dbos_project(project: Path, cluster: PostgresCluster):
    out = DbosProject(project, cluster.create_database(f"parac{next(_names)}", template=TEMPLATE))
    yield out
    out.close()
