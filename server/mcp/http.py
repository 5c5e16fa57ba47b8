"""The Streamable HTTP face: which Hosts and Origins may call, bearer tokens, and the request-size cap.

The SDK turns its DNS-rebinding protection on by itself only for loopback binds; parac always passes its allow-lists
explicitly, so binding elsewhere never silently drops the checks. A foreign Host gets 421, a foreign Origin 403, a
missing or unknown token 401, and a body over the cap 413, before anything reaches the MCP layer.

Around the SDK's app, outermost first: `BearerAuth` (parac's tokens, and JWTs from an OAuth issuer when
`settings.mcp.oauth` is set, whose RFC 9728 metadata it serves to anyone), `Resumption` (a `Last-Event-ID` the event
store no longer holds gets a specific 400) and `Batches` (JSON-RPC batches on 2025-03-26 sessions).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .asgi import json_response
from .roles import TokenAuthority

if TYPE_CHECKING:
    from .oauth import JwtVerifier

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
DEFAULT_MAX_BODY = 4 * 1024 * 1024
METADATA_PATH = "/.well-known/oauth-protected-resource"  # RFC 9728 §3.1; the resource's path follows it


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
    """ASGI middleware: requires `Authorization: Bearer <token>` when tokens or OAuth are set up; records the caller.

    The role and who the token names land in the ASGI scope (`parac.role`, `parac.actor`), where the MCP handlers
    read them through the SDK's request. With OAuth on, the protected-resource metadata is public (clients read it to
    learn how to authenticate) and every 401 points to it.
    """

    def __init__(self, app: Any, tokens: TokenAuthority, oauth: JwtVerifier | None = None, path: str = "/mcp") -> None:
        self.app = app
        self.tokens = tokens
        self.oauth = oauth
        self.public_paths = (METADATA_PATH, METADATA_PATH + path) if oauth else ()
        self.metadata_url = _metadata_url(oauth.resource) if oauth else None

    @property
    def required(self) -> bool:
        return self.tokens.required or self.oauth is not None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in self.public_paths:
            await self.app(scope, receive, send)
            return
        if not self.required:
            scope["parac.role"] = self.tokens.local_role
            await self.app(scope, receive, send)
            return
        presented = _bearer(scope["headers"])
        if presented is None:
            await self._unauthorized(send, None)
            return
        caller = self.tokens.identify(presented)
        if caller is None and self.oauth is not None and presented.count(".") == 2:
            from .oauth import InvalidToken

            try:
                caller = await self.oauth.identify(presented)
            except InvalidToken as refusal:
                await self._unauthorized(send, str(refusal))
                return
        if caller is None:
            await self._unauthorized(send, "unknown token")
            return
        scope["parac.role"] = caller.role
        scope["parac.actor"] = caller.actor
        await self.app(scope, receive, send)

    async def _unauthorized(self, send: Any, reason: str | None) -> None:
        """401 naming what failed (RFC 6750: `invalid_token` when one was presented) and where the metadata is."""
        challenge = 'Bearer realm="parac"'
        if reason is not None:
            challenge += f', error="invalid_token", error_description="{reason.replace(chr(34), chr(39))}"'
        if self.metadata_url is not None:
            challenge += f', resource_metadata="{self.metadata_url}"'
        message = reason or "this parac MCP endpoint needs 'Authorization: Bearer <token>'"
        payload = {"error": "invalid_token" if reason else "unauthorized", "message": message}
        await json_response(send, 401, payload, [(b"www-authenticate", challenge.encode())])


def _bearer(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


def _metadata_url(resource: str) -> str:
    scheme, _, rest = resource.partition("://")
    authority, slash, path = rest.partition("/")
    return f"{scheme}://{authority}{METADATA_PATH}{slash + path if path else ''}"


def resource_url(options: HttpOptions) -> str:
    """The URL this server is known by when `settings.mcp.oauth.resource` says nothing: the bound address."""
    return f"http://{_bracketed(options.host)}:{options.port}{options.path}"


def build_http_app(
    server: Any, tokens: TokenAuthority, options: HttpOptions, oauth: JwtVerifier | None = None
) -> Any:
    """The ASGI application: the SDK's Streamable HTTP app with explicit allow-lists, an event store, the RFC 9728
    metadata when OAuth is on, behind `BearerAuth`."""
    from mcp.server.transport_security import TransportSecuritySettings

    from .batches import Batches
    from .events import MemoryEventStore, Resumption

    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=allowed_hosts(options),
        allowed_origins=allowed_origins(options),
    )
    events = MemoryEventStore()
    max_body = options.max_body_bytes or DEFAULT_MAX_BODY
    app = server.streamable_http_app(
        streamable_http_path=options.path,
        transport_security=security,
        max_request_body_size=max_body,
        host=options.host,
        event_store=events,
        custom_starlette_routes=_metadata_routes(oauth, options.path) if oauth else None,
    )
    served = Resumption(Batches(app, options.path, max_body), events, options.path)
    return BearerAuth(served, tokens, oauth, options.path)


def _metadata_routes(oauth: JwtVerifier, path: str) -> list[Any]:
    """The RFC 9728 document at the well-known path, with and without the endpoint's path (clients try both)."""
    from mcp.server.auth.routes import create_protected_resource_routes
    from starlette.routing import Route

    suffixed = create_protected_resource_routes(
        resource_url=oauth.resource, authorization_servers=[oauth.settings.issuer]
    )
    bare = [Route(METADATA_PATH, endpoint=r.endpoint, methods=["GET", "OPTIONS"]) for r in suffixed]
    return suffixed + bare if path != "/" else suffixed
