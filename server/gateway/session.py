"""One external server's connection: spawn or dial, handshake, list tools, call, notice a crash, restart.

Every coroutine here runs on the gateway's private loop (:mod:`.loop`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from parac.core.tools import ToolError

from .config import ServerConfig

log = logging.getLogger("parac.gateway")

RETRY_AFTER_S = 5.0
LOG_DIR = Path(".parac") / "state" / "logs"
PING_TIMEOUT_S = 5.0
MAX_LISTED_TOOLS = 1000
State = Literal["idle", "connecting", "ready", "failed", "invalid"]


@dataclass
class Server:
    """What parac knows of one configured server: its state, its tools, and the live session if any."""

    name: str
    root: Path
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

    @property
    def connect_limit(self) -> float:
        return (self.config.connect_timeout_s if self.config else 0) + 5.0

    @property
    def call_limit(self) -> float:
        return self.connect_limit + PING_TIMEOUT_S + (self.config.call_timeout_s if self.config else 0)

    def why(self) -> str:
        if self.state in ("failed", "invalid"):
            return self.error or self.state
        if self.state == "ready":
            return f"the server has no tool of that name (it has: {', '.join(sorted(self.tools)) or 'none'})"
        return "not connected"

    # -- calls ---------------------------------------------------------------------------------------------------------

    async def call(self, remote: str, arguments: dict[str, Any]) -> Any:
        """Call the tool and return its result: structured content when the server gives it, else its text."""
        from mcp.shared.exceptions import MCPError
        from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT

        await self.ensure()
        if self.state == "ready" and not await self._alive():
            await self.ensure()
        if self.state != "ready":
            raise ToolError(f'MCP server "{self.name}" is unavailable: {self.error}')
        if remote not in self.tools:
            raise ToolError(f'MCP server "{self.name}" has no tool "{remote}" (it has: {", ".join(sorted(self.tools))})')
        assert self.config is not None
        try:
            result = await self.session.call_tool(remote, arguments, read_timeout_seconds=self.config.call_timeout_s)
        except MCPError as exc:
            if exc.code in (CONNECTION_CLOSED, REQUEST_TIMEOUT):
                what = "did not answer in time" if exc.code == REQUEST_TIMEOUT else "closed the connection"
                await self._fail(f"{what} during a call of {remote}; it is restarted on the next call")
                raise ToolError(f'MCP server "{self.name}" {what} (tool {remote})') from None
            raise ToolError(f'MCP server "{self.name}" refused the call of {remote}: {exc.error.message}') from None
        except Exception as exc:  # a broken transport: the server is restarted on the next call
            await self._fail(f"{type(exc).__name__}: {exc}")
            raise ToolError(f'MCP server "{self.name}" failed during the call of {remote}: {type(exc).__name__}') from None
        return _result(self.name, remote, result)

    async def _alive(self) -> bool:
        try:
            await asyncio.wait_for(self.session.send_ping(), PING_TIMEOUT_S)
        except Exception as exc:
            await self._fail(f"stopped answering ({type(exc).__name__}); restarting")
            return False
        return True

    # -- connections ---------------------------------------------------------------------------------------------------

    async def ensure(self) -> None:
        """Connect unless connected, invalid, or failed less than RETRY_AFTER_S ago. Never raises."""
        if self.lock is None:
            self.lock = asyncio.Lock()
        async with self.lock:
            if self.state in ("ready", "invalid"):
                return
            if self.state == "failed" and time.monotonic() - self.failed_at < RETRY_AFTER_S:
                return
            if self.was_ready:
                self.restarts += 1
            await self._connect()

    async def _connect(self) -> None:
        assert self.config is not None
        self.state, self.error = "connecting", None
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.stop = asyncio.Event()
        task = asyncio.get_running_loop().create_task(self._own(ready, self.stop))
        try:
            await asyncio.wait_for(asyncio.shield(ready), self.config.connect_timeout_s)
        except asyncio.TimeoutError:
            task.cancel()
            with suppress(BaseException):
                await task
            self._record_failure(f"no MCP handshake within {self.config.connect_timeout_s:g} s")
        except Exception as exc:
            self._record_failure(_describe(exc))

    async def _own(self, ready: asyncio.Future[None], stop: asyncio.Event) -> None:
        """Hold one connection open, from handshake to ``stop``: the task that enters the transport and session
        contexts must be the one that leaves them."""
        from mcp.client.session import ClientSession

        try:
            async with AsyncExitStack() as stack:
                read, write = await stack.enter_async_context(self._transport())
                session = await stack.enter_async_context(ClientSession(read, write))
                await session.initialize()
                self.tools = await _list_tools(session)
                self.session, self.state, self.error, self.was_ready = session, "ready", None, True
                ready.set_result(None)
                log.info("MCP server %s ready with %d tools", self.name, len(self.tools))
                await stop.wait()
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
            elif self.session is not None:
                self._record_failure(_describe(exc))
        finally:
            self.session = None

    def _transport(self) -> Any:
        config = self.config
        assert config is not None
        if config.command:
            from mcp.client.stdio import StdioServerParameters, stdio_client

            cwd = (self.root / config.cwd).resolve() if config.cwd else self.root
            command, args, env = config.command, config.args, config.env or None
            if config.sandbox:
                command, args, env = _sandboxed(self.root, cwd, config)
            params = StdioServerParameters(command=command, args=args, env=env, cwd=cwd)
            return _with_log(self.root / LOG_DIR / f"mcp-{self.name}.log", lambda log: stdio_client(params, errlog=log))
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        missing = [env for env in config.headers_env.values() if env not in os.environ]
        if missing:
            raise ConnectionError(f"environment variables for headers are not set: {', '.join(missing)}")
        headers = {header: os.environ[env] for header, env in config.headers_env.items()}
        client = create_mcp_http_client(headers=headers)
        return _owning(client, streamable_http_client(config.url, http_client=client))

    async def _fail(self, reason: str) -> None:
        """A live connection broke: close it; the next call restarts the server at once (no back-off, as it
        did start before)."""
        self._record_failure(reason)
        self.failed_at = 0.0
        if self.stop is not None:
            self.stop.set()

    def _record_failure(self, reason: str) -> None:
        self.state, self.error, self.failed_at, self.session = "failed", reason, time.monotonic(), None
        log.warning("MCP server %s: %s", self.name, reason)

    def forget_connection(self) -> None:
        """After the loop stopped: the server starts again from ``idle`` on the next need."""
        if self.state != "invalid":
            self.state, self.session, self.stop, self.lock = "idle", None, None, None


def _sandboxed(root: Path, cwd: Path, config: ServerConfig) -> tuple[str, list[str], dict[str, str]]:
    """The server's command line wrapped in the workspace's sandbox, with the variables the sandbox sets."""
    import shutil

    from parac.core.policy import Policies
    from parac.core.sandbox import sandboxed_command

    environ = {**os.environ, **config.env}
    program = shutil.which(config.command or "", path=environ.get("PATH")) or config.command or ""
    confined = sandboxed_command([program, *config.args], root=root.resolve(), cwd=cwd, environ=environ,
                                 policy=Policies.for_root(root).command_policy().sandbox)
    return confined.argv[0], confined.argv[1:], {**config.env, **confined.env}


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
