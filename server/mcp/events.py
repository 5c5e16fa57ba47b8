"""The SSE event store of the Streamable HTTP face: what a client that lost a stream can get back with `Last-Event-ID`.

The SDK names a session's streams by the JSON-RPC ids of its requests, and every session numbers its requests from 0,
so streams are kept per session: `MemoryEventStore.session` is the store one session's transport sees
(`SessionEvents`, given to it by `http.Sessions`), which replays only that session's own events. Event ids are
random (`secrets.token_urlsafe`), so they say nothing about another session's, and one presented in the wrong session
is unknown there.

Retention: events live in memory only, while their session lives (a session that ends, by DELETE, idle timeout or
failure, takes its events with it) and at most until the server restarts, which the SDK's sessions do not survive
either. Memory is bounded in events and in bytes (each event's size as it goes on the wire): a session keeps at most
`per_session` events and `per_session_bytes`, the store `total` and `total_bytes`. What has to go is the oldest event
of the biggest holder: of the session's busiest stream when a session is over a cap, and of the session holding most
when the store is over one (most events over an event cap, most bytes over a byte cap). So a session that floods the
store pushes out its own events, never those of a quieter session (a released call's result waiting for its client to
come back). A session's newest event is kept though it is over the session's byte cap alone (a big result, about to
be read), as long as the store has room for it.

A client that reconnects after its event was dropped (or names one its session never issued) cannot be replayed to
faithfully, so `Resumption` answers it with a specific error instead of a silent, partial stream.

The 2026-07-28 era has no sessions, no event ids and no resumption (the SDK answers its GETs 405): there is nothing
of one caller's there that another could resume.
"""

from __future__ import annotations

import secrets
from collections import deque
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthorizationContext
from mcp.server.streamable_http import (
    EventCallback,
    EventId,
    EventMessage,
    EventStore,
    StreamableHTTPServerTransport,
    StreamId,
)
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.types import INVALID_REQUEST, JSONRPCMessage, jsonrpc_message_adapter

from .asgi import error_body, json_response

DEFAULT_PER_SESSION = 1024
DEFAULT_TOTAL = 8192
DEFAULT_PER_SESSION_BYTES = 16 * 2**20
DEFAULT_TOTAL_BYTES = 64 * 2**20


class MemoryEventStore:
    """Every live session's events. Not an `EventStore` itself: a transport given it instead of its session's
    `SessionEvents` fails at its first event rather than mixing sessions."""

    def __init__(self, *, per_session: int = DEFAULT_PER_SESSION, total: int = DEFAULT_TOTAL,
                 per_session_bytes: int = DEFAULT_PER_SESSION_BYTES, total_bytes: int = DEFAULT_TOTAL_BYTES) -> None:
        self.per_session = per_session
        self.total = total
        self.per_session_bytes = per_session_bytes
        self.total_bytes = total_bytes
        self._sessions: dict[str, SessionEvents] = {}
        self._held = 0
        self._bytes = 0

    def session(self, session_id: str) -> SessionEvents:
        """The store as the session `session_id` sees it."""
        return self._sessions.setdefault(session_id, SessionEvents(self, session_id))

    def forget(self, session_id: str) -> None:
        """Drop the events of a session that ended (its id is unknown to the SDK from now on)."""
        gone = self._sessions.pop(session_id, None)
        if gone is not None:
            self._held -= gone.held
            self._bytes -= gone.bytes

    def knows(self, session_id: str, event_id: str) -> bool:
        """True when session `session_id` can replay what came after `event_id` in full (the event is still held)."""
        events = self._sessions.get(session_id)
        return events is not None and event_id in events

    @property
    def held_bytes(self) -> int:
        """The size of every event held, as sent."""
        return self._bytes

    def _stored(self, events: SessionEvents, size: int, newest: EventId) -> None:
        self._held += 1
        self._bytes += size
        while events.held > self.per_session or (events.bytes > self.per_session_bytes and events.held > 1):
            events.drop_oldest(by_bytes=events.held <= self.per_session, keep=newest)
        while self._held > self.total or self._bytes > self.total_bytes:
            by_bytes = self._held <= self.total
            biggest = max(self._sessions.values(), key=lambda held: held.bytes if by_bytes else held.held)
            biggest.drop_oldest(by_bytes=by_bytes, keep=newest)


