"""`Client` and `AsyncClient`: httpx underneath, the routes of `routes.Routes` on top.

Authentication is a bearer token (`parac token create`, a JWT) or an HMAC key (`hmac=(key_id, secret)`); a server
on loopback with no credential configured needs neither. Every failed answer raises `ApiError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import httpx

from .auth import HmacAuth
from .errors import problem_of
from .events import AsyncEventStream, EventStream
from .routes import Page, Request, Routes

API = "/api/v1"
DEFAULT_TIMEOUT = 60.0
STREAM_READ_TIMEOUT = 60.0
"""A stream is quiet between events; the server sends a comment every 15 s, so a longer silence is a dead link."""


def _settings(base_url: str, token: str | None, hmac: tuple[str, str | bytes] | None, timeout: float,
              headers: Mapping[str, str] | None) -> dict[str, Any]:
    """The httpx client's settings, the same for the sync and the async client."""
    if token is not None and hmac is not None:
        raise ValueError("give token or hmac, not both")
    sent = {"Accept": "application/json", **(headers or {})}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    return {"base_url": base_url.rstrip("/") + API, "headers": sent, "timeout": timeout,
            "auth": HmacAuth(*hmac) if hmac is not None else None}


def _arguments(request: Request[Any], *, streamed: bool = False, after: str | None = None) -> dict[str, Any]:
    """httpx's arguments for one request (`after`: the event a resumed stream goes on from)."""
    headers = dict(request.headers)
    if streamed:
        headers["Accept"] = "text/event-stream"
    if after is not None:
        headers["Last-Event-ID"] = after
    arguments: dict[str, Any] = {"params": {k: v for k, v in request.params.items() if v is not None},
                                 "headers": headers}
    if request.body is not None:
        arguments["json"] = request.body
    if streamed:
        arguments["timeout"] = httpx.Timeout(DEFAULT_TIMEOUT, read=STREAM_READ_TIMEOUT)
    return arguments


def _answer(response: httpx.Response, request: Request[Any]) -> Any:
    if response.is_error:
        raise problem_of(response)
    return response.text if request.text else response.json()


def _next(page: Page[Any], answer: Any) -> Page[Any] | None:
    """The request for the page after `answer`, or None after the last."""
    cursor = answer.get("next_cursor")
    if not cursor:
        return None
    return Page(page.method, page.path, {**page.params, "cursor": cursor}, items=page.items)


class Client(Routes):
    """parac's HTTP API, synchronously. Use it in a `with` block (or `close()` it) to release its connections.

    `base_url` is the server's (`http://127.0.0.1:8765`, as `parac serve` prints it)."""

    def __init__(self, base_url: str, *, token: str | None = None, hmac: tuple[str, str | bytes] | None = None,
                 timeout: float = DEFAULT_TIMEOUT, headers: Mapping[str, str] | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.http = httpx.Client(**_settings(base_url, token, hmac, timeout, headers), transport=transport)

    def _send(self, request: Request[Any]) -> Any:
        return _answer(self.http.request(request.method, request.path, **_arguments(request)), request)

    def _stream(self, request: Request[Any]) -> EventStream:
        return EventStream(lambda after: self.http.stream(request.method, request.path,
                                                          **_arguments(request, streamed=True, after=after)),
                           last_event_id=request.headers.get("Last-Event-ID"), resumable=request.resumable)

    def _pages(self, page: Page[Any]) -> Iterator[Any]:
        current: Page[Any] | None = page
        while current is not None:
            answer = self._send(current)
            yield from answer[page.items]
            current = _next(current, answer)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(Routes):
    """parac's HTTP API for asyncio (and trio): the same routes as `Client`, awaited; streams and listings are
    async iterators. Use it in an `async with` block (or `await aclose()`)."""

    def __init__(self, base_url: str, *, token: str | None = None, hmac: tuple[str, str | bytes] | None = None,
                 timeout: float = DEFAULT_TIMEOUT, headers: Mapping[str, str] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.http = httpx.AsyncClient(**_settings(base_url, token, hmac, timeout, headers), transport=transport)

    async def _send(self, request: Request[Any]) -> Any:
        return _answer(await self.http.request(request.method, request.path, **_arguments(request)), request)

    def _stream(self, request: Request[Any]) -> AsyncEventStream:
        return AsyncEventStream(lambda after: self.http.stream(request.method, request.path,
                                                               **_arguments(request, streamed=True, after=after)),
                                last_event_id=request.headers.get("Last-Event-ID"), resumable=request.resumable)

    async def _pages(self, page: Page[Any]) -> AsyncIterator[Any]:
        current: Page[Any] | None = page
        while current is not None:
            answer = await self._send(current)
            for item in answer[page.items]:
                yield item
            current = _next(current, answer)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
