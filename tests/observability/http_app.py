"""A Starlette app on uvicorn wrapped the way ``parac serve`` wraps its own: ``observe_http`` around it, ``/metrics``
mounted. ``python http_app.py PORT``; traces go where the ``OTEL_*`` variables say."""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from parac.core import telemetry
from parac.server.http_observe import observe_http
from parac.server.metrics import Metrics


async def item(request):
    return JSONResponse({"id": request.path_params["item_id"], "trace": telemetry.ids()})


def main() -> None:
    telemetry.configure()
    metrics = Metrics()
    app = Starlette(routes=[Route("/items/{item_id}", item), Mount("/metrics", metrics.asgi_app())])
    uvicorn.run(observe_http(app, metrics), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                interface="asgi3")  # as parac serve says it: observe_http's __call__ is not a coroutine function


if __name__ == "__main__":
    main()
