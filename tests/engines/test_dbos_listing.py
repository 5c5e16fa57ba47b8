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
