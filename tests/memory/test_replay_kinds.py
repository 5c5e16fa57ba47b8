"""Fork, replay and diff of a state machine's and a behaviour tree's runs, offline: the agents answer with the echo
model, so each output is its task and shows which inputs it saw; the recorded agent runs say which steps really
called a model."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from parac.core.replay import ReplayError, diff_runs, fork_workflow, replay_workflow
from parac.core.workflows import RunOptions

LOOP = """\
kind: fsm
inputs: {topic: {type: string, required: true}, rounds: {type: integer, default: 2}}
initial: draft
states:
  draft:
    agent: echoer
    task: "draft {{ states.draft.visits }} of {{ inputs.topic }}"
    transitions: [{to: review}]
  review:
    agent: echoer
    task: "review of {{ state.output }}"
    transitions:
      - {to: draft, when: "states.review.visits < inputs.rounds"}
      - {to: sign}
  sign:
    type: human
    assign: editor
    form: {type: object, properties: {ok: {type: boolean}}, required: [ok]}
    transitions: [{to: done}]
  done: {final: true}
outputs:
  last: "{{ states.review.output }}"
"""
VISITS = ["draft", "review", "draft#2", "review#2", "sign", "done"]

TREE = """\
kind: behavior_tree
inputs: {topic: {type: string, required: true}}
root:
  sequence:
    - action: {id: research, agent: echoer, task: "research {{ inputs.topic }}"}
    - selector:
        - condition: "inputs.topic == 'nothing'"
        - action: {id: draft, agent: echoer, task: "draft on {{ steps.research.output }}"}
    - action: {id: edit, agent: echoer, task: "edit {{ steps.draft.output }} for {{ inputs.topic }}"}
outputs:
  text: "{{ steps.edit.output }}"
"""

SIGNED = """\
inputs: {topic: {type: string, required: true}}
steps:
  - {id: draft, agent: echoer, task: "draft of {{ inputs.topic }}"}
  - id: sign
    type: human
    assign: editor
    form: {type: object, properties: {ok: {type: boolean}}, required: [ok]}
    depends_on: [draft]
  - {id: publish, agent: echoer, task: "publish {{ steps.draft.output }} ok={{ steps.sign.output.ok }}", depends_on: [sign]}
