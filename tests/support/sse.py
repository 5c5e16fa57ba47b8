"""A Server-Sent Events reader per the WHATWG HTML specification (§9.2.6, "Interpreting an event stream"), over
an httpx streaming response: what a browser's EventSource does with the bytes, with no library in between."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Event:
    event: str
    data: str
    id: str | None

    def json(self) -> Any:
        return json.loads(self.data)


def events(response: httpx.Response) -> Iterator[Event]:
    """The events of a streaming response, as they arrive. Comments (pings) are skipped; an event without data
    is not dispatched; `id` persists until changed, as the last event id of the stream."""
    assert response.headers["content-type"].startswith("text/event-stream"), response.headers["content-type"]
    kind, data, last_id = "", [], None
    for line in response.iter_lines():  # splits on CRLF, LF and CR, as the specification's lines
        if line == "":
            if data:
                yield Event(kind or "message", "\n".join(data), last_id)
            kind, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            kind = value
        elif name == "data":
            data.append(value)
        elif name == "id" and "\0" not in value:
            last_id = value
