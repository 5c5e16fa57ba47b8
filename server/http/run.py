"""Start `parac serve`: bind, print the URL, run uvicorn until SIGINT/SIGTERM.

The socket is bound before anything else, so the URL printed is the one served (also with `--port 0`) and the
Host allow-list names the real port. On SIGTERM uvicorn stops accepting, lets requests in flight finish for
`grace_s` seconds, then closes; workflow runs still going (in worker threads) stop with the process and keep their
checkpoints: their leases name a dead process, so `parac workflow resume` (or `parac serve --resume-runs`) takes
them up again.
"""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

from parac.server.mcp.http import HttpOptions
from parac.server.mcp.run import ServeError

GRACE_S = 10.0


def serve(
    starts: list[Path], options: HttpOptions, *, resume_runs: bool = False, grace_s: float = GRACE_S,
    tenants: Path | None = None, cors_origins: tuple[str, ...] = (),
) -> None:
    import uvicorn

    from parac.core.diagnostics import ParacError
    from parac.core.roots import find_root
    from parac.server.auth.gate import load_gate
    from parac.server.mcp.app import ParacApp
    from parac.server.mcp.run import Endpoint, prepare_endpoint
    from parac.server.metrics import Metrics

    from .app import HEALTH_PATHS, build_app
    from .mcp_endpoints import McpEndpoint
    from .workspaces import Workspaces

    try:
        roots = [find_root(start) for start in starts] or [find_root(None)]
    except ParacError as error:
        raise ServeError(str(error)) from None
    sock = _bind(options)
    options = replace(options, port=sock.getsockname()[1])
    metrics = Metrics()  # the server's registry: its requests, and what the --workspace workspaces do
    default = prepare_endpoint(roots[0], options, resume_runs=resume_runs, guarded=True, metrics=metrics)
    first = default.app
    try:
        gate = load_gate(roots[0], options, first.tokens, tenants_file=tenants, cors_origins=cors_origins,
                         optional_paths=HEALTH_PATHS)
    except ParacError as error:
        sock.close()
        raise ServeError("\n".join([str(error), *(f"  {d.format()}" for d in error.diagnostics)])) from None
    served_roots = [*roots, *(gate.tenants.workspaces.values() if gate.tenants is not None else ())]
    try:
        _one_project_per_database(served_roots)
    except (ServeError, ParacError) as error:
        sock.close()
        raise ServeError(str(error)) from None
    workspaces = Workspaces()
    workspaces.add(roots[0].name, first, default=True)
    for root in roots[1:]:
        workspaces.add(root.name, ParacApp(root, transport="http", resume_runs=resume_runs, metrics=metrics))
    if gate.tenants is not None:
        for tenant, root in gate.tenants.workspaces.items():
            app = next((a for a in workspaces.apps.values() if a.start == root), None)
            if app is None:  # its own registry: what its callers scrape at /metrics names no other tenant
                app = ParacApp(root, transport="http", resume_runs=resume_runs, metrics=Metrics())
                workspaces.add(tenant, app)
            workspaces.tenants[tenant] = app
    endpoints = [McpEndpoint(first, default.build)]
    for app in {id(app): app for app in workspaces.tenants.values() if app is not first}.values():
        endpoints.append(McpEndpoint(app, Endpoint(app, first.tokens, options, None, app.start).build))
    served = build_app(workspaces, options, gate, endpoints, metrics)
    config = uvicorn.Config(
        served.asgi, log_level="warning", lifespan="on", timeout_graceful_shutdown=grace_s, access_log=False,
        ws="none",  # no route speaks WebSocket: its protocol module is not imported before the first answer
        interface="asgi3",  # said, not guessed: observe_http's __call__ is a plain function handing back an awaitable
    )
    host = f"[{options.host}]" if ":" in options.host else options.host
    print(f"parac serve: http://{host}:{options.port} (API /api/v1, docs /docs, MCP {options.path})", flush=True)
    for key, app in workspaces.apps.items():
        print(f"  workspace {key}: {app.start}", flush=True)
    uvicorn.Server(config).run(sockets=[sock])


def _one_project_per_database(roots: list[Path]) -> None:
    """Refuse two served workspaces on one dbos database: the runs, budgets, costs and audit chain kept there are
    not told apart by project, so each tenant would read (and cancel) the other's. One database serves one project."""
    distinct = list(dict.fromkeys(Path(r).resolve() for r in roots))
    if len(distinct) < 2:  # nothing to share a database with (and the settings need not be read at start)
        return
    from urllib.parse import urlsplit

    from parac.core.engines import redact_url, shared_database_url

    owners: dict[tuple[str, int, str], list[Path]] = {}
    shown: dict[tuple[str, int, str], str] = {}
    for root in distinct:
        url = shared_database_url(root)
        if url is None:
            continue
        parts = urlsplit(url)  # the same database whoever logs in to it
        key = ((parts.hostname or "").lower(), parts.port or 5432, parts.path.lstrip("/"))
        owners.setdefault(key, []).append(root)
        shown.setdefault(key, redact_url(url))
    for key, sharing in owners.items():
        if len(sharing) > 1:
            raise ServeError(
                f"workspaces {', '.join(str(root) for root in sharing)} run on the same dbos database "
                f"{shown[key]}: its runs, budgets, costs and audit chain are not kept apart by project, so one "
                "database serves one project; give each workspace its own engine.database_url (and do not set "
                "PARAC_DATABASE_URL for all of them)")


def _bind(options: HttpOptions) -> socket.socket:
    family = socket.AF_INET6 if ":" in options.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio sets TCP_NODELAY only then
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((options.host, options.port))
    except OSError as error:
        sock.close()
        raise ServeError(f"cannot listen on {options.host}:{options.port}: {error.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
