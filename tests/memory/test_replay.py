"""Replay, fork and diff of recorded runs against the local OpenAI-compatible server, whose request log says which
model calls were really made; the counting tool says which tools really ran."""

from __future__ import annotations

from pathlib import Path

import pytest

from parac.core.audit.log import AuditLog
from parac.core.calls import CallContext
from parac.core.replay import AgentRunNotFound, ReplayError, diff_runs, fork_workflow, replay_agent, replay_workflow
from parac.core.runtime import run_agent
from parac.core.store import db_path
from parac.core.workflows.runs import WorkflowRunner
from support.openai_server import OpenAIServer, Reply

MODEL = "gpt-4o-mini"


def script_steps(server: OpenAIServer, *names: str) -> None:
    """Each step: the model looks a key up (a real tool call), then answers."""
    for name in names:
        server.script(MODEL, Reply.calls(("lookup", {"key": name})), Reply.message(f"result {name}"))


def tasks(server: OpenAIServer, since: int = 0) -> list[str]:
    """The task (first user message) of each request the server saw."""
    out = []
    for request in server.requests[since:]:
        users = [m["content"] for m in request.body["messages"] if m["role"] == "user"]
        out.append(users[0])
    return out


@pytest.fixture
async def finished(runner: WorkflowRunner, llm_server: OpenAIServer, counter):
    script_steps(llm_server, "s1", "s2", "s3", "s4", "s5")
    result = await runner.run("five", {"topic": "tides"})
    assert result.status == "completed" and len(llm_server.requests) == 10 and len(counter.calls) == 5
    return result


async def test_replay_reproduces_every_step_offline(runner, finished, llm_server, counter, workspace_dir):
    seen = len(llm_server.requests)
    report = await replay_workflow(runner.workspace, finished.run_id)
    assert report.identical and [s.id for s in report.steps] == ["s1", "s2", "s3", "s4", "s5"]
    assert all(step.same and step.replayed == step.recorded for step in report.steps)
    assert report.model_calls == 10 and report.cost_usd == 0.0
    assert len(llm_server.requests) == seen and len(counter.calls) == 5  # no model call, no tool run
    assert [s["output"] for s in runner.status(finished.run_id).steps] == [f"result s{i}" for i in range(1, 6)]


async def test_replay_names_the_steps_a_changed_agent_would_do_differently(runner, finished, workspace_dir, host_for):
    (workspace_dir / ".parac" / "agents" / "writer.yaml").write_text(
        "description: writes\nsystem_prompt: You write tersely.\ntools: [lookup]\n")
    host = host_for(workspace_dir)
    report = await replay_workflow(host.workspace, finished.run_id)
    assert not report.identical
    assert all("turn 1: message 1 (system) differs from the record" in step.differences for step in report.steps)


