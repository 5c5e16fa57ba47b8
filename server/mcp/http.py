"""The Streamable HTTP face: which Hosts and Origins may call, who the caller is, and the request-size cap.

The SDK turns its DNS-rebinding protection on by itself only for loopback binds; parac always passes its allow-lists
explicitly, so binding elsewhere never silently drops the checks. A foreign Host gets 421, a foreign Origin 403, a
missing or unknown token 401, and a body over the cap 413, before anything reaches the MCP layer.

Around the SDK's app, outermost first: `parac.server.auth.Authenticate` (the same middleware as `parac serve`:
parac's tokens, and JWTs from an OAuth issuer when `mcp.oauth` is set, whose RFC 9728 metadata is public),
`Resumption` (a `Last-Event-ID` its session's events no longer hold gets a specific 400), `Batches` (JSON-RPC
batches on 2025-03-26 sessions) and `SessionOwners` (the caller as the SDK's `scope["user"]`, so a session serves
only the caller that opened it); innermost the SDK's endpoint, with `events.Sessions` as its session manager.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parac.server.auth.roles import Caller, TokenAuthority

if TYPE_CHECKING:
    from .oauth import OAuth

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
DEFAULT_MAX_BODY = 4 * 1024 * 1024
METADATA_PATH = "/.well-known/oauth-protected-resource"  # RFC 9728 §3.1; the resource's path follows it
RETRY_MS = 1000
"""The `retry` of every SSE stream's priming event: how long a client waits before it comes back for a stream the
server let go (`ToolContext.release_connection`, SEP-1699) or lost. Short: a released call goes on working, and
its client should see its progress soon."""


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


def _metadata_url(resource: str) -> str:
    scheme, _, rest = resource.partition("://")
    authority, slash, path = rest.partition("/")
    return f"{scheme}://{authority}{METADATA_PATH}{slash + path if path else ''}"


def resource_url(options: HttpOptions) -> str:
    """The URL this server is known by when `mcp.oauth.resource` says nothing: the bound address."""
    return f"http://{_bracketed(options.host)}:{options.port}{options.path}"


def build_http_app(
    server: Any, tokens: TokenAuthority, options: HttpOptions, oauth: OAuth | None = None, home: Path | None = None
) -> tuple[Any, Any]:
    """The ASGI application: the SDK's Streamable HTTP endpoint (as `server.streamable_http_app` builds it, with
    `Sessions` for its session manager) with explicit allow-lists, an event store, the RFC 9728 metadata when OAuth is
    on, behind `Authenticate` (denials audited in `home`, the served workspace); and the Starlette app inside it,
    whose lifespan (the session manager) an application that mounts this one must run (`parac serve`)."""
    from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.applications import Starlette
    from starlette.routing import Route

    from parac.server.auth.gate import Gate
    from parac.server.auth.middleware import Authenticate

    from .batches import Batches
    from .events import MemoryEventStore, Resumption, Sessions

    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=allowed_hosts(options),
        allowed_origins=allowed_origins(options),
    )
    events = MemoryEventStore()
    max_body = options.max_body_bytes or DEFAULT_MAX_BODY
    sessions = Sessions(
        server, events, security_settings=security, max_request_body_size=max_body, retry_interval=RETRY_MS
    )
    routes = [Route(options.path, endpoint=StreamableHTTPASGIApp(sessions))]
    app = Starlette(routes=routes + (_metadata_routes(oauth, options.path) if oauth else []),
                    lifespan=lambda _: sessions.run())
    served = Resumption(Batches(SessionOwners(app), options.path, max_body), events, options.path)
    gate = Gate(tokens, frozenset(security.allowed_hosts), frozenset(security.allowed_origins), max_body=max_body,
                home=home)
    if oauth is not None:
        gate.jwt = oauth.verifier
        gate.public_paths = (METADATA_PATH, METADATA_PATH + options.path)
        gate.challenge = f'resource_metadata="{_metadata_url(oauth.resource)}"'
    return Authenticate(served, gate), app


def _metadata_routes(oauth: OAuth, path: str) -> list[Any]:
    """The RFC 9728 document at the well-known path, with and without the endpoint's path (clients try both)."""
    from mcp.server.auth.routes import create_protected_resource_routes
    from starlette.routing import Route

    suffixed = create_protected_resource_routes(
        resource_url=oauth.resource, authorization_servers=[oauth.issuer]
    )
    bare = [Route(METADATA_PATH, endpoint=r.endpoint, methods=["GET", "OPTIONS"]) for r in suffixed]
    return suffixed + bare if path != "/" else suffixed


class SessionOwners:
    """Name each request's caller to the SDK (`scope["user"]`, as its own bearer authentication would), whose
    session manager then serves a session only to the caller that opened it and answers anyone else 404, as for
    an unknown session. Without it a session id is all it takes to act in another caller's session: to answer the
    server's requests to its owner (a tool's question for the owner's model or person), read its stream, end it.
    (Its past events are the session's own too: `events.Sessions` gives each session its part of the event store,
    so no `Last-Event-ID` replays another session's.) The unauthenticated loopback caller is one caller, as
    before."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        caller = scope.get("state", {}).get("caller") if scope["type"] == "http" else None
        if caller is not None:
            scope["user"] = _user(caller)
        await self.app(scope, receive, send)


@functools.lru_cache(maxsize=1024)
def _user(caller: Caller) -> Any:
    """The SDK's principal for `caller`: what the session manager compares (kind, name, role and tenant)."""
    from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
    from mcp.server.auth.provider import AccessToken

    principal = f"{caller.kind}:{caller.name or ''}|{caller.role}|{caller.tenant or ''}"
    return AuthenticatedUser(AccessToken(token="", client_id=principal, scopes=[]))
