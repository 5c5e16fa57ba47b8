"""Workflow runs through MCP: the official SDK client against parac's server, in process, in both eras."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import mcp_types as types
import pytest
from mcp import Client

from parac.server.mcp.app import ParacApp
from parac.server.mcp.server import build_server

RISKY = {"feature": "payments (risk: high)"}
RUN_TOOLS = {"run_workflow", "workflow_status", "approve_step", "reject_step", "resume_run", "cancel_run",
             "plan_workflow"}


@pytest.fixture(params=["legacy", "auto"])
def era(request: pytest.FixtureRequest) -> str:
    """Both protocol eras: the initialize handshake (today's hosts) and the stateless 2026-07-28 one."""
    return request.param


def client(project: Path, era: str, **options) -> Client:
    return Client(build_server(ParacApp(project)), mode=era, **options)


async def _until(session, run_id: str, *statuses: str) -> dict:
    with anyio.fail_after(60):
        while True:
            status = (await session.call_tool("workflow_status", {"run_id": run_id})).structured_content
            if status["status"] in statuses:
                return status
            await anyio.sleep(0.05)


async def test_run_and_wait_with_progress(project: Path, era: str):
    progress: list[tuple[float, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, message))

    async with client(project, era) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert RUN_TOOLS <= set(tools)
        assert tools["run_workflow"].output_schema is not None
        result = await session.call_tool(
            "run_workflow",
            {"name": "feature", "inputs": {"feature": "login"}, "wait": True, "dry_run": "echo"},
            progress_callback=on_progress,
        )
    assert not result.is_error, result.content
    data = result.structured_content
    assert data["status"] == "completed" and data["outputs"]["design"] == "Design login"
    assert [s["status"] for s in data["steps"]] == ["completed"] * 4 + ["skipped"]
    messages = [message for _, message in progress]
    assert messages[:2] == ["design: completed", "implement: completed"]  # test and review run at once: any order
    assert sorted(messages[2:4]) == ["review: completed", "test: completed"] and messages[4] == "sign-off: skipped"
    assert [done for done, _ in progress] == [1, 2, 3, 4, 5]


async def test_background_run_approved_over_mcp(project: Path, era: str):
    async with client(project, era) as session:
        started = await session.call_tool("run_workflow", {"name": "feature", "inputs": RISKY})
        assert not started.is_error, started.content
        run_id = started.structured_content["run_id"]
        assert started.structured_content["status"] in ("pending", "running")
        await _until(session, run_id, "waiting_approval")
        listed = json.loads((await session.read_resource("parac://runs")).contents[0].text)
        assert listed[0]["run_id"] == run_id and listed[0]["uri"] == f"parac://runs/{run_id}"
        detail = json.loads((await session.read_resource(f"parac://runs/{run_id}")).contents[0].text)
        assert detail["waiting"][0]["step_id"] == "sign-off" and detail["inputs"] == RISKY
        early = await session.call_tool("approve_step", {"run_id": run_id, "step": "design"})
        assert early.is_error and "is not waiting for approval (it is completed)" in early.content[0].text
        decided = await session.call_tool("approve_step", {"run_id": run_id, "step": "sign-off", "comment": "ok"})
        assert decided.structured_content["status"] == "approved"
        assert decided.structured_content["by"].startswith("mcp:")
        done = await _until(session, run_id, "completed", "failed")
    assert done["status"] == "completed"
    assert done["steps"][-1]["output"] == {"approved": True, "by": decided.structured_content["by"], "comment": "ok"}


async def test_reject_resume_and_cancel_over_mcp(project: Path, era: str):
    async with client(project, era) as session:
        run_id = (await session.call_tool("run_workflow", {"name": "feature", "inputs": RISKY})).structured_content[
            "run_id"]
        await _until(session, run_id, "waiting_approval")
        rejected = await session.call_tool("reject_step", {"run_id": run_id, "step": "sign-off", "comment": "no"})
        assert rejected.structured_content["status"] == "rejected"
        failed = await _until(session, run_id, "failed")
        assert "rejected by mcp:" in failed["error"]
        again = await session.call_tool("resume_run", {"run_id": run_id})
        assert again.is_error and f"run {run_id} is already failed" in again.content[0].text
        other = (await session.call_tool("run_workflow", {"name": "feature", "inputs": RISKY})).structured_content
        await _until(session, other["run_id"], "waiting_approval")
        cancelled = await session.call_tool("cancel_run", {"run_id": other["run_id"]})
        assert not cancelled.is_error
        final = await _until(session, other["run_id"], "cancelled")
        assert final["steps"][-1]["status"] == "cancelled"


@pytest.mark.parametrize("answer", ["accept", "decline"])
async def test_gate_answered_by_elicitation(project: Path, answer: str):
    asked: list[str] = []

    async def elicit(context, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        if answer == "accept":
            return types.ElicitResult(action="accept", content={"approve": True, "comment": "from the client"})
        return types.ElicitResult(action="decline")

    async with client(project, "legacy", elicitation_callback=elicit) as session:
        result = await session.call_tool("run_workflow", {"name": "feature", "inputs": RISKY, "wait": True})
    assert not result.is_error, result.content
    data = result.structured_content
    gate = data["steps"][-1]
    assert asked and asked[0].startswith("Approve step 'sign-off' of workflow 'feature'?")
    if answer == "accept":
        assert data["status"] == "completed" and gate["output"]["comment"] == "from the client"
        assert gate["output"]["by"].endswith("(elicitation)")
    else:
        assert data["status"] == "failed" and "declined in the client" in gate["error"]


async def test_plan_and_bad_input_over_mcp(project: Path, era: str):
    async with client(project, era) as session:
        plan = await session.call_tool("plan_workflow", {"name": "code-review", "inputs": {"change": "x"}})
        assert plan.structured_content["ok"] is True
        assert [s["id"] for s in plan.structured_content["steps"]] == ["review", "tests", "summary"]
        unknown = await session.call_tool("run_workflow", {"name": "featur"})
        assert unknown.is_error and 'unknown workflow "featur" (did you mean "feature"?)' in unknown.content[0].text
        missing = await session.call_tool("run_workflow", {"name": "feature", "inputs": {}})
        assert missing.is_error and "input 'feature' is required" in missing.content[0].text
        typed = await session.call_tool("run_workflow", {"name": "code-review", "inputs": {"change": 3}})
        assert typed.is_error and "input 'change' must be a string, got int 3" in typed.content[0].text
        paid = await session.call_tool("run_workflow", {"name": "feature", "inputs": RISKY, "dry_run": "gpt-4o"})
        assert paid.is_error and "dry_run must be echo" in paid.content[0].text
        nothing = await session.call_tool("workflow_status", {"run_id": "rmissing"})
        assert nothing.is_error and "no workflow run 'rmissing'" in nothing.content[0].text
        listed = json.loads((await session.read_resource("parac://runs")).contents[0].text)
    assert listed == []  # refused runs left nothing behind


async def test_over_stdio_a_background_run_waits_for_approve_step(project: Path, parac):
    """`parac mcp serve` as an editor spawns it: the run goes on in the server after the call returns, stops at
    its gate, is answered by approve_step, and the CLI sees the same run in the same database."""
    import os
    import sys

    from mcp import StdioServerParameters

    command = str(Path(sys.executable).with_name("parac"))
    params = StdioServerParameters(command=command, args=["mcp", "serve", "--workspace", str(project)],
                                   env={**os.environ, "PARAC_LOAD_PLUGINS": ""})
    async with Client(params, mode="legacy") as session:
        started = await session.call_tool("run_workflow", {"name": "feature", "inputs": RISKY, "dry_run": "echo"})
        run_id = started.structured_content["run_id"]
        await _until(session, run_id, "waiting_approval")
        from_cli = parac("workflow", "status", run_id, "--json", cwd=project).json()
        assert from_cli["status"] == "waiting_approval"
        busy = parac("workflow", "resume", run_id, cwd=project)
        assert busy.code == 1 and "is being executed by process" in busy.err  # the server's worker holds it
        await session.call_tool("approve_step", {"run_id": run_id, "step": "sign-off"})
        done = await _until(session, run_id, "completed", "failed")
    assert done["status"] == "completed"


async def test_resume_interrupted_runs_at_server_start(project: Path, parac):
    """What a server does at start when asked to: every run no process executes goes on in the background."""
    from parac.core.store import connect_workspace
    from parac.mcp_tools.workflows_run import resume_interrupted
    from parac.server.host import Host

    paused = parac("workflow", "run", "feature", "-i", "feature=payments (risk: high)", "--no-wait", "--json",
                   cwd=project).json()
    assert paused["status"] == "waiting_approval"
    assert parac("workflow", "approve", paused["run_id"], "sign-off", "--no-resume", cwd=project).code == 0
    host = Host.for_workspace(project)
    assert resume_interrupted(host.workspace, host) == [paused["run_id"]]
    conn = connect_workspace(project)
    try:
        with anyio.fail_after(60):
            while conn.execute("SELECT status FROM workflow_runs WHERE run_id = ?",
                               (paused["run_id"],)).fetchone()[0] != "completed":
                await anyio.sleep(0.05)
    finally:
        conn.close()
    assert resume_interrupted(host.workspace, host) == []


async def test_approve_step_resumes_a_paused_run_unless_told_not_to(project: Path, era: str, parac):
    """A run `--no-wait` left at its gate, with no process running it: approve_step alone finishes it."""
    paused = [parac("workflow", "run", "feature", "-i", "feature=payments (risk: high)", "--no-wait", "--json",
                    cwd=project).json()["run_id"] for _ in range(2)]
    async with client(project, era) as session:
        recorded = await session.call_tool("approve_step", {"run_id": paused[0], "step": "sign-off", "resume": False})
        assert recorded.structured_content["resumed"] is False and recorded.structured_content["resumable"] is True
        resumed = await session.call_tool("approve_step", {"run_id": paused[1], "step": "sign-off"})
        assert resumed.structured_content["resumed"] is True, resumed.content
        done = await _until(session, paused[1], "completed", "failed")
        assert done["status"] == "completed"
        still = await session.call_tool("workflow_status", {"run_id": paused[0]})
        assert still.structured_content["status"] == "waiting_approval"


async def test_run_workflow_takes_model_like_run_agent(project: Path, era: str):
    async with client(project, era) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert {"model", "dry_run", "wait"} <= set(tools["run_workflow"].input_schema["properties"])
        ran = await session.call_tool("run_workflow", {"name": "feature", "inputs": {"feature": "login"},
                                                       "wait": True, "model": "fixed:from the model option"})
        assert not ran.is_error, ran.content
        assert ran.structured_content["outputs"]["design"] == "from the model option"
        both = await session.call_tool("run_workflow", {"name": "feature", "inputs": {"feature": "login"},
                                                        "model": "echo", "dry_run": "echo"})
        assert both.is_error and "give model or dry_run, not both" in both.content[0].text
