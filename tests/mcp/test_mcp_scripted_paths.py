"""A client naming `scripted:PATH` as the model of run_agent / run_workflow reaches only files beneath the
workspace: judged by a canary script beside the workspace whose answer must never come back (not by error text)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client

from parac.server.mcp.app import ParacApp
from parac.server.mcp.server import build_server
from support.runtime import write_script

SECRET = "canary-4f1c-answer-outside-the-workspace"


@pytest.fixture
def canary(project: Path) -> Path:
    """A valid script beside the workspace (read, it would answer SECRET), and links to it from inside."""
    outside = project.parent / "canary"
    outside.mkdir()
    write_script(outside / "script.yaml", [{"text": SECRET}] * 5)
    (project / "abs-link.yaml").symlink_to(outside / "script.yaml")
    (project / "out").symlink_to("../canary")
    return outside / "script.yaml"


def attempts(canary: Path) -> list[str]:
    return [
        f"scripted:{canary}",
        "scripted:../canary/script.yaml",
        "scripted:./../canary/script.yaml",
        "scripted:abs-link.yaml",
        "scripted:out/script.yaml",
        f"scripted:~/../../..{canary}",
    ]


async def test_scripted_paths_stay_beneath_the_workspace(project: Path, canary: Path):
    write_script(project / "inside.yaml", [{"text": "lawful answer"}] * 5)
    async with Client(build_server(ParacApp(project)), mode="legacy") as session:
        lawful = await session.call_tool("run_agent", {"agent": "coder", "task": "x", "model": "scripted:inside.yaml"})
        assert not lawful.is_error and lawful.structured_content["output"] == "lawful answer"  # the test can fail
        for model in attempts(canary):
            agent = await session.call_tool("run_agent", {"agent": "coder", "task": "x", "model": model})
            flow = await session.call_tool(
                "run_workflow",
                {"name": "feature", "inputs": {"feature": "x"}, "wait": True, "model": model, "auto_approve": True},
            )
            seen = json.dumps([agent.model_dump(mode="json"), flow.model_dump(mode="json")])
            assert SECRET not in seen, model
            assert agent.is_error, model
        assert (await session.call_tool("list_agents", {})).is_error is False  # the server goes on serving
