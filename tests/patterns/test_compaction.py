"""Context compaction: on the shipped fixture set of long transcripts it saves at least 30% of the tokens while every
fact a later turn uses is still sent; in a run, the model (the local OpenAI-compatible server, through litellm) is
sent the compacted conversation and can ask for a cut output back with expand_output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parac.core.patterns.compaction import EXPAND_TOOL, KEEP_TURNS, compact, count_tokens
from parac.core.runtime import run_agent
from support.openai_server import Reply
from support.runtime import set_settings

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "transcripts").glob("*.json"))
BUDGET_SHARE = 0.25  # context_tokens as a share of each transcript's size: compaction has to work


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def sent_text(messages: list[dict]) -> str:
    return json.dumps(messages, ensure_ascii=False)


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_every_fact_a_later_turn_uses_is_still_sent(path: Path):
    fixture = load(path)
    messages = fixture["messages"]
    compacted = compact(messages, int(count_tokens(messages) * BUDGET_SHARE))
    text = "\n".join(str(m.get("content") or "") for m in compacted.messages)
    for fact in fixture["facts"]:
        # the fixtures keep each fact only in an older tool output: its presence proves the line survived
        assert not any(fact in (m.get("content") or "") for m in messages if m["role"] != "tool")
        assert fact in text, f"{path.stem}: lost {fact!r}"
    assert compacted.messages[:2] == messages[:2]  # the system prompt and the task are never touched
    assistants = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    recent = len(messages) - assistants[-KEEP_TURNS]
    assert compacted.messages[-recent:] == messages[-recent:]  # nor the last turns


def test_the_fixture_set_saves_at_least_30_percent():
    before = after = 0
    for path in FIXTURES:
        messages = load(path)["messages"]
        compacted = compact(messages, int(count_tokens(messages) * BUDGET_SHARE))
        before, after = before + compacted.tokens_before, after + compacted.tokens_after
    assert len(FIXTURES) >= 4
    assert (before - after) / before >= 0.30, (before, after)


def test_a_conversation_within_budget_is_sent_unchanged():
    messages = load(FIXTURES[0])["messages"]
    compacted = compact(messages, count_tokens(messages))
    assert compacted.messages == messages and compacted.saved == 0


def test_repeated_outputs_become_pointers_to_the_last_copy():
    big = "\n".join(f"line {n} of a long and repeated output" for n in range(50))
    messages = [{"role": "user", "content": "task"}]
    for n in range(3):
        messages += [{"role": "assistant", "content": None, "tool_calls": [
            {"id": f"c{n}", "type": "function", "function": {"name": "t", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": f"c{n}", "content": big}]
    messages.append({"role": "assistant", "content": "done"})
    compacted = compact(messages, count_tokens(messages) - 1)
    tools = [m["content"] for m in compacted.messages if m["role"] == "tool"]
    assert tools[2] == big and tools[0] == tools[1] == "[the same output as tool call c2, further on]"


async def test_a_run_sends_the_compacted_conversation_and_can_expand(space, llm_server):
    set_settings(space.root, providers={"local": {"api_base": llm_server.base_url, "model_prefix": "openai"}})
    space.agent("reader", tools=["report"], memory={"context_tokens": 2000}, model="local/gpt-4o-mini")
    llm_server.script("gpt-4o-mini", Reply.calls(("report", {"lines": 400})))
    llm_server.script("gpt-4o-mini", Reply.calls(("report", {"lines": 300})))
    llm_server.script("gpt-4o-mini", Reply.calls(("report", {"lines": 200})))
    llm_server.script("gpt-4o-mini", Reply.calls((EXPAND_TOOL, {"ref": "call_0"})))
    llm_server.script("gpt-4o-mini", Reply.message("item 0123 has checksum shown above"))
    host = space.host()
    result = await run_agent(host.workspace, "reader", "check the report", hooks=host.hooks)
    assert result.status == "completed", result.error
    bodies = [r.body for r in llm_server.requests]
    assert EXPAND_TOOL in [t["function"]["name"] for t in bodies[0]["tools"]]
    assert len(bodies) == 5
    # before the expansion the model had three reports; the oldest (400 lines) was sent as a summary line with
    # its pointer, the last two turns whole
    sent = "\n".join(str(m.get("content")) for m in bodies[3]["messages"])
    assert "item 0399" not in sent and "item 0299" in sent
    assert f'call {EXPAND_TOOL} with {{"ref": "call_0"}}' in sent
    assert [m for m in result.transcript if m["role"] == "tool"][0]["content"].count("\n") == 399
    expanded = [m for m in result.transcript if m["role"] == "tool"][-1]["content"]
    assert expanded.count("\n") == 399  # the first report, whole again
    assert any(p["phase"] == "compact" for p in result.phases)
