"""HMAC request signing as an httpx `Auth`: each request signed with the server's own `sign()`
(`parac.server.auth.signatures`), over its method, path and query, a fresh timestamp and its body's SHA-256."""

from __future__ import annotations

from collections.abc import Generator

import httpx


class HmacAuth(httpx.Auth):
    """Signs every request with the key `key_id` (configured on the server under `serve.hmac_keys`). A signature
    is accepted once, so each request (a retry too) is signed anew."""

    requires_request_body = True

    def __init__(self, key_id: str, secret: str | bytes) -> None:
        self.key_id = key_id
        self._secret = secret

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        from parac.server.auth.signatures import sign

        target = request.url.raw_path.decode("ascii")
        request.headers.update(sign(self.key_id, self._secret, request.method, target, request.content))
        yield request

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return f"HmacAuth(key_id={self.key_id!r})"
