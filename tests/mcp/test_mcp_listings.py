"""Listings a page at a time: every MCP list and listing tool walks by cursor, visiting each item exactly once; a
cursor the server did not issue is refused; what is listed follows the files and the registry."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from parac.core.pages import DEFAULT_LIMIT
from parac.server.api import hookimpl
from parac.server.host import Host
from parac.server.mcp.app import ParacApp
from parac.server.mcp.server import build_server

EXTRA_AGENTS = 130  # with the template's, more resources (two per agent) than one default page holds
PLUGIN_TOOLS = 120  # with parac's own, more tools than one default page holds


def add_agents(project: Path, count: int) -> list[str]:
    names = [f"extra-{index:03d}" for index in range(count)]
    for name in names:
        (project / ".parac/agents" / f"{name}.yaml").write_text(f"parent: base\ndescription: {name}\n")
    return names


class ManyTools:
    @hookimpl
    def parac_register_tools(self, register: Any) -> None:
        for index in range(PLUGIN_TOOLS):

            def tool(text: str) -> str:
                """Echo the text."""
                return text

            register(tool, name=f"echo_{index:03d}", read_only=True)


async def walk(fetch: Any, field: str) -> tuple[list[Any], int]:
    """Every item of an MCP list by cursor (`fetch(cursor)` gives a page), and how many pages it took."""
    items: list[Any] = []
    cursor, pages = None, 0
    while True:
        page = await fetch(cursor)
        pages += 1
        items += getattr(page, field)
        cursor = page.next_cursor
        if cursor is None:
            return items, pages


async def walk_tool(session: Any, tool: str, field: str, **arguments: Any) -> tuple[list[dict[str, Any]], int]:
    """Every row of a listing tool by cursor, and how many calls it took."""
    rows: list[dict[str, Any]] = []
    cursor, pages = None, 0
    while True:
        result = await session.call_tool(tool, {**arguments, **({"cursor": cursor} if cursor else {})})
        assert not result.is_error, result.content
        pages += 1
        rows += result.structured_content[field]
        cursor = result.structured_content["next_cursor"]
        if cursor is None:
            return rows, pages


async def test_every_mcp_list_walks_each_item_once(project: Path, era: str):
    names = add_agents(project, EXTRA_AGENTS)
    host = Host(extra_plugins=[("many", ManyTools())], entry_points=False)
    host.open_workspace(project)
    async with Client(build_server(ParacApp(project, host=host)), mode=era) as session:
        tools, tool_pages = await walk(lambda c: session.list_tools(cursor=c), "tools")
        resources, resource_pages = await walk(lambda c: session.list_resources(cursor=c), "resources")
        prompts, _ = await walk(lambda c: session.list_prompts(cursor=c), "prompts")
        templates, _ = await walk(lambda c: session.list_resource_templates(cursor=c), "resource_templates")
    tool_names = [tool.name for tool in tools]
    assert tool_pages > 1 and len(tool_names) == len(set(tool_names))
    assert {f"echo_{index:03d}" for index in range(PLUGIN_TOOLS)} | {"list_agents", "get_agent"} <= set(tool_names)
    uris = [resource.uri for resource in resources]
    assert resource_pages > 1 and len(uris) == len(set(uris))
    assert {f"parac://agents/{name}" for name in names} <= set(uris)
    assert {f"agent_{name}" for name in names} <= {prompt.name for prompt in prompts}
    assert "parac://agents/{name}" in {template.uri_template for template in templates}


async def test_listing_tools_walk_each_item_once(project: Path, era: str):
    names = add_agents(project, EXTRA_AGENTS)
    async with Client(build_server(ParacApp(project)), mode=era) as session:
        agents, pages = await walk_tool(session, "list_agents", "agents", limit=7)
        whole = (await session.call_tool("list_agents", {"limit": 1000})).structured_content
        default = (await session.call_tool("list_agents", {})).structured_content
        plugins, _ = await walk_tool(session, "list_plugins", "plugins", limit=2)
        providers, _ = await walk_tool(session, "list_providers", "providers", limit=1)
        skills, _ = await walk_tool(session, "list_skills", "skills", limit=1)
        workflows, _ = await walk_tool(session, "list_workflows", "workflows", limit=1)
        tools, _ = await walk_tool(session, "list_tools", "tools", limit=5)
        all_tools = (await session.call_tool("list_tools", {"limit": 1000})).structured_content["tools"]
    walked = [row["name"] for row in agents]
    assert walked == [row["name"] for row in whole["agents"]] and whole["next_cursor"] is None
    assert set(names) <= set(walked) and len(walked) == len(set(walked))
    assert pages == -(-len(walked) // 7)
    assert len(default["agents"]) == DEFAULT_LIMIT and default["next_cursor"] is not None
    assert [row["name"] for row in tools] == [row["name"] for row in all_tools]
    plugin_names = [row["name"] for row in plugins]
    assert len(plugin_names) == len(set(plugin_names)) and "governance" in plugin_names
    assert len(providers) >= 1 and len(skills) >= 1 and len(workflows) >= 1


async def test_bad_cursors_are_refused(project: Path, era: str):
    add_agents(project, EXTRA_AGENTS)
    async with Client(build_server(ParacApp(project)), mode=era) as session:
        resources_cursor = (await session.list_resources()).next_cursor
        agents_cursor = (await session.call_tool("list_agents", {"limit": 3})).structured_content["next_cursor"]
        payload, _, mac = resources_cursor.partition(".")
        forged = f"{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{mac}"
        for bad in ("bogus", "", "x" * 5000, forged, agents_cursor, "é.é"):
            with pytest.raises(MCPError) as refused:
                await session.list_resources(cursor=bad)
            assert refused.value.error.code == -32602
        for fetch in (session.list_tools, session.list_prompts, session.list_resource_templates):
            with pytest.raises(MCPError) as refused:
                await fetch(cursor=resources_cursor)  # a real cursor, of another list
            assert refused.value.error.code == -32602
        # listing tools: a clear tool error, nothing listed
        for arguments in ({"cursor": resources_cursor}, {"cursor": "bogus"}, {"limit": 0}, {"limit": 1001}):
            result = await session.call_tool("list_agents", arguments)
            assert result.is_error and result.structured_content is None
        wrong_list = await session.call_tool("list_skills", {"cursor": agents_cursor})
        still = await session.list_resources(cursor=resources_cursor)
    assert "invalid cursor for list_skills" in wrong_list.content[0].text
    assert still.resources  # the server goes on answering good cursors


async def test_a_cursor_from_an_earlier_server_is_stale(project: Path, serve_command: list[str], http_server):
    """Over stdio, then over HTTP from a new server: each walks; the first server's cursors are refused."""
    names = add_agents(project, EXTRA_AGENTS)
    stdio = StdioServerParameters(
        command=serve_command[0],
        args=[*serve_command[1:], "--workspace", str(project)],
        env={**os.environ, "PARAC_LOAD_PLUGINS": ""},
    )
    async with Client(stdio, mode="legacy") as session:
        resources, pages = await walk(lambda c: session.list_resources(cursor=c), "resources")
        agents_cursor = (await session.call_tool("list_agents", {"limit": 1})).structured_content["next_cursor"]
        resources_cursor = (await session.list_resources()).next_cursor
    assert pages > 1 and {f"parac://agents/{name}" for name in names} <= {r.uri for r in resources}
    with http_server(project) as url:
        async with Client(url, mode="auto") as session:
            over_http, _ = await walk(lambda c: session.list_resources(cursor=c), "resources")
            with pytest.raises(MCPError) as refused:
                await session.list_resources(cursor=resources_cursor)
            stale_agents = await session.call_tool("list_agents", {"cursor": agents_cursor})
    assert refused.value.error.code == -32602
    assert stale_agents.is_error and "invalid cursor for list_agents" in stale_agents.content[0].text
    assert [r.uri for r in over_http] == [r.uri for r in resources]


