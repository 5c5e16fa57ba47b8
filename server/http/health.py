"""Health probes: `/health/live` (the process answers), `/health/ready` (503 until every workspace is open and its
database takes writes), `/health` (the database, the plugins and the providers of each workspace)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from parac.server.mcp.app import ParacApp

    from .workspaces import Workspaces


def database_writable(app: ParacApp) -> str | None:
    """None when the workspace's database takes a write lock now; else why not."""
    from parac.core.store import connect_workspace

    loaded = app.current
    if loaded is None or loaded.workspace is None:
        return loaded.workspace_error if loaded is not None else "not loaded yet"
    try:
        conn = connect_workspace(loaded.workspace.root)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        finally:
            conn.close()
    except Exception as error:  # any failure means "not ready"; say which
        return f"database not writable ({type(error).__name__}: {error})"
    return None


def routes(workspaces: Workspaces, ready: anyio.Event) -> list[Route]:
    async def live(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readiness(request: Request) -> Response:
        if not ready.is_set():
            return JSONResponse({"status": "starting", "detail": "workspaces are loading"}, 503)
        problems = {key: why for key, app in workspaces.apps.items()
                    if (why := await anyio.to_thread.run_sync(database_writable, app)) is not None}
        if problems:
            return JSONResponse({"status": "unavailable", "workspaces": problems}, 503)
        return JSONResponse({"status": "ok"})

    async def health(request: Request) -> Response:
        report = {key: await anyio.to_thread.run_sync(_workspace_health, app) for key, app in workspaces.apps.items()}
        ok = ready.is_set() and all(entry["database"] == "ok" for entry in report.values())
        return JSONResponse({"status": "ok" if ok else "degraded", "ready": ready.is_set(), "workspaces": report},
                            200 if ok else 503)

    return [Route("/health", health), Route("/health/live", live), Route("/health/ready", readiness)]


def _workspace_health(app: ParacApp) -> dict[str, Any]:
    loaded = app.current
    why = database_writable(app)
    if loaded is None:
        return {"database": why, "plugins": None, "providers": None}
    host = loaded.host
    return {
        "database": why or "ok",
        "plugins": {"loaded": sum(info.enabled and not info.problems for info in host.infos.values()),
                    "problems": {info.name: info.problems for info in host.infos.values() if info.problems}},
        "providers": sorted(host.registry.catalog.providers),
    }
