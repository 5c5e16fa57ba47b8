"""The dbos engine against a real Postgres and real ``parac worker`` processes (see tests/engines/conftest.py).

Side effects are judged from the test tool's log (tests/workflows/sidefx_plugin.py): ``record`` appends ``start``
then ``applied`` lines tagged with the call's idempotency key and the process id, and a call whose key was already
applied appends ``dedup`` instead.
"""

from __future__ import annotations

import json
import random
import signal
import time

import httpx
import yaml

from parac.core.specs import WorkflowSpec
from parac.core.workflows import RunOptions


def _chain_and_fan(width: int, depth: int, sleep_s: float = 0.0) -> str:
    """``depth`` layers of ``width`` parallel branches, each step depending on the same branch one layer up, and a
    join at the end: width * depth + 1 steps."""
    lines = ["concurrency: 64", "steps:"]
    for layer in range(depth):
        for branch in range(width):
            dep = f", depends_on: [s{layer - 1}_{branch}]" if layer else ""
            lines.append(f"  - {{id: s{layer}_{branch}, tool: record, arguments: {{label: s{layer}_{branch}, "
                         f"sleep_s: {sleep_s}}}{dep}}}")
    last = ", ".join(f"s{depth - 1}_{b}" for b in range(width))
    lines.append(f"  - {{id: join, tool: record, arguments: {{label: join}}, depends_on: [{last}]}}")
    return "\n".join(lines) + "\n"


def _run_json(proc) -> dict:
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    return json.loads(out)


def test_fifty_steps_with_parallel_branches_complete_across_three_workers(dbos_project):
    dbos_project.write_workflow("wide", _chain_and_fan(7, 7, 0.02))  # 50 steps
    for _ in range(3):
        dbos_project.start_worker("--concurrency", "4")
    workers = dbos_project.wait_workers(3)
    assert len({row["executor_id"] for row in workers}) == 3
    result = _run_json(dbos_project.spawn("workflow", "run", "wide", "--json"))
    assert result["status"] == "completed", result
    assert len(result["steps"]) == 50 and {s["status"] for s in result["steps"]} == {"completed"}
    applied = [line for line in dbos_project.log_lines() if line["event"] == "applied"]
    assert sorted(line["step"] for line in applied) == sorted(s["id"] for s in result["steps"])
    assert all(line["key"] == f"{result['run_id']}:{line['step']}" for line in applied)
    assert len({line["pid"] for line in applied}) >= 2, "the steps did not fan out to more than one worker"


def test_sigkilled_workers_lose_no_run_and_repeat_no_finished_step(dbos_project):
    """20 trials: a run of 12 short steps is enqueued, and at a random moment into it a random worker (of three
    that have taken work) is killed with SIGKILL and replaced. The trials overlap: none waits out the recovery of
    the ones before (a dead worker is noticed after DEAD_AFTER_S), so runs in flight meet several deaths. Every run
    completes, every step's side effect is applied exactly once, and the only steps that start again are those in
    flight on a killed worker."""
    text = _chain_and_fan(3, 4, 0.05)
    dbos_project.write_workflow("short", text)
    spec = WorkflowSpec.model_validate(yaml.safe_load(text))
    rng = random.Random(26)
    for _ in range(3):
        dbos_project.start_worker("--concurrency", "4")
    dbos_project.wait_workers(3)
    killed: set[int] = set()
    run_ids = []
    for trial in range(20):
        run_ids.append(dbos_project.runs.enqueue(f"rkill{trial}", "short", spec, {}, RunOptions()))
        time.sleep(rng.uniform(0.1, 0.8))
        victim = rng.choice(_serving(dbos_project))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        killed.add(victim.pid)
        dbos_project.start_worker("--concurrency", "4")
    runs = [dbos_project.runs.wait(run_id, timeout=180) for run_id in run_ids]
    lines = dbos_project.log_lines()
    for result in runs:
        assert result["status"] == "completed", (result["error"], result)
        for step in result["steps"]:
            key = f"{result['run_id']}:{step['id']}"
            mine = [line for line in lines if line["key"] == key]
            assert sum(line["event"] == "applied" for line in mine) == 1, mine
            starts = [line for line in mine if line["event"] in ("start", "dedup")]
            # a step started more than once was in flight on a worker that was killed (never on a survivor)
            assert all(line["pid"] in killed for line in starts[:-1]), mine
    assert len(killed) == 20
    assert {line["pid"] for line in lines if line["event"] == "start"} & killed, "no kill hit a step in flight"


