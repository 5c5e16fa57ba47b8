"""Server-Sent Events as `parac serve` sends them: agent runs and chats (`thinking`, `content`, `tool_call`,
`tool_result`, `complete`, `error`, `done`) and a workflow run's events (`workflow.*`, then `done`).

The decoding follows the WHATWG HTML "interpreting an event stream" rules (comments skipped, `data` lines joined,
the last `id` kept), fed line by line so the sync and the async stream share it. A stream is an iterator you may
leave early (use it in a `with` block, or call `close()`): its connection is closed then, and `last_event_id`
says where to resume a run's events (`Client.run_events(run_id, last_event_id=...)`). A run's event stream that
breaks off (a dropped connection, a restarted server) is opened again after its last event by itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import httpx

from .errors import ApiError, problem_of


@dataclass(frozen=True)
class Event:
    """One event: its name (`message` when the server named none), its data as sent, and its id (run events carry
    their audit sequence number, which `Last-Event-ID` resumes after)."""

    event: str
    data: str
    id: str | None = None

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class Decoder:
    """Turns the lines of an event stream into events (an event ends at a blank line)."""

    name: str = ""
    data: list[str] = field(default_factory=list)
    last_id: str | None = None

    def feed(self, line: str) -> Event | None:
        if line == "":
            event = Event(self.name or "message", "\n".join(self.data), self.last_id) if self.data else None
            self.name, self.data = "", []
            return event
        if line.startswith(":"):
            return None
        key, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if key == "event":
            self.name = value
        elif key == "data":
            self.data.append(value)
        elif key == "id" and "\0" not in value:
            self.last_id = value
        return None


def checked(event: Event) -> Event:
    """The event, unless it is a streamed run's `error` (a problem document): that is raised as `ApiError`."""
    if event.event == "error":
        raise ApiError(event.json())
    return event


RECONNECT_DELAY_S = 0.5
MAX_RECONNECTS = 5
"""A run's event stream that breaks off is opened again (after its last event) this many times in a row, at most."""

Opener = Callable[[str | None], Any]
"""Opens the stream's request (an httpx streaming context), resuming after the event id given (None: from the start)."""


@dataclass
class Resumption:
    """Whether a stream that ended without `done` is opened again. A run's events are (the server keeps them and
    resumes after `Last-Event-ID`): a dropped connection or a restarted server costs a reconnect, not an event. An
    agent run or a chat is not (no ids, and asking again would run it again): its broken stream raises."""

    resumable: bool
    reconnects: int = 0
    _in_a_row: int = 0

    def event(self, event: Event) -> None:
        self._in_a_row = 0

    def again(self, error: httpx.TransportError | None) -> bool:
        """After the stream ended before `done` (`error`: how it broke, if it did): True to open it again; raises
        `error` when it may not be."""
        if self.resumable and self._in_a_row < MAX_RECONNECTS:
            self._in_a_row += 1
            self.reconnects += 1
            return True
        if error is not None:
            raise error
        return False


class _Stream:
    """What the sync and the async stream share: where they are, when to connect again, and what one line of the
    body makes. The two drivers only do the I/O (open, read lines, sleep) with their own verbs."""

    def __init__(self, open_stream: Opener, *, last_event_id: str | None = None, resumable: bool = False) -> None:
        self._open = open_stream
        self._resumption = Resumption(resumable)
        self._decoder = Decoder()
        self._done = False
        self._broke: httpx.TransportError | None = None
        self.last_event_id = last_event_id

    @property
    def reconnects(self) -> int:
        return self._resumption.reconnects

    def _attempts(self) -> Iterator[int]:
        """Numbers the connections to open: the first, then another while the last one ended before `done` and the
        stream may be resumed (a broken one that may not be raises its transport error)."""
        attempt = 0
        while True:
            self._broke = None
            yield attempt
            if self._done or not self._resumption.again(self._broke):
                return
            attempt += 1

    def _connected(self, response: httpx.Response) -> None:
        """Raises a failed answer (its body read) as `ApiError`; else decodes this connection from its start."""
        if response.is_error:
            raise problem_of(response)
        self._decoder = Decoder(last_id=self.last_event_id)

    def _take(self, line: str) -> tuple[Event, ...]:
        """The event `line` completes, if any (a streamed run's `error` is raised as `ApiError`); after `done`,
        the driver stops reading."""
        event = self._decoder.feed(line)
        if event is None:
            return ()
        self._resumption.event(event)
        self.last_event_id = event.id or self.last_event_id
        self._done = event.event == "done"
        return (checked(event),)


class EventStream(_Stream, Iterator[Event], AbstractContextManager["EventStream"]):
    """The events of one streamed request (sync). The request is sent when iteration starts; a failed answer
    raises `ApiError` then. A run's events resume by themselves after a broken connection (`reconnects` counts)."""

    _events: Iterator[Event] | None = None

    def _run(self) -> Iterator[Event]:
        for attempt in self._attempts():
            if attempt:
                time.sleep(RECONNECT_DELAY_S)
            try:
                with self._open(self.last_event_id) as response:
                    if response.is_error:
                        response.read()
                    self._connected(response)
                    for line in response.iter_lines():
                        yield from self._take(line)
                        if self._done:
                            return
            except httpx.TransportError as error:
                self._broke = error

    def __next__(self) -> Event:
        if self._events is None:
            self._events = self._run()
        return next(self._events)

    def close(self) -> None:
        """Close the connection (a run the server executes goes on; its events can be resumed)."""
        if self._events is not None:
            self._events.close()  # type: ignore[attr-defined]

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncEventStream(_Stream, AsyncIterator[Event], AbstractAsyncContextManager["AsyncEventStream"]):
    """The events of one streamed request (async); as `EventStream`."""

    _events: AsyncIterator[Event] | None = None

    async def _run(self) -> AsyncIterator[Event]:
        import anyio

        for attempt in self._attempts():
            if attempt:
                await anyio.sleep(RECONNECT_DELAY_S)
            try:
                async with self._open(self.last_event_id) as response:
                    if response.is_error:
                        await response.aread()
                    self._connected(response)
                    async for line in response.aiter_lines():
                        for event in self._take(line):
                            yield event
                        if self._done:
                            return
            except httpx.TransportError as error:
                self._broke = error

    async def __anext__(self) -> Event:
        if self._events is None:
            self._events = self._run()
        return await self._events.__anext__()

    async def aclose(self) -> None:
        if self._events is not None:
            await self._events.aclose()  # type: ignore[attr-defined]

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
