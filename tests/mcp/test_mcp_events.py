"""The HTTP face's event store keeps each session's events apart and memory bounded, in events and in bytes: per
session and in all, the oldest event of the biggest holder goes first, so one session's flood never pushes out another's; an evicted or
foreign `Last-Event-ID` replays nothing rather than a stream with a hole or another session's events."""

from __future__ import annotations

from mcp.server.lowlevel import Server
from mcp.server.streamable_http import EventMessage
from mcp.types import JSONRPCNotification

from parac.server.mcp.events import MemoryEventStore, Sessions, SessionEvents


def note(n: int) -> JSONRPCNotification:
    params = {"progressToken": "t", "progress": n}
    return JSONRPCNotification(jsonrpc="2.0", method="notifications/progress", params=params)


async def replay(events: SessionEvents, after: str) -> tuple[str | None, list[int]]:
    seen: list[EventMessage] = []

    async def collect(event: EventMessage) -> None:
        seen.append(event)

    stream = await events.replay_events_after(after, collect)
    return stream, [event.message.params["progress"] for event in seen]


async def test_replay_gives_the_events_after_the_id_of_that_stream_only():
    events = MemoryEventStore().session("s")
    primed = await events.store_event("a", None)
    ids = [await events.store_event(stream, note(n)) for n, stream in enumerate("abab")]
    assert await replay(events, primed) == ("a", [0, 2])
    assert await replay(events, ids[1]) == ("b", [3])


async def test_sessions_with_the_same_stream_ids_replay_only_their_own_events():
    """The SDK names streams by request id, which every session numbers from 0."""
    store = MemoryEventStore()
    ada, bob = store.session("ada"), store.session("bob")
    ada_primed = await ada.store_event("1", None)
    bob_primed = await bob.store_event("1", None)
    await bob.store_event("1", note(20))
    await ada.store_event("1", note(10))
    assert await replay(ada, ada_primed) == ("1", [10])
    assert await replay(bob, bob_primed) == ("1", [20])
    assert await replay(bob, ada_primed) == (None, [])  # ada's id is unknown in bob's session
    assert store.knows("ada", ada_primed) and not store.knows("bob", ada_primed)


async def test_event_ids_are_unguessable():
    events = MemoryEventStore().session("s")
    ids = {await events.store_event("1", note(n)) for n in range(100)}
    assert len(ids) == 100 and all(len(event_id) >= 16 and "1" != event_id for event_id in ids)


async def test_a_session_keeps_its_newest_events_and_its_busiest_stream_gives_way():
    store = MemoryEventStore(per_session=4, total=100)
    events = store.session("s")
    released = await events.store_event("r", None)  # a released call's stream, waiting for its result
    chatty = [await events.store_event("c", note(n)) for n in range(6)]
    assert store.knows("s", released)  # the chatty stream dropped its own oldest, not the quiet one's
    assert [store.knows("s", event_id) for event_id in chatty] == [False] * 3 + [True] * 3
    assert await replay(events, chatty[3]) == ("c", [4, 5])
    assert await replay(events, chatty[1]) == (None, [])


async def test_one_sessions_flood_never_pushes_out_a_quieter_sessions_events():
    store = MemoryEventStore(per_session=50, total=60)
    ada = store.session("ada")
    primed = await ada.store_event("1", None)
    await ada.store_event("1", note(1))
    bob, mallory = store.session("bob"), store.session("mallory")
    flood = [await session.store_event("1", note(n)) for n in range(200) for session in (bob, mallory)]
    assert await replay(ada, primed) == ("1", [1])
    assert bob.held + mallory.held + ada.held == 60 and bob.held <= 50 and mallory.held <= 50
    assert store.knows("bob", flood[-2]) and store.knows("mallory", flood[-1])