def _serving(dbos_project) -> list:
    """The worker processes alive and serving (they beat): killing one that has not launched yet would kill
    nothing in flight. Waits for one when every live worker is still starting."""
    deadline = time.monotonic() + 60
    while True:
        beating = {row["pid"] for row in dbos_project.runs.workers() if row["alive"]}
        serving = [w for w in dbos_project.workers if w.poll() is None and w.pid in beating]
        if serving:
            return serving
        assert time.monotonic() < deadline, "no worker came up"
        time.sleep(0.05)


def _start_gated_run(dbos_project):
    """A worker, and a run of ``gated`` on it that has done its first step and goes to its gate: (the worker, the
    ``workflow run`` process, the run id)."""
    dbos_project.write_workflow("gated", """\
steps:
  - {id: before, tool: record, arguments: {label: before}}
  - {id: gate, type: approval, depends_on: [before], message: "Ship {{ steps.before.output.label }}?"}
  - {id: after, tool: record, arguments: {label: after}, depends_on: [gate]}
""")
    worker = dbos_project.start_worker()
    dbos_project.wait_workers(1)
    proc = dbos_project.spawn("workflow", "run", "gated", "--json")
    run_id = dbos_project.wait_for("before", "applied")
    return worker, proc, run_id


def test_an_approval_answered_from_another_process_continues_the_run_on_its_worker(dbos_project):
    worker, proc, run_id = _start_gated_run(dbos_project)
    dbos_project.wait_status(run_id, "waiting_approval")
    status = dbos_project.cli("workflow", "status", run_id)
    assert "waiting: parac workflow approve" in status.stdout and "Ship before?" in status.stdout, status.stdout
    assert not any(line["step"] == "after" for line in dbos_project.log_lines())
    answer = dbos_project.cli("workflow", "approve", run_id, "gate", "--json")
    assert answer.returncode == 0, answer.stderr
    result = _run_json(proc)
    assert result["status"] == "completed"
    gate = next(step for step in result["steps"] if step["id"] == "gate")
    assert gate["output"]["approved"] is True and gate["output"]["by"].startswith("cli")
    assert [line["pid"] for line in dbos_project.log_lines() if line["event"] == "applied"] == [worker.pid] * 2
    again = dbos_project.cli("workflow", "approve", run_id, "gate")
    assert again.returncode == 1 and "not waiting" in again.stderr


def test_an_unreachable_database_is_named_without_its_password(dbos_project, cluster):
    settings = dbos_project.root / ".parac" / "parac.yaml"
    settings.write_text(settings.read_text().replace(
        dbos_project.url, f"postgresql://parac:s3cret-pw@127.0.0.1:{cluster.port + 1}/nowhere"))
    for args in (("worker",), ("workflow", "run", "nothing")):
        result = dbos_project.cli(*args)
        assert result.returncode == 1
        assert f"127.0.0.1:{cluster.port + 1}/nowhere" in result.stderr
        assert "s3cret-pw" not in result.stderr + result.stdout
        assert "Traceback" not in result.stderr


def test_a_bad_engine_setting_is_refused_at_its_line(dbos_project):
    settings = dbos_project.root / ".parac" / "parac.yaml"
    settings.write_text(settings.read_text().replace("kind: dbos", "kind: dbs"))
    result = dbos_project.cli("validate")
    assert result.returncode == 1
    assert "parac.yaml:" in result.stdout + result.stderr and "kind" in result.stdout + result.stderr


