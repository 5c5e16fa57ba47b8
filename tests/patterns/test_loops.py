"""The evaluator loop (reflect:) and UPEE (loop: upee) end to end on scripted models: every critique and phase in the
transcript and the events, bounded rounds, and budgets that hold inside the loops."""

from __future__ import annotations

from parac.core.costs import ensure_schema
from parac.core.runtime import Runtime, run_agent
from parac.core.store import connect_workspace
from support.runtime import set_settings


def ledger(root) -> list[dict]:
    conn = ensure_schema(connect_workspace(root))
    return [dict(r) for r in conn.execute("SELECT agent, cost_usd, status FROM llm_calls ORDER BY seq")]


def critiques(result) -> list[str]:
    return [m["content"] for m in result.transcript if m.get("name") == "critic"]


async def test_reflect_revises_until_the_critic_accepts(space):
    space.agent("critic", model=space.script("critic", {"text": "The answer lacks a unit."}, {"text": "ACCEPT: good"}))
    space.agent("writer", reflect={"critic": "critic", "max_rounds": 3},
                model=space.script("writer", {"text": "42"}, {"text": "42 metres"}))
    host = space.host()
    events: list[tuple[str, dict]] = []
    result = await run_agent(host.workspace, "writer", "How tall?", hooks=host.hooks,
                             on_event=lambda n, d: events.append((n, d)))
    assert result.ok and result.output == "42 metres"
    said = critiques(result)
    assert len(said) == 2 and "lacks a unit" in said[0] and "Revise" in said[0] and "ACCEPT: good" in said[1]
    assert [(p["phase"], p.get("accepted")) for p in result.phases] == [
        ("critique", False), ("revise", None), ("critique", True)]
    assert [r["agent"] for r in ledger(space.root)] == ["writer", "critic", "writer", "critic"]
    # the critic kept its conversation: its second call saw its first critique
    phases = [d for n, d in events if n == "agent.phase"]
    assert phases[0]["text"] == "The answer lacks a unit." and phases[0]["round"] == 1


async def test_reflect_stops_after_max_rounds_and_honours_until(space):
    space.agent("critic", model=space.script("critic", {"text": "score 3"}, {"text": "score 5"}, {"text": "score 9"}))
    space.agent("writer", reflect={"critic": "critic", "max_rounds": 2, "until": "{{ 'score 9' in critique }}"},
                model=space.script("writer", {"text": "v1"}, {"text": "v2"}, {"text": "v3"}))
    host = space.host()
    result = await run_agent(host.workspace, "writer", "write", hooks=host.hooks)
    assert result.ok and result.output == "v2"  # two answers in all; the last stands, not accepted
    assert [p.get("accepted") for p in result.phases if p["phase"] == "critique"] == [False, False]
    assert len(critiques(result)) == 2


async def test_a_budget_holds_inside_the_reflect_loop(space):
    set_settings(space.root, prices={"scripted": {"input_per_mtok": 0, "output_per_mtok": 1e6 * 0.01}})
    never = [{"text": "x" * 200}] * 10  # 50 tokens: $0.50 each, never accepted
    space.agent("critic", max_tokens=60, model=space.script("critic", *never))
    space.agent("writer", max_tokens=60, budget={"per_run_usd": 2.0},
                reflect={"critic": "critic", "max_rounds": 10}, model=space.script("writer", *never))
    host = space.host()
    result = await run_agent(host.workspace, "writer", "write", hooks=host.hooks)
    rows = ledger(space.root)
    assert result.status == "denied"
    assert sum(r["cost_usd"] for r in rows) <= 2.0 and len(rows) == 3  # writer, critic, writer; the 4th is refused


async def test_upee_runs_its_four_phases_and_refines_a_low_score(space):
    space.agent("solver", loop="upee", tools=["add"], upee={"min_score": 0.8, "max_refines": 2},
                model=space.script(
                    "solver",
                    {"text": "Asked: 2+3. Known: numbers. Missing: nothing."},
                    {"text": "1. call add(2, 3) 2. report"},
                    {"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]},
                    {"text": "5"},
                    {"text": '{"score": 0.4, "reason": "show the working"}'},
                    {"text": "2 + 3 = 5"},
                    {"text": '{"score": 0.9, "reason": "complete"}'},
                ))
    host = space.host()
    events: list[tuple[str, dict]] = []
    result = await run_agent(host.workspace, "solver", "add 2 and 3", hooks=host.hooks,
                             on_event=lambda n, d: events.append((n, d)))
    assert result.ok and result.output == "2 + 3 = 5"
    assert [p["phase"] for p in result.phases] == [
        "understand", "plan", "execute", "evaluate", "refine", "execute", "evaluate"]
    scores = [p["score"] for p in result.phases if p["phase"] == "evaluate"]
    assert scores == [0.4, 0.9]
    starts = [d["phase"] for n, d in events if n == "agent.phase.start"]
    assert starts == ["understand", "plan", "execute", "evaluate", "execute", "evaluate"]
    assert result.tool_calls == 1 and result.iterations == 7
    prompts = [m["content"] for m in result.transcript if m["role"] == "user"]
    assert [p.split("]")[0] for p in prompts[1:]] == ["[understand", "[plan", "[execute", "[evaluate", "[refine", "[evaluate"]


async def test_upee_refines_at_most_max_refines_times(space):
    low = {"text": '{"score": 0.1, "reason": "no"}'}
    space.agent("solver", loop="upee", upee={"max_refines": 1}, model=space.script(
        "solver", {"text": "u"}, {"text": "p"}, {"text": "first"}, low, {"text": "second"}, low, {"text": "third"}))
    host = space.host()
    with Runtime(host.workspace, hooks=host.hooks) as runtime:
        result = await runtime.run("solver", "task")
    assert result.ok and result.output == "second"
    assert [p["phase"] for p in result.phases].count("evaluate") == 2
    assert result.phases[-1]["passed"] is False


async def test_a_budget_holds_inside_the_upee_loop(space):
    set_settings(space.root, prices={"scripted": {"input_per_mtok": 0, "output_per_mtok": 1e6 * 0.01}})
    space.agent("solver", loop="upee", max_tokens=60, budget={"per_run_usd": 1.2},
                model=space.script("solver", *[{"text": "y" * 200}] * 8))  # $0.50 a turn, $0.60 reserved
    host = space.host()
    result = await run_agent(host.workspace, "solver", "task", hooks=host.hooks)
    rows = ledger(space.root)
    assert result.status == "denied" and len(rows) == 2 and sum(r["cost_usd"] for r in rows) <= 1.2
    assert [p["phase"] for p in result.phases] == ["understand", "plan"]  # the execution's call was refused
