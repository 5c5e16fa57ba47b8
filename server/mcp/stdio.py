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

import contextlib
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
async def answering_stdio_server() -> AsyncIterator[tuple[Any, Any]]:
    """:func:`mcp.server.stdio.stdio_server`'s streams, answering malformed lines and draining requests at EOF."""
    async with stdio_server() as (lines, client):
        to_session, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        write_stream, from_session = anyio.create_memory_object_stream[SessionMessage](0)
        running: set[types.RequestId] = set()  # requests received and not yet answered
        answered = anyio.Event()  # set when the last of them is answered
        reading = anyio.CancelScope()  # ended when the session ends first (stdin may stay open)

        async def read() -> None:
            with reading, contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                async with to_session:
                    async for item in lines:
                        if isinstance(item, Exception):
                            if (answer := answer_for(item)) is not None:
                                await client.send(SessionMessage(answer))
                            continue
                        message = item.message
                        if isinstance(message, types.JSONRPCRequest):
                            running.add(message.id)
                        elif isinstance(message, types.JSONRPCNotification) and message.method == CANCELLED:
                            # a cancelled request gets no answer (the id is the client's word: it may be anything)
                            running.discard(_usable_id((message.params or {}).get("requestId")))
                        await to_session.send(item)
                    with anyio.move_on_after(DRAIN_S):
                        while running:
                            await answered.wait()

        async def write() -> None:  # ends when the session closes its side, after its last message
            nonlocal answered
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):  # stdout went away
                async with client, from_session:  # closing from_session tells the session nobody is listening
                    async for item in from_session:
                        await client.send(item)
                        if isinstance(item.message, types.JSONRPCResponse | types.JSONRPCError):
                            running.discard(item.message.id)
                            if not running:
                                answered.set()
                                answered = anyio.Event()

        async with anyio.create_task_group() as group:
            group.start_soon(read)
            group.start_soon(write)
            try:
                yield read_stream, write_stream
            finally:
                reading.cancel()


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
