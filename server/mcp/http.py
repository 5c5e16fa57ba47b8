"""The Streamable HTTP face: which Hosts and Origins may call, bearer tokens, and the request-size cap.

The SDK turns its DNS-rebinding protection on by itself only for loopback binds; parac always passes its allow-lists
explicitly, so binding elsewhere never silently drops the checks. A foreign Host gets 421, a foreign Origin 403, a
missing or unknown token 401, and a body over the cap 413, before anything reaches the MCP layer.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .roles import TokenAuthority

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
DEFAULT_MAX_BODY = 4 * 1024 * 1024


@dataclass(frozen=True)
class HttpOptions:
    host: str = "127.0.0.1"
    port: int = 8765
    path: str = "/mcp"
    allowed_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    max_body_bytes: int | None = None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(options: HttpOptions) -> list[str]:
    """Host header values accepted: the bound address (and its loopback aliases) on the bound port, plus extras."""
    port = "*" if options.port == 0 else str(options.port)
    names = list(LOOPBACK_NAMES) if is_loopback(options.host) else [_bracketed(options.host)]
    return [f"{name}:{port}" for name in names] + list(options.allowed_hosts)


def allowed_origins(options: HttpOptions) -> list[str]:
    """Origins accepted (requests without an Origin, i.e. not from a browser, are accepted by the SDK anyway)."""
    return [f"http://{host}" for host in allowed_hosts(HttpOptions(options.host, options.port))] + list(
        options.allowed_origins
    )


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class BearerAuth:
    """ASGI middleware: requires `Authorization: Bearer <token>` when tokens are configured; records the caller.

    The role and the token's name land in the ASGI scope (`parac.role`, `parac.token_name`), where the MCP handlers
    read them through the SDK's request.
    """

    def __init__(self, app: Any, tokens: TokenAuthority) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.tokens.required:
            scope["parac.role"] = self.tokens.local_role
            await self.app(scope, receive, send)
            return
        presented = _bearer(scope["headers"])
        caller = self.tokens.identify(presented) if presented else None
        if caller is None:
            await _unauthorized(send)
            return
        scope["parac.role"] = caller.role
        scope["parac.token_name"] = caller.name
        await self.app(scope, receive, send)


def _bearer(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


async def _unauthorized(send: Any) -> None:
    body = json.dumps(
        {"error": "unauthorized", "message": "this parac MCP endpoint needs 'Authorization: Bearer <token>'"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b'Bearer realm="parac"'),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def build_http_app(server: Any, tokens: TokenAuthority, options: HttpOptions) -> Any:
    """The ASGI application: the SDK's Streamable HTTP app with explicit allow-lists, behind `BearerAuth`."""
    from mcp.server.transport_security import TransportSecuritySettings

    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=allowed_hosts(options),
        allowed_origins=allowed_origins(options),
    )
    app = server.streamable_http_app(
        streamable_http_path=options.path,
        transport_security=security,
        max_request_body_size=options.max_body_bytes or DEFAULT_MAX_BODY,
        host=options.host,
    )
    return BearerAuth(app, tokens)
