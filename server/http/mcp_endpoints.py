"""`/mcp` of `parac serve`, built by its first request rather than at start.

Building a workspace's Streamable HTTP MCP application imports the MCP SDK, which is most of what a cold start of
`parac serve` would otherwise spend before its first answer; a server that is only asked over REST (whose routes
answer through the MCP faces' tools, which import no SDK), or only probed, never pays it. The first `/mcp` request
builds the endpoint, and any request meanwhile waits for it; the SDK's session manager then runs in the app's task
group until the server stops.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from parac.server.mcp.app import ParacApp

log = logging.getLogger("parac.http")


class McpEndpoint:
    """The MCP application serving `workspace`, as an ASGI app that builds it (`build`: the application and the
    SDK's Starlette app inside it, whose lifespan runs the session manager) on first need."""

    def __init__(self, workspace: ParacApp, build: Callable[[], tuple[Any, Any]]) -> None:
        self.workspace = workspace
        self._build = build
        self._asgi: Any = None
        self._built = anyio.Event()
        self._group: TaskGroup | None = None
        self._started = False

    def serve_in(self, group: TaskGroup) -> None:
        """Where the endpoint's session manager runs once built: the app's lifespan task group."""
        self._group = group

    async def _run(self) -> None:
        try:
            # on the event loop's thread, where whatever else imports SDK modules runs: they import each other
            # in cycles, and two threads importing them at once can deadlock (two tenants' endpoints did)
            asgi, sdk = self._build()
        except Exception:  # the REST API still serves; /mcp answers 503 and the log says why
            log.exception("cannot build the MCP endpoint of %s", self.workspace.start)
            self._built.set()
            return
        async with sdk.router.lifespan_context(sdk):
            self._asgi = asgi
            self._built.set()
            await anyio.sleep_forever()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        asgi = self._asgi
        if asgi is None:
            if not self._started:
                assert self._group is not None, "the app's lifespan gives the endpoint its task group first"
                self._started = True
                self._group.start_soon(self._run, name=f"/mcp of {self.workspace.start}")
            await self._built.wait()
            asgi = self._asgi
            if asgi is None:
                from .app import refuse

                await refuse(send, 503, "the MCP endpoint could not be started; the server's log says why")
                return
        await asgi(scope, receive, send)
