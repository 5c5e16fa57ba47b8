"""The `parac serve` application: REST under `/api/v1`, SSE streams, health probes, OpenAPI and its docs page, the
A2A agent cards and endpoints (`a2a`), and the Streamable HTTP MCP endpoint at `/mcp`, in one ASGI app.

`/mcp` is the same application `parac mcp serve --transport http` runs (with its bearer tokens, Origin/Host checks,
event store), one per served workspace that callers reach (`McpEndpoint`), each with the same `ParacApp`, hence the
same `Host`, as the REST routes of that workspace: a run started over MCP is the run REST shows. A request goes to
the endpoint of its caller's workspace, as a REST request does (a tenant's caller to its tenant's, the others to the
default), so a tenant's MCP session sees its own agents and runs only, and another tenant's session id is unknown
there. Each endpoint is built by its first request (`mcp_endpoints`), and its SDK session manager runs in this app's
lifespan; each workspace's watcher (file changes, `--resume-runs`) runs there too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Route

from . import a2a, health, scrape, streams
from .dashboard.pages import routes as dashboard_routes
from .openapi import docs_routes
from .operations import OPERATIONS, Operations
from .problems import Problem, on_disconnect, on_http_exception, on_problem, on_unexpected

if TYPE_CHECKING:
    from parac.server.auth.gate import Gate
    from parac.server.mcp.http import HttpOptions
    from parac.server.metrics import Metrics

    from .mcp_endpoints import McpEndpoint
    from .workspaces import Workspaces

API = "/api/v1"
HEALTH_PATHS = ("/health", "/health/live", "/health/ready")
"""Served without a credential (orchestrators probe bare); Host and Origin are still checked."""
HOT_READ = ("GET", "/agents/{name}")
"""The operation tried first: an agent, resolved (what an editor asks for each file it opens)."""


@dataclass
class Served:
    """What `build_app` made: the ASGI app uvicorn runs, and the flag `/health/ready` reads."""

    asgi: Any
    ready: anyio.Event


def build_app(workspaces: Workspaces, options: HttpOptions, gate: Gate, mcp: Sequence[McpEndpoint] = (),
              metrics: Metrics | None = None) -> Served:
    """`gate`: what `parac.server.auth.Authenticate`, in front of everything, checks (Host, Origin, body cap,
    credentials, tenants, rate limits); `mcp`: the MCP endpoints, one per workspace callers reach (none: no
    `/mcp`); `metrics`: the registry the served workspaces report to, at `GET /metrics`.

    `observe_http` sits outside the authentication, so that refused requests are counted and traced too, and every
    request has its span, `traceparent`, `x-request-id` and its id on log lines."""
    from parac.server.auth.middleware import Authenticate
    from parac.server.http_observe import observe_http

    ready = anyio.Event()
    operations = Operations(workspaces)
    stream_routes = streams.routes(workspaces, operations)
    # routes are tried in order: the API's first (most requests are its), each under its full path rather than in a
    # Mount (one router, one match per route tried), the operations before the streams (no path of one matches a
    # path of the other), so a read is not matched against every stream's path; of the operations, the read an
    # editor makes most (an agent, by name) first: no two operations' paths match one path, so order changes no
    # answer, only how many patterns a request is tried against
    served_ops = sorted((op for op in OPERATIONS if (op.method, op.path) not in streams.OWN),
                        key=lambda op: (op.method, op.path) != HOT_READ)
    api = [
        *(Route(API + op.path, operations.endpoint(op), methods=[op.method]) for op in served_ops),
        *(Route(API + route.path, route.endpoint, methods=route.methods) for route in stream_routes),
    ]
    routes = [*api, *health.routes(workspaces, ready),
              *docs_routes(API, workspaces, metrics=metrics is not None),
              *dashboard_routes(operations, stream_routes, gate.own_origin),
              *a2a.routes(workspaces, gate)]
    if metrics is not None:
        routes += scrape.routes(metrics, workspaces)
    use_session(gate, options.path)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as group:
            operations.background = group
            for app in workspaces.apps.values():
                group.start_soon(app.watch)
            for endpoint in mcp:
                endpoint.serve_in(group)

            released: list[Callable[[], None]] = []

            async def open_then_ready() -> None:
                await workspaces.open_all()
                released.append(await workspaces.keep_ledgers())
                ready.set()

            group.start_soon(open_then_ready)
            try:
                yield
            finally:
                group.cancel_scope.cancel()
                with anyio.CancelScope(shield=True):  # rows written and headroom given back, though shutting down
                    for release in released:
                        await anyio.to_thread.run_sync(release)

    rest = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={Problem: on_problem, HTTPException: on_http_exception, ClientDisconnect: on_disconnect,
                            Exception: on_unexpected},
    )
    mcp_path = options.path
    under_mcp = mcp_path + "/"
    by_workspace = {id(endpoint.workspace): endpoint for endpoint in mcp}
    mcp_route = Route(mcp_path, refuse)  # only names /mcp's requests in the metrics; never called

    def dispatch(scope: dict[str, Any], receive: Any, send: Any) -> Awaitable[None]:
        """`/mcp` to its endpoint, the rest to the Starlette app; a plain function handing back the awaitable that
        serves the request (no coroutine of its own around the app's)."""
        path = scope.get("path", "")
        if by_workspace and scope["type"] == "http" and (path == mcp_path or path.startswith(under_mcp)):
            return to_mcp(scope, receive, send)
        return rest(scope, receive, send)

    async def to_mcp(scope: dict[str, Any], receive: Any, send: Any) -> None:
        caller = scope.get("state", {}).get("caller")
        try:
            workspace = workspaces.for_caller(caller) if caller is not None else workspaces.first
        except Problem as problem:
            await refuse(send, problem.status, problem.detail)
            return
        endpoint = by_workspace.get(id(workspace))
        if endpoint is None:  # build_app's caller gave no endpoint for a workspace its callers reach
            await refuse(send, 404, f"no MCP endpoint serves this caller's workspace; use {API}")
            return
        scope["route"] = mcp_route
        await endpoint(scope, receive, send)

    return Served(observe_http(Authenticate(dispatch, gate), metrics), ready)


def use_session(gate: Gate, mcp_path: str) -> None:
    """Let the dashboard's pages take the session cookie its login form sets (never the API, /mcp, A2A, the probes
    or the docs: those keep to headers), and serve the login form and the static files to anyone."""
    from parac.server.auth.gate import SessionCookie

    from .dashboard.pages import LOGIN, SESSION

    excluded = (API, mcp_path, a2a.PREFIX, a2a.CARD_PATH, "/health", "/docs", "/openapi.json", scrape.PATH)
    gate.session = SessionCookie(SESSION, LOGIN, "/", excluded=excluded)
    gate.public_paths = (*gate.public_paths, LOGIN, "/static/")


async def refuse(send: Any, status: int, detail: str) -> None:
    """A problem answered before any route (raw ASGI)."""
    import json

    from .problems import PROBLEM_TYPE, problem_body

    body = json.dumps(problem_body(status, detail)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", PROBLEM_TYPE.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