class SessionEvents(EventStore):
    """One session's streams, each its events oldest first, as `(event id, wire form)`: held as the UTF-8 JSON that
    went out (so the bytes the caps count are the memory the event takes, not a model's object graph) and read back
    into a message only when a client resumes. `None` is a priming event."""

    def __init__(self, store: MemoryEventStore, session_id: str) -> None:
        self.session_id = session_id
        self.bytes = 0
        self._store = store
        self._streams: dict[StreamId, deque[tuple[EventId, bytes | None]]] = {}
        self._stream_bytes: dict[StreamId, int] = {}
        self._stream_of: dict[EventId, StreamId] = {}

    @property
    def held(self) -> int:  # not __len__: the SDK tests a transport's store for truth
        return len(self._stream_of)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._stream_of

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        event_id = secrets.token_urlsafe(12)
        if self._store._sessions.get(self.session_id) is not self:  # the session ended: nobody can resume it
            return event_id
        text = None if message is None else jsonrpc_message_adapter.dump_json(message, by_alias=True, exclude_unset=True)
        size = 0 if text is None else len(text)
        self._streams.setdefault(stream_id, deque()).append((event_id, text))
        self._stream_bytes[stream_id] = self._stream_bytes.get(stream_id, 0) + size
        self._stream_of[event_id] = stream_id
        self.bytes += size
        self._store._stored(self, size, event_id)
        return event_id

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        stream_id = self._stream_of.get(last_event_id)
        if stream_id is None:
            return None
        events = list(self._streams[stream_id])
        after = next(i for i, (event_id, _) in enumerate(events) if event_id == last_event_id) + 1
        for event_id, text in events[after:]:
            if text is not None:
                await send_callback(EventMessage(jsonrpc_message_adapter.validate_json(text, by_name=False), event_id))
        return stream_id

    def drop_oldest(self, *, by_bytes: bool = False, keep: EventId | None = None) -> None:
        """Drop the oldest event of this session's busiest stream: the one holding most events, or most bytes. A
        stream holding only `keep` (the event just stored) is passed over while another stream has events."""
        streams = [stream for stream, events in self._streams.items() if events[0][0] != keep] or list(self._streams)
        if by_bytes:
            stream_id = max(streams, key=self._stream_bytes.__getitem__)
        else:
            stream_id = max(streams, key=lambda stream: len(self._streams[stream]))
        events = self._streams[stream_id]
        event_id, text = events.popleft()
        size = 0 if text is None else len(text)
        del self._stream_of[event_id]
        self._stream_bytes[stream_id] -= size
        if not events:
            del self._streams[stream_id], self._stream_bytes[stream_id]
        self.bytes -= size
        self._store._held -= 1
        self._store._bytes -= size


class Sessions(StreamableHTTPSessionManager):
    """The SDK's session manager, whose sessions each see their own part of `events`.

    The SDK gives every transport the manager's one `event_store`, and has no public hook where a session begins
    or ends, so this extends the two private methods where it does (`_admit_session`, `_discard_session`) and sets
    the new transport's (private) store. `tests/mcp/test_mcp_events.py` pins all three, so an SDK that renames or
    reshapes them fails there; one that stops calling them would hand its transports the manager's own
    `event_store`, this `MemoryEventStore`, which is no `EventStore`: the first event fails, nothing is mixed.
    """

    def __init__(self, app: Any, events: MemoryEventStore, **options: Any) -> None:
        super().__init__(app, event_store=events, **options)  # type: ignore[arg-type]  # on purpose: see above
        self.events = events

    def _admit_session(self, requestor: AuthorizationContext | None) -> StreamableHTTPServerTransport | None:
        transport = super()._admit_session(requestor)
        if transport is not None and transport.mcp_session_id is not None:
            transport._event_store = self.events.session(transport.mcp_session_id)
        return transport

    async def _discard_session(self, session_id: str, transport: StreamableHTTPServerTransport) -> None:
        self.events.forget(session_id)
        await super()._discard_session(session_id, transport)


class Resumption:
    """ASGI middleware: a GET whose `Last-Event-ID` its session does not hold gets 400 saying so.

    The SDK would answer it with an empty stream that just ends, and the client would wait for a reply that never
    comes; this way it learns to repeat its request. A GET without a session id is the SDK's to refuse.
    """

    def __init__(self, app: Any, events: MemoryEventStore, path: str) -> None:
        self.app = app
        self.events = events
        self.path = path

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == self.path:
            headers = {k.lower(): v.decode("latin-1") for k, v in scope["headers"]}
            last, session = headers.get(b"last-event-id"), headers.get(b"mcp-session-id")
            if last is not None and session is not None and not self.events.knows(session, last):
                message = (
                    f"Last-Event-ID {last!r} is unknown or no longer held (a session keeps its newest "
                    f"{self.events.per_session} events, up to {self.events.per_session_bytes // 2**20} MiB, in "
                    "memory, until it ends or the server restarts); send the request again"
                )
                await json_response(send, 400, error_body(INVALID_REQUEST, message))
                return
        await self.app(scope, receive, send)
