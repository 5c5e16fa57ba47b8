"""``ToolSources``: the external servers of one workspace, and the tools they contribute to its registry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from parac.core.tools import Tool

from .config import ServerConfig
from .loop import BackgroundLoop
from .session import Server
from .tool import ExternalTool


class ToolSources:
    """The external servers of one workspace, their connections, and the tools they contribute."""

    def __init__(self, servers: dict[str, dict[str, Any]], root: Path, register: Callable[[Tool], None]) -> None:
        self.root = root
        self._register = register
        self.servers: dict[str, Server] = {}
        self.tools: dict[str, ExternalTool] = {}
        for name, raw in servers.items():
            try:
                self.servers[name] = Server(name, root, ServerConfig.model_validate(raw))
            except ValidationError as exc:
                problem = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in exc.errors())
                self.servers[name] = Server(name, root, None, state="invalid", error=f"mcp_servers.{name}: {problem}")
        self._loop = BackgroundLoop("parac-gateway", at_exit=self.close)

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
        return self.servers[server].why()

    # -- discovery ---------------------------------------------------------------------------------------------------

    def remote_tool(self, server: str, remote: str) -> Any:
        """The server's definition of ``remote`` (connecting if needed), or None when it is not available."""
        state = self.servers[server]
        if state.state == "idle":  # a failed server is retried by calls, not by reading a schema
            self._loop.run(state.ensure(), state.connect_limit)
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
            limit = max(s.connect_limit for s in pending)
            self._loop.run(_gather([s.ensure() for s in pending]), limit)
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
        return self._loop.run(state.call(remote, arguments), state.call_limit)

    def close(self) -> None:
        """Stop every connection (ending stdio servers) and the background loop."""
        if not self._loop.running:
            return

        async def stop_all() -> None:
            for state in self.servers.values():
                if state.stop is not None:
                    state.stop.set()
            current = asyncio.current_task()
            pending = [t for t in asyncio.all_tasks() if t is not current]
            await asyncio.wait(pending, timeout=5) if pending else None

        self._loop.stop(stop_all)
        for state in self.servers.values():
            state.forget_connection()


async def _gather(coroutines: list[Any]) -> None:
    await asyncio.gather(*coroutines)
