"""The SSE event store of the Streamable HTTP face: what a client that lost a stream can get back with `Last-Event-ID`.

Events live in memory only, for as long as the server runs, and memory stays bounded: each stream keeps its newest
`per_stream` events and the whole store its newest `total`; the oldest go first. A client that reconnects after its
event was evicted (or names one this server never issued) cannot be replayed to faithfully, so `Resumption` answers it
with a specific error instead of a silent, partial stream. A restart forgets every event; the SDK's own sessions do
not survive one either.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from itertools import count
from typing import Any

from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp.types import INVALID_REQUEST, JSONRPCMessage

from .asgi import error_body, json_response

DEFAULT_PER_STREAM = 256
DEFAULT_TOTAL = 4096


class MemoryEventStore(EventStore):
    """Event ids are `<stream>/<n>` with one counter for the store, so an id names its stream and its order."""

    def __init__(self, *, per_stream: int = DEFAULT_PER_STREAM, total: int = DEFAULT_TOTAL) -> None:
        self.per_stream = per_stream
        self.total = total
        self._streams: dict[StreamId, deque[tuple[int, JSONRPCMessage | None]]] = {}
        self._order: OrderedDict[int, StreamId] = OrderedDict()  # every stored event, oldest first
        self._counter = count(1)

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        number = next(self._counter)
        events = self._streams.setdefault(stream_id, deque())
        events.append((number, message))
        self._order[number] = stream_id
        if len(events) > self.per_stream:
            self._forget(events.popleft()[0], stream_id)
        while len(self._order) > self.total:
            oldest, oldest_stream = next(iter(self._order.items()))
            self._streams[oldest_stream].popleft()
            self._forget(oldest, oldest_stream)
        return f"{stream_id}/{number}"

    def knows(self, event_id: str) -> bool:
        """True when events after `event_id` can be replayed in full (the event itself is still held)."""
        parsed = _parse(event_id)
        return parsed is not None and self._order.get(parsed[1]) == parsed[0]

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        parsed = _parse(last_event_id)
        if parsed is None or self._order.get(parsed[1]) != parsed[0]:
            return None
        stream_id, after = parsed
        for number, message in list(self._streams.get(stream_id, ())):
            if number > after and message is not None:  # priming events carry no message
                await send_callback(EventMessage(message, f"{stream_id}/{number}"))
        return stream_id

    def _forget(self, number: int, stream_id: StreamId) -> None:
        del self._order[number]
        if not self._streams[stream_id]:
            del self._streams[stream_id]


def _parse(event_id: str) -> tuple[StreamId, int] | None:
    stream_id, _, number = event_id.rpartition("/")
    return (stream_id, int(number)) if stream_id and number.isdigit() else None


class Resumption:
    """ASGI middleware: a GET whose `Last-Event-ID` the store does not hold gets 400 saying so.

    The SDK would answer it with an empty stream that just ends, and the client would wait for a reply that never
    comes; this way it learns to repeat its request.
    """

    def __init__(self, app: Any, events: MemoryEventStore, path: str) -> None:
        self.app = app
        self.events = events
        self.path = path

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == self.path:
            last = next((v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"last-event-id"), None)
            if last is not None and not self.events.knows(last):
                message = (
                    f"Last-Event-ID {last!r} is unknown or no longer held (the server keeps the newest "
                    f"{self.events.per_stream} events of a stream and {self.events.total} in all, in memory, until "
                    "it restarts); send the request again"
                )
                await json_response(send, 400, error_body(INVALID_REQUEST, message))
                return
        await self.app(scope, receive, send)
