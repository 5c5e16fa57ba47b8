"""A resumed SSE stream is its own session's: over a real `parac mcp serve --transport http` with two callers
(tokens `ada` and `bob`), where the SDK names both sessions' streams by the same request ids 0, 1, 2…, a
`Last-Event-ID` replays only events of the session that asks; and a call that lets its connection go gets its own
result when its client comes back, while another session is busy with requests of the same ids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp_types as types
from mcp import Client
from tests.mcp.test_mcp_plugin_context import PLUGIN, granted, made_token, reply  # noqa: F401  (granted: a fixture)

HEADERS = {"Accept": "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25"}


def sse(text: str) -> list[tuple[str | None, str | None]]:
    """(id, data) of each event, priming events (an id, no data) included."""
    found, event_id, data = [], None, None
    for line in [*text.splitlines(), ""]:
        if line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("data:"):
            data = line[5:].strip()
        elif line == "" and (event_id or data):
            found.append((event_id, data))
            event_id = data = None
    return found


async def open_session(http: httpx.AsyncClient, url: str, name: str) -> tuple[str, str]:
    """A handshake-era session opened by hand: its id and the id of its initialize stream's first event."""
    opened = await http.post(url, json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": name, "version": "1"}}})
    session = opened.headers["mcp-session-id"]
    await http.post(url, headers={"mcp-session-id": session},
                    json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    return session, sse(opened.text)[0][0]


async def resumed(http: httpx.AsyncClient, url: str, session: str, last: str) -> tuple[int, list[str]]:
    """What a GET with `Last-Event-ID: last` gets: its status and the data of the events replayed (the stream then
    stays open for live events; a second of quiet ends the reading)."""
    body = b""
    async with http.stream("GET", url, headers={"mcp-session-id": session, "last-event-id": last}) as response:
        with anyio.move_on_after(1):
            async for chunk in response.aiter_bytes():
                body += chunk
    return response.status_code, [data for _, data in sse(body.decode()) if data]


async def test_a_resumed_stream_replays_none_of_another_sessions_events(granted: Path, http_server: Any):
    """Bob keeps the first event id of his streams 0-5, ada (the official client) has her model answer a sampling
    question on streams of the same ids; bob's GETs with his own ids replay his answers, and nothing of ada's."""
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    tokens = {name: made_token(granted, name) for name in ("ada", "bob")}

    async def ada_model(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        return reply("ada's private answer")

    with http_server(granted, env=PLUGIN) as url, anyio.fail_after(90):
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {tokens['bob']}", **HEADERS},
                                     timeout=30) as bob:
            session, primed = await open_session(bob, url, "bob")
            firsts = {0: primed}
            for n in range(1, 6):
                pinged = await bob.post(url, headers={"mcp-session-id": session},
                                        json={"jsonrpc": "2.0", "id": n, "method": "ping"})
                firsts[n] = sse(pinged.text)[0][0]
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {tokens['ada']}"}) as ada_http:
                async with Client(streamable_http_client(url, http_client=ada_http), mode="legacy",
                                  sampling_callback=ada_model) as ada:
                    result = await ada.call_tool("test_sampling", {"prompt": "ada's secret prompt"})
            replays = {n: await resumed(bob, url, session, last) for n, last in firsts.items()}
    assert "ada's private answer" in result.content[0].text
    for n in range(1, 6):
        assert replays[n] == (200, [f'{{"jsonrpc":"2.0","id":{n},"result":{{}}}}']), replays[n]
    status, initialize = replays[0]
    assert status == 200 and len(initialize) == 1 and '"id":0' in initialize[0]
    assert not [data for _, replayed in replays.values() for data in replayed if "ada" in data]


async def test_a_released_call_gets_its_own_result_while_another_session_is_busy(granted: Path, http_server: Any):
    """Ada's tool lets her connection go (`ctx.release_connection()`) and answers meanwhile; bob's session answers
    pings of her call's request id all the while (paced under the rate limit), so his answers carrying her call's
    id are stored between her stream's first event and her result. Ada's client, back with `Last-Event-ID`, gets
    her tool's result."""
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    tokens = {name: made_token(granted, name) for name in ("ada", "bob")}
    comebacks: list[str] = []
    calling = anyio.Event()
    call: dict[str, Any] = {}
    pings = 0

    async def seen(request: Any) -> None:
        if request.method == "GET" and "last-event-id" in request.headers:
            comebacks.append(request.headers["last-event-id"])
        elif request.method == "POST" and b'"tools/call"' in request.content:
            call["id"] = json.loads(request.content)["id"]
            calling.set()

    async def bob_keeps_busy(bob: httpx.AsyncClient, url: str, session: str) -> None:
        nonlocal pings
        await calling.wait()
        with anyio.move_on_after(0.6):  # her tool answers 0.1 s after letting go; her client is back after 1 s
            while True:
                answered = await bob.post(url, headers={"mcp-session-id": session},
                                          json={"jsonrpc": "2.0", "id": call["id"], "method": "ping"})
                assert answered.status_code == 200
                pings += 1
                await anyio.sleep(0.02)

    with http_server(granted, env=PLUGIN) as url, anyio.fail_after(90):
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {tokens['bob']}", **HEADERS},
                                     timeout=30) as bob, \
                httpx2.AsyncClient(headers={"Authorization": f"Bearer {tokens['ada']}"},
                                   event_hooks={"request": [seen]}) as ada_http:
            session, _ = await open_session(bob, url, "bob")
            async with Client(streamable_http_client(url, http_client=ada_http), mode="legacy") as ada:
                async with anyio.create_task_group() as group:
                    group.start_soon(bob_keeps_busy, bob, url, session)
                    answered = await ada.call_tool("test_reconnection", {})
    # She came back (once, unless the SDK's replay-to-live window made her come again); he kept answering pings
    # of her call's id; what she got is her own result, not one of his answers under that id.
    assert comebacks and pings >= 2
    assert not answered.is_error and answered.content[0].text == "Reconnection test completed"
