"""The HTTP face's event store keeps memory bounded: per stream and in all, the oldest events go first, and an
evicted or foreign `Last-Event-ID` replays nothing rather than a stream with a hole."""

from __future__ import annotations

from mcp.server.streamable_http import EventMessage
from mcp.types import JSONRPCNotification

from parac.server.mcp.events import MemoryEventStore


def note(n: int) -> JSONRPCNotification:
    params = {"progressToken": "t", "progress": n}
    return JSONRPCNotification(jsonrpc="2.0", method="notifications/progress", params=params)


async def replay(store: MemoryEventStore, after: str) -> tuple[str | None, list[int]]:
    seen: list[EventMessage] = []

    async def collect(event: EventMessage) -> None:
        seen.append(event)

    stream = await store.replay_events_after(after, collect)
    return stream, [event.message.params["progress"] for event in seen]


async def test_replay_gives_the_events_after_the_id_of_that_stream_only():
    store = MemoryEventStore()
    primed = await store.store_event("a", None)
    ids = [await store.store_event(stream, note(n)) for n, stream in enumerate("abab")]
    assert await replay(store, primed) == ("a", [0, 2])
    assert await replay(store, ids[1]) == ("b", [3])


async def test_each_stream_and_the_whole_store_keep_only_their_newest_events():
    store = MemoryEventStore(per_stream=3, total=5)
    a = [await store.store_event("a", note(n)) for n in range(5)]
    assert not store.knows(a[1]) and store.knows(a[2])
    assert await replay(store, a[1]) == (None, [])
    assert await replay(store, a[2]) == ("a", [3, 4])
    b = [await store.store_event("b", note(n)) for n in range(10, 13)]
    assert not store.knows(a[2]) and store.knows(a[3])  # six events: the store's cap took the oldest, a's
    assert all(store.knows(event) for event in b)
    assert await replay(store, a[3]) == ("a", [4])
    assert await replay(store, b[0]) == ("b", [11, 12])


async def test_ids_this_store_never_issued_are_unknown():
    store = MemoryEventStore()
    issued = await store.store_event("a", note(1))
    for foreign in ("", "a", "a/x", "b/" + issued.rsplit("/", 1)[1], issued + "0"):
        assert not store.knows(foreign)
        assert await replay(store, foreign) == (None, [])
