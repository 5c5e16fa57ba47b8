"""Raw ASGI answers for parac's HTTP middlewares, which refuse requests before the SDK's Starlette app sees them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any


def error_body(code: int, message: str, request_id: Any = None) -> dict[str, Any]:
    """A JSON-RPC error response (id null when the request's own id cannot be named)."""
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


async def json_response(send: Any, status: int, payload: Any, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
