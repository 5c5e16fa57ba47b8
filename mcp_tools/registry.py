"""MCP tools over the plugin registry (what is loaded, and what it registered), and every plugin tool itself.

Plugin tools appear under the name they were registered with and their own JSON Schema; a call goes through
`Host.call_tool`, so arguments are checked and the governance hooks see it like any other tool call, with the
client as the tool's channel back (`ClientChannel`: its logs, progress, sampling and elicitation).
"""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from typing_extensions import TypedDict

from parac.server.mcp.call import Call
from parac.server.mcp.channel import ClientChannel
from parac.server.mcp.faces import Faces, ToolFace
from parac.server.mcp.listings import Cursor, Limit


class PluginRow(TypedDict):
    name: str
    source: str
    module: str | None
    enabled: bool
    registered: dict[str, list[str]]
    problems: list[str]


class PluginList(TypedDict):
    plugins: list[PluginRow]
    next_cursor: str | None


class ToolRow(TypedDict):
    name: str
    description: str
    origin: str
    input_schema: dict[str, Any]
    needs_approval: bool


class ToolList(TypedDict):
    tools: list[ToolRow]
    next_cursor: str | None


class ProviderRow(TypedDict):
    name: str
    origin: str


class ProviderList(TypedDict):
    providers: list[ProviderRow]
    next_cursor: str | None


def plugin_tool(name: str, tool: Any, origin: str) -> ToolFace:
    async def invoke(call: Call, arguments: dict[str, Any]) -> Any:
        host = await call.host()
        return await host.call_tool(name, arguments, call.context, ClientChannel(call, name))

    description = tool.description or f"Tool {name} (from plugin {origin})."
    return ToolFace(
        name=name,
        description=description,
        invoke=invoke,
        role="operator" if not tool.read_only or tool.needs_approval else "viewer",
        read_only=tool.read_only,
        title=tool.title,
        destructive=tool.destructive,
        idempotent=tool.idempotent,
        open_world=tool.open_world,
        origin=origin,
        family="external" if origin.startswith("mcp:") else origin,  # mcp:SERVER: another MCP server's tools
        links=tool.links,
        output_schema=tool.output_schema if (tool.output_schema or {}).get("type") == "object" else None,
        schema=tool.input_schema,
        hooked=False,
        asks=tool.context_parameter is not None,  # its context may sample or elicit
        long_running=tool.long_running,
        needs_task=tool.needs_task,
        asks_first=tool.asks_first,
    )


def register(faces: Faces) -> None:
    @faces.tool(output=PluginList, title="List plugins")
    async def list_plugins(call: Call, limit: Limit = None, cursor: Cursor = None) -> PluginList:
        """Loaded plugins (built-in ones first): where each came from, what it registered, and any problem it had
        loading; a page at a time."""
        host = await call.host()
        by_key = sorted((f"{i.source != 'builtin':d}:{i.name}", i) for i in host.infos.values())  # built-ins first
        span = call.page([key for key, _ in by_key], listing="list_plugins", cursor=cursor, limit=limit)
        rows = [PluginRow(**info.to_json()) for _, info in by_key[span.start : span.stop]]
        return PluginList(plugins=rows, next_cursor=span.next_cursor)

    @faces.tool(output=ToolList, title="List plugin tools")
    async def list_tools(call: Call, limit: Limit = None, cursor: Cursor = None) -> ToolList:
        """Tools that plugins registered (agents may use them), with their argument schemas and origin; a page at
        a time."""
        tools = sorted((await call.host()).registry.catalog.tools.items())
        span = call.page([name for name, _ in tools], listing="list_tools", cursor=cursor, limit=limit)
        rows = [
            ToolRow(
                name=name,
                description=c.value.description,
                origin=c.origin,
                input_schema=c.value.input_schema,
                needs_approval=c.value.needs_approval,
            )
            for name, c in tools[span.start : span.stop]
        ]
        return ToolList(tools=rows, next_cursor=span.next_cursor)

    @faces.tool(output=ProviderList, title="List model providers")
    async def list_providers(call: Call, limit: Limit = None, cursor: Cursor = None) -> ProviderList:
        """Model providers that plugins registered (the offline ones included), by name and origin; a page at a
        time."""
        providers = sorted((await call.host()).registry.catalog.providers.items())
        span = call.page([name for name, _ in providers], listing="list_providers", cursor=cursor, limit=limit)
        rows = [ProviderRow(name=name, origin=c.origin) for name, c in providers[span.start : span.stop]]
        return ProviderList(providers=rows, next_cursor=span.next_cursor)

    async def plugin_tools(call: Call) -> list[ToolFace]:
        host = await call.host()
        sources = host.tool_sources  # external MCP servers' tools (SERVER.tool): connect to list them
        if sources is not None and sources.needs_discovery(retry_failed=False):
            await call.to_thread(sources.discover_all, retry_failed=False)
        return [plugin_tool(name, c.value, c.origin) for name, c in sorted(host.registry.catalog.tools.items())]

    faces.tools_from(plugin_tools)
