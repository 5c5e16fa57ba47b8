"""`GET /metrics`: the server's Prometheus registry (`parac.server.metrics.Metrics`) as text.

Not a public path, although scrapers often are let in bare: the counters name the workspaces, agents, tools and
models served and what each spent, which `GET /api/v1/costs` shows only to an authenticated viewer. So a scraper
presents a credential like any client (Prometheus' `authorization` setting; on loopback with no credential
configured, every route, this one included, serves the local user). The registry covers every workspace the server
serves, so a tenant's caller, who is served one workspace, is refused.
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

PATH = "/metrics"


def routes(metrics: Metrics) -> list[Route]:
    async def scrape(request: Request) -> Response:
        import anyio
        from prometheus_client import CONTENT_TYPE_LATEST

        if caller_of(request).tenant is not None:
            raise Problem(403, f"{PATH} covers every workspace this server serves, not only a tenant's; "
                          "a tenant's callers read their costs and budgets under /api/v1")
        text = await anyio.to_thread.run_sync(metrics.text)  # budget and audit gauges read workspace databases
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    return [Route(PATH, scrape, methods=["GET"])]
