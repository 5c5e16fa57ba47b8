"""Real crash tests: a `parac workflow run` process is killed with SIGKILL at many points, then resumed.

After each resume, the database and the side-effect log written by the test tool must show that no finished step
ran again, that the step in flight at the kill ran again with the same idempotency key, and that every side
effect was applied exactly once.
"""

from __future__ import annotations

import json

import pytest

STEPS = ["s1", "p1", "p2", "p3", "join", "gate", "last", "tail"]
TOOL_STEPS = [s for s in STEPS if s != "gate"]


def _logged(project, event: str, step: str) -> bool:
    return any(line["event"] == event and line["step"] == step for line in project.log_lines())


KILL_POINTS = {
    "run-recorded": lambda p: bool(p.runs()),
    "s1-started": lambda p: _logged(p, "start", "s1"),
    "s1-applied": lambda p: _logged(p, "applied", "s1"),
    "fan-out-in-flight": lambda p: _logged(p, "start", "p1") and _logged(p, "applied", "p3"),
    "p1-applied": lambda p: _logged(p, "applied", "p1"),
    "join-started": lambda p: _logged(p, "start", "join"),
    "join-applied": lambda p: _logged(p, "applied", "join"),
    "last-started": lambda p: _logged(p, "start", "last"),
    "last-applied": lambda p: _logged(p, "applied", "last"),
}


def _kill_when(project, predicate, *args: str):
    killed = project.kill_when(predicate, "crash", *args)
    runs = project.runs()
    assert len(runs) == 1
    run_id = runs[0]["run_id"]
    return run_id, {sid: dict(row) for sid, row in project.steps(run_id).items()}, killed


