"""Health probes: `/health/live` (the process answers), `/health/ready` (503 until every workspace is open and its
database takes writes), `/health` (the database, the plugins and the providers of each workspace).

Probes call bare, and a bare caller learns only what a probe needs: the overall status. Which workspaces are
served, and their plugins and providers, are told only to a caller whose credential the server knows (sent on these
otherwise public paths: `Gate.optional_paths`), and to a tenant's caller only about its own workspace."""

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
            shown = _shown(request, workspaces)
            return JSONResponse({"status": "unavailable", **(
                {"workspaces": {key: why for key, why in problems.items() if key in shown}} if shown else {})}, 503)
        return JSONResponse({"status": "ok"})

    async def health(request: Request) -> Response:
        report = {key: await anyio.to_thread.run_sync(_workspace_health, app) for key, app in workspaces.apps.items()}
        ok = ready.is_set() and all(entry["database"] == "ok" for entry in report.values())
        body: dict[str, Any] = {"status": "ok" if ok else "degraded", "ready": ready.is_set()}
        shown = _shown(request, workspaces)
        if shown is not None:
            body["workspaces"] = {key: entry for key, entry in report.items() if key in shown}
        return JSONResponse(body, 200 if ok else 503)

    return [Route("/health", health), Route("/health/live", live), Route("/health/ready", readiness)]


def _shown(request: Request, workspaces: Workspaces) -> set[str] | None:
    """The workspaces whose details this caller may see: none for a bare caller, its own for a tenant's, every
    one for the others (with credentials but no tenants file: the server has one team)."""
    caller = getattr(request.state, "caller", None)
    if caller is None:
        return None
    if caller.tenant is None:
        return set(workspaces.apps)
    own = workspaces.tenants.get(caller.tenant)
    return {key for key, app in workspaces.apps.items() if app is own}


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
