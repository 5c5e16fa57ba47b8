"""What the authentication middleware costs a request: a bare Starlette JSON endpoint, called as ASGI in process
(no socket, so the middleware, not the network, is measured), against the same endpoint behind `Authenticate` as the
local caller (no credential configured), with a `parac token` bearer token, with an HS256 JWT and with an
HMAC-signed request.

Target: the local caller <= 1.15x the bare endpoint's p50 (the serve target of issue 20, <= 1.3x for a whole REST
route, leaves the middleware that share). Its floor is printed beside it: the same endpoint behind a pass-through
ASGI layer (what being a middleware at all costs). The credentials are printed beside their floors, measured in the
same run: the token store's lookup of the same token alone (`TokenStore.identify`: a stat of its file and a SHA-256),
`jwt.decode` of the same token alone, and one HMAC-SHA256 plus the SHA-256 of the body alone; what the middleware
adds over bare Starlette plus the floor is the figure to judge. Every signed request is signed afresh (before the
clock starts), since a signature is accepted once. Samples are taken in turns
(one request of each kind, again and again); prints the load average and every miss.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import jwt
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from harness import load_average
from parac.core.specs import ServeSettings
from parac.core.tokens import TokenStore
from parac.server.auth.gate import Gate
from parac.server.auth.jwts import JwtVerifier
from parac.server.auth.limits import RateLimiter
from parac.server.auth.middleware import Authenticate
from parac.server.auth.roles import Caller, TokenAuthority
from parac.server.auth.signatures import HmacKeyRef, HmacVerifier, sign

ROUNDS, PER_ROUND = 8, 400
HOST = "127.0.0.1:8765"
SECRET = "s" * 48
BODY = b'{"task": "say hello"}'


async def endpoint(request: Any) -> JSONResponse:
    return JSONResponse({"name": "coder", "chain": ["coder", "base"], "model": "echo"})


def scope(headers: dict[str, str], method: str = "GET", path: str = "/agents/coder") -> dict[str, Any]:
    encoded = [(k.lower().encode(), v.encode()) for k, v in {"host": HOST, **headers}.items()]
    return {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
            "headers": encoded, "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8765), "scheme": "http",
            "http_version": "1.1", "root_path": ""}


async def call(app: Any, request_scope: dict[str, Any], body: bytes = b"") -> int:
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(dict(request_scope, headers=list(request_scope["headers"])), receive, send)
    return status


def gate(tokens: TokenAuthority, **parts: Any) -> Gate:
    hosts = frozenset({HOST})
    return Gate(tokens, hosts, frozenset({f"http://{HOST}"}), limiter=RateLimiter(1e9, 10**9), **parts)


async def main() -> None:
    bare = Starlette(routes=[Route("/agents/coder", endpoint, methods=["GET", "POST"])])
    with tempfile.TemporaryDirectory() as tmp:
        store = TokenStore(Path(tmp))
        _, bearer = store.create("ci", "operator")
        tokens = TokenAuthority()
        tokens.add_source(lambda t: Caller("operator", "ci") if store.identify(t) else None, configured=True)
        (Path(tmp) / "jwt.key").write_text(SECRET)
        settings = ServeSettings.model_validate({"jwt": {"issuer": "https://idp", "audience": "parac",
                                                         "key_file": "jwt.key"}})
        verifier = JwtVerifier(settings.jwt, "parac", Path(tmp), "serve.jwt")  # type: ignore[arg-type]
        token = jwt.encode({"iss": "https://idp", "aud": "parac", "sub": "alice", "exp": int(time.time()) + 3600},
                           SECRET, algorithm="HS256")
        signer = HmacVerifier({"ci": HmacKeyRef("ci", SECRET.encode(), "operator")})
        async def passthrough(request_scope: dict[str, Any], receive: Any, send: Any) -> None:
            await bare(request_scope, receive, send)

        cases: dict[str, Any] = {
            "bare Starlette": lambda: call(bare, scope({})),
            "pass-through layer": lambda: call(passthrough, scope({})),
            "local caller": lambda: call(Authenticate(bare, gate(TokenAuthority())), scope({})),
            "parac token": lambda: call(local_token, scope({"authorization": f"Bearer {bearer}"})),
            "JWT HS256": lambda: call(with_jwt, scope({"authorization": f"Bearer {token}"})),
            "HMAC signed": lambda: call(with_hmac, next(signed), BODY),
        }
        stamps = iter(range(10**9))
        signed = (scope(sign("ci", SECRET, "POST", "/agents/coder", BODY, time.time() - 200 + next(stamps) * 1e-4),
                        method="POST") for _ in iter(int, 1))
        local_token = Authenticate(bare, gate(tokens))
        with_jwt = Authenticate(bare, gate(TokenAuthority(), jwt=verifier))
        with_hmac = Authenticate(bare, gate(TokenAuthority(), hmac=signer))
        floors = {
            "token store alone": lambda: store.identify(bearer),
            "jwt.decode alone": lambda: jwt.decode(token, SECRET, algorithms=["HS256"], audience="parac",
                                                   issuer="https://idp"),
            "HMAC + body SHA-256 alone": lambda: hmac.new(SECRET.encode(), hashlib.sha256(BODY).hexdigest().encode(),
                                                          hashlib.sha256).hexdigest(),
        }
        samples: dict[str, list[float]] = {name: [] for name in [*cases, *floors]}
        for name, run in cases.items():
            assert await run() in (200,), name
        order = list(cases.items())
        for _ in range(ROUNDS):
            for turn in range(PER_ROUND):  # each case goes first in turn: the first of a round pays for the switch
                for name, run in order[turn % len(order):] + order[:turn % len(order)]:
                    start = time.perf_counter()
                    await run()
                    samples[name].append(time.perf_counter() - start)
                for name, floor in floors.items():
                    start = time.perf_counter()
                    floor()
                    samples[name].append(time.perf_counter() - start)
    p50 = {name: statistics.median(values) for name, values in samples.items()}
    base = p50["bare Starlette"]
    print(f"\nHTTP authentication, per request in process ({load_average()})")
    ratio = p50["local caller"] / base
    verdict = "ok" if ratio <= 1.15 else "OVER TARGET"
    print(f"  {'local caller':<14} {p50['local caller'] * 1e6:7.1f} us   bare Starlette {base * 1e6:7.1f} us   "
          f"ratio {ratio:5.2f} (target <= 1.15) {verdict}; floor (a pass-through layer) "
          f"{p50['pass-through layer'] / base:5.2f}")
    for name, floor in (("parac token", "token store alone"), ("JWT HS256", "jwt.decode alone"),
                        ("HMAC signed", "HMAC + body SHA-256 alone")):
        added = p50[name] - base
        print(f"  {name:<14} {p50[name] * 1e6:7.1f} us   adds {added * 1e6:6.1f} us over bare; its floor "
              f"({floor}) {p50[floor] * 1e6:6.1f} us")


if __name__ == "__main__":
    asyncio.run(main())