async def test_fork_from_the_middle_reuses_the_first_steps(runner, finished, llm_server, counter, workspace_dir):
    seen = len(llm_server.requests)
    script_steps(llm_server, "f3", "f4", "f5")
    forked = await fork_workflow(runner, finished.run_id, "s3", inputs={"topic": "waves"}, text_inputs=True)
    assert forked.status == "completed" and forked.run_id != finished.run_id
    spent = {s["id"]: s["cost"] for s in finished.steps}
    assert spent["s1"] > 0 and spent["s2"] > 0  # the local model is priced: reuse has something to hide
    assert forked.forked_from == {"run_id": finished.run_id, "step": "s3",
                                  "reused_cost": pytest.approx(spent["s1"] + spent["s2"])}
    reused = {s["id"]: s.get("reused_from") for s in forked.steps}
    assert reused == {"s1": {"run_id": finished.run_id, "cost": spent["s1"]},
                      "s2": {"run_id": finished.run_id, "cost": spent["s2"]}, "s3": None, "s4": None, "s5": None}
    assert [s["cost"] for s in forked.steps[:2]] == [0.0, 0.0]  # not spent again: the run's own cost excludes them
    assert forked.cost == pytest.approx(sum(s["cost"] for s in forked.steps[2:]))
    new_tasks = tasks(llm_server, seen)
    assert len(new_tasks) == 6 and [c["key"] for c in counter.calls[5:]] == ["f3", "f4", "f5"]
    assert not any(t.startswith(("part 1 ", "part 2 ")) for t in new_tasks)  # no model call for s1 and s2
    assert new_tasks[0] == "part 3 of waves after result s2"  # s3 sees s2's recorded output and the new input
    outputs = [s["output"] for s in forked.steps]
    assert outputs == ["result s1", "result s2", "result f3", "result f4", "result f5"]
    assert runner.status(forked.run_id).forked_from == forked.forked_from

    log = AuditLog(db_path(workspace_dir))
    [fork] = [e for e in log.entries(action="workflow.run.fork")]
    log.close()
    assert fork.subject == forked.run_id and fork.data["parent_run"] == finished.run_id
    assert fork.data["reused"] == ["s1", "s2"] and fork.actor == "tester"

    diff = diff_runs(runner.conn, finished.run_id, forked.run_id)
    assert diff["inputs"] == {"topic": {"a": "tides", "b": "waves"}} and not diff["same"]
    changed = {step["id"]: step["changed"] for step in diff["steps"]}
    assert changed["s1"] == changed["s2"] == []  # reused: the same work, its $0 here is not a change of cost
    assert all("output" in changed[sid] for sid in ("s3", "s4", "s5"))
    assert diff["steps"][0]["b"]["reused_from"] == {"run_id": finished.run_id, "cost": spent["s1"]}
    assert diff["reused_cost"] == {"a": 0.0, "b": pytest.approx(spent["s1"] + spent["s2"])}
    again = await fork_workflow(runner, forked.run_id, "s5")  # a fork of a fork: the cost where the work was done
    assert {s["id"]: s.get("reused_from") for s in again.steps}["s1"] == {"run_id": forked.run_id, "cost": spent["s1"]}
    replayed = await replay_workflow(runner.workspace, forked.run_id)  # a fork is recorded like any run
    assert replayed.identical, [s.differences for s in replayed.steps]


async def test_refusals(runner, finished, workspace_dir):
    with pytest.raises(ReplayError, match=r"has no step 's9' \(did you mean \"s1\"\?\)|has no step 's9'"):
        await fork_workflow(runner, finished.run_id, "s9")
    pending = runner.create("five", {"topic": "x"})
    with pytest.raises(ReplayError, match=f"run {pending} is pending; replay it once it has finished"):
        await replay_workflow(runner.workspace, pending)
    with pytest.raises(ReplayError, match=f"run {pending} is pending; fork it once it has finished"):
        await fork_workflow(runner, pending, "s1")
    runner.conn.execute("DELETE FROM agent_runs WHERE run_id = ?", (finished.run_id,))  # as before the feature
    with pytest.raises(ReplayError, match=f"run {finished.run_id} was recorded before parac kept model calls"):
        await replay_workflow(runner.workspace, finished.run_id)
    with pytest.raises(AgentRunNotFound, match="no agent run 'nope' in this workspace"):
        await replay_agent(runner.workspace, "nope")


async def test_agent_replay_answers_tools_from_the_record(workspace_dir, host_for, llm_server, counter):
    host = host_for(workspace_dir)
    llm_server.script(MODEL, Reply.calls(("lookup", {"key": "k"})), Reply.message("the value is known"))
    result = await run_agent(host.workspace, "writer", "find k", hooks=host.hooks)
    assert result.ok and len(counter.calls) == 1
    report = await replay_agent(host.workspace, result.run_id)
    assert report.identical and report.model_calls == 2 and len(llm_server.requests) == 2 and len(counter.calls) == 1
    assert report.steps[0].replayed == {"status": "completed", "output": "the value is known"}
