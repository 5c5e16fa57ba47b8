"""Memory and time travel through MCP: the official SDK client against parac's server, in process, in both eras."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest
from mcp import Client

from parac.server.mcp.app import ParacApp
from parac.server.mcp.server import build_server

GRANT_ALL = 'description: every tool, for direct calls too\nallow:\n  - tools: ["*"]\n'


@pytest.fixture(params=["legacy", "auto"])
def era(request: pytest.FixtureRequest) -> str:
    return request.param


async def test_memory_tools_and_resources(project: Path, era: str):
    (project / ".parac" / "policies" / "all.yaml").write_text(GRANT_ALL)
    async with Client(build_server(ParacApp(project)), mode=era) as session:
        added = await session.call_tool("memory_add", {"content": "Standups are at 9:30 in the Atlas room",
                                                       "namespace": "team", "metadata": {"by": "ana"}})
        assert not added.is_error, added.content
        entry = added.structured_content
        assert entry["namespace"] == "team" and entry["uri"] == f"parac://memory/entries/{entry['id']}"
        found = (await session.call_tool("memory_search", {"query": "when is standup"})).structured_content
        assert [e["id"] for e in found["entries"]][:1] == [entry["id"]]
        bad = await session.call_tool("memory_search", {"query": "standup AND", "fts": True})
        assert bad.is_error and "invalid search 'standup AND'" in bad.content[0].text

        read = json.loads((await session.read_resource(entry["uri"])).contents[0].text)
        assert read["content"] == "Standups are at 9:30 in the Atlas room" and read["metadata"] == {"by": "ana"}
        spaces = json.loads((await session.read_resource("parac://memory/namespaces")).contents[0].text)
        assert {"team": 1}.items() <= {row["namespace"]: row["entries"] for row in spaces}.items()
        listed = json.loads((await session.read_resource("parac://memory/namespace/team")).contents[0].text)
        assert [e["id"] for e in listed] == [entry["id"]]
        searched = json.loads((await session.read_resource(
            "parac://memory/search/" + quote("atlas room"))).contents[0].text)
        assert searched[0]["id"] == entry["id"]

        forgot = (await session.call_tool("memory_forget", {"ids": [entry["id"]]})).structured_content
        assert forgot == {"forgotten": 1}
        found = (await session.call_tool("memory_search", {"query": "atlas"})).structured_content
        assert entry["id"] not in [e["id"] for e in found["entries"]]


async def test_replay_fork_and_diff(project: Path, era: str):
    async with Client(build_server(ParacApp(project)), mode=era) as session:
        run = (await session.call_tool("run_workflow", {"name": "code-review", "inputs": {"change": "add a flag"},
                                                        "wait": True, "dry_run": "echo"})).structured_content
        assert run["status"] == "completed"
        replay = await session.call_tool("replay_run", {"run_id": run["run_id"]})
        assert not replay.is_error, replay.content
        report = replay.structured_content
        assert report["identical"] and report["model_calls"] == 3 and report["cost_usd"] == 0

        forked = await session.call_tool("fork_run", {"run_id": run["run_id"], "step": "summary",
                                                      "inputs": {"change": "add two flags"}, "model": "echo"})
        assert not forked.is_error, forked.content
        fork = forked.structured_content
        assert fork["status"] == "completed" and fork["forked_from"] == {"run_id": run["run_id"], "step": "summary", "reused_cost": 0.0}
        outputs = {s["id"]: s["output"] for s in fork["steps"]}
        assert outputs["review"] == "Review this change: add a flag"  # reused from the parent
        assert "add a flag" in outputs["summary"]  # summary ran again over the reused outputs

        diff = (await session.call_tool("diff_runs", {"run_a": run["run_id"], "run_b": fork["run_id"]})).structured_content
        assert diff["inputs"] == {"change": {"a": "add a flag", "b": "add two flags"}}
        assert [s["id"] for s in diff["steps"] if "output" in s["changed"]] == []  # echo repeats the same task

        unknown = await session.call_tool("fork_run", {"run_id": run["run_id"], "step": "sumary"})
        assert unknown.is_error and "has no step 'sumary'" in unknown.content[0].text
        nobody = await session.call_tool("replay_agent_run", {"agent_run": "a0nope"})
        assert nobody.is_error and "no agent run 'a0nope' in this workspace" in nobody.content[0].text
