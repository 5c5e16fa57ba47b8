"""A workflow over REST: started, its events watched over SSE (resumed with Last-Event-ID), its gate approved over
REST, finishing; offline models only."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from support.parac_serve import GATED_WORKFLOW as WORKFLOW
from support.sse import events


def test_start_watch_approve_finish(project: Path, serve):
    (project / ".parac" / "workflows" / "ship.yaml").write_text(WORKFLOW)
    with serve(project) as served, httpx.Client(base_url=served.api, timeout=30) as http:
        started = http.post("/workflows/ship/runs", json={"inputs": {"topic": "the flag"}, "dry_run": "echo"})
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        seen = []
        with http.stream("GET", f"/runs/{run_id}/events") as stream:
            for event in events(stream):
                seen.append(event)
                if event.event == "workflow.approval.requested":
                    break  # the client goes away while the run waits
        waiting = http.get(f"/runs/{run_id}").json()
        early = http.post(f"/runs/{run_id}/steps/publish/approve", json={})
        approved = http.post(f"/runs/{run_id}/steps/gate/approve", json={"comment": "ship it"})
        with http.stream("GET", f"/runs/{run_id}/events", headers={"Last-Event-ID": seen[-1].id}) as stream:
            rest = list(events(stream))
        finished = http.get(f"/runs/{run_id}").json()
        listed = http.get("/runs").json()
        unknown = http.get("/runs/nope/events")
        replay = None
        with http.stream("GET", f"/runs/{run_id}/events") as stream:
            replay = [event.id for event in events(stream) if event.event != "done"]
    assert [e.event for e in seen][:1] == ["workflow.run.start"]
    assert waiting["status"] == "waiting_approval"
    assert early.status_code == 409, early.text  # that step is no gate waiting for an answer
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    names = [e.event for e in rest]
    assert names[0] == "workflow.approval.decided" and names[-2:] == ["workflow.run.end", "done"]
    assert rest[0].json()["by"] == "http:admin" and rest[0].json()["comment"] == "ship it"
    assert all(int(e.id) > int(seen[-1].id) for e in rest if e.id and e.event != "done")
    assert rest[-1].json() == {"run_id": run_id, "status": "completed"}
    assert finished["status"] == "completed" and [s["status"] for s in finished["steps"]] == ["completed"] * 3
    assert run_id in {row["run_id"] for row in listed["runs"]}
    assert unknown.status_code == 404
    assert replay == [e.id for e in seen] + [e.id for e in rest if e.event != "done"]


def test_events_stream_through_curl(project: Path, serve):
    """`curl -N` (no buffering) sees the same event stream: plain SSE, nothing client-specific."""
    (project / ".parac" / "workflows" / "ship.yaml").write_text(WORKFLOW)
    with serve(project) as served:
        run_id = httpx.post(served.api + "/workflows/ship/runs",
                            json={"inputs": {"topic": "t"}, "dry_run": "echo", "auto_approve": True}).json()["run_id"]
        out = subprocess.run(["curl", "-sN", "--max-time", "60", f"{served.api}/runs/{run_id}/events"],
                             capture_output=True, text=True, timeout=90).stdout
    assert "event: workflow.run.start" in out and "event: done" in out
    assert '"status": "completed"' in out.rsplit("event: done", 1)[1]