"""


@pytest.fixture
def kinds(workspace_dir: Path) -> Path:
    parac = workspace_dir / ".parac"
    (parac / "agents" / "echoer.yaml").write_text("description: says its task back\nmodel: echo\n")
    (parac / "workflows" / "loop.yaml").write_text(LOOP)
    (parac / "workflows" / "tree.yaml").write_text(TREE)
    (parac / "workflows" / "signed.yaml").write_text(SIGNED)
    return workspace_dir


def _model_steps(runner, run_id: str) -> list[str]:
    """The steps of a run that really ran an agent (each leaves a recorded agent run)."""
    rows = runner.conn.execute("SELECT step FROM agent_runs WHERE run_id = ? ORDER BY created_at", (run_id,))
    return [row[0] for row in rows]


async def _loop_run(runner, topic: str):
    """A run of ``loop`` whose sign-off is answered while it waits."""
    paused = await runner.run("loop", {"topic": topic}, RunOptions(pause_on_approval=True))
    assert paused.status == "waiting_approval", paused.error
    runner.answer(paused.run_id, "sign", {"ok": True})
    return await runner.resume(paused.run_id, RunOptions(pause_on_approval=True))


async def _answered_fork(runner, run_id: str, step: str, topic: str):
    """A fork of ``loop`` that waits at its sign-off as a run does, answered (as by a person) once it is asked."""
    forked = []

    async def fork() -> None:
        forked.append(await fork_workflow(runner, run_id, step, inputs={"topic": topic}, text_inputs=True))

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            group.start_soon(fork)
            while not (asked := runner.tasks("editor")):
                await anyio.sleep(0.05)
            runner.answer(asked[0]["run_id"], "sign", {"ok": True})
    return forked[0]


async def test_fork_an_fsm_run_from_a_later_visit(kinds, runner):
    first = await _loop_run(runner, "tides")
    assert first.status == "completed" and [s["id"] for s in first.steps] == VISITS
    forked = await _answered_fork(runner, first.run_id, "draft#2", "waves")
    assert forked.status == "completed", forked.error
    assert [s["id"] for s in forked.steps] == VISITS  # the reused visits in the run's own order, then the rest
    assert [s["output"] for s in forked.steps[:4]] == [
        "draft 1 of tides", "review of draft 1 of tides", "draft 2 of waves", "review of draft 2 of waves"]
    assert forked.outputs == {"last": "review of draft 2 of waves"}
    assert forked.forked_from == {"run_id": first.run_id, "step": "draft#2", "reused_cost": 0.0}
    assert _model_steps(runner, forked.run_id) == ["draft#2", "review#2"]  # no model call for draft and review

    diff = diff_runs(runner.conn, first.run_id, forked.run_id)
    changed = {step["id"]: step["changed"] for step in diff["steps"]}
    assert changed["draft"] == changed["review"] == [] and "output" in changed["draft#2"] and "output" in changed["review#2"]
    assert diff["inputs"] == {"topic": {"a": "tides", "b": "waves"}}

    for run in (first, forked):  # the person's answer is taken from the record: no wait, no model call
        report = await replay_workflow(runner.workspace, run.run_id)
        assert report.identical, [s.differences for s in report.steps]
        assert [s.id for s in report.steps] == VISITS


async def test_fork_a_behaviour_tree_from_an_action(kinds, runner):
    first = await runner.run("tree", {"topic": "bees"})
    assert first.status == "completed", first.error
    forked = await fork_workflow(runner, first.run_id, "draft", inputs={"topic": "wasps"}, text_inputs=True)
    assert forked.status == "completed", forked.error
    actions = [s["id"] for s in forked.steps if "node" not in s]
    assert actions == ["research", "draft", "edit"]
    assert [s["id"] for s in forked.steps] == [s["id"] for s in first.steps]  # the same nodes, in the same order
    assert forked.outputs == {"text": "edit draft on research bees for wasps"}
    assert _model_steps(runner, forked.run_id) == ["draft", "edit"]
    nodes = {s["node"]: s["status"] for s in forked.steps if "node" in s}
    assert nodes["r.1.0"] == "failed" and nodes["r.1"] == "completed"  # the failed condition was reused, not re-run
    diff = diff_runs(runner.conn, first.run_id, forked.run_id)
    assert {s["id"] for s in diff["steps"] if "output" in s["changed"]} == {"edit"}  # draft saw the same research
    report = await replay_workflow(runner.workspace, forked.run_id)
    assert report.identical, [s.differences for s in report.steps]


async def test_a_fork_from_a_step_that_did_no_work_is_refused(kinds, runner):
    first = await _loop_run(runner, "tides")
    with pytest.raises(ReplayError, match=r"has a step that did no work of its own .* 'done'.*fork from one that did"
                                          r" work: draft, review, draft#2, review#2, sign"):
        await fork_workflow(runner, first.run_id, "done")
    with pytest.raises(ReplayError, match=r"has no step 'draft#3'"):
        await fork_workflow(runner, first.run_id, "draft#3")
    tree = await runner.run("tree", {"topic": "bees"})
    with pytest.raises(ReplayError, match=r"did no work of its own .* '~r.1'"):
        await fork_workflow(runner, tree.run_id, "~r.1")


async def test_replay_of_a_dag_run_takes_the_persons_answer_from_the_record(kinds, runner):
    paused = await runner.run("signed", {"topic": "owls"}, RunOptions(pause_on_approval=True))
    assert paused.status == "waiting_approval", paused.error
    runner.answer(paused.run_id, "sign", {"ok": False})
    first = await runner.resume(paused.run_id, RunOptions(pause_on_approval=True))
    assert first.outputs["publish"] == "publish draft of owls ok=False"
    with anyio.fail_after(60):  # no waiting for a person: the recorded answer is given again
        report = await replay_workflow(runner.workspace, first.run_id)
    assert report.identical, [s.differences for s in report.steps]
    assert {s.id: s.replayed["output"] for s in report.steps}["sign"] == {"ok": False}
    assert runner.tasks("editor") == []  # and nobody was asked


async def test_replay_says_a_human_step_nobody_answered_cannot_be_replayed(kinds, runner):
    paused = await runner.run("signed", {"topic": "owls"}, RunOptions(pause_on_approval=True))
    runner.cancel(paused.run_id)
    with anyio.fail_after(60):
        report = await replay_workflow(runner.workspace, paused.run_id)
    assert not report.identical
    steps = {s.id: s for s in report.steps}
    assert steps["draft"].same
    assert ("human step 'sign' cannot be replayed: the record holds no answer to it (the run ended before anyone"
            " answered)") in steps["sign"].differences
