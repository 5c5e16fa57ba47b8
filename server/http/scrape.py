"""`GET /metrics`: a Prometheus registry (`parac.server.metrics.Metrics`) as text.

Not a public path, although scrapers often are let in bare: the counters name the workspaces, agents, tools and
models served and what each spent, which `GET /api/v1/costs` shows only to an authenticated caller. So a scraper
presents a credential like any client (Prometheus' `authorization` setting; on loopback with no credential
configured, every route, this one included, serves the local user). A caller without a tenant reads the server's
registry (every request, and what the `--workspace` workspaces do); a tenant's caller reads its tenant's own
registry (its workspace's calls, runs and budgets), never the server's, which would show the others' requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .callers import caller_of
from .problems import Problem

if TYPE_CHECKING:
    from parac.server.metrics import Metrics

    from .workspaces import Workspaces

PATH = "/metrics"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The classic Prometheus text format, which ``generate_latest`` writes and every Prometheus parses (what
prometheus-client's own exporter answers a scraper that asks for no other)."""
OPENAPI = {
    "operationId": "metrics", "summary": "Prometheus metrics of the server (or of the caller's tenant)",
    "responses": {
        "200": {"description": "Prometheus text exposition format",
                "content": {CONTENT_TYPE: {"schema": {"type": "string"}}}},
        "default": {"description": "problem", "content": {"application/problem+json": {}}},
    },
}
"""`GET /metrics` in `/openapi.json` (beside `/api/v1`: scrapers, not the API clients, read it)."""


def routes(metrics: Metrics, workspaces: Workspaces) -> list[Route]:
    async def scrape(request: Request) -> Response:
        import anyio

        caller = caller_of(request)
        registry = metrics if caller.tenant is None else workspaces.for_caller(caller).metrics
        if registry is None or (caller.tenant is not None and registry is metrics):
            raise Problem(403, f"{PATH} of tenant {caller.tenant} would show other workspaces' counters: its "
                          "workspace is also served without a tenant; its costs and budgets are under /api/v1")
        text = await anyio.to_thread.run_sync(registry.text)  # budget and audit gauges read workspace databases
        return Response(text, headers={"content-type": CONTENT_TYPE})

    return [Route(PATH, scrape, methods=["GET"])]