def _check_after_resume(project, run_id: str, before: dict, killed_pid: int) -> None:
    steps = project.steps(run_id)
    assert [sid for sid in STEPS if steps[sid]["status"] != "completed"] == []
    lines = project.log_lines()
    for sid in TOOL_STEPS:
        mine = [line for line in lines if line["step"] == sid]
        key = steps[sid]["idempotency_key"]
        assert key == f"{run_id}:{sid}"
        assert {line["key"] for line in mine} == {key}, sid
        assert sum(line["event"] == "applied" for line in mine) == 1, (sid, mine)
        if before.get(sid, {}).get("status") == "completed":
            # finished before the kill: the resumer never touched it, and its checkpoint is unchanged
            assert all(line["pid"] == killed_pid for line in mine), (sid, mine)
            assert steps[sid]["attempts"] == before[sid]["attempts"]
        elif any(line["pid"] == killed_pid for line in mine):
            # in flight at the kill: it ran again, with the same key (the tool saw the repeat when it had applied)
            again = [line for line in mine if line["pid"] != killed_pid]
            assert again and {line["key"] for line in again} == {key}, (sid, mine)
            assert steps[sid]["attempts"] == before[sid]["attempts"] + 1
    result = json.loads(project.cli("workflow", "status", run_id, "--json").stdout)
    assert result["status"] == "completed"
    assert result["outputs"] == {"joined": "join after p1"}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_kill_and_resume(wf_project, point):
    run_id, before, killed_pid = _kill_when(wf_project, KILL_POINTS[point], "--yes")
    resumed = wf_project.cli("workflow", "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "completed"
    _check_after_resume(wf_project, run_id, before, killed_pid)


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.35, 0.5])
def test_kill_at_timed_points(wf_project, delay):
    """Kill points not chosen by the test's own log: whatever moment the clock picks, after the run started."""
    import time

    start = []

    def armed(project) -> bool:
        if not project.runs():
            return False
        if not start:
            start.append(time.monotonic())
        return time.monotonic() - start[0] >= delay

    run_id, before, killed_pid = _kill_when(wf_project, armed, "--yes")
    resumed = wf_project.cli("workflow", "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    _check_after_resume(wf_project, run_id, before, killed_pid)


def test_kill_during_approval_wait_then_approve_from_cli(wf_project):
    run_id, before, killed_pid = _kill_when(
        wf_project, lambda p: bool(p.query("SELECT 1 FROM workflow_approvals WHERE status = 'waiting'"))
    )
    assert wf_project.runs()[0]["status"] == "waiting_approval"
    approved = wf_project.cli("workflow", "approve", run_id, "gate", "--comment", "looks good", "--no-resume")
    assert approved.returncode == 0, approved.stderr
    assert f"parac workflow resume {run_id}" in approved.stdout  # nobody runs it: the user is told how to go on
    resumed = wf_project.cli("workflow", "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    _check_after_resume(wf_project, run_id, before, killed_pid)
    gate = [s for s in json.loads(resumed.stdout)["steps"] if s["id"] == "gate"][0]
    assert gate["output"]["approved"] is True and gate["output"]["comment"] == "looks good"
    assert gate["output"]["by"].startswith("cli")


def test_two_resumers_one_wins(wf_project):
    run_id, before, killed_pid = _kill_when(wf_project, KILL_POINTS["s1-applied"], "--yes", "-i", "pause=4")
    first = wf_project.spawn("workflow", "resume", run_id, "--json")
    wf_project.wait_for(lambda: _logged(wf_project, "start", "p1") and any(
        line["pid"] == first.pid for line in wf_project.log_lines()), what="the first resumer to start")
    second = wf_project.cli("workflow", "resume", run_id)
    _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert second.returncode == 1
    assert f"run {run_id} is being executed by process {first.pid}" in second.stderr
    _check_after_resume(wf_project, run_id, before, killed_pid)
    again = wf_project.cli("workflow", "resume", run_id)
    assert again.returncode == 1 and f"run {run_id} is already completed" in again.stderr


def test_resume_all_picks_up_every_interrupted_run(wf_project):
    run_id, before, killed_pid = _kill_when(wf_project, KILL_POINTS["fan-out-in-flight"], "--yes")
    usage = wf_project.cli("workflow", "resume")
    assert usage.returncode == 2 and "give either a RUN_ID or --all" in usage.stderr
    resumed = wf_project.cli("workflow", "resume", "--all", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert [(r["run_id"], r["status"]) for r in json.loads(resumed.stdout)] == [(run_id, "completed")]
    _check_after_resume(wf_project, run_id, before, killed_pid)
    nothing = wf_project.cli("workflow", "resume", "--all")
    assert nothing.returncode == 0 and "no interrupted runs" in nothing.stdout


def test_kill_inside_a_sub_workflow_then_resume(wf_project):
    wf_project.write_workflow("inner", """\
steps:
  - {id: i1, tool: record, arguments: {label: i1, sleep_s: 0.1}}
  - {id: i2, tool: record, arguments: {label: i2, sleep_s: 0.3}, depends_on: [i1]}
outputs: {last: "{{ steps.i2.output.label }}"}
""")
    wf_project.write_workflow("outer", """\
steps:
  - {id: before, tool: record, arguments: {label: before}}
  - {id: sub, workflow: inner, depends_on: [before]}
  - {id: after, tool: record, arguments: {label: "after {{ steps.sub.output.last }}"}, depends_on: [sub]}
""")
    proc = wf_project.spawn("workflow", "run", "outer")
    try:
        wf_project.wait_for(lambda: _logged(wf_project, "start", "i2") or proc.poll() is not None, what="i2")
        proc.kill()
    finally:
        proc.wait()
    outer = [run for run in wf_project.runs() if run["parent_run"] is None][0]["run_id"]
    child = wf_project.steps(f"{outer}.sub")
    assert child["i1"]["status"] == "completed" and child["i2"]["status"] == "running"
    resumed = wf_project.cli("workflow", "resume", outer, "--json")
    assert resumed.returncode == 0, resumed.stderr
    data = json.loads(resumed.stdout)
    assert data["status"] == "completed"
    assert [s["output"] for s in data["steps"]][-1] == {"label": "after i2", "dedup": False}
    lines = wf_project.log_lines()
    for step in ("before", "i1", "i2", "after"):
        assert sum(line["event"] == "applied" and line["step"] == step for line in lines) == 1, step
    assert {line["key"] for line in lines if line["step"] == "i2"} == {f"{outer}.sub:i2"}
    assert [line["pid"] for line in lines if line["step"] == "i1"] == [proc.pid, proc.pid]  # not run again
    sub_runs = wf_project.cli("workflow", "status", f"{outer}.sub", "--json")
    assert json.loads(sub_runs.stdout)["status"] == "completed"
