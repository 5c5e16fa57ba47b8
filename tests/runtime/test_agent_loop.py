"""The agent loop on offline providers: tool calls, errors fed back to the model, limits, streaming, ledger."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from parac.core.calls import CallContext
from parac.core.costs import ensure_schema, report
from parac.core.diagnostics import ParacError
from parac.core.runtime import Runtime, run_agent
from parac.core.store import connect_workspace
from support.runtime import set_settings, write_script


def tool_messages(result) -> list[dict]:
    return [m for m in result.transcript if m["role"] == "tool"]


async def test_echo_answers_with_the_task_and_records_one_ledger_row(workspace_dir: Path, host_for):
    host = host_for(workspace_dir)
    result = await run_agent(host.workspace, "calc", "what is two plus two", hooks=host.hooks)
    assert result.status == "completed" and result.output == "what is two plus two"
    system = result.transcript[0]
    assert system["role"] == "system"
    assert "You are careful." in system["content"] and "Always use the add tool." in system["content"]
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    rows = report(ensure_schema(connect_workspace(workspace_dir)), by="agent")["rows"]
    assert [(r["key"], r["calls"]) for r in rows] == [("calc", 1)]


async def test_fixed_and_seeded_random_are_deterministic(workspace_dir: Path, host_for):
    host = host_for(workspace_dir)
    fixed = await run_agent(host.workspace, "calc", "anything", model="fixed:forty-two")
    assert fixed.output == "forty-two"
    first = await run_agent(host.workspace, "calc", "same task", model="random:7")
    second = await run_agent(host.workspace, "calc", "same task", model="random:7")
    other_seed = await run_agent(host.workspace, "calc", "same task", model="random:8")
    assert first.output == second.output and first.output != other_seed.output
    assert 5 <= len(first.output.split()) <= 30


async def test_scripted_tool_calls_run_through_the_tools_and_feed_results_back(workspace_dir: Path, host_for, tools, tmp_path):
    model = write_script(
        tmp_path / "script.yaml",
        [{"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]}, {"text": "the sum is 5"}],
    )
    host = host_for(workspace_dir)
    result = await run_agent(host.workspace, "calc", "add 2 and 3", model=model, hooks=host.hooks)
    assert result.status == "completed" and result.output == "the sum is 5"
    assert tools.calls == [("add", {"a": 2, "b": 3})]
    assert [m["content"] for m in tool_messages(result)] == ["5"]
    assert result.iterations == 2 and result.tool_calls == 1


class Seeing:
    """The host's hooks, keeping every call record they are shown."""

    def __init__(self, hooks) -> None:
        self.hooks, self.calls = hooks, []

    def before_tool_call(self, call) -> None:
        self.calls.append(call)
        self.hooks.before_tool_call(call)

    def before_llm_call(self, call) -> None:
        self.calls.append(call)
        self.hooks.before_llm_call(call)

    def __getattr__(self, name: str):
        return getattr(self.hooks, name)


async def test_every_call_of_a_run_carries_the_callers_context(workspace_dir: Path, host_for, tmp_path):
    model = write_script(
        tmp_path / "script.yaml",
        [{"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]}, {"text": "the sum is 5"}],
    )
    host = host_for(workspace_dir)
    seeing = Seeing(host.hooks)
    caller = CallContext(actor="token:ci", role="operator", workflow="release", run_id="run-7", step="build")
    with Runtime(host.workspace, hooks=seeing) as runtime:
        result = await runtime.run("calc", "add 2 and 3", model=model, context=caller)
    assert result.status == "completed" and result.run_id == "run-7"
    assert [type(call).__name__ for call in seeing.calls] == ["LLMCall", "ToolCall", "LLMCall"]
    assert {(c.actor, c.agent, c.workflow, c.run_id, c.step) for c in seeing.calls} == {
        ("token:ci", "calc", "release", "run-7", "build")
    }
    assert seeing.calls[1].idempotency_key.startswith("run-7:")
    # a run of its own gets a fresh run id, and the caller's context is left as it was
    with Runtime(host.workspace, hooks=seeing) as runtime:
        alone = await runtime.run("calc", "x", model="echo", context=CallContext(actor="token:ci"))
    assert alone.run_id and alone.run_id != "run-7" and seeing.calls[-1].run_id == alone.run_id
    assert caller.agent is None


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ({"name": "subtract", "arguments": {"a": 1}}, 'unknown tool "subtract"'),
        ({"name": "add", "arguments": "{not json"}, "not valid JSON"),
        ({"name": "add", "arguments": "[1, 2]"}, "must be a JSON object"),
        ({"name": "add", "arguments": {"a": "two", "b": 3}}, "invalid arguments"),
        ({"name": "explode", "arguments": {"reason": "on purpose"}}, "exploded: on purpose"),
    ],
)
async def test_bad_tool_calls_are_fed_back_to_the_model_not_raised(workspace_dir, host_for, tools, tmp_path, call, expected):
    model = write_script(tmp_path / "script.yaml", [{"tool_calls": [call]}, {"text": "recovered"}])
    host = host_for(workspace_dir)
    result = await run_agent(host.workspace, "calc", "go", model=model, hooks=host.hooks)
    assert result.status == "completed" and result.output == "recovered"
    [fed_back] = tool_messages(result)
    assert expected in json.loads(fed_back["content"])["error"]
    assert ("add", {"a": "two", "b": 3}) not in tools.calls