async def test_listings_follow_the_files(project: Path):
    """The cached lists are rebuilt once the watcher has seen a file: a new agent, its resources and prompt."""
    app = ParacApp(project, poll_interval=0.1)
    async with Client(build_server(app), mode="legacy") as session:
        before_tools = [tool.name for tool in (await session.list_tools()).tools]
        await session.list_resources()
        await session.list_prompts()
        await anyio.sleep(0.3)  # the watcher takes its first look
        (project / ".parac/agents/newbie.yaml").write_text("parent: coder\ndescription: New\n")
        with anyio.fail_after(15):
            while "parac://agents/newbie" not in {r.uri for r in (await session.list_resources()).resources}:
                await anyio.sleep(0.05)
        prompts = {prompt.name for prompt in (await session.list_prompts()).prompts}
        agents = {row["name"]: row for row in (await session.call_tool("list_agents", {})).structured_content["agents"]}
        after_tools = [tool.name for tool in (await session.list_tools()).tools]
        (project / ".parac/agents/coder.yaml").write_text("parent: base\nmodel: echo/changed\n")
        with anyio.fail_after(15):
            while (await session.call_tool("get_agent", {"name": "newbie"})).structured_content["fields"].get("model") != "echo/changed":
                await anyio.sleep(0.05)
        newbie = next(
            row for row in (await session.call_tool("list_agents", {})).structured_content["agents"] if row["name"] == "newbie"
        )
        (project / ".parac/memory/fresh-note.md").write_text("# Noted\n")  # a file no spec index covers
        with anyio.fail_after(15):
            while "parac://memory/fresh-note.md" not in {r.uri for r in (await session.list_resources()).resources}:
                await anyio.sleep(0.05)
    assert "agent_newbie" in prompts
    assert agents["newbie"]["parent"] == "coder" and agents["newbie"]["description"] == "New"
    assert after_tools == before_tools
    assert newbie["model"] == "echo/changed"  # the parent's change reached its descendant's cached row


