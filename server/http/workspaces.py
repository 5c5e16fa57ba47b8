"""The workspaces one `parac serve` process serves, and which one a request is for.

Each workspace has its own `ParacApp` (the MCP face's state for it: its `Host`, loaded workspace, faces, cursor
secret), so everything that belongs to a workspace stays with it (see "State per workspace" in
docs/architecture.md). A caller's `tenant` (filled by the authentication layer from the tenants file) chooses its
workspace; a caller without a tenant gets the default, the first `--workspace`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from .problems import Problem

if TYPE_CHECKING:
    from parac.server.mcp.app import ParacApp
    from parac.server.mcp.roles import Caller


class Workspaces:
    """One `ParacApp` per served workspace, by key (a tenant's name, or the workspace folder's name)."""

    def __init__(self) -> None:
        self.apps: dict[str, ParacApp] = {}
        self.default: str | None = None

    def add(self, key: str, app: ParacApp) -> ParacApp:
        """Serve `app`'s workspace under `key`; the first one added is the default."""
        self.apps[key] = app
        if self.default is None:
            self.default = key
        return app

    @property
    def first(self) -> ParacApp:
        assert self.default is not None, "no workspace added"
        return self.apps[self.default]

    def for_caller(self, caller: Caller) -> ParacApp:
        tenant = getattr(caller, "tenant", None)
        if tenant is None:
            return self.first
        app = self.apps.get(tenant)
        if app is None:  # a credential mapped to a tenant this server does not serve: configuration, not input
            raise Problem(403, "this credential's tenant is not served here")
        return app

    async def open_all(self) -> None:
        """Load every workspace (plugins, specs) now, in worker threads, so the first request does not pay."""
        async with anyio.create_task_group() as group:
            for app in self.apps.values():
                group.start_soon(app.loaded)
