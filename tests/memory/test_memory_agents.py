"""Memory in agents' runs: recalled entries in the context the model receives, episodes that a later run recalls,
and the memory tools called by an agent through governance (checked in the request log of the local server)."""

from __future__ import annotations

import json
from pathlib import Path


from parac.core.audit.log import AuditLog
from parac.core.memory import open_memory
from parac.core.runtime import run_agent
from parac.core.store import db_path
from support.openai_server import OpenAIServer, Reply

MODEL = "gpt-4o-mini"


def system_prompt(server: OpenAIServer, index: int) -> str:
    messages = server.requests[index].body["messages"]
    return messages[0]["content"] if messages[0]["role"] == "system" else ""


async def test_recalled_entries_are_in_the_context_and_episodes_carry_over(workspace_dir: Path, host_for, llm_server):
    host = host_for(workspace_dir)
    with open_memory(host.workspace) as memory:
        memory.add("The release train leaves every second Thursday", title="release train")
        memory.add("Lunch is at noon", title="lunch")
        memory.add("Ops prefers blue-green releases", namespace="agent:ops")  # not the keeper's namespace
    llm_server.script(MODEL, Reply.message("Thursday, every second week."))
    first = await run_agent(host.workspace, "keeper", "When does the release train leave?", hooks=host.hooks)
    assert first.ok
    prompt = system_prompt(llm_server, 0)
    assert prompt.startswith("You keep the team's knowledge.") and "## Memory" in prompt
    assert "The release train leaves every second Thursday" in prompt
    assert "Lunch" not in prompt and "blue-green" not in prompt  # not relevant / not its namespace

    with open_memory(host.workspace) as memory:
        [episode] = memory.list(namespace="agent:keeper", kind="episode")
    assert episode.metadata["run_id"] == first.run_id and episode.metadata["status"] == "completed"
    assert "Task: When does the release train leave?" in episode.content
    assert "Result: Thursday, every second week." in episode.content

    llm_server.script(MODEL, Reply.message("As before: Thursday."))
    second = await run_agent(host.workspace, "keeper", "Remind me about the release train", hooks=host.hooks)
    assert second.ok
    later = system_prompt(llm_server, 1)
    assert f"run {first.run_id} of agent keeper" in later and "Thursday, every second week." in later


async def test_an_agent_without_a_memory_spec_recalls_nothing(workspace_dir: Path, host_for, llm_server):
    host = host_for(workspace_dir)
    with open_memory(host.workspace) as memory:
        memory.add("The release train leaves every second Thursday")
    llm_server.script(MODEL, Reply.message("ok"))
    assert (await run_agent(host.workspace, "writer", "release train?", hooks=host.hooks)).ok
    assert system_prompt(llm_server, 0) == "You write."
    with open_memory(host.workspace) as memory:
        assert memory.list(kind="episode") == []


async def test_memory_tools_are_governed_and_audited(workspace_dir: Path, host_for, llm_server):
    (workspace_dir / ".parac" / "agents" / "noter.yaml").write_text(
        "system_prompt: You take notes.\ntools: [memory_add, memory_search, memory_forget]\n")
    host = host_for(workspace_dir)
    llm_server.script(
        MODEL,
        Reply.calls(("memory_add", {"content": "The VPN endpoint is vpn.internal", "namespace": "agent:noter"})),
        Reply.calls(("memory_search", {"query": "vpn endpoint"})),
        Reply.calls(("memory_search", {"query": "vpn AND", "fts": True})),
        Reply.message("noted"),
    )
    result = await run_agent(host.workspace, "noter", "note the VPN endpoint", hooks=host.hooks)
    assert result.ok
    tool_messages = [m for m in result.transcript if m["role"] == "tool"]
    added = json.loads(tool_messages[0]["content"])
    assert added["namespace"] == "agent:noter" and added["content"] == "The VPN endpoint is vpn.internal"
    assert [e["id"] for e in json.loads(tool_messages[1]["content"])["entries"]] == [added["id"]]
    assert "invalid search 'vpn AND'" in json.loads(tool_messages[2]["content"])["error"]

    log = AuditLog(db_path(workspace_dir))
    calls = [e for e in log.entries(action="tool.call") if e.subject in ("memory_add", "memory_search")]
    log.close()
    assert [(e.subject, e.outcome) for e in calls][:2] == [("memory_add", "ok"), ("memory_search", "ok")]

    (workspace_dir / ".parac" / "policies" / "all.yaml").write_text("allow:\n  - tools: [lookup]\n")
    host = host_for(workspace_dir)
    llm_server.script(MODEL, Reply.calls(("memory_forget", {"namespace": "agent:noter"})), Reply.message("done"))
    denied = await run_agent(host.workspace, "noter", "forget it", hooks=host.hooks)
    assert "denied" in json.loads([m for m in denied.transcript if m["role"] == "tool"][0]["content"])["error"].lower()
    with open_memory(host.workspace) as memory:
        assert len(memory.list(namespace="agent:noter")) == 1  # the denied call changed nothing