async def test_a_model_that_never_stops_calling_tools_ends_at_max_iterations(workspace_dir, host_for, tools, tmp_path):
    turns = [{"tool_calls": [{"name": "add", "arguments": {"a": i, "b": 1}}]} for i in range(10)]
    model = write_script(tmp_path / "loop.yaml", turns)
    host = host_for(workspace_dir)
    result = await run_agent(host.workspace, "calc", "loop", model=model, hooks=host.hooks)
    assert result.status == "max_iterations" and not result.ok
    assert result.iterations == 4 and len(tools.calls) == 4  # max_iterations: 4 inherited from base
    assert "max_iterations=4" in (result.error or "")
    capped = await run_agent(host.workspace, "calc", "loop", model=model, hooks=host.hooks, max_iterations=2)
    assert capped.iterations == 2


async def test_streaming_delivers_the_text_in_pieces(workspace_dir, host_for):
    host = host_for(workspace_dir)
    pieces: list[str] = []
    result = await run_agent(host.workspace, "calc", "one two three", on_text=pieces.append)
    assert len(pieces) == 3 and "".join(pieces) == result.output == "one two three"


async def test_a_failing_script_turn_is_a_recorded_failure(workspace_dir, host_for, tmp_path):
    model = write_script(tmp_path / "bad.yaml", [{"error": "the model refused"}])
    host = host_for(workspace_dir)
    result = await run_agent(host.workspace, "calc", "go", model=model)
    assert result.status == "failed" and "the model refused" in (result.error or "")
    rows = ensure_schema(connect_workspace(workspace_dir)).execute("SELECT status, error, cost_usd FROM llm_calls").fetchall()
    assert [(r["status"], r["cost_usd"]) for r in rows] == [("error", 0.0)]


@pytest.mark.parametrize(
    ("name", "model", "message"),
    [
        ("calcc", None, 'unknown agent "calcc" (did you mean "calc"?)'),
    ],
)
async def test_an_agent_that_cannot_run_is_a_clear_error(workspace_dir, host_for, name, model, message):
    host = host_for(workspace_dir)
    with pytest.raises(ParacError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        await run_agent(host.workspace, name, "x", model=model)


async def test_unknown_models_and_missing_tools_fail_clearly(workspace_dir, host_for):
    host = host_for(workspace_dir)
    unknown = await run_agent(host.workspace, "calc", "x", model="nosuchprovider/model")
    assert unknown.status == "failed" and 'no provider serves model "nosuchprovider/model"' in (unknown.error or "")
    (workspace_dir / ".parac/agents/ghost.yaml").write_text("description: g\ntools: [teleport]\n")
    host = host_for(workspace_dir)
    with pytest.raises(ParacError, match="teleport"):
        await run_agent(host.workspace, "ghost", "x")


async def test_named_provider_with_missing_key_is_named_in_the_error(workspace_dir, host_for, monkeypatch):
    monkeypatch.delenv("PARAC_TEST_MISSING_KEY", raising=False)
    set_settings(workspace_dir, providers={"corp": {"api_base": "http://127.0.0.1:9/v1", "api_key_env": "PARAC_TEST_MISSING_KEY"}})
    host = host_for(workspace_dir)
    result = await run_agent(host.workspace, "calc", "x", model="corp/some-model")
    assert result.status == "failed"
    assert "PARAC_TEST_MISSING_KEY" in (result.error or "") and "not set" in (result.error or "")


async def test_cancellation_stops_the_run_and_settles_the_ledger(workspace_dir, host_for, tools, tmp_path):
    """A tool that blocks; the run is cancelled while it waits; the finished model call stays recorded once."""
    started = anyio.Event()

    class Slow:
        from parac.server.api import hookimpl as _hookimpl

        @_hookimpl
        def parac_register_tools(self, register) -> None:
            from parac.server.api import tool_from_function

            async def wait_forever() -> str:
                """Never returns."""
                started.set()
                await anyio.sleep(3600)
                return "unreachable"

            register(tool_from_function(wait_forever))

    from parac.server.host import Host

    (workspace_dir / ".parac/agents/waiter.yaml").write_text("description: w\ntools: [wait_forever]\n")
    host = Host(entry_points=False, extra_plugins=[("slow", Slow())])
    host.open_workspace(workspace_dir)
    model = write_script(tmp_path / "wait.yaml", [{"tool_calls": [{"name": "wait_forever", "arguments": {}}]}])
    runtime = Runtime(host.workspace, hooks=host.hooks)
    with anyio.move_on_after(30):
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: runtime.run("waiter", "wait", model=model))
            await started.wait()
            group.cancel_scope.cancel()
    rows = runtime.conn.execute("SELECT status FROM llm_calls").fetchall()
    runtime.close()
    assert [r["status"] for r in rows] == ["ok"]


async def test_a_tool_the_policy_denies_is_fed_back_and_never_runs(workspace_dir, host_for, tools, tmp_path):
    (workspace_dir / ".parac/policies/tests.yaml").write_text("allow:\n  - tools: [add]\n")
    model = write_script(
        tmp_path / "s.yaml", [{"tool_calls": [{"name": "explode", "arguments": {"reason": "x"}}]}, {"text": "ok"}]
    )
    host = host_for(workspace_dir)
    result = await run_agent(host.workspace, "calc", "go", model=model, hooks=host.hooks)
    assert result.status == "completed" and tools.calls == []
    [fed_back] = tool_messages(result)
    assert "not granted" in json.loads(fed_back["content"])["error"]
