"""The MCP server's middleware for observability: each request's latency (``--metrics-port``) and its id on the
log lines written while it is served (``--log-format json``).

The SDK's own middleware, outermost, opens the request's trace span; this one runs inside it, so a log line's trace
id is the request's.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from parac.core import telemetry

if TYPE_CHECKING:
    from parac.server.metrics import Metrics


class RequestObserver:
    """SDK ``ServerMiddleware``: times every request by method; names it on log lines."""

    def __init__(self, metrics: Metrics | None, transport: str) -> None:
        self.metrics = metrics
        self.transport = transport

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        began = time.perf_counter()
        request_id = None if ctx.request_id is None else str(ctx.request_id)
        try:
            with telemetry.fields(request_id=request_id):
                return await call_next(ctx)
        finally:
            if self.metrics is not None and request_id is not None:  # requests, not notifications
                self.metrics.mcp_request(ctx.method, self.transport, time.perf_counter() - began)


def observing(server: Any, metrics: Metrics | None, transport: str) -> None:
    """Add the observer after the SDK's tracing middleware, when there is anything to observe."""
    if metrics is not None or telemetry.log_fields_wanted():
        server.middleware.append(RequestObserver(metrics, transport))
