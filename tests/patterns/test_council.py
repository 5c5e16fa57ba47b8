"""Council steps end to end: members answer in parallel, vote / judge / debate decide, every answer and the decision
are the step's checkpointed output, and a workflow budget holds across the members."""

from __future__ import annotations

import pytest

from parac.core.costs import ensure_schema
from parac.core.store import connect_workspace
from parac.core.workflows import RunOptions
from parac.core.workflows.runs import BudgetRefused, WorkflowRunner
from support.runtime import set_settings


def ledger(root) -> list[dict]:
    conn = ensure_schema(connect_workspace(root))
    return [dict(r) for r in conn.execute("SELECT agent, step, cost_usd, status FROM llm_calls ORDER BY seq")]


async def start(space, name: str, events: list | None = None, **options):
    host = space.host()
    sink = (lambda n, d: events.append((n, d))) if events is not None else None
    with WorkflowRunner(host.workspace, hooks=host.hooks, on_event=sink) as runner:
        return await runner.run(name, {}, RunOptions(**options))


async def test_vote_takes_the_majority_and_keeps_every_answer(space):
    space.agent("a", model="fixed:Paris")
    space.agent("b", model="fixed:paris.")
    space.agent("c", model="fixed:Lyon")
    space.workflow("ask", steps=[
        {"id": "capital", "type": "council", "agents": ["a", "b", "c"], "task": "Capital of France?"},
        {"id": "say", "agent": "a", "depends_on": ["capital"], "task": "{{ steps.capital.output.decision }}"},
    ])
    events: list = []
    result = await start(space, "ask", events)
    assert result.status == "completed", result
    output = result.steps[0]["output"]
    assert output["decision"] == "Paris" and output["votes"] == {"a": 2, "b": 2, "c": 1}
    assert sorted((e["agent"], e["answer"]) for e in output["answers"]) == [("a", "Paris"), ("b", "paris."), ("c", "Lyon")]
    assert {r["step"] for r in ledger(space.root) if r["agent"] in "abc"} >= {"capital"}
    names = [n for n, _ in events]
    assert names.count("workflow.council.answer") == 3 and "workflow.council.decision" in names


async def test_a_judge_picks_an_answer_by_number(space):
    space.agent("a", model="fixed:use a queue")
    space.agent("b", model="fixed:use a lock")
    space.agent("boss", model="fixed:2, because contention is low")
    space.workflow("pick", steps=[{"id": "design", "type": "council", "agents": ["a", "b"], "strategy": "judge",
                                   "judge": "boss", "task": "How to guard the counter?"}])
    result = await start(space, "pick")
    output = result.steps[0]["output"]
    assert output["decision"] == "use a lock" and output["judge"]["chose"] == "b"
    assert output["judge"]["verdict"].startswith("2, because")


async def test_debate_members_read_each_other_and_then_vote(space):
    space.agent("a", model=space.script("a", {"text": "3"}, {"text": "4"}))
    space.agent("b", model=space.script("b", {"text": "4"}, {"text": "4"}))
    space.workflow("argue", steps=[{"id": "sum", "type": "council", "agents": ["a", "b"], "strategy": "debate",
                                    "rounds": 2, "task": "2+2?"}])
    result = await start(space, "argue")
    output = result.steps[0]["output"]
    assert [(e["agent"], e["round"], e["answer"]) for e in output["answers"]] == [
        ("a", 1, "3"), ("b", 1, "4"), ("a", 2, "4"), ("b", 2, "4")]
    assert output["decision"] == "4"


async def test_a_council_is_checkpointed_and_not_run_again_on_resume(space):
    space.agent("a", model="fixed:yes")
    space.agent("b", model="fixed:yes")
    space.workflow("gate", steps=[
        {"id": "vote", "type": "council", "agents": ["a", "b"], "task": "ok?"},
        {"id": "approve", "type": "approval", "depends_on": ["vote"]},
    ])
    first = await start(space, "gate", pause_on_approval=True)
    assert first.status == "waiting_approval"
    calls = len(ledger(space.root))
    host = space.host()
    with WorkflowRunner(host.workspace, hooks=host.hooks) as runner:
        runner.decide(first.run_id, "approve", approved=True)
        resumed = await runner.resume(first.run_id)
    assert resumed.status == "completed"
    assert len(ledger(space.root)) == calls == 2  # the council's answers came from its checkpoint
    assert resumed.steps[0]["output"]["decision"] == "yes"


async def test_a_workflow_budget_holds_across_the_members(space):
    set_settings(space.root, prices={"fixed": {"input_per_mtok": 0, "output_per_mtok": 1e6 * 0.01}})
    for name in ("a", "b", "c", "d"):
        space.agent(name, model="fixed:" + "y" * 40, max_tokens=12)  # 10 tokens: $0.10, reserves $0.12
    space.workflow("spend", budget_usd=0.3, steps=[
        {"id": "all", "type": "council", "agents": ["a", "b", "c", "d"], "task": "go"}])
    host = space.host()
    with WorkflowRunner(host.workspace, hooks=host.hooks) as runner:
        run_id = runner.engine.create("spend", runner.services.workflow_spec("spend"), {}, RunOptions())
        result = await runner.execute(run_id)  # past the plan's refusal: the members themselves must be held
    rows = ledger(space.root)
    assert sum(r["cost_usd"] for r in rows) <= 0.3 + 1e-9
    assert result.status == "failed" and "refused" in result.steps[0]["error"]
    assert len([r for r in rows if r["status"] == "ok"]) == 2


async def test_the_plan_counts_every_member_and_refuses_a_council_over_budget(space):
    set_settings(space.root, prices={"fixed": {"input_per_mtok": 0, "output_per_mtok": 1e6 * 0.01}})
    for name in ("a", "b", "judge"):
        space.agent(name, model="fixed:y", max_tokens=10)  # each first turn bounded at $0.10
    space.workflow("spend", budget_usd=0.25, steps=[
        {"id": "all", "type": "council", "agents": ["a", "b"], "strategy": "judge", "judge": "judge", "task": "go"}])
    host = space.host()
    with WorkflowRunner(host.workspace, hooks=host.hooks) as runner:
        plan = runner.plan("spend", {})
        [step] = plan.steps
        assert step.kind == "council" and step.usd == pytest.approx(0.30)
        with pytest.raises(BudgetRefused):
            runner.create("spend", {}, RunOptions())
    assert ledger(space.root) == []
