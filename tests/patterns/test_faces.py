"""The patterns from every face: the CLI's --show-thinking, MCP run_agent's progress, MCP run_workflow with a
council step (the official SDK client, in process)."""

from __future__ import annotations

from mcp import Client

from parac.server.mcp.app import ParacApp
from parac.server.mcp.server import build_server


def critic_and_writer(space) -> None:
    space.agent("critic", model=space.script("critic", {"text": "Too vague."}, {"text": "ACCEPT"}))
    space.agent("writer", reflect={"critic": "critic", "max_rounds": 2},
                model=space.script("writer", {"text": "soon"}, {"text": "on Friday at 10:00"}))


def test_cli_show_thinking_prints_each_critique(space, parac):
    critic_and_writer(space)
    shown = parac("agents", "run", "writer", "--task", "When is the release?", "--show-thinking", cwd=space.root)
    assert shown.code == 0, shown
    assert shown.out.strip() == "on Friday at 10:00"
    lines = shown.err.splitlines()
    assert any(line.startswith("[writer] critique (round 1") and line.endswith(": Too vague.") for line in lines)
    assert any("[writer] critique (round 2" in line and "accepted True" in line for line in lines)
    quiet = parac("agents", "run", "writer", "--task", "When is the release?", cwd=space.root)
    assert quiet.code == 0 and "critique" not in quiet.err


def test_cli_json_carries_the_phases(space, parac):
    critic_and_writer(space)
    shown = parac("agents", "run", "writer", "--task", "When?", "--json", cwd=space.root)
    data = shown.json()
    assert [p["phase"] for p in data["phases"]] == ["critique", "revise", "critique"]
    assert [m["content"].split("\n")[0] for m in data["transcript"] if m.get("name") == "critic"] == [
        "Critique of your answer (round 1, by critic):", "Critique of your answer (round 2, by critic):"]


async def test_mcp_run_agent_streams_upee_phases_as_progress(space):
    space.agent("solver", loop="upee", model=space.script(
        "solver", {"text": "restated"}, {"text": "1. answer"}, {"text": "42"}, {"text": '{"score": 1}'}))
    messages: list[str | None] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        messages.append(message)

    async with Client(build_server(ParacApp(space.root)), mode="legacy") as session:
        result = await session.call_tool("run_agent", {"agent": "solver", "task": "the answer?"},
                                         progress_callback=on_progress)
    assert not result.is_error, result
    data = result.structured_content
    assert data["output"] == "42" and [p["phase"] for p in data["phases"]] == [
        "understand", "plan", "execute", "evaluate"]
    phases = [m for m in messages if m and m.startswith("[solver]")]
    assert [m.split()[1].rstrip(":") for m in phases] == ["understand", "plan", "execute", "evaluate"]
    assert "score 1" in phases[-1]


async def test_mcp_run_workflow_runs_a_council(space):
    space.agent("a", model="fixed:blue")
    space.agent("b", model="fixed:blue")
    space.agent("c", model="fixed:green")
    space.workflow("colour", steps=[{"id": "pick", "type": "council", "agents": ["a", "b", "c"], "task": "colour?"}])
    messages: list[str | None] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        messages.append(message)

    async with Client(build_server(ParacApp(space.root)), mode="legacy") as session:
        result = await session.call_tool("run_workflow", {"name": "colour", "wait": True},
                                         progress_callback=on_progress)
    assert not result.is_error, result
    [step] = result.structured_content["steps"]
    assert step["status"] == "completed" and step["output"]["decision"] == "blue"
    assert sum("answered" in (m or "") for m in messages) == 3
    assert any("the council decided (vote)" in (m or "") for m in messages)


def test_cli_workflow_run_shows_the_council_thinking(space, parac):
    space.agent("a", model="fixed:tabs")
    space.agent("b", model="fixed:spaces")
    space.agent("c", model="fixed:tabs")
    space.workflow("style", steps=[{"id": "indent", "type": "council", "agents": ["a", "b", "c"], "task": "?"}])
    shown = parac("workflow", "run", "style", "--show-thinking", cwd=space.root)
    assert shown.code == 0, shown
    assert "indent: b (round 1): spaces" in shown.err and "indent: decided (vote): tabs" in shown.err
    quiet = parac("workflow", "run", "style", cwd=space.root)
    assert quiet.code == 0 and "decided" not in quiet.err
