"""Server-Sent Events as `parac serve` sends them: agent runs and chats (`thinking`, `content`, `tool_call`,
`tool_result`, `complete`, `error`, `done`) and a workflow run's events (`workflow.*`, then `done`).

The decoding follows the WHATWG HTML "interpreting an event stream" rules (comments skipped, `data` lines joined,
the last `id` kept), fed line by line so the sync and the async stream share it. A stream is an iterator you may
leave early (use it in a `with` block, or call `close()`): its connection is closed then, and `last_event_id`
says where to resume a run's events (`Client.run_events(run_id, last_event_id=...)`).
"""

from __future__ import annotations

import json
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


class EventStream(Iterator[Event], AbstractContextManager["EventStream"]):
    """The events of one streamed request (sync). The request is sent when iteration starts; a failed answer
    raises `ApiError` then."""

    def __init__(self, open_stream: Callable[[], AbstractContextManager[httpx.Response]]) -> None:
        self._open = open_stream
        self._events: Iterator[Event] | None = None
        self.last_event_id: str | None = None

    def _run(self) -> Iterator[Event]:
        with self._open() as response:
            if response.is_error:
                response.read()
                raise problem_of(response)
            decoder = Decoder(last_id=self.last_event_id)
            for line in response.iter_lines():
                event = decoder.feed(line)
                if event is not None:
                    self.last_event_id = event.id or self.last_event_id
                    yield checked(event)

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


class AsyncEventStream(AsyncIterator[Event], AbstractAsyncContextManager["AsyncEventStream"]):
    """The events of one streamed request (async); as `EventStream`."""

    def __init__(self, open_stream: Callable[[], AbstractAsyncContextManager[httpx.Response]]) -> None:
        self._open = open_stream
        self._events: AsyncIterator[Event] | None = None
        self.last_event_id: str | None = None

    async def _run(self) -> AsyncIterator[Event]:
        async with self._open() as response:
            if response.is_error:
                await response.aread()
                raise problem_of(response)
            decoder = Decoder(last_id=self.last_event_id)
            async for line in response.aiter_lines():
                event = decoder.feed(line)
                if event is not None:
                    self.last_event_id = event.id or self.last_event_id
                    yield checked(event)

    async def __anext__(self) -> Event:
        if self._events is None:
            self._events = self._run()
        return await self._events.__anext__()

    async def aclose(self) -> None:
        if self._events is not None:
            await self._events.aclose()  # type: ignore[attr-defined]

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
