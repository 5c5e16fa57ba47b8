"""Agents as tools and handoffs, end to end on scripted models: the delegate really runs, in the same run and
budget; a handoff passes the whole conversation; nesting stops at MAX_DEPTH."""

from __future__ import annotations

from parac.core.costs import ensure_schema
from parac.core.patterns.delegation import MAX_DEPTH
from parac.core.runtime import Runtime, run_agent
from parac.core.store import connect_workspace
from support.runtime import set_settings


def ledger(root) -> list[dict]:
    conn = ensure_schema(connect_workspace(root))
    return [dict(r) for r in conn.execute("SELECT * FROM llm_calls ORDER BY seq")]


async def test_a_delegate_is_a_tool_whose_answer_comes_back(space):
    space.agent("reviewer", description="Reviews changes.",
                model=space.script("reviewer", {"text": "two issues: no test, typo in README"}))
    space.agent("lead", delegates=["reviewer"], model=space.script(
        "lead",
        {"tool_calls": [{"name": "ask_reviewer", "arguments": {"task": "review the patch"}}]},
        {"text": "the reviewer found two issues"},
    ))
    host = space.host()
    events: list[tuple[str, dict]] = []
    result = await run_agent(host.workspace, "lead", "ship it?", hooks=host.hooks,
                             on_event=lambda n, d: events.append((n, d)))
    assert result.ok and result.output == "the reviewer found two issues"
    offered = [t for t in result.transcript if t["role"] == "tool"]
    assert offered[0]["content"] == "two issues: no test, typo in README"
    rows = ledger(space.root)
    assert [r["agent"] for r in rows] == ["lead", "reviewer", "lead"]
    assert {r["run_id"] for r in rows} == {result.run_id}  # one run: one budget
    assert result.iterations == 3 and result.cost_usd == sum(r["cost_usd"] for r in rows)
    started = [d for n, d in events if n == "agent.run.start"]
    assert [(d["agent"], d["depth"]) for d in started] == [("lead", 0), ("reviewer", 1)]
    assert [p["phase"] for p in result.phases] == ["delegate", "delegated"]


async def test_a_handoff_passes_the_conversation_and_the_other_agent_answers(space):
    space.agent("billing", system_prompt="You handle billing.", model=space.script(
        "billing",
        {"text": "(not played: the conversation already holds one assistant turn)"},
        {"text": "refund issued for order 7"},
    ))
    space.agent("triage", system_prompt="You route requests.", handoffs=["billing"], model=space.script(
        "triage", {"tool_calls": [{"name": "handoff_to_billing", "arguments": {"reason": "refund"}}]},
    ))
    host = space.host()
    result = await run_agent(host.workspace, "triage", "refund order 7", hooks=host.hooks)
    assert result.ok and result.output == "refund issued for order 7"
    assert result.transcript[0] == {"role": "system", "content": "You handle billing."}
    assert result.transcript[1] == {"role": "user", "content": "refund order 7"}
    assert [p["phase"] for p in result.phases] == ["handoff"] and result.phases[0]["to"] == "billing"
    assert [r["agent"] for r in ledger(space.root)] == ["triage", "billing"]


async def test_delegation_stops_at_the_depth_bound(space):
    # an agent that delegates to itself: each level asks the next, until the tool is no longer offered
    space.agent("loop", delegates=["loop"], max_iterations=3, model=space.script(
        "loop",
        {"tool_calls": [{"name": "ask_loop", "arguments": {"task": "again"}}]},
        {"text": "done"},
    ))
    host = space.host()
    starts: list[dict] = []
    with Runtime(host.workspace, hooks=host.hooks,
                 on_event=lambda n, d: starts.append(d) if n == "agent.run.start" else None) as runtime:
        result = await runtime.run("loop", "go")
    assert result.ok
    assert [d["depth"] for d in starts] == list(range(MAX_DEPTH + 1))
    # each level: the call that delegates, then "done"; the deepest level's call was answered "unknown tool"
    assert len(ledger(space.root)) == 2 * (MAX_DEPTH + 1)


async def test_a_run_budget_covers_the_delegates(space):
    set_settings(space.root, prices={"scripted": {"input_per_mtok": 0, "output_per_mtok": 1e6 * 0.01}})
    # 100 completion tokens cost $1; a call reserves max_tokens (120: $1.20) before it is made
    space.agent("helper", max_tokens=120, model=space.script("helper", {"text": "x" * 400}))
    space.agent("boss", delegates=["helper"], max_tokens=120, budget={"per_run_usd": 1.5}, model=space.script(
        "boss",
        {"tool_calls": [{"name": "ask_helper", "arguments": {"task": "a"}}]},
        {"tool_calls": [{"name": "ask_helper", "arguments": {"task": "b"}}]},
        {"text": "finished"},
    ))
    host = space.host()
    result = await run_agent(host.workspace, "boss", "work", hooks=host.hooks)
    rows = ledger(space.root)
    assert [r["agent"] for r in rows] == ["boss", "helper"]  # the second delegation was never reached
    assert result.status == "denied" and "per_run" in result.error.replace(" ", "_")
    assert sum(r["cost_usd"] for r in rows) <= 1.5 and result.cost_usd == sum(r["cost_usd"] for r in rows)
