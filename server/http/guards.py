"""What every HTTP request passes before a route: the Host and Origin allow-lists and the body cap.

The same allow-lists as the MCP endpoint (`parac.server.mcp.http.allowed_hosts` / `allowed_origins`: the bound
address and its loopback aliases, plus what `--allow-host` / `--allow-origin` add), so a page on another site
cannot drive the API through the user's browser (DNS rebinding, cross-site requests). A foreign Host gets 421, a
foreign Origin 403, a body over the cap 413; each as problem+json, before any route runs.
"""

from __future__ import annotations

import json
from typing import Any

from parac.server.mcp.http import HttpOptions, allowed_hosts, allowed_origins

from .problems import PROBLEM_TYPE, Problem, problem_body


class Guards:
    """Pure ASGI (no per-request task or body buffering: it sits in front of every request, SSE streams too)."""

    def __init__(self, app: Any, options: HttpOptions, max_body: int) -> None:
        self.app = app
        self.max_body = max_body
        self.hosts = set(allowed_hosts(options))
        self.any_port = {host[:-2] for host in self.hosts if host.endswith(":*")}
        self.origins = set(allowed_origins(options))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1")
        if host not in self.hosts and host.rpartition(":")[0] not in self.any_port:
            await refuse(send, 421, f"Host {host or '(none)'} is not one this server answers to (see --allow-host)")
            return
        origin = headers.get(b"origin")
        if origin is not None and origin.decode("latin-1") not in self.origins and not self._same_port(origin):
            await refuse(send, 403, f"Origin {origin.decode('latin-1')} is not allowed (see --allow-origin)")
            return
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await refuse(send, 413, f"the body is {int(length)} bytes; this server takes at most {self.max_body}")
            return
        await self.app(scope, self._capped(receive), send)

    def _same_port(self, origin: bytes) -> bool:
        """With `--port 0` the allow-list says `host:*`; an Origin on a loopback name matches it."""
        value = origin.decode("latin-1")
        return value.startswith("http://") and value[7:].rpartition(":")[0] in self.any_port

    def _capped(self, receive: Any) -> Any:
        """A body without a length (chunked) is counted as it arrives and refused once it passes the cap."""
        seen = 0

        async def counting() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise Problem(413, f"the body passed {self.max_body} bytes, the most this server takes")
            return message

        return counting


async def refuse(send: Any, status: int, detail: str) -> None:
    body = json.dumps(problem_body(status, detail)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", PROBLEM_TYPE.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