def test_a_registration_rebuilds_the_tool_list(project: Path):
    """A plugin registering a tool after the first list (as external MCP servers' tools join) is listed next time."""

    async def scenario() -> None:
        host = Host(entry_points=False)
        host.open_workspace(project)
        async with Client(build_server(ParacApp(project, host=host)), mode="legacy") as session:
            before = {tool.name for tool in (await session.list_tools()).tools}

            def late(text: str) -> str:
                """Arrived late."""
                return text

            host.registry.registrar("tools", "late")(late)
            after = {tool.name for tool in (await session.list_tools()).tools}
        assert after - before == {"late"}

    anyio.run(scenario)


async def test_runs_resource_pages_newest_first(project: Path, parac):
    for _ in range(3):
        assert parac("workflow", "run", "code-review", "--dry-run", "echo", "-y", "-i", "change=x", cwd=project).code == 0
    async with Client(build_server(ParacApp(project)), mode="legacy") as session:

        async def read(uri: str) -> Any:
            return json.loads((await session.read_resource(uri)).contents[0].text)

        newest = [row["run_id"] for row in await read("parac://runs")]
        walked: list[str] = []
        page = await read("parac://runs?limit=2")
        while True:
            walked += [row["run_id"] for row in page["runs"]]
            if page["next_cursor"] is None:
                break
            page = await read(f"parac://runs?limit=2&cursor={page['next_cursor']}")
        refused = []
        for uri in ("parac://runs?cursor=bogus", "parac://runs?limit=0", "parac://runs?limit=many"):
            with pytest.raises(MCPError) as error:
                await read(uri)
            refused.append(error.value.error.code)
    assert walked == newest and len(walked) == 3
    assert refused == [-32602, -32602, -32602]


def test_the_input_schema_lookup_answers_what_tools_list_shows(project: Path):
    """`ParacServer.get_tool_input_schema`, which the SDK asks for a 2026-07-28 `tools/call`'s `Mcp-Param-*` check
    (SEP-2243), answers each tool's schema exactly as `tools/list` shows it (a plugin tool's `x-mcp-header` marks
    included) from the tools already built; it is None until they are built for the current stamp (the SDK then runs
    the list handler instead), and answers None for a tool outside the profile served."""
    from parac.server.mcp.profiles import BUILT_IN

    def place(region: str, zone: int = 0) -> str:
        """Place something."""
        return f"{region} {zone}"

    async def scenario() -> None:
        host = Host(entry_points=False)
        host.open_workspace(project)
        host.registry.registrar("tools", "routing")(place, headers={"region": "Region"})
        app = ParacApp(project, host=host)
        server = build_server(app)
        async with Client(server, mode="2026-07-28") as session:
            unbuilt = server.get_tool_input_schema
            listed = {tool.name: tool.input_schema for tool in (await session.list_tools()).tools}
            lookup = server.get_tool_input_schema
            assert unbuilt is None and lookup is not None
            assert {name: lookup(name) for name in listed} == listed
            assert listed["place"]["properties"]["region"]["x-mcp-header"] == "Region"
            assert lookup("no_such_tool") is None
            app.profile = BUILT_IN["minimal"]  # as an edited mcp.profile is taken up
            assert server.get_tool_input_schema is None  # built for the profile before
            narrowed = {tool.name: tool.input_schema for tool in (await session.list_tools()).tools}
            lookup = server.get_tool_input_schema
        assert lookup is not None and "place" not in narrowed and lookup("place") is None
        assert {name: lookup(name) for name in narrowed} == narrowed and "list_agents" in narrowed

    anyio.run(scenario)
