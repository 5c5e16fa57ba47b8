"""`Authenticate`: the ASGI middleware in front of `parac serve` and of the MCP HTTP face, the one place a request
is let in or refused.

In order: the Host must be one the server answers to (else 421: DNS rebinding), a browser's Origin must be allowed
(else 403), a CORS preflight from an origin of the CORS allow-list is answered here, a body must fit the cap (413,
also for bodies without a length, counted as they arrive) and arrive whole within `Gate.body_timeout_s` (408: a
stalled upload must not hold a connection and a worker for ever), the request must carry a credential once any is
configured (a bearer token of `parac token`, a JWT, an HMAC signature; else 401 with `WWW-Authenticate`), a tenant
must claim that credential when a tenants file is in use (403), and the credential must be within its rate limit
(429 with `Retry-After`). Refusals of requests without a caller count against the client address's own bucket, so
guessing credentials is slowed too, and a flood of refused requests cannot flood the audit trail.

The caller lands at `scope["state"]["caller"]` (Starlette's `request.state.caller`): routes and MCP handlers read
it; a request that already has one (an outer `Authenticate`, as when `parac serve` mounts the MCP app) passes
through untouched. Every refusal is an RFC 9457 `application/problem+json` body with a specific `detail` that never
holds a secret, and is written to the audit trail (`http.denied`) of the caller's tenant's workspace, else the home
workspace, before it is answered; of a run of 429s for one bucket only the first is recorded, so a flood cannot
flood the trail.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from http import HTTPStatus
from typing import Any

import anyio
import anyio.to_thread

from parac.core.errors import ParacBaseError

from .gate import Gate
from .limits import retry_after
from .roles import Caller
from .signatures import KEY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureRefused

log = logging.getLogger("parac.auth")

PROBLEM_TYPE = "application/problem+json"
CORS_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
CORS_HEADERS = ("authorization, content-type, last-event-id, mcp-session-id, mcp-protocol-version, "
                "x-parac-key, x-parac-timestamp, x-parac-signature")
CORS_MAX_AGE = "600"


class Refused(ParacBaseError):
    """A request the middleware answers itself; the detail is written for the client (it never holds a secret)."""

    public = True

    def __init__(self, status: int, detail: str, *, caller: Caller | None = None, error: str | None = None,
                 headers: list[tuple[bytes, bytes]] | None = None, audit: bool = True) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.caller = caller
        self.error = error  # RFC 6750's code on a 401 (`invalid_token` when a credential was presented)
        self.headers = headers or []
        self.audit = audit


def problem(status: int, detail: str, **extra: Any) -> dict[str, Any]:
    """An RFC 9457 problem document (`about:blank`: the status says what kind of problem it is)."""
    return {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail, **extra}


class Authenticate:
    """Pure ASGI (no task per request, no buffering but of a signed request's body), so SSE streams pass as they are."""

    def __init__(self, app: Any, gate: Gate) -> None:
        """`gate` is read as it is now: whether credentials are required is settled when the server starts."""
        self.app = app
        self.gate = gate
        self._local = Caller(gate.tokens.local_role, kind="local")
        self._required = gate.required

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket" and self._required:  # no face speaks WebSocket: none gets in unchecked
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        if state.get("caller") is not None:
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = dict(scope["headers"])  # ASGI servers give the names in lower case
        origin = _text(headers, b"origin")
        cors = origin if origin is not None and origin in self.gate.cors_origins else None
        try:
            self._check_place(headers, origin)
            if scope["method"] == "OPTIONS" and origin is not None and b"access-control-request-method" in headers:
                await self._preflight(send, origin)
                return
            caller, body = None, None
            if not self._required:
                caller = self._local
            elif not self.gate.is_public(scope["path"]) and (
                    not self.gate.is_optional(scope["path"]) or _presents_credential(headers)):
                caller, body, claims = await self._authenticate(scope, headers, receive)
                caller = self._tenant(caller, claims)
                self._limit(caller)
        except Refused as refusal:
            await self._deny(scope, send, refusal, cors)
            return
        if caller is not None:
            state["caller"] = caller
        if body is None and cors is None and _bodiless(headers):
            await self.app(scope, receive, send)  # nothing to count, time or add
            return
        deadline = anyio.current_time() + self.gate.body_timeout_s
        exchange = _Exchange(receive, send, self.gate.max_body, body, cors, deadline,
                             lambda status, detail: self._body_refused(scope, caller, status, detail))
        await self.app(scope, exchange.receive, exchange.send)

    # -- the checks ------------------------------------------------------------------------------------------------

    def _check_place(self, headers: dict[bytes, bytes], origin: str | None) -> None:
        host = headers.get(b"host", b"").decode("latin-1")
        if not self.gate.host_allowed(host):
            raise Refused(421, f"Host {host or '(none)'} is not one this server answers to (see --allow-host)")
        if origin is not None and not self.gate.origin_allowed(origin):
            raise Refused(403, f"Origin {origin} is not allowed (see --allow-origin, --cors-origin)")
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.gate.max_body:
            raise Refused(413, f"the body is {int(length)} bytes; this server takes at most {self.gate.max_body}")

    async def _preflight(self, send: Any, origin: str) -> None:
        if origin not in self.gate.cors_origins:
            raise Refused(403, f"Origin {origin} may not make cross-origin requests (see --cors-origin)")
        await send({"type": "http.response.start", "status": 204, "headers": [
            *_cors_headers(origin),
            (b"access-control-allow-methods", CORS_METHODS.encode()),
            (b"access-control-allow-headers", CORS_HEADERS.encode()),
            (b"access-control-max-age", CORS_MAX_AGE.encode()),
        ]})
        await send({"type": "http.response.body", "body": b""})

    async def _authenticate(
        self, scope: dict[str, Any], headers: dict[bytes, bytes], receive: Any
    ) -> tuple[Caller, bytes | None, dict[str, Any] | None]:
        """The caller, the body when it was read to check a signature, and a JWT's claims (tenants may map them)."""
        gate = self.gate
        signature = _text(headers, SIGNATURE_HEADER)
        if signature is not None and gate.hmac is not None:
            body = await _read_body(receive, gate.max_body, anyio.current_time() + gate.body_timeout_s)
            target = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
            if scope.get("query_string"):
                target += "?" + scope["query_string"].decode("latin-1")
            try:
                key_id, stamp = _text(headers, KEY_HEADER) or "", _text(headers, TIMESTAMP_HEADER) or ""
                key = gate.hmac.verify(key_id, stamp, signature, scope["method"], target, body)
            except SignatureRefused as refusal:
                raise Refused(401, f"signed request refused: {refusal}", error="invalid_token") from None
            return Caller(key.role, key.key_id, kind="hmac"), body, None  # type: ignore[arg-type]
        scheme, _, presented = (_text(headers, b"authorization") or "").partition(" ")
        presented = presented.strip()
        cookie = self._session(scope, headers) if not scheme else None
        if cookie:
            scheme, presented = "bearer", cookie
        if not scheme:
            raise Refused(401, "this server needs a credential: 'Authorization: Bearer <token>' or a signed request "
                          "(X-Parac-Key, X-Parac-Timestamp, X-Parac-Signature)")
        if scheme.lower() != "bearer" or not presented:
            raise Refused(401, "the Authorization header must be 'Bearer <token>'", error="invalid_request")
        caller = gate.tokens.identify(presented)
        if caller is not None:
            return caller, None, None
        if gate.jwt is not None and presented.count(".") == 2:
            from .jwts import InvalidToken

            try:
                claims = await gate.jwt.claims(presented)
            except InvalidToken as refusal:
                raise Refused(401, str(refusal), error="invalid_token") from None
            return gate.jwt.caller(claims), None, claims
        raise Refused(401, "unknown token", error="invalid_token")

    def _session(self, scope: dict[str, Any], headers: dict[bytes, bytes]) -> str | None:
        """The token a session cookie holds, on the paths that take one."""
        session = self.gate.session
        if session is None or not session.applies(scope["path"]):
            return None
        from http.cookies import SimpleCookie

        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(_text(headers, b"cookie") or "")
        except Exception:  # a malformed Cookie header is no credential
            return None
        morsel = jar.get(session.name)
        return morsel.value if morsel is not None and morsel.value else None

    def _tenant(self, caller: Caller, claims: dict[str, Any] | None) -> Caller:
        tenants = self.gate.tenants
        if tenants is None:
            return caller
        tenant = tenants.tenant_of(caller, claims)
        if tenant is None:
            raise Refused(403, "this credential belongs to no tenant of this server", caller=caller)
        return replace(caller, tenant=tenant)

    def _limit(self, caller: Caller) -> None:
        wait, first = self.gate.limiter.take(("credential", caller.kind, caller.name))
        if wait:
            raise Refused(429, f"too many requests for this credential; retry in {retry_after(wait)} s",
                          caller=caller, headers=[(b"retry-after", retry_after(wait).encode())], audit=first)

    # -- refusing --------------------------------------------------------------------------------------------------

    async def _deny(self, scope: dict[str, Any], send: Any, refusal: Refused, cors: str | None) -> None:
        client = (scope.get("client") or ("?", 0))[0]
        if refusal.caller is None and refusal.status != 429:  # guessing, or a flood of refusals: per client address
            wait, first = self.gate.limiter.take(("client", client))
            if wait:
                refusal = Refused(429, f"too many refused requests from this address; retry in {retry_after(wait)} s",
                                  headers=[(b"retry-after", retry_after(wait).encode())], audit=first)
        if refusal.audit:
            await self._audit(scope, refusal, client)
        if self._to_login(scope, refusal):
            await self._redirect_to_login(scope, send, refusal)
            return
        extra: dict[str, Any] = {}
        headers = [*refusal.headers, *_cors_headers(cors)]
        if refusal.status == 401:
            extra["error"] = refusal.error or "unauthorized"
            headers.append((b"www-authenticate", self._challenge(refusal).encode()))
        body = json.dumps(problem(refusal.status, refusal.detail, instance=scope["path"], **extra)).encode()
        await send({"type": "http.response.start", "status": refusal.status, "headers": [
            (b"content-type", PROBLEM_TYPE.encode()), (b"content-length", str(len(body)).encode()), *headers,
        ]})
        await send({"type": "http.response.body", "body": body})

    def _to_login(self, scope: dict[str, Any], refusal: Refused) -> bool:
        """A page a browser navigated to (GET on a session path) that wants a credential goes to the login form."""
        session = self.gate.session
        return (session is not None and refusal.status == 401 and scope["method"] == "GET"
                and session.applies(scope["path"]))

    async def _redirect_to_login(self, scope: dict[str, Any], send: Any, refusal: Refused) -> None:
        """303 to the login form, saying why (the refusal's detail: "unknown token", "token expired"), and the
        session cookie cleared, so a rejected token is not presented again."""
        from urllib.parse import urlencode

        session = self.gate.session
        assert session is not None
        asked = {"error": refusal.detail} if refusal.error is not None else {}  # a token was presented and refused
        target = session.login + "?" + urlencode({**asked, "next": scope["path"]})
        await send({"type": "http.response.start", "status": 303, "headers": [
            (b"location", target.encode()), (b"content-length", b"0"), (b"cache-control", b"no-store"),
            (b"set-cookie", f"{session.name}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict".encode()),
        ]})
        await send({"type": "http.response.body", "body": b""})

    def _challenge(self, refusal: Refused) -> str:
        challenge = 'Bearer realm="parac"'
        if refusal.error is not None:
            description = refusal.detail.replace('"', "'")
            challenge += f', error="{refusal.error}", error_description="{description}"'
        if self.gate.challenge:
            challenge += f", {self.gate.challenge}"
        if self.gate.hmac is not None:
            challenge += ', Parac-HMAC realm="parac"'
        return challenge

    async def _body_refused(self, scope: dict[str, Any], caller: Caller | None, status: int, detail: str) -> None:
        """Audit a body refused while the app reads it (413 past the cap, 408 past the deadline) as the refusals
        before it are: the caller named when known, the body never; without a caller, a run of them from one
        address is recorded once, as its refused requests are."""
        client = (scope.get("client") or ("?", 0))[0]
        if caller is None:
            wait, first = self.gate.limiter.take(("client", client))
            if wait and not first:
                return
        await self._audit(scope, Refused(status, detail, caller=caller), client)

    async def _audit(self, scope: dict[str, Any], refusal: Refused, client: str) -> None:
        caller = refusal.caller
        actor = (caller.actor if caller is not None else None) or f"http:{client}"
        data = {"status": refusal.status, "reason": refusal.detail, "client": client}
        subject = f"{scope['method']} {scope['path']}"
        try:
            await anyio.to_thread.run_sync(
                self.gate.record_denial, caller.tenant if caller is not None else None, actor, subject, data
            )
        except Exception as error:  # a trail that cannot be written must not turn a refusal into a crash
            log.error("could not audit a refused request (%s %s): %s", subject, refusal.status, error)


class _Exchange:
    """The request's body and response as the app sees them: a signed request's body replayed, other bodies
    counted against the cap (413 once they pass it) and timed against the deadline (408 once it passes; in both
    cases the app sees a disconnect, and `refused` audits it first), CORS headers on the answer."""

    def __init__(self, receive: Any, send: Any, cap: int, body: bytes | None, cors: str | None,
                 deadline: float, refused: Callable[[int, str], Awaitable[None]]) -> None:
        self._receive = receive
        self._refused_with = refused
        self._send = send
        self._cap = cap
        self._body = body
        self._cors = cors
        self._deadline = deadline
        self._whole = body is not None
        self._seen = 0
        self._started = False
        self._refused = False

    async def receive(self) -> dict[str, Any]:
        if self._body is not None:
            body, self._body = self._body, None
            return {"type": "http.request", "body": body, "more_body": False}
        if self._whole:  # the body is in: what comes now is the disconnect a stream waits for, however late
            return await self._receive()
        with anyio.move_on_after(self._deadline - anyio.current_time()) as waited:
            message = await self._receive()
        if waited.cancelled_caught:
            await self._refuse(408, "the request's body did not arrive in time; send it whole without pausing")
            return {"type": "http.disconnect"}
        if message["type"] == "http.request":
            self._whole = not message.get("more_body", False)
            self._seen += len(message.get("body", b""))
            if self._seen > self._cap:
                await self._refuse(413, f"the body passed {self._cap} bytes, the most this server takes")
                return {"type": "http.disconnect"}
        return message

    async def _refuse(self, status: int, detail: str) -> None:
        """Answer `status` unless the app already answered; the app's own answer, if it tries one, is dropped."""
        await self._refused_with(status, detail)
        if not self._started:
            payload = json.dumps(problem(status, detail)).encode()
            await self._send({"type": "http.response.start", "status": status, "headers": [
                (b"content-type", PROBLEM_TYPE.encode()), (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"), *_cors_headers(self._cors)]})
            await self._send({"type": "http.response.body", "body": payload})
        self._started = self._refused = True

    async def send(self, message: dict[str, Any]) -> None:
        if self._refused:
            return  # the app answering a request whose body was refused: the client has its 413
        if message["type"] == "http.response.start":
            self._started = True
            if self._cors is not None:
                message = {**message, "headers": [*message.get("headers", []), *_cors_headers(self._cors)]}
        await self._send(message)


async def _read_body(receive: Any, cap: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        with anyio.move_on_after(deadline - anyio.current_time()) as waited:
            message = await receive()
        if waited.cancelled_caught:
            raise Refused(408, "the request's body did not arrive in time; send it whole without pausing")
        if message["type"] != "http.request":
            raise Refused(400, "the client went away before its request's body arrived", audit=False)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            raise Refused(413, f"the body passed {cap} bytes, the most this server takes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _bodiless(headers: dict[bytes, bytes]) -> bool:
    """No body follows the headers (no length, or length 0, and not chunked)."""
    return headers.get(b"content-length", b"0") == b"0" and b"transfer-encoding" not in headers


def _presents_credential(headers: dict[bytes, bytes]) -> bool:
    return b"authorization" in headers or SIGNATURE_HEADER in headers


def _text(headers: dict[bytes, bytes], name: bytes) -> str | None:
    """A header's value as text, decoded only when it is asked for."""
    value = headers.get(name)
    return None if value is None else value.decode("latin-1")


def _cors_headers(origin: str | None) -> list[tuple[bytes, bytes]]:
    if origin is None:
        return []
    return [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]
