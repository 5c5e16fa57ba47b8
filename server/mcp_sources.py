"""External MCP servers as tool sources: their tools join parac's registry as ``SERVER.tool``.

``parac.yaml`` lists them::

    mcp_servers:
      docs: {command: uvx, args: [some-mcp-server], env: {LOG: "1"}, cwd: tools}   # stdio
      tracker: {url: "http://127.0.0.1:9000/mcp", headers_env: {Authorization: TRACKER_AUTH}}  # Streamable HTTP

parac is their MCP client (the official SDK). Their tools are ordinary :class:`~parac.core.tools.Tool` objects in
the registry, so agents, ``parac tools call`` and parac's own MCP server use them through the same argument checks,
policies and audit as built-in tools: parac is a governed gateway.

Why the client sessions live on a private event loop in one background thread: a session belongs to the loop that
opened it, while its callers do not share one (each CLI command and test runs its own loop, the runtime reads tool
schemas synchronously). One long-lived loop lets every caller, sync or async, use the same connections.

Lifecycle: nothing connects until a tool of the server is needed (its schema is read or it is called, or
:meth:`ToolSources.discover_all` is asked for). Connecting and each call have time limits. A server that crashed is
restarted by the next call (a ping before each call finds a dead connection before anything is sent); a server that
cannot start is retried at most every :data:`RETRY_AFTER_S` seconds. A failing server makes only its own tools
unavailable, each with an error naming the server and the cause.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from parac.core.tools import Tool, ToolError

log = logging.getLogger("parac.mcp_sources")

RETRY_AFTER_S = 5.0
LOG_DIR = Path(".parac") / "state" / "logs"
PING_TIMEOUT_S = 5.0
MAX_LISTED_TOOLS = 1000
State = Literal["idle", "connecting", "ready", "failed", "invalid"]


class ServerConfig(BaseModel):
    """One entry of ``mcp_servers``: a command to spawn (stdio) or a URL (Streamable HTTP)."""

    model_config = ConfigDict(extra="forbid")

    command: str | None = Field(None, description="Program that runs the server over stdio.")
    args: list[str] = Field(default_factory=list, description="Its arguments.")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables for the process.")
    cwd: str | None = Field(None, description="Working directory, relative to the workspace root.")
    url: str | None = Field(None, description="Streamable HTTP endpoint (http or https).")
    headers_env: dict[str, str] = Field(
        default_factory=dict, description="HTTP headers whose values come from these environment variables."
    )
    connect_timeout_s: float = Field(30.0, gt=0, description="Time allowed to start and complete the handshake.")
    call_timeout_s: float = Field(120.0, gt=0, description="Time allowed for one tool call.")

    @model_validator(mode="after")
    def _one_transport(self) -> ServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either command (stdio) or url (Streamable HTTP)")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return self

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "http"


@dataclass
class Server:
    """What parac knows of one configured server: its state, its tools, and the live session if any."""

    name: str
    config: ServerConfig | None
    state: State = "idle"
    error: str | None = None
    tools: dict[str, Any] = field(default_factory=dict)  # remote name -> mcp_types.Tool
    restarts: int = 0
    failed_at: float = 0.0
    was_ready: bool = False
    session: Any = None
    stop: asyncio.Event | None = None
    lock: asyncio.Lock | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "transport": self.config.transport if self.config else None,
            "state": self.state,
            "error": self.error,
            "tools": sorted(self.tools),
            "restarts": self.restarts,
        }


class ExternalTool(Tool):
    """A tool of an external server. Its description and schemas are the server's, read (connecting lazily)
    the first time anyone asks; while the server is unavailable the tool says so and calling it fails clearly."""

    def __init__(self, sources: ToolSources, server: str, remote: str) -> None:
        self.name = f"{server}.{remote}"
        self.server = server
        self.remote = remote
        self._sources = sources
        self.fn = self._call
        self.needs_approval = False
        self.source = None

    def __repr__(self) -> str:
        return f"<ExternalTool {self.name}>"

    def _spec(self) -> Any:
        return self._sources.remote_tool(self.server, self.remote)

    @property  # type: ignore[override]
    def description(self) -> str:
        spec = self._spec()
        if spec is None:
            return f"Tool {self.remote} of MCP server {self.server} (unavailable: {self._sources.why(self.server)})"
        return spec.description or f"Tool {self.remote} of MCP server {self.server}."

    @property  # type: ignore[override]
    def input_schema(self) -> dict[str, Any]:
        spec = self._spec()
        return spec.input_schema if spec is not None else {"type": "object"}

    @property  # type: ignore[override]
    def output_schema(self) -> dict[str, Any] | None:
        spec = self._spec()
        return spec.output_schema if spec is not None else None

    @property  # type: ignore[override]
    def read_only(self) -> bool:
        spec = self._spec()
        hints = spec.annotations if spec is not None else None
        return bool(hints is not None and hints.read_only_hint)

    def _call(self, **arguments: Any) -> Any:
        return self._sources.call(self.server, self.remote, arguments)


class ToolSources:
    """The external servers of one workspace, their connections, and the tools they contribute."""

    def __init__(self, servers: dict[str, dict[str, Any]], root: Path, register: Callable[[Tool], None]) -> None:
        self.root = root
        self._register = register
        self.servers: dict[str, Server] = {}
        self.tools: dict[str, ExternalTool] = {}
        for name, raw in servers.items():
            try:
                self.servers[name] = Server(name, ServerConfig.model_validate(raw))
            except ValidationError as exc:
                problem = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in exc.errors())
                self.servers[name] = Server(name, None, state="invalid", error=f"mcp_servers.{name}: {problem}")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    # -- names -------------------------------------------------------------------------------------------------------

    def split(self, name: str) -> tuple[str, str] | None:
        """``("docs", "search")`` for ``docs.search`` when ``docs`` is a configured server, else None."""
        server, dot, remote = name.partition(".")
        return (server, remote) if dot and remote and server in self.servers else None

    def tool(self, name: str) -> ExternalTool | None:
        """The tool ``SERVER.remote`` (registered on first mention; nothing connects yet), or None when SERVER is
        not configured or is running without that tool."""
        parts = self.split(name)
        if parts is None:
            return None
        server = self.servers[parts[0]]
        if name not in self.tools and server.state == "ready" and parts[1] not in server.tools:
            return None  # the running server has no such tool: a typo must not become a registered tool
        if name not in self.tools:
            self.tools[name] = ExternalTool(self, *parts)
            self._register(self.tools[name])
        return self.tools[name]

    def declare(self, names: Iterable[str]) -> None:
        """Register the external tools that agents and workflows name, so lookups by name find them."""
        for name in names:
            self.tool(name)

    def why(self, server: str) -> str:
        state = self.servers[server]
        if state.state in ("failed", "invalid"):
            return state.error or state.state
        if state.state == "ready":
            return f"the server has no tool of that name (it has: {', '.join(sorted(state.tools)) or 'none'})"
        return "not connected"

    # -- discovery ---------------------------------------------------------------------------------------------------

    def remote_tool(self, server: str, remote: str) -> Any:
        """The server's definition of ``remote`` (connecting if needed), or None when it is not available."""
        state = self.servers[server]
        if state.state == "idle":  # a failed server is retried by calls, not by reading a schema
            self._run(self._ensure(state), self._connect_limit(state))
        return state.tools.get(remote) if state.state == "ready" else None

    def _pending(self, retry_failed: bool) -> list[Server]:
        wanted = ("idle", "failed") if retry_failed else ("idle",)
        return [s for s in self.servers.values() if s.state in wanted]

    def needs_discovery(self, *, retry_failed: bool = True) -> bool:
        """Whether :meth:`discover_all` has anything to connect (an async caller can skip the thread hop)."""
        return bool(self._pending(retry_failed))

    def discover_all(self, *, retry_failed: bool = True) -> list[dict[str, Any]]:
        """Connect every server (concurrently, each within its time limit), register all their tools, and
        return each server's state. ``retry_failed=False`` leaves failed servers to the next call of one of their
        tools, so that listing tools does not wait on a dead server again and again."""
        pending = self._pending(retry_failed)
        if pending:
            limit = max(self._connect_limit(s) for s in pending)
            self._run(_gather([self._ensure(s) for s in pending]), limit)
        for state in self.servers.values():
            for remote in state.tools:
                self.tool(f"{state.name}.{remote}")
        return [state.to_json() for state in self.servers.values()]

    def status(self) -> list[dict[str, Any]]:
        return [state.to_json() for state in self.servers.values()]

    # -- calls ---------------------------------------------------------------------------------------------------------

    def call(self, server: str, remote: str, arguments: dict[str, Any]) -> Any:
        """Call the tool and return its result: structured content when the server gives it, else its text."""
        state = self.servers[server]
        limit = self._connect_limit(state) + PING_TIMEOUT_S + (state.config.call_timeout_s if state.config else 0)
        return self._run(self._call(state, remote, arguments), limit)

    async def _call(self, state: Server, remote: str, arguments: dict[str, Any]) -> Any:
        from mcp.shared.exceptions import MCPError
        from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT

        await self._ensure(state)
        if state.state == "ready" and not await self._alive(state):
            await self._ensure(state)
        if state.state != "ready":
            raise ToolError(f'MCP server "{state.name}" is unavailable: {state.error}')
        if remote not in state.tools:
            raise ToolError(f'MCP server "{state.name}" has no tool "{remote}" (it has: {", ".join(sorted(state.tools))})')
        assert state.config is not None
        try:
            result = await state.session.call_tool(remote, arguments, read_timeout_seconds=state.config.call_timeout_s)
        except MCPError as exc:
            if exc.code in (CONNECTION_CLOSED, REQUEST_TIMEOUT):
                what = "did not answer in time" if exc.code == REQUEST_TIMEOUT else "closed the connection"
                await self._fail(state, f"{what} during a call of {remote}; it is restarted on the next call")
                raise ToolError(f'MCP server "{state.name}" {what} (tool {remote})') from None
            raise ToolError(f'MCP server "{state.name}" refused the call of {remote}: {exc.error.message}') from None
        except Exception as exc:  # a broken transport: the server is restarted on the next call
            await self._fail(state, f"{type(exc).__name__}: {exc}")
            raise ToolError(f'MCP server "{state.name}" failed during the call of {remote}: {type(exc).__name__}') from None
        return _result(state.name, remote, result)

    async def _alive(self, state: Server) -> bool:
        try:
            await asyncio.wait_for(state.session.send_ping(), PING_TIMEOUT_S)
        except Exception as exc:
            await self._fail(state, f"stopped answering ({type(exc).__name__}); restarting")
            return False
        return True

    # -- connections ---------------------------------------------------------------------------------------------------

    def _connect_limit(self, state: Server) -> float:
        return (state.config.connect_timeout_s if state.config else 0) + 5.0

    async def _ensure(self, state: Server) -> None:
        """Connect unless connected, invalid, or failed less than RETRY_AFTER_S ago. Never raises."""
        if state.lock is None:
            state.lock = asyncio.Lock()
        async with state.lock:
            if state.state in ("ready", "invalid"):
                return
            if state.state == "failed" and time.monotonic() - state.failed_at < RETRY_AFTER_S:
                return
            if state.was_ready:
                state.restarts += 1
            await self._connect(state)

    async def _connect(self, state: Server) -> None:
        assert state.config is not None
        state.state, state.error = "connecting", None
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        state.stop = asyncio.Event()
        task = asyncio.get_running_loop().create_task(self._own(state, ready, state.stop))
        try:
            await asyncio.wait_for(asyncio.shield(ready), state.config.connect_timeout_s)
        except asyncio.TimeoutError:
            task.cancel()
            with suppress(BaseException):
                await task
            self._record_failure(state, f"no MCP handshake within {state.config.connect_timeout_s:g} s")
        except Exception as exc:
            self._record_failure(state, _describe(exc))

    async def _own(self, state: Server, ready: asyncio.Future[None], stop: asyncio.Event) -> None:
        """Hold one connection open, from handshake to ``stop``: the task that enters the transport and session
        contexts must be the one that leaves them."""
        from mcp.client.session import ClientSession

        try:
            async with AsyncExitStack() as stack:
                read, write = await stack.enter_async_context(self._transport(state.name, state.config))
                session = await stack.enter_async_context(ClientSession(read, write))
                await session.initialize()
                state.tools = await _list_tools(session)
                state.session, state.state, state.error, state.was_ready = session, "ready", None, True
                ready.set_result(None)
                log.info("MCP server %s ready with %d tools", state.name, len(state.tools))
                await stop.wait()
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
            elif state.session is not None:
                self._record_failure(state, _describe(exc))
        finally:
            state.session = None

    def _transport(self, name: str, config: ServerConfig | None) -> Any:
        assert config is not None
        if config.command:
            from mcp.client.stdio import StdioServerParameters, stdio_client

            cwd = (self.root / config.cwd).resolve() if config.cwd else self.root
            params = StdioServerParameters(command=config.command, args=config.args, env=config.env or None, cwd=cwd)
            return _with_log(self.root / LOG_DIR / f"mcp-{name}.log", lambda log: stdio_client(params, errlog=log))
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        missing = [env for env in config.headers_env.values() if env not in os.environ]
        if missing:
            raise ConnectionError(f"environment variables for headers are not set: {', '.join(missing)}")
        headers = {header: os.environ[env] for header, env in config.headers_env.items()}
        client = create_mcp_http_client(headers=headers)
        return _owning(client, streamable_http_client(config.url, http_client=client))

    async def _fail(self, state: Server, reason: str) -> None:
        """A live connection broke: close it; the next call restarts the server at once (no back-off, as it
        did start before)."""
        self._record_failure(state, reason)
        state.failed_at = 0.0
        if state.stop is not None:
            state.stop.set()

    def _record_failure(self, state: Server, reason: str) -> None:
        state.state, state.error, state.failed_at, state.session = "failed", reason, time.monotonic(), None
        log.warning("MCP server %s: %s", state.name, reason)

    # -- the private loop --------------------------------------------------------------------------------------------

    def _run(self, coroutine: Any, timeout: float) -> Any:
        loop = self._ensure_loop()
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise ToolError(f"an external MCP server did not answer within {timeout:g} s") from None

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever, name="parac-mcp-sources", daemon=True)
                self._thread.start()
                atexit.register(self.close)  # stdio servers end with parac, even when nobody called close()
            return self._loop

    def close(self) -> None:
        """Stop every connection (ending stdio servers) and the background loop."""
        if self._loop is None:
            return
        atexit.unregister(self.close)

        async def stop_all() -> None:
            for state in self.servers.values():
                if state.stop is not None:
                    state.stop.set()
            current = asyncio.current_task()
            pending = [t for t in asyncio.all_tasks() if t is not current]
            await asyncio.wait(pending, timeout=5) if pending else None

        with suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop_all(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._loop = self._thread = None
        for state in self.servers.values():
            if state.state != "invalid":
                state.state, state.session, state.stop, state.lock = "idle", None, None, None


@asynccontextmanager
async def _with_log(path: Path, open_transport: Callable[[Any], Any]) -> Any:
    """A stdio server's stderr goes to its own log file: its tracebacks must not flood parac's stderr (which an
    editor may show) and stay there for whoever debugs the server."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log:
        async with open_transport(log) as streams:
            yield streams


class _owning:
    """Enter the HTTP client and the transport together, and leave them in reverse order."""

    def __init__(self, client: Any, transport: Any) -> None:
        self._stack = AsyncExitStack()
        self._client = client
        self._transport = transport

    async def __aenter__(self) -> Any:
        await self._stack.enter_async_context(self._client)
        return await self._stack.enter_async_context(self._transport)

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._stack.__aexit__(*exc)


async def _gather(coroutines: list[Any]) -> None:
    await asyncio.gather(*coroutines)


async def _list_tools(session: Any) -> dict[str, Any]:
    from mcp_types import PaginatedRequestParams

    tools: dict[str, Any] = {}
    cursor = None
    while len(tools) < MAX_LISTED_TOOLS:
        page = await session.list_tools(params=PaginatedRequestParams(cursor=cursor) if cursor else None)
        tools.update({tool.name: tool for tool in page.tools})
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


def _result(server: str, remote: str, result: Any) -> Any:
    texts = [block.text for block in result.content if getattr(block, "type", None) == "text"]
    if result.is_error:
        raise ToolError(f'tool {remote} of MCP server "{server}" failed: ' + ("\n".join(texts) or "no message"))
    if result.structured_content is not None:
        return result.structured_content
    if len(texts) == len(result.content):
        return "\n".join(texts)
    return [block.model_dump(mode="json", by_alias=True, exclude_none=True) for block in result.content]


def _describe(exc: BaseException) -> str:
    """One line for a connection failure; task groups wrap the cause, so unwrap it."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def referenced_tools(workspace: Any) -> set[str]:
    """Tool names the workspace's agents and workflow steps use (an external one is registered before anything
    reads the registry by name)."""
    names: set[str] = set()
    catalog = workspace.catalog
    specs = [entry.spec for entry in workspace.agents.values() if entry.spec is not None]
    specs += [c.value for c in catalog.agents.values()] if catalog is not None else []
    for spec in specs:
        names.update(spec.tools)
    for entry in workspace.workflows.values():
        if entry.spec is not None:
            names.update(step.tool for step in entry.spec.steps if step.tool)
    return names