def big(n: int, size: int) -> JSONRPCNotification:
    """A progress notification whose wire form is `size` bytes long."""
    message = note(n)
    message.params["message"] = ""
    message.params["message"] = "x" * (size - len(message.model_dump_json(by_alias=True, exclude_unset=True)))
    return message


async def test_a_session_over_its_bytes_drops_the_oldest_of_its_biggest_stream_but_keeps_its_newest():
    store = MemoryEventStore(per_session=100, total=100, per_session_bytes=1000, total_bytes=10_000)
    events = store.session("s")
    quiet = await events.store_event("q", big(0, 120))
    heavy = [await events.store_event("h", big(n, 300)) for n in range(1, 5)]
    assert store.knows("s", quiet)  # the heavy stream gave way, not the quiet one
    assert [store.knows("s", event_id) for event_id in heavy] == [False, False, True, True]
    assert events.bytes == store.held_bytes == 720
    huge = await events.store_event("h", big(5, 5000))  # over the session's bytes alone: kept, all else goes
    assert store.knows("s", huge) and not store.knows("s", quiet) and events.held == 1
    assert store.held_bytes == 5000
    assert await replay(events, huge) == ("h", [])
    over = await events.store_event("q", big(6, 20_000))  # over the store's bytes alone: not kept
    assert not store.knows("s", over) and store.held_bytes == 0 and events.held == 0


async def test_one_sessions_big_events_never_push_out_a_quieter_sessions_under_the_stores_bytes():
    store = MemoryEventStore(per_session=100, total=1000, per_session_bytes=4000, total_bytes=5000)
    ada = store.session("ada")
    primed = await ada.store_event("1", None)
    await ada.store_event("1", big(1, 200))
    bob, mallory = store.session("bob"), store.session("mallory")
    flood = [await session.store_event("1", big(n, 900)) for n in range(20) for session in (bob, mallory)]
    assert await replay(ada, primed) == ("1", [1])
    assert store.held_bytes <= 5000 and bob.bytes <= 4000 and mallory.bytes <= 4000
    assert store.held_bytes == ada.bytes + bob.bytes + mallory.bytes
    assert store.knows("bob", flood[-2]) and store.knows("mallory", flood[-1])
    store.forget("bob")
    assert store.held_bytes == ada.bytes + mallory.bytes


async def test_an_ended_session_takes_its_events_with_it():
    store = MemoryEventStore(per_session=10, total=10)
    gone = store.session("gone")
    kept = await gone.store_event("1", note(1))
    store.forget("gone")
    assert not store.knows("gone", kept)
    await gone.store_event("1", note(2))  # a late event of the ended session is not held
    other = store.session("other")
    ids = [await other.store_event("1", note(n)) for n in range(10)]
    assert all(store.knows("other", event_id) for event_id in ids)  # all the room is the live session's


async def test_ids_a_session_never_issued_are_unknown():
    events = MemoryEventStore().session("s")
    issued = await events.store_event("a", note(1))
    for foreign in ("", "a", "a/1", issued + "0", issued[:-1]):
        assert foreign not in events
        assert await replay(events, foreign) == (None, [])


async def test_the_sdk_session_manager_gives_each_session_its_own_events():
    """Pins the SDK's private seams `Sessions` extends (`_admit_session`, `_discard_session`, a transport's
    `_event_store`): if the SDK renames or reshapes them, this fails here, not silently in production."""
    store = MemoryEventStore()
    sessions = Sessions(Server("pin"), store)
    ada, bob = sessions._admit_session(None), sessions._admit_session(None)
    assert ada is not None and bob is not None and ada.mcp_session_id and bob.mcp_session_id
    assert ada._event_store is store.session(ada.mcp_session_id)
    assert bob._event_store is store.session(bob.mcp_session_id) and bob._event_store is not ada._event_store
    kept = await ada._event_store.store_event("1", note(1))
    await sessions._discard_session(ada.mcp_session_id, ada)
    assert ada.is_terminated and not store.knows(ada.mcp_session_id, kept)
