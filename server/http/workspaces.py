"""The workspaces one `parac serve` process serves, and which one a request is for.

Each workspace has its own `ParacApp` (the MCP face's state for it: its `Host`, loaded workspace, faces, cursor
secret), so everything that belongs to a workspace stays with it (see "State per workspace" in
docs/architecture.md). A caller's `tenant` (filled by the authentication layer from the tenants file) chooses its
workspace; a caller without a tenant gets the default, the first `--workspace`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from .problems import Problem

if TYPE_CHECKING:
    from parac.server.mcp.app import ParacApp
    from parac.server.auth.roles import Caller


class Workspaces:
    """One `ParacApp` per served workspace, by key (a tenant's name, or the workspace folder's name)."""

    def __init__(self) -> None:
        self.apps: dict[str, ParacApp] = {}
        self.default: str | None = None
        self.tenants: dict[str, ParacApp] = {}
        """Tenant name → its workspace's app (`--tenants`), which its callers are served from."""

    def add(self, key: str, app: ParacApp, *, default: bool = False) -> str:
        """Serve `app`'s workspace under `key` (made unique: `key-2`...); returns the key. The default serves callers
        without a tenant (else the first added)."""
        unique, number = key, 1
        while unique in self.apps:
            number += 1
            unique = f"{key}-{number}"
        self.apps[unique] = app
        if default or self.default is None:
            self.default = unique
        return unique

    @property
    def first(self) -> ParacApp:
        assert self.default is not None, "no workspace added"
        return self.apps[self.default]

    def for_caller(self, caller: Caller) -> ParacApp:
        tenant = getattr(caller, "tenant", None)
        if tenant is None:
            return self.first
        app = self.tenants.get(tenant)
        if app is None:  # a credential mapped to a tenant this server does not serve: configuration, not input
            raise Problem(403, "this credential's tenant is not served here")
        return app

    async def open_all(self) -> None:
        """Load every workspace (plugins, specs) now, in worker threads, so the first request does not pay."""
        async with anyio.create_task_group() as group:
            for app in self.apps.values():
                group.start_soon(app.loaded)

    async def keep_ledgers(self) -> Callable[[], None]:
        """Start each loaded workspace's budget ledger (`parac.core.ledger`) and keep it until the returned function
        is called (the server's shutdown). A ledger stops when its last user closes: without this, every agent
        run would start its writer thread and claim headroom before its first model call, and stop and give back
        after its last, on the way to its first streamed event. Kept, an idle server holds no headroom all the
        same (the ledger gives it back after `IDLE_RELEASE_S`)."""
        from parac.core import ledger
        from parac.core.store import connect_workspace

        def keep() -> list[ledger.Ledger]:
            kept = []
            for app in self.apps.values():
                loaded = app.current
                if loaded is not None and loaded.workspace is not None:
                    conn = connect_workspace(loaded.workspace.root)
                    try:
                        kept.append(ledger.acquire(conn))
                    finally:
                        conn.close()
            return kept

        kept = await anyio.to_thread.run_sync(keep)

        def release() -> None:
            for held in kept:
                ledger.release_user(held)

        return release