def test_a_run_keeps_its_definition_when_the_file_changes(dbos_project):
    dbos_project.write_workflow("edit", """\
steps:
  - {id: one, tool: record, arguments: {label: one, sleep_s: 1.0}}
  - {id: two, tool: record, arguments: {label: old}, depends_on: [one]}
""")
    dbos_project.start_worker()
    dbos_project.wait_workers(1)
    proc = dbos_project.spawn("workflow", "run", "edit", "--json")
    deadline = time.monotonic() + 60
    while not any(line["event"] == "start" for line in dbos_project.log_lines()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    dbos_project.write_workflow("edit", """\
steps:
  - {id: one, tool: record, arguments: {label: one}}
  - {id: two, tool: record, arguments: {label: new}, depends_on: [one]}
""")
    result = _run_json(proc)
    assert result["status"] == "completed"
    assert [s["output"]["label"] for s in result["steps"]] == ["one", "old"]


def test_a_postgres_restart_mid_run_loses_nothing(dbos_project, cluster):
    dbos_project.write_workflow("slow", _chain_and_fan(2, 4, 0.3))
    dbos_project.start_worker()
    dbos_project.wait_workers(1)
    proc = dbos_project.spawn("workflow", "run", "slow", "--json")
    deadline = time.monotonic() + 60
    while sum(line["event"] == "applied" for line in dbos_project.log_lines()) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cluster.restart()
    result = _run_json(proc)
    assert result["status"] == "completed", result
    applied = [line["step"] for line in dbos_project.log_lines() if line["event"] == "applied"]
    assert sorted(applied) == sorted(s["id"] for s in result["steps"])


def test_an_approval_over_rest_from_parac_serve_continues_the_run_on_its_worker(dbos_project):
    """The run waits at its gate on a worker; ``parac serve`` of the same workspace (engine dbos, no worker of its
    own) shows it waiting and approves it over REST; the worker goes on."""
    from support.parac_serve import parac_serve

    worker, proc, run_id = _start_gated_run(dbos_project)
    dbos_project.wait_status(run_id, "waiting_approval")
    with parac_serve(dbos_project.root, env={"PARAC_DATABASE_URL": ""}) as served, \
            httpx.Client(base_url=served.api, timeout=60) as http:
        waiting = http.get(f"/runs/{run_id}").json()
        assert waiting["status"] == "waiting_approval", waiting
        assert not any(line["step"] == "after" for line in dbos_project.log_lines())
        early = http.post(f"/runs/{run_id}/steps/after/approve", json={})
        approved = http.post(f"/runs/{run_id}/steps/gate/approve", json={"comment": "ship it"})
        result = _run_json(proc)
        finished = http.get(f"/runs/{run_id}").json()
        listed = http.get("/runs").json()
    assert early.status_code == 409, early.text
    assert [(run["run_id"], run["status"]) for run in listed["runs"]] == [(run_id, "completed")], listed
    assert approved.status_code == 200 and approved.json()["status"] == "approved", approved.text
    assert result["status"] == finished["status"] == "completed", (result, finished)
    gate = next(step for step in result["steps"] if step["id"] == "gate")
    assert gate["output"]["approved"] is True and gate["output"]["by"] == "http:admin"
    assert gate["output"]["comment"] == "ship it"
    assert [line["pid"] for line in dbos_project.log_lines() if line["event"] == "applied"] == [worker.pid] * 2


def test_a_tool_the_policies_put_behind_an_approval_waits_on_the_worker_until_approved(dbos_project):
    policy = dbos_project.root / ".parac" / "policies" / "test-tools.yaml"
    policy.write_text(policy.read_text() + "require_approval: [record]\n")
    dbos_project.write_workflow("ask", "steps:\n  - {id: only, tool: record, arguments: {label: only}}\n")
    dbos_project.start_worker()
    dbos_project.wait_workers(1)
    proc = dbos_project.spawn("workflow", "run", "ask", "--json")
    deadline = time.monotonic() + 90
    while not (listed := dbos_project.runs.runs(limit=1)[0]):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    run_id = listed[0]["run_id"]
    dbos_project.wait_status(run_id, "waiting_approval")
    assert [row["run_id"] for row in json.loads(dbos_project.cli("workflow", "runs", "--json").stdout)] == [run_id]
    status = dbos_project.cli("workflow", "status", run_id)
    assert "waiting: parac workflow approve" in status.stdout, status.stdout
    assert dbos_project.log_lines() == []  # nothing called before the approval
    assert dbos_project.cli("workflow", "approve", run_id, "only").returncode == 0
    result = _run_json(proc)
    assert result["status"] == "completed", result
    assert [line["event"] for line in dbos_project.log_lines()] == ["start", "applied"]
