"""MCP face of the runtime, through the official SDK client in-process (both protocol eras): run_agent with
progress, cost_report, budget_status, parac://costs, and the ``client`` model answered by MCP sampling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client

from parac.server.mcp.app import ParacApp
from parac.server.mcp.server import build_server
from support.runtime import set_settings, write_script


@pytest.fixture(params=["legacy", "auto"])
def era(request: pytest.FixtureRequest) -> str:
    return request.param


def client(project: Path, era: str, **options: Any) -> Client:
    return Client(build_server(ParacApp(project)), mode=era, **options)


async def test_run_agent_reports_progress_and_lands_in_the_ledger(project: Path, era: str, tmp_path: Path):
    write_script(project / "s.yaml", [{"tool_calls": [{"name": "missing_tool", "arguments": {}}]}, {"text": "all done"}])
    model = "scripted:s.yaml"  # over MCP a script is named relative to the workspace
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async with client(project, era) as session:
        tools = {tool.name for tool in (await session.list_tools()).tools}
        assert {"run_agent", "cost_report", "budget_status"} <= tools
        result = await session.call_tool(
            "run_agent", {"agent": "coder", "task": "do it", "model": model}, progress_callback=on_progress
        )
        assert not result.is_error, result
        data = result.structured_content
        assert data["status"] == "completed" and data["output"] == "all done" and data["iterations"] == 2
        report = await session.call_tool("cost_report", {"by": "agent"})
        costs = json.loads((await session.read_resource("parac://costs")).contents[0].text)
    assert [(row["key"], row["calls"]) for row in report.structured_content["rows"]] == [("coder", 2)]
    assert costs["by_model"]["total"]["calls"] == 2 and len(costs["recent"]) == 2
    assert [p[0] for p in progress] == [0, 1, 2] and progress[1][1] == 20
    assert progress[0][2] == "coder started on scripted:s.yaml" and "missing_tool" in (progress[1][2] or "")


async def test_run_agent_errors_are_tool_errors(project: Path, era: str):
    set_settings(project, prices={"echo": {"input_per_mtok": 1, "output_per_mtok": 1}}, budgets={"daily_usd": 0.0})
    async with client(project, era) as session:
        unknown = await session.call_tool("run_agent", {"agent": "nobody", "task": "x"})
        denied = await session.call_tool("run_agent", {"agent": "coder", "task": "x"})
        bad_since = await session.call_tool("cost_report", {"since": "whenever"})
        status = await session.call_tool("budget_status", {})
    assert unknown.is_error and 'unknown agent "nobody"' in unknown.content[0].text
    assert denied.is_error and "daily_usd (workspace, set in parac.yaml) would be exceeded" in denied.content[0].text
    assert bad_since.is_error and "expected a duration" in bad_since.content[0].text
    [daily] = [row for row in status.structured_content["limits"] if row["kind"] == "daily"]
    assert daily["limit_usd"] == 0.0


async def test_the_client_model_is_answered_by_mcp_sampling(project: Path):
    asked: list[types.CreateMessageRequestParams] = []

    async def sample(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        asked.append(params)
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="the client's model says hi"), model="host-model"
        )

    async with client(project, "legacy", sampling_callback=sample) as session:
        result = await session.call_tool("run_agent", {"agent": "coder", "task": "greet", "model": "client"})
    assert not result.is_error, result
    assert result.structured_content["output"] == "the client's model says hi"
    assert result.structured_content["model"] == "client" and result.structured_content["cost_usd"] == 0
    [params] = asked
    assert params.messages[-1].content.text == "greet" and "team's developer" in (params.system_prompt or "")


async def test_an_agent_on_the_client_model_gives_the_client_its_time(
    project: Path, era: str, monkeypatch: pytest.MonkeyPatch
):
    """The client's model answers after parac's provider timeout (cut to 0.1 s here): asked once, not retried, not
    counted against a circuit breaker, and the agent completes with its late answer."""
    from parac.core import llm
    from parac.core.resilience import BREAKERS

    monkeypatch.setattr(llm, "DEFAULT_TIMEOUT_S", 0.05)
    monkeypatch.setattr(llm, "TIMEOUT_GRACE_S", 0.05)
    asked: list[str] = []

    async def slow(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        asked.append(params.messages[-1].content.text)
        await anyio.sleep(0.5)
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="in my own time"), model="host-model"
        )

    async with client(project, era, sampling_callback=slow) as session:
        result = await session.call_tool("run_agent", {"agent": "coder", "task": "greet", "model": "client"})
    assert not result.is_error, result
    assert result.structured_content["output"] == "in my own time" and asked == ["greet"]
    assert BREAKERS.states().get("client", "closed") == "closed" and BREAKERS("client").failures == 0


async def test_the_client_model_without_sampling_says_why(project: Path):
    async with client(project, "legacy") as session:
        result = await session.call_tool("run_agent", {"agent": "coder", "task": "greet", "model": "client"})
    assert result.is_error and "client that supports sampling" in result.content[0].text


async def test_cancelling_run_agent_stops_the_model_call_and_records_it(project: Path):
    import anyio

    from parac.core.costs import ensure_schema
    from parac.core.store import connect_workspace
    from support.openai_server import OpenAIServer, Reply

    with OpenAIServer() as server:
        set_settings(project, providers={"local": {"api_base": server.base_url, "timeout_s": 60, "max_retries": 0}})
        server.script("slow", Reply.hang(60))
        async with client(project, "legacy") as session:
            with anyio.move_on_after(60):
                async with anyio.create_task_group() as group:

                    async def call() -> None:
                        await session.call_tool("run_agent", {"agent": "coder", "task": "x", "model": "local/slow"})

                    group.start_soon(call)
                    while not server.requests_for("slow"):
                        await anyio.sleep(0.05)
                    group.cancel_scope.cancel()
            for _ in range(100):  # the server finishes cancelling on its side
                rows = ensure_schema(connect_workspace(project)).execute("SELECT status FROM llm_calls").fetchall()
                if rows:
                    break
                await anyio.sleep(0.05)
    assert [r["status"] for r in rows] == ["cancelled"]


async def test_a_budget_threshold_is_a_warning_logged_to_the_client(project: Path):
    """Legacy era: in the 2026-07-28 era the client asks for log messages per request."""
    logs: list[types.LoggingMessageNotificationParams] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params)

    async with client(project, "legacy") as session:
        first = await session.call_tool("run_agent", {"agent": "coder", "task": "x"})
    tokens = first.structured_content["usage"]["prompt_tokens"]
    # one call's prompt costs 85% of the total budget (and stays under the agents' per_run_usd of 0.5)
    set_settings(project, prices={"echo": {"input_per_mtok": 0.425 / tokens * 1e6, "output_per_mtok": 0}},
                 budgets={"total_usd": 0.5})
    async with client(project, "legacy", logging_callback=on_log) as session:
        crossing = await session.call_tool("run_agent", {"agent": "coder", "task": "x"})
        refused = await session.call_tool("run_agent", {"agent": "coder", "task": "x"})
    assert not crossing.is_error and crossing.structured_content["status"] == "completed"
    assert sorted((m.level, m.data) for m in logs) == [  # the agent's own per_run_usd is 0.5 too
        ("warning", "80% of budget per_run_usd (agent coder, set in agent coder) spent ($0.4250 of $0.5000)"),
        ("warning", "80% of budget total_usd (workspace, set in parac.yaml) spent ($0.4250 of $0.5000)"),
    ]
    assert refused.is_error or refused.structured_content["status"] == "denied"
