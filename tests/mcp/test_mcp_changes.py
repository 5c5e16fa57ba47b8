"""Files changing under .parac/ reach clients as notifications; server logs reach them as log messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import (
    LoggingMessageNotificationParams,
    PromptListChangedNotification,
    ResourceListChangedNotification,
    ResourceUpdatedNotification,
)

from parac.server.mcp.app import FACE_PACKAGES, ParacApp
from parac.server.mcp.server import build_server

# resources/subscribe and logging/setLevel are deprecated for 2026-07-28 but are what handshake-era hosts use.
pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


async def wait_for(condition, seconds: float = 15) -> None:
    with anyio.fail_after(seconds):
        while not condition():
            await anyio.sleep(0.05)


async def test_handshake_era_gets_list_changed_and_updated(project: Path):
    received: list[Any] = []

    async def on_message(message: Any) -> None:
        received.append(getattr(message, "root", message))

    app = ParacApp(project, poll_interval=0.1)
    async with Client(build_server(app), mode="legacy", message_handler=on_message) as session:
        assert session.server_capabilities.resources.list_changed is True
        assert session.server_capabilities.resources.subscribe is True
        await session.call_tool("list_agents", {})  # loads the workspace; the watcher starts from here
        await session.session.subscribe_resource("parac://agents/coder")
        await anyio.sleep(0.3)
        (project / ".parac/agents/newbie.yaml").write_text("parent: coder\ndescription: New\n")
        (project / ".parac/agents/base.yaml").write_text("description: Changed base\ntemperature: 0.9\n")
        await wait_for(lambda: any(isinstance(m, ResourceUpdatedNotification) for m in received))
        await wait_for(lambda: any(isinstance(m, ResourceListChangedNotification) for m in received))
        await wait_for(lambda: any(isinstance(m, PromptListChangedNotification) for m in received))
        updated = {m.params.uri for m in received if isinstance(m, ResourceUpdatedNotification)}
        agents = (await session.call_tool("list_agents", {})).structured_content["agents"]
        coder = (await session.call_tool("get_agent", {"name": "coder"})).structured_content
        prompts = {p.name for p in (await session.list_prompts()).prompts}
    assert updated == {"parac://agents/coder"}  # only what was subscribed
    assert "newbie" in {a["name"] for a in agents}
    assert coder["fields"]["temperature"] == 0.9 and coder["provenance"]["temperature"] == "base"
    assert "agent_newbie" in prompts


async def test_unsubscribed_resources_are_not_announced(project: Path):
    received: list[Any] = []

    async def on_message(message: Any) -> None:
        received.append(getattr(message, "root", message))

    app = ParacApp(project, poll_interval=0.1)
    async with Client(build_server(app), mode="legacy", message_handler=on_message) as session:
        await session.call_tool("list_agents", {})
        await session.session.subscribe_resource("parac://agents/coder")
        await session.session.unsubscribe_resource("parac://agents/coder")
        await anyio.sleep(0.3)
        (project / ".parac/agents/coder.yaml").write_text("parent: base\ndescription: Rewritten\n")
        await wait_for(lambda: any(isinstance(m, ResourceListChangedNotification) for m in received))
    assert not any(isinstance(m, ResourceUpdatedNotification) for m in received)


async def test_2026_era_listen_stream_gets_events(project: Path):
    app = ParacApp(project, poll_interval=0.1)
    async with Client(build_server(app)) as session:
        assert session.protocol_version == "2026-07-28"
        await session.call_tool("list_agents", {})
        async with session.listen(resources_list_changed=True, resource_subscriptions=["parac://skills/testing"]) as events:
            assert events.honored.resources_list_changed is True
            (project / ".parac/skills/testing/SKILL.md").write_text("---\nname: testing\ndescription: Changed\n---\nNew body\n")
            seen = []
            with anyio.fail_after(15):
                async for event in events:
                    seen.append(type(event).__name__)
                    if "ResourceUpdated" in seen and "ResourcesListChanged" in seen:
                        break
        skill = await session.read_resource("parac://skills/testing")
    assert "New body" in skill.contents[0].text


async def test_2026_listen_stream_over_http_gets_tool_and_prompt_list_changes(project: Path, http_server):
    """What a person does to the workspace reaches a 2026-07-28 client's listen streams over HTTP, each stream only
    what it asked for: the profile switched in parac.yaml (tools), an agent added (each agent is a prompt)."""
    settings = project / ".parac/parac.yaml"

    async def first_event(session: Client, change, **wanted: bool) -> str:
        async with session.listen(**wanted) as events:
            change()
            with anyio.fail_after(15):
                async for event in events:
                    return type(event).__name__
        raise AssertionError("the stream ended without an event")

    with http_server(project) as url:
        async with Client(url) as session:
            assert session.protocol_version == "2026-07-28"
            before = {tool.name for tool in (await session.list_tools()).tools}  # loads the workspace: the watcher starts
            await anyio.sleep(0.7)  # its first snapshot
            tools = await first_event(session, lambda: settings.write_text(settings.read_text() + "mcp:\n  profile: minimal\n"),
                                      tools_list_changed=True)
            after = {tool.name for tool in (await session.list_tools()).tools}
            await anyio.sleep(0.7)  # the watcher's next look: nothing of the first change left to publish
            prompts = await first_event(session, lambda: (project / ".parac/agents/newbie.yaml").write_text("description: New\n"),
                                        prompts_list_changed=True)
            listed = {prompt.name for prompt in (await session.list_prompts()).prompts}
    assert tools == "ToolsListChanged" and "shell_run" in before and "shell_run" not in after
    assert prompts == "PromptsListChanged" and "agent_newbie" in listed


async def test_tool_logs_reach_the_client(project: Path, extra_faces: str):
    messages: list[LoggingMessageNotificationParams] = []

    async def on_log(params: LoggingMessageNotificationParams) -> None:
        messages.append(params)

    app = ParacApp(project, face_packages=(*FACE_PACKAGES, extra_faces))
    async with Client(build_server(app), mode="legacy", logging_callback=on_log) as session:
        await session.call_tool("count", {"steps": 1})
        await session.set_logging_level("warning")
        await session.call_tool("count", {"steps": 2})
    assert [(m.level, m.data, m.logger) for m in messages] == [("info", "counting to 1", "parac.mcp.tool")]
