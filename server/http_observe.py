"""ASGI middleware for parac's HTTP faces (``parac serve``): one trace span per request, W3C ``traceparent`` in
and out, the request id on log lines, and the latency histogram by route template.

    app = observe_http(app, metrics)                  # around the whole Starlette app
    routes.append(Mount("/metrics", metrics.asgi_app()))
    uvicorn.run(app, interface="asgi3")               # its __call__ is a plain function: uvicorn would guess ASGI 2

An incoming ``traceparent`` makes the request's span a child of the caller's; the response carries the request's
own ``traceparent`` (and ``x-request-id``: the caller's, else a fresh one), so a client can find its trace and log
lines. Tracing off, only the request id and the timing are added. Each request ends with one access line at info
(``parac.http.access``: method, route template, status, milliseconds), which JSON logs tie to its request id; it is
made only when the process logs info (``--log-level info``, JSON logs): the ``parac`` logger takes every level for
MCP clients, and a record per request that no handler writes costs as much as the route itself.
"""

from __future__ import annotations

import logging
import random
from time import perf_counter
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from parac.core import telemetry

if TYPE_CHECKING:
    from .metrics import Metrics

log = logging.getLogger("parac.http.access")


def observe_http(app: Any, metrics: Metrics | None = None) -> Any:
    return _Observed(app, metrics)


class _Observed:
    def __init__(self, app: Any, metrics: Metrics | None) -> None:
        self.app = app
        self.metrics = metrics

    def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Awaitable[None]:
        """A plain function handing back the awaitable that serves the request: no coroutine of this layer's own
        wraps the one that times it (most requests are neither traced nor logged)."""
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        if not telemetry.enabled() and not telemetry.log_fields_wanted():
            return self._timed(scope, receive, send)
        return self._traced(scope, receive, send)

    async def _traced(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or ()}
        method, path = scope["method"], scope.get("path", "")
        request_id = _request_id(scope)
        with telemetry.extracted(headers), telemetry.fields(request_id=request_id), \
                telemetry.span(f"{method} {path}", {"http.request.method": method, "url.path": path}, server=True) as span:
            await self._timed(scope, receive, send, span, request_id)

    async def _timed(self, scope: dict[str, Any], receive: Any, send: Any, span: Any = None,
                     request_id: str | None = None) -> None:
        """The request, its response headers added (its id, its `traceparent`), then its span named, its time
        observed and its access line logged. Without tracing or JSON logs, the only header read is the id."""
        began = perf_counter()
        added = (b"x-request-id", (request_id or _request_id(scope)).encode("latin-1"))
        status = 500

        def sending(message: dict[str, Any]) -> Awaitable[None]:
            """`send` with the headers added; a plain function handing back `send`'s awaitable, so a message
            passes without a coroutine of its own."""
            if message["type"] == "http.response.start":
                nonlocal status
                status = message["status"]
                headers = [*message.get("headers", ()), added]
                if span is not None:
                    headers += [(k.encode(), v.encode()) for k, v in telemetry.inject({}).items()]
                message = {**message, "headers": headers}
            return send(message)

        root = scope.get("root_path", "")
        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = perf_counter() - began
            route = _template(scope, root)
            method = scope["method"]
            if span is not None:
                span.update_name(f"{method} {route}")
                span.set_attributes({"http.route": route, "http.response.status_code": status})
            if self.metrics is not None:
                self.metrics.http_request(route, method, status, seconds)
            if logging.root.isEnabledFor(logging.INFO):
                log.info("%s %s %d %.1f ms", method, route, status, seconds * 1000)


def _request_id(scope: dict[str, Any]) -> str:
    """The caller's `x-request-id` (at most 64 characters), else a fresh one. (ASGI servers give header names in
    lower case.)"""
    for name, value in scope.get("headers") or ():
        if name == b"x-request-id" and value:
            return value.decode("latin-1")[:64]
    return f"{random.getrandbits(64):016x}"


def _template(scope: dict[str, Any], root: str) -> str:
    """The matched route's template, mounts' prefixes included (``/api/v1/runs/{run_id}``), else ``unmatched``:
    never the path itself, so labels stay bounded. Starlette leaves the innermost route matched in ``scope["route"]``
    and each mount's prefix added to ``root_path``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not path:
        return "unmatched"
    prefix = scope.get("root_path", "")[len(root):]
    if hasattr(route, "endpoint"):  # a route; a mount's own prefix is already in root_path
        return prefix + path
    return prefix or path
