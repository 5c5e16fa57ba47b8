"""Human tasks (``type: human``): assignment, a form checked with jsonschema, escalation on an injected clock,
answers from the CLI, MCP (``answer_task``, elicitation) and the runner, and an audit entry for each of them."""

from __future__ import annotations

import json
from pathlib import Path

import mcp_types as types
import pytest
import sidefx_plugin
from mcp import Client

from parac.core.workflows import RunOptions
from parac.core.workflows.human import TaskRefused
from parac.server.mcp.app import ParacApp
from parac.server.mcp.server import build_server
from support.workflows import SUPPORT

REFUND = """\
inputs: {amount: {type: number, required: true}}
steps:
  - id: decide
    type: human
    assign: support
    message: "Refund {{ inputs.amount }}?"
    form:
      type: object
      properties: {refund: {type: boolean}, note: {type: string}}
      required: [refund]
      additionalProperties: false
    escalate: [{after_s: 60, to: support-lead}, {after_s: 600, to: manager}]
  - {id: pay, tool: record, arguments: {label: "refund={{ steps.decide.output.refund }}"}, depends_on: [decide]}
"""

class Clock:
    """A clock the test moves by hand: escalation is judged by it, never by real time."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _events(prefix: str) -> list[tuple[str, dict]]:
    return [(name, data) for name, data in sidefx_plugin.EVENTS if name.startswith(prefix)]


async def test_form_escalation_and_answer_with_an_injected_clock(wf_project, make_runner):
    wf_project.write_workflow("refund", REFUND)
    clock = Clock()
    runner = make_runner(clock=clock)
    paused = await runner.run("refund", {"amount": 30}, RunOptions(pause_on_approval=True))
    assert paused.status == "waiting_approval"
    assert paused.steps[0]["task"] == {"status": "open", "role": "support", "by": None, "message": "Refund 30?"}
    assert [t["step_id"] for t in runner.tasks("support")] == ["decide"]

    clock.now += 59.9
    assert runner.tasks("support-lead") == [] and len(runner.tasks("support")) == 1
    clock.now += 0.1  # 60 s after assignment: the lead holds it
    assert runner.tasks("support") == [] and runner.tasks("support-lead")[0]["level"] == 1
    clock.now += 1000  # past both rules: the manager holds it, one move reported per rule that came due
    assert runner.tasks("manager")[0]["role"] == "manager"
    moves = [(d["from"], d["to"]) for _, d in _events("workflow.task.escalated")]
    assert moves == [("support", "support-lead"), ("support-lead", "manager")]

    for bad in ({"note": "no decision"}, {"refund": "yes"}, {"refund": True, "extra": 1}, [True]):
        with pytest.raises(TaskRefused, match="does not fit its form"):
            runner.answer(paused.run_id, "decide", bad)
    assert runner.tasks(run_id=paused.run_id)[0]["status"] == "open"  # refused answers changed nothing
    assert wf_project.log_lines() == []

    done = runner.answer(paused.run_id, "decide", {"refund": True, "note": "loyal customer"})
    assert done["status"] == "answered" and done["resumable"] is True
    with pytest.raises(TaskRefused, match="already answered"):
        runner.answer(paused.run_id, "decide", {"refund": False})
    result = await runner.resume(paused.run_id)
    assert result.status == "completed"
    assert result.steps[0]["output"] == {"refund": True, "note": "loyal customer"}
    assert [line["label"] for line in wf_project.log_lines() if line["event"] == "applied"] == ["refund=True"]
    names = [name for name, _ in _events("workflow.task.")]
    assert names == ["workflow.task.assigned", "workflow.task.escalated", "workflow.task.escalated",
                     *["workflow.task.refused"] * 4, "workflow.task.answered", "workflow.task.refused"]
    assert all("loyal" not in json.dumps(data) for _, data in _events("workflow.task."))  # the trail says who, not what


def test_issue_example_over_the_cli_with_the_audit_trail(wf_project):
    wf_project.write_workflow("support", SUPPORT)
    paused = wf_project.cli("workflow", "run", "support", "-i", "ticket=I want a refund", "--no-wait", "--json")
    assert paused.returncode == 3, paused.stderr
    run_id = json.loads(paused.stdout)["run_id"]
    assert f"parac workflow answer {run_id} escalate --data" in paused.stderr
    listed = json.loads(wf_project.cli("workflow", "tasks", "--role", "support-lead", "--json").stdout)
    assert [(t["run_id"], t["step_id"], t["message"]) for t in listed] == [
        (run_id, "escalate", "Refund asked: I want a refund")]
    assert json.loads(wf_project.cli("workflow", "tasks", "--role", "coder", "--json").stdout) == []

    refused = wf_project.cli("workflow", "answer", run_id, "escalate", "--data", "[1, 2]")
    assert refused.returncode == 1 and "must be a JSON object" in refused.stderr
    assert json.loads(wf_project.cli("workflow", "status", run_id, "--json").stdout)["status"] == "waiting_approval"

    answered = wf_project.cli("workflow", "answer", run_id, "escalate", "--data", '{"refund": "approved"}', "--json")
    assert answered.returncode == 0, answered.stderr
    data = json.loads(answered.stdout)
    assert data["status"] == "completed"
    assert [s["id"] for s in data["steps"]] == ["triage", "escalate", "done"]
    assert data["steps"][1]["output"] == {"refund": "approved"}
    assert data["steps"][1]["task"]["by"].startswith("cli:")
    shown = wf_project.cli("workflow", "status", run_id).stdout
    assert "path: triage -> escalate -> done" in shown
    trail = wf_project.cli("audit", "tail", "-n", "200", "--json")
    assert trail.returncode == 0, trail.stderr
    entries = [json.loads(line) for line in trail.stdout.splitlines() if line.strip()]  # JSON lines
    actions = [entry["action"] for entry in entries if entry["subject"] == run_id]
    assert [a for a in actions if a.startswith("workflow.task.")] == [
        "workflow.task.assigned", "workflow.task.refused", "workflow.task.answered"]


def client(project: Path, **options) -> Client:
    return Client(build_server(ParacApp(project)), mode="legacy", **options)


async def test_answer_task_and_workflow_tasks_over_mcp(wf_project):
    wf_project.write_workflow("support", SUPPORT)
    async with client(wf_project.root) as session:
        started = await session.call_tool("run_workflow", {"name": "support", "inputs": {"ticket": "refund me"}})
        run_id = started.structured_content["run_id"]
        wf_project.wait_for(lambda: bool(wf_project.query("SELECT 1 FROM workflow_tasks")), what="the task")
        listed = await session.call_tool("workflow_tasks", {"role": "support-lead"})
        assert [t["step_id"] for t in listed.structured_content["tasks"]] == ["escalate"]
        bad = await session.call_tool("answer_task", {"run_id": run_id, "step": "escalate", "data": {}, "resume": False})
        assert not bad.is_error  # an empty object is a JSON object: no form was given
        again = await session.call_tool("answer_task", {"run_id": run_id, "step": "escalate", "data": {"x": 1}})
        assert again.is_error and "already answered" in again.content[0].text
        wf_project.wait_for(
            lambda: wf_project.query("SELECT status FROM workflow_runs WHERE run_id = ?", run_id)[0][0] == "completed",
            what="the run to end")
        status = await session.call_tool("workflow_status", {"run_id": run_id})
    assert [s["id"] for s in status.structured_content["steps"]] == ["triage", "escalate", "done"]


async def test_elicitation_answers_a_task_and_is_asked_again_after_a_refusal(wf_project):
    wf_project.write_workflow("refund", REFUND.partition("  - {id: pay")[0])  # the server has no test tools
    answers = [{"refund": "yes"}, {"refund": True}]  # the first breaks the form
    asked: list[types.ElicitRequestParams] = []

    async def elicit(context, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params)
        return types.ElicitResult(action="accept", content=answers[len(asked) - 1])

    async with client(wf_project.root, elicitation_callback=elicit) as session:
        result = await session.call_tool("run_workflow", {"name": "refund", "inputs": {"amount": 5}, "wait": True})
    assert not result.is_error, result.content
    assert result.structured_content["status"] == "completed"
    assert result.structured_content["steps"][0]["output"] == {"refund": True}
    schema = asked[0].requested_schema
    assert set(schema["properties"]) == {"refund", "note"} and schema["required"] == ["refund"]
    assert asked[0].message.startswith("Refund 5?")
    assert asked[1].message.startswith("the answer to task 'decide' does not fit its form: refund: 'yes' is not")


def test_a_bad_form_and_stray_human_keys_are_placed_and_nothing_else_is_said(wf_project):
    from parac.core.workspace import Workspace

    wf_project.write_workflow("bad", "steps:\n  - id: h\n    type: human\n    assign: lead\n    form: {type: 12}\n"
                                     "  - {id: x, agent: pm, assign: lead}\n")
    found = [(d.line, d.column, d.message) for d in Workspace(wf_project.root).validate() if Path(d.file).name == "bad.yaml"]
    assert [(line, column) for line, column, _ in found] == [(5, 11), (6, 5)], found
    assert "not a JSON Schema" in found[0][2] and 'belong to steps of type "human"' in found[1][2]
