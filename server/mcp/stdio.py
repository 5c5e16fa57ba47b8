"""The stdio transport, with an answer for every request: malformed lines, and requests still running at EOF.

Two gaps of the SDK's stdio server, both met by scripts that pipe requests into ``parac mcp serve``:

- A line it cannot read as a message goes to the session as an exception, which drops it with a debug log: the
  client waits for an answer that never comes. JSON-RPC 2.0 answers such a line with -32700 (not JSON) or -32600
  (JSON, but not a request, notification or response), as MCP's HTTP transport already does; so does this one.
- When stdin ends, the session cancels the requests still running, so ``printf '...' | parac mcp serve`` loses
  the answers to its last requests. Closing stdin is how a client says it has nothing more to *send*; the MCP
  spec has it wait for the server to exit (and signal it if that takes too long). So at EOF the requests already
  received are answered first, for up to :data:`DRAIN_S`, and only then does the session see the end.

Every message passes through unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp_types as types
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

INVALID_REQUEST = (
    'Invalid Request: expected a JSON-RPC 2.0 message: an object with "jsonrpc": "2.0" and a "method" '
    '(a request also has an "id"), or a response with an "id" and a "result" or an "error"'
)

CANCELLED = "notifications/cancelled"

DRAIN_S = 30.0
"""How long requests received before stdin ended may run before the session is told of the end (and cancels them)."""


@asynccontextmanager
async def answering_stdio_server() -> AsyncIterator[tuple[Incoming, Outgoing]]:
    """:func:`mcp.server.stdio.stdio_server`'s streams, answering malformed lines and draining requests at EOF.

    The streams are thin wrappers over the SDK's, called in the session's own tasks: no message takes an extra hop.
    """
    async with stdio_server() as (lines, client):
        outgoing = Outgoing(client)
        yield Incoming(lines, outgoing), outgoing


class _Wrapper:
    """A stream around one of the SDK's: closing it closes that one (the session closes both when it ends)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class Outgoing(_Wrapper):
    """The session's write stream: what it sends goes to stdout; answers are checked off the requests running."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.running: set[types.RequestId] = set()  # requests received and not yet answered
        self._answered = anyio.Event()  # set each time the last of them is answered

    async def send(self, item: SessionMessage) -> None:
        await self._inner.send(item)
        message = item.message
        if isinstance(message, types.JSONRPCResponse | types.JSONRPCError) and message.id in self.running:
            self.finished(message.id)

    def finished(self, request_id: types.RequestId | None) -> None:
        self.running.discard(request_id)
        if not self.running:
            self._answered.set()
            self._answered = anyio.Event()

    async def drain(self, timeout: float) -> None:
        """Wait until every request running is answered, for ``timeout`` seconds at most."""
        with anyio.move_on_after(timeout):
            while self.running:
                await self._answered.wait()


class Incoming(_Wrapper):
    """The session's read stream: messages from stdin. A malformed line is answered here and never reaches the
    session; at the end of stdin, the requests running are answered before the session sees the end."""

    def __init__(self, lines: Any, outgoing: Outgoing) -> None:
        super().__init__(lines)
        self._outgoing = outgoing
        self.last_context: Any = None  # the sender's context, which the SDK's dispatcher runs handlers in

    async def receive(self) -> SessionMessage:
        while True:
            try:
                item = await self._inner.receive()
            except anyio.EndOfStream:
                await self._outgoing.drain(DRAIN_S)
                raise
            self.last_context = getattr(self._inner, "last_context", None)
            if isinstance(item, Exception):
                if (answer := answer_for(item)) is not None:
                    await self._outgoing.send(SessionMessage(answer))
                continue
            message = item.message
            if isinstance(message, types.JSONRPCRequest):
                self._outgoing.running.add(message.id)
            elif isinstance(message, types.JSONRPCNotification) and message.method == CANCELLED:
                # a cancelled request gets no answer (the id is the client's word: it may be anything)
                self._outgoing.finished(_usable_id((message.params or {}).get("requestId")))
            return item

    def __aiter__(self) -> Incoming:
        return self

    async def __anext__(self) -> SessionMessage:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None


def answer_for(error: Exception) -> types.JSONRPCError | None:
    """The JSON-RPC error answering a line the transport could not read as a message (None for a blank line,
    which is no message at all). Its id is the line's own when the line is an object with a usable id, else null.
    The message says what was wrong, never what the line held (it may hold a secret)."""
    problems = error.errors(include_url=False) if isinstance(error, ValidationError) else []
    if problems and problems[0]["type"] == "json_invalid":
        if not str(problems[0].get("input", "")).strip():
            return None
        return _error(None, types.PARSE_ERROR, f"Parse error: {problems[0]['msg']}")
    return _error(_request_id(problems), types.INVALID_REQUEST, INVALID_REQUEST)


def _request_id(problems: list[Any]) -> str | int | None:
    for problem in problems:
        value = problem.get("input")
        if isinstance(value, dict) and (found := _usable_id(value.get("id"))) is not None:
            return found
    return None


def _usable_id(value: Any) -> str | int | None:
    """``value`` if it can be a JSON-RPC request id (a string or an integer), else None."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    return None


def _error(request_id: str | int | None, code: int, message: str) -> types.JSONRPCError:
    return types.JSONRPCError(jsonrpc="2.0", id=request_id, error=types.ErrorData(code=code, message=message))
