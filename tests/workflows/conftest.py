"""Fixtures for workflow tests: a default-template project with the side-effect test plugin and test workflows."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
WFCLI = [sys.executable, str(HERE / "wfcli.py")]
sys.path.insert(0, str(HERE))

CRASH_WORKFLOW = """\
description: Steps with side effects, a fan-out, a join and a gate, for crash tests
inputs:
  pause: {type: number, default: 0.3}
concurrency: 4
steps:
  - {id: s1, tool: record, arguments: {label: s1, sleep_s: 0.15}}
  - {id: p1, tool: record, arguments: {label: p1, sleep_s: "{{ inputs.pause }}"}, depends_on: [s1]}
  - {id: p2, tool: record, arguments: {label: p2, sleep_s: 0.2}, depends_on: [s1]}
  - {id: p3, tool: record, arguments: {label: p3, sleep_s: 0.1}, depends_on: [s1]}
  - id: join
    tool: record
    arguments: {label: "join after {{ steps.p1.output.label }}", sleep_s: 0.15}
    depends_on: [p1, p2, p3]
  - {id: gate, type: approval, depends_on: [join], message: "Ship {{ steps.join.output.label }}?"}
  - {id: last, tool: record, arguments: {label: last, sleep_s: 0.1}, depends_on: [gate]}
  - {id: tail, tool: record, arguments: {label: tail, sleep_s: 0.3}, depends_on: [last]}
outputs:
  joined: "{{ steps.join.output.label }}"
"""

POLICY = "description: test tools\nallow:\n  - tools: [record, flaky, broken, probe]\n"


@dataclass
class Resumed:
    """A run killed -9 at a chosen point, then resumed by ``workflow resume``: what every kind's kill test reads."""

    run_id: str
    killed: int  # the killed process's pid
    before: dict[str, dict]  # the run's step rows as the kill left them
    after: dict[str, sqlite3.Row]  # ... and once the resumed run ended
    result: dict  # ``workflow resume --json``
    lines: list[dict]  # the side-effect log of both processes

    def assert_each_applied_once(self, steps: Iterable[str]) -> None:
        """Each step's effect happened once, under its idempotency key; a step that completed before the kill was
        never touched again (every line it logged comes from the killed process)."""
        for step in steps:
            mine = [line for line in self.lines if line["step"] == step]
            assert {line["key"] for line in mine} == {f"{self.run_id}:{step}"}, step
            assert sum(line["event"] == "applied" for line in mine) == 1, (step, mine)
            if self.before.get(step, {}).get("status") == "completed":
                assert all(line["pid"] == self.killed for line in mine), (step, mine)


class Project:
    """A project on disk with helpers to run the CLI (with the test plugin) and read the database."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.log = root / "side-effects.jsonl"
        self.db = root / ".parac" / "state" / "parac.db"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "WFTEST_LOG": str(self.log)}

    def write_workflow(self, name: str, text: str) -> None:
        (self.root / ".parac" / "workflows" / f"{name}.yaml").write_text(text)

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*WFCLI, *args], cwd=self.root, env=self.env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([*WFCLI, *args], cwd=self.root, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)

    def log_lines(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def query(self, sql: str, *params: object) -> list[sqlite3.Row]:
        if not self.db.exists():
            return []
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError:  # the tables do not exist yet
            return []
        finally:
            conn.close()

    def runs(self) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM workflow_runs ORDER BY created_at")

    def steps(self, run_id: str) -> dict[str, sqlite3.Row]:
        return {row["step_id"]: row for row in self.query("SELECT * FROM workflow_steps WHERE run_id = ?", run_id)}

    def logged(self, event: str, step: str) -> bool:
        """Whether the test tool logged ``event`` (start, applied, ...) for ``step``."""
        return any(line["event"] == event and line["step"] == step for line in self.log_lines())

    def kill_when(self, predicate, *args: str, what: str = "the kill point") -> int:
        """Start ``workflow run ARGS`` and kill -9 it once ``predicate(self)`` holds; the killed process's pid."""
        proc = self.spawn("workflow", "run", *args)
        try:
            self.wait_for(lambda: predicate(self) or proc.poll() is not None, what=what)
            assert proc.poll() is None, f"the run ended before {what}: {proc.communicate()}"
            proc.kill()
        finally:
            proc.wait()
        return proc.pid

    def kill_and_resume(self, predicate, *args: str, what: str, between: Callable[[], object] = lambda: None) -> Resumed:
        """Kill -9 ``workflow run ARGS`` once ``predicate(self)`` holds, call ``between()``, resume the run (which
        must then succeed) and collect what the tests check."""
        killed = self.kill_when(predicate, *args, what=what)
        run_id = self.runs()[0]["run_id"]
        before = {sid: dict(row) for sid, row in self.steps(run_id).items()}
        between()
        resumed = self.cli("workflow", "resume", run_id, "--json")
        assert resumed.returncode == 0, resumed.stderr
        return Resumed(run_id, killed, before, self.steps(run_id), json.loads(resumed.stdout), self.log_lines())

    def wait_for(self, predicate, timeout: float = 60, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.005)
        raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def wf_project(project: Path) -> Project:
    (project / ".parac" / "policies" / "test-tools.yaml").write_text(POLICY)
    out = Project(project)
    out.write_workflow("crash", CRASH_WORKFLOW)
    return out


@pytest.fixture
def make_runner(wf_project: Project, monkeypatch: pytest.MonkeyPatch):
    """Build in-process WorkflowRunners over the project, with the test plugin loaded into a real host."""
    import sidefx_plugin

    from parac.core.workflows.runs import WorkflowRunner
    from parac.server.host import Host

    monkeypatch.setenv("WFTEST_LOG", str(wf_project.log))
    sidefx_plugin.EVENTS.clear()
    sidefx_plugin.CONCURRENCY.update(now=0, peak=0)
    made = []

    def make(**options) -> WorkflowRunner:
        host = Host.for_workspace(wf_project.root, extra_plugins=[("wftest", sidefx_plugin)])
        runner = WorkflowRunner(host.workspace, hooks=host.hooks, **options)
        made.append(runner)
        return runner

    yield make
    for runner in made:
        runner.close()
