"""Human tasks over REST against a live `parac serve`: a state machine escalates to a person, the task is listed by
role, a bad answer is refused with the form's errors (the task stays open), the good one finishes the run, and a
second answer, an unknown run or an unknown task are refused each with its own status."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import yaml

from support.workflows import SUPPORT as ISSUE_SUPPORT

#: The issue's state machine, its person's answer checked against a form, and the decision as the run's output.
FORM = {"type": "object", "properties": {"refund": {"type": "boolean"}, "note": {"type": "string"}},
        "required": ["refund"], "additionalProperties": False}


def _support_with_form() -> str:
    data = yaml.safe_load(ISSUE_SUPPORT)
    data["states"]["escalate"]["form"] = FORM
    data["outputs"] = {"decision": "{{ states.escalate.output.refund }}"}
    return yaml.safe_dump(data)


SUPPORT = _support_with_form()


def _wait(http: httpx.Client, run_id: str, status: str, within_s: float = 60.0) -> dict:
    """The run once it reaches ``status``, read through its event stream (which ends when the run stops or waits).
    An answered task's run is resumed by a thread of its own, so for a moment it still reads as waiting and its
    stream ends at once: read again, a little later each time, until ``within_s`` has passed."""
    deadline, pause = time.monotonic() + within_s, 0.01
    while True:
        run = http.get(f"/runs/{run_id}").json()
        if run["status"] == status:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} never reached {status}: {run}")
        with http.stream("GET", f"/runs/{run_id}/events") as stream:
            for line in stream.iter_lines():
                if line.startswith("event: workflow.task.assigned") or line.startswith("event: done"):
                    break
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


def test_fsm_escalation_answered_over_rest(project: Path, serve):
    (project / ".parac" / "workflows" / "support.yaml").write_text(SUPPORT)
    with serve(project) as served, httpx.Client(base_url=served.api, timeout=30) as http:
        started = http.post("/workflows/support/runs", json={"inputs": {"ticket": "refund my order"}, "dry_run": "echo"})
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        waiting = _wait(http, run_id, "waiting_approval")
        mine = http.get("/tasks", params={"role": "support-lead"})
        others = http.get("/tasks", params={"role": "support"})
        bad = http.post(f"/runs/{run_id}/steps/escalate/answer", json={"data": {"refund": "yes", "extra": 1}})
        still = http.get("/tasks", params={"run_id": run_id}).json()["tasks"]
        unknown_run = http.post("/runs/nope/steps/escalate/answer", json={"data": {"refund": True}})
        unknown_step = http.post(f"/runs/{run_id}/steps/triage/answer", json={"data": {"refund": True}})
        good = http.post(f"/runs/{run_id}/steps/escalate/answer", json={"data": {"refund": True, "note": "ok"}})
        again = http.post(f"/runs/{run_id}/steps/escalate/answer", json={"data": {"refund": False}})
        finished = _wait(http, run_id, "completed")
        after = http.get("/tasks").json()["tasks"]

    assert waiting["path"] == ["triage", "escalate"]
    assert [(s["id"], s["state"], s["status"]) for s in waiting["steps"]] == [
        ("triage", "triage", "completed"), ("escalate", "escalate", "waiting_approval")]
    assert waiting["steps"][1]["task"]["role"] == "support-lead"
    assert mine.status_code == 200
    assert [(t["run_id"], t["step_id"], t["message"]) for t in mine.json()["tasks"]] == [
        (run_id, "escalate", "Refund asked: refund my order")]
    assert others.json()["tasks"] == []

    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert {(tuple(e["loc"]), e["type"]) for e in bad.json()["errors"]} == {
        (("body", "data"), "form"), (("body", "data", "refund"), "form")}
    assert "does not fit its form" in bad.json()["detail"]
    assert [t["step_id"] for t in still] == ["escalate"]  # the refused answer left the task open

    assert unknown_run.status_code == 404, unknown_run.text
    assert unknown_step.status_code == 404 and "no human task 'triage'" in unknown_step.json()["detail"]
    assert good.status_code == 200, good.text
    assert good.json()["status"] == "answered" and good.json()["answer"] == {"refund": True, "note": "ok"}
    assert good.json()["actor"] == "http:admin"
    assert again.status_code == 409 and "already answered" in again.json()["detail"]

    assert finished["path"] == ["triage", "escalate", "done"]
    assert finished["steps"][1]["output"] == {"refund": True, "note": "ok"}
    assert finished["outputs"] == {"decision": True}
    assert after == []
