"""JSON-RPC batches over Streamable HTTP, for the one protocol version that has them.

Revision 2025-03-26 let a POST carry an array of messages; 2025-06-18 removed batching and later versions refuse it.
The SDK's transport takes one message per POST whatever was negotiated, so this middleware serves the old form
itself: on a session whose `initialize` asked for 2025-03-26 (the SDK grants a supported version as asked), it posts
each message of the array to the SDK on its own, concurrently, and answers the responses as one JSON array (202 when
the batch held only notifications and responses). Notifications the server sends while handling a batched request
(progress, logs) are not part of the answer. Any other session, or none, gets 400 naming the rule.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import anyio
from mcp.types import INVALID_REQUEST, PARSE_ERROR

from .asgi import error_body, json_response

BATCH_VERSION = "2025-03-26"
MAX_TRACKED_SESSIONS = 4096
SESSION_HEADER = b"mcp-session-id"
VERSION_HEADER = b"mcp-protocol-version"


class Batches:
    """ASGI middleware in front of the SDK's app; every other request passes through unchanged."""

    def __init__(self, app: Any, path: str, max_body: int) -> None:
        self.app = app
        self.path = path
        self.max_body = max_body
        self._batch_sessions: OrderedDict[str, None] = OrderedDict()  # sessions that negotiated BATCH_VERSION

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] not in ("POST", "DELETE"):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "DELETE":
            self._batch_sessions.pop(_header(scope, SESSION_HEADER) or "", None)
            await self.app(scope, receive, send)
            return
        body, whole = await _read_body(receive, self.max_body)
        if whole and body.lstrip()[:1] == b"[":
            await self._batch(scope, body, receive, send)
            return
        if whole and _asks_for_batches(body):
            send = self._noting_session(send)
        await self.app(scope, _replaying(body, whole, receive), send)

    def _noting_session(self, send: Any) -> Any:
        async def noting(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                session = dict(message.get("headers", [])).get(SESSION_HEADER)
                if session:
                    self._batch_sessions[session.decode("latin-1")] = None
                    while len(self._batch_sessions) > MAX_TRACKED_SESSIONS:
                        self._batch_sessions.popitem(last=False)
            await send(message)

        return noting

    async def _batch(self, scope: dict[str, Any], body: bytes, receive: Any, send: Any) -> None:
        session = _header(scope, SESSION_HEADER)
        version = _header(scope, VERSION_HEADER)
        if session is None or session not in self._batch_sessions or version not in (None, BATCH_VERSION):
            negotiated = f"protocol version {version}" if version else "a session that did not negotiate it"
            if session is None:
                negotiated = "a request without a session (initialize cannot be batched)"
            message = f"JSON-RPC batches are refused on {negotiated}: only {BATCH_VERSION} allows them"
            await json_response(send, 400, error_body(INVALID_REQUEST, message + "; send one message per request"))
            return
        try:
            messages = json.loads(body)
        except ValueError as error:
            await json_response(send, 400, error_body(PARSE_ERROR, f"Parse error: {error}"))
            return
        if not messages:
            await json_response(send, 400, error_body(INVALID_REQUEST, "an empty JSON-RPC batch"))
            return
        answers: list[list[Any]] = [[] for _ in messages]

        async def one(index: int, message: Any) -> None:
            answers[index] = await self._single(scope, message, receive)

        async with anyio.create_task_group() as group:
            for index, message in enumerate(messages):
                group.start_soon(one, index, message)
        flat = [answer for answer_list in answers for answer in answer_list]
        headers = [(SESSION_HEADER, session.encode("latin-1"))]
        if flat:
            await json_response(send, 200, flat, headers)
        else:
            await send({"type": "http.response.start", "status": 202, "headers": headers})
            await send({"type": "http.response.body", "body": b""})

    async def _single(self, scope: dict[str, Any], message: Any, receive: Any) -> list[Any]:
        """Post one message of the batch to the SDK; the JSON-RPC responses it answers with."""
        body = json.dumps(message).encode()
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        sub_scope = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        status = 0
        content_type = b""
        chunks: list[bytes] = []

        async def capture(event: dict[str, Any]) -> None:
            nonlocal status, content_type
            if event["type"] == "http.response.start":
                status = event["status"]
                content_type = dict(event.get("headers", [])).get(b"content-type", b"")
            elif event["type"] == "http.response.body":
                chunks.append(event.get("body", b""))

        await self.app(sub_scope, _replaying(body, True, receive), capture)
        raw = b"".join(chunks)
        request_id = message.get("id") if isinstance(message, dict) else None
        if status == 202:
            return []
        found = _sse_messages(raw) if content_type.startswith(b"text/event-stream") else _json_messages(raw)
        responses = [m for m in found if isinstance(m, dict) and ("result" in m or "error" in m)]
        for response in responses:
            if response.get("id") is None:
                response["id"] = request_id
        if not responses and status >= 400:
            responses = [error_body(INVALID_REQUEST, f"HTTP {status}", request_id)]
        return responses


def _asks_for_batches(body: bytes) -> bool:
    """True for an `initialize` that asks for the batching version (the SDK grants a supported version as asked)."""
    if b'"initialize"' not in body:
        return False
    try:
        message = json.loads(body)
    except ValueError:
        return False
    params = message.get("params") if isinstance(message, dict) and message.get("method") == "initialize" else None
    return isinstance(params, dict) and params.get("protocolVersion") == BATCH_VERSION


async def _read_body(receive: Any, limit: int) -> tuple[bytes, bool]:
    """The request body, read up to just past `limit`; False when it is larger (the SDK then answers 413)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        event = await receive()
        if event["type"] != "http.request":
            return b"".join(chunks), True
        chunk = event.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not event.get("more_body", False):
            return b"".join(chunks), True
        if size > limit:
            return b"".join(chunks), False


def _replaying(body: bytes, whole: bool, receive: Any) -> Any:
    """A `receive` that hands out the body already read, then defers to the real one (the rest, or the disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": not whole}]

    async def replay() -> dict[str, Any]:
        return pending.pop() if pending else await receive()

    return replay


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in scope["headers"] if k.lower() == name), None)


def _json_messages(raw: bytes) -> list[Any]:
    try:
        found = json.loads(raw)
    except ValueError:
        return []
    return found if isinstance(found, list) else [found]


def _sse_messages(raw: bytes) -> list[Any]:
    messages = []
    for event in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        data = b"\n".join(line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:"))
        if data.strip():
            messages.extend(_json_messages(data))
    return messages
