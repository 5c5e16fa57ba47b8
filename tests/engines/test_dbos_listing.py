"""The runs listing on the dbos engine is the embedded engine's: ``GET /api/v1/runs`` (and so the dashboard) filters by
status, workflow, agent and time as on SQLite, a run that ended with a failed step is listed as failed, and a
project sees only its own runs (those of its queue), though another project's share the database."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import httpx
import yaml

from parac.core.specs import WorkflowSpec
from parac.core.workflows import RunOptions
from support.parac_serve import parac_serve

WORKFLOWS = {
    "chain": "steps:\n  - {id: a, tool: record, arguments: {label: a}}\n",
    "breaks": "steps:\n  - {id: boom, tool: broken, arguments: {label: boom}}\n",
    "writes": "steps:\n  - {id: draft, agent: coder, task: Draft a line}\n",
}


def _spec(name: str) -> WorkflowSpec:
    return WorkflowSpec.model_validate(yaml.safe_load(WORKFLOWS[name]))


def test_runs_are_filtered_as_on_sqlite_and_another_projects_stay_out(dbos_project):
    from parac.core.engines.dbos import DbosRuns

    for name, text in WORKFLOWS.items():
        dbos_project.write_workflow(name, text)
    dbos_project.start_worker()
    dbos_project.wait_workers(1)
    runs = dbos_project.runs
    for run_id, name in (("r-done", "chain"), ("r-broke", "breaks"), ("r-agent", "writes")):
        runs.enqueue(run_id, name, _spec(name), {}, RunOptions(model="echo"))
        assert runs.wait(run_id, timeout=120)["status"] == ("failed" if name == "breaks" else "completed")
    dbos_project.stop_workers()
    time.sleep(0.01)
    between = datetime.now(timezone.utc).isoformat()
    time.sleep(0.01)
    runs.enqueue("r-queued", "chain", _spec("chain"), {}, RunOptions())  # no worker left: it stays queued
    elsewhere = DbosRuns(dbos_project.url, queue="elsewhere")  # another project on the same database
    try:
        elsewhere.enqueue("r-foreign", "chain", _spec("chain"), {}, RunOptions())
        with parac_serve(dbos_project.root, env={"PARAC_DATABASE_URL": ""}) as served, \
                httpx.Client(base_url=served.api, timeout=60) as http:

            def listed(**query: str) -> list[tuple[str, str]]:
                answer = http.get("/runs", params=query)
                assert answer.status_code == 200, answer.text
                return [(row["run_id"], row["status"]) for row in answer.json()["runs"]]

            everything = listed()
            failed, completed, pending = listed(status="failed"), listed(status="completed"), listed(status="pending")
            chains, written, reviewed = listed(workflow="chain"), listed(agent="coder"), listed(agent="reviewer")
            later, earlier = listed(since=between), listed(until=between)
            paged = http.get("/runs", params={"limit": 2}).json()
            rest = http.get("/runs", params={"limit": 2, "cursor": paged["next_cursor"]}).json()
            foreign = http.get("/runs/r-foreign")
            cancel = http.post("/runs/r-foreign/cancel")
            bad = http.get("/runs", params={"status": "sleeping"})
        assert elsewhere.status("r-foreign")["status"] == "queued"  # untouched by the other project's cancel
    finally:
        elsewhere.close()
    assert everything == [("r-queued", "queued"), ("r-agent", "completed"), ("r-broke", "failed"),
                          ("r-done", "completed")]
    assert failed == [("r-broke", "failed")]
    assert completed == [("r-agent", "completed"), ("r-done", "completed")]
    assert pending == [("r-queued", "queued")]
    assert chains == [("r-queued", "queued"), ("r-done", "completed")]
    assert written == [("r-agent", "completed")] and reviewed == []
    assert later == [("r-queued", "queued")]
    assert earlier == everything[1:]
    assert [row["run_id"] for row in paged["runs"] + rest["runs"]] == [run_id for run_id, _ in everything]
    assert foreign.status_code == 404 and cancel.status_code == 404
    assert bad.status_code == 422 and "sleeping" in bad.json()["detail"]
    listed_by_cli = dbos_project.cli("workflow", "runs", "--json")
    assert "r-foreign" not in listed_by_cli.stdout and "r-queued" in listed_by_cli.stdout


GATE = "steps:\n  - {id: ask, type: approval, message: \"Go on?\"}\n"


def test_gated_and_cancelled_runs_are_listed_and_a_pages_gates_are_asked_at_once(dbos_project):
    """A run at a gate is listed as waiting_approval, a cancelled one (DBOS takes it off its queue) as cancelled,
    another project's cancelled run not at all; pages of one follow each other through both; and a page asks DBOS
    for its running runs' gates in one listing (then each gate's event), however many there are."""
    import sqlalchemy as sa

    from parac.core.engines import pool
    from parac.core.engines.dbos import DbosRuns
    from parac.core.workflows.checkpoints import RunFilter

    dbos_project.write_workflow("gate", GATE)
    dbos_project.start_worker()
    dbos_project.wait_workers(1)
    runs = dbos_project.runs
    elsewhere = DbosRuns(dbos_project.url, queue="elsewhere")
    try:
        elsewhere.enqueue("r-foreign", "gate", _spec_of(GATE), {}, RunOptions())  # no worker of its queue
        elsewhere.cancel("r-foreign")
        runs.enqueue("r-cancelled", "gate", _spec_of(GATE), {}, RunOptions())
        dbos_project.wait_status("r-cancelled", "waiting_approval")
        runs.cancel("r-cancelled")
        for run_id in ("r-gate1", "r-gate2", "r-gate3"):
            runs.enqueue(run_id, "gate", _spec_of(GATE), {}, RunOptions())
            dbos_project.wait_status(run_id, "waiting_approval")
        dbos_project.wait_status("r-cancelled", "cancelled")
        everything, _ = runs.runs(limit=10)
        paged, cursor = [], None
        while True:
            page, cursor = runs.runs(limit=1, cursor=cursor)
            paged += page
            if cursor is None:
                break
        waiting, _ = runs.runs(limit=10, where=RunFilter(status="waiting_approval"))
        cancelled, _ = runs.runs(limit=10, where=RunFilter(status="cancelled"))
        running, _ = runs.runs(limit=10, where=RunFilter(status="running"))

        statements = []
        sa.event.listen(pool.engine(dbos_project.url), "before_cursor_execute",
                        lambda conn, cursor, text, *rest: statements.append(text))
        costs = []
        for limit in (1, 3):
            statements.clear()
            assert [row["status"] for row in runs.runs(limit=limit)[0]] == ["waiting_approval"] * limit
            costs.append(sum(text.startswith("SELECT dbos.workflow_status.") for text in statements))
        print(f"workflow listings of a page: 1 gated run {costs[0]}, 3 gated runs {costs[1]}")
    finally:
        elsewhere.close()
    assert [(row["run_id"], row["status"]) for row in everything] == [
        ("r-gate3", "waiting_approval"), ("r-gate2", "waiting_approval"), ("r-gate1", "waiting_approval"),
        ("r-cancelled", "cancelled")]
    assert paged == everything
    assert waiting == everything[:3] and cancelled == everything[3:] and running == []
    assert costs[0] == costs[1], costs


def _spec_of(text: str) -> WorkflowSpec:
    return WorkflowSpec.model_validate(yaml.safe_load(text))
