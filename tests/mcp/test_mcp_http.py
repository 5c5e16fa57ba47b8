"""`parac mcp serve --transport http` on a real socket on 127.0.0.1: the SDK client, and what must be refused."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "http-test", "version": "1"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.mark.parametrize(("mode", "version"), [("legacy", "2025-11-25"), ("auto", "2026-07-28")])
async def test_sdk_client_over_streamable_http(project: Path, http_server, mode: str, version: str):
    with http_server(project) as url:
        async with Client(url, mode=mode) as session:
            assert session.protocol_version == version
            tools = {t.name for t in (await session.list_tools()).tools}
            agent = await session.call_tool("get_agent", {"name": "coder"})
            prompts = {p.name for p in (await session.list_prompts()).prompts}
            resource = await session.read_resource("parac://agents/coder")
    assert {"list_agents", "get_agent", "validate_workspace"} <= tools
    assert agent.structured_content["chain"] == ["coder", "base"]
    assert "explain_agent" in prompts
    assert json.loads(resource.contents[0].text)["name"] == "coder"


def test_foreign_origin_and_host_are_refused_and_a_proper_request_is_served(project: Path, http_server):
    with http_server(project) as url:
        port = url.split(":")[2].split("/")[0]
        foreign_origin = httpx.post(url, json=INITIALIZE, headers={**MCP_HEADERS, "Origin": "http://evil.example"})
        foreign_host = httpx.post(url, json=INITIALIZE, headers={**MCP_HEADERS, "Host": f"evil.example:{port}"})
        same_origin = httpx.post(url, json=INITIALIZE, headers={**MCP_HEADERS, "Origin": f"http://localhost:{port}"})
        proper = httpx.post(url, json=INITIALIZE, headers=MCP_HEADERS)
    assert foreign_origin.status_code == 403
    assert foreign_host.status_code == 421
    assert same_origin.status_code == 200
    assert proper.status_code == 200 and "parac" in proper.text


def test_extra_origin_can_be_allowed(project: Path, http_server):
    with http_server(project, "--allow-origin", "https://app.example") as url:
        allowed = httpx.post(url, json=INITIALIZE, headers={**MCP_HEADERS, "Origin": "https://app.example"})
        other = httpx.post(url, json=INITIALIZE, headers={**MCP_HEADERS, "Origin": "https://other.example"})
    assert allowed.status_code == 200 and other.status_code == 403


def test_bodies_over_the_cap_get_413(project: Path, http_server):
    with http_server(project, "--max-body", "4096") as url:
        padded = {**INITIALIZE, "params": {**INITIALIZE["params"], "pad": "x" * 10_000}}
        too_big = httpx.post(url, json=padded, headers=MCP_HEADERS)
        fine = httpx.post(url, json=INITIALIZE, headers=MCP_HEADERS)
    assert too_big.status_code == 413
    assert fine.status_code == 200


async def test_token_is_required_when_configured(project: Path, http_server):
    with http_server(project, env={"PARAC_MCP_TOKEN": "s3cret-token"}) as url:
        missing = httpx.post(url, json=INITIALIZE, headers=MCP_HEADERS)
        wrong = httpx.post(url, json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": "Bearer nope"})
        right = httpx.post(url, json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": "Bearer s3cret-token"})
        async with httpx2.AsyncClient(headers={"Authorization": "Bearer s3cret-token"}) as http:
            async with Client(streamable_http_client(url, http_client=http), mode="legacy") as session:
                listed = await session.call_tool("list_agents", {})
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert "s3cret" not in missing.text
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert not listed.is_error


@pytest.mark.parametrize("section", ["mcp:\n  token_file: mcp-token\n", "settings:\n  mcp:\n    token_file: mcp-token\n"])
def test_token_file_from_parac_yaml(project: Path, http_server, section: str):
    """`mcp.token_file`; `settings.mcp.token_file`, its older place, is still read."""
    settings = project / ".parac/parac.yaml"
    settings.write_text(settings.read_text() + section)
    (project / ".parac/mcp-token").write_text("from-file\n")
    with http_server(project) as url:
        missing = httpx.post(url, json=INITIALIZE, headers=MCP_HEADERS)
        right = httpx.post(url, json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": "Bearer from-file"})
    assert missing.status_code == 401 and right.status_code == 200


def test_non_loopback_without_token_is_refused(parac, project: Path):
    result = parac("mcp", "serve", "--transport", "http", "--host", "0.0.0.0", "--port", "0", "--workspace", str(project))
    assert result.code == 1
    assert "refusing to serve MCP on 0.0.0.0 without a token" in result.err


@pytest.mark.parametrize("section", ["mcp:\n  token_file: mcp-token\n", "settings:\n  mcp:\n    token_file: mcp-token\n"])
def test_an_unreadable_token_file_is_placed_and_nothing_serves(parac, project: Path, section: str):
    """The error stands at `token_file`'s place in parac.yaml (either place), and names the file it could not use."""
    settings = project / ".parac/parac.yaml"
    settings.write_text(settings.read_text() + section)
    lines = settings.read_text().splitlines()
    line = next(number for number, text in enumerate(lines, 1) if "token_file" in text)
    place = f"{settings}:{line}:{lines[line - 1].index('token_file') + 1}"
    (project / ".parac/mcp-token").write_text("\n")
    empty = parac("mcp", "serve", "--transport", "http", "--port", "0", "--workspace", str(project))
    (project / ".parac/mcp-token").unlink()
    missing = parac("mcp", "serve", "--transport", "http", "--port", "0", "--workspace", str(project))
    assert empty.code == missing.code == 1
    key = ".".join(section.replace(":", "").split()[:-1])  # mcp.token_file, or settings.mcp.token_file
    assert f"{place}: {key}: no MCP token: {project / '.parac/mcp-token'} is empty" in empty.err
    assert f"{place}: {key}: no MCP token: cannot read {project / '.parac/mcp-token'}: " in missing.err


def open_session(url: str, version: str) -> dict[str, str]:
    """Initialize a session over plain HTTP at `version`; the headers later requests of it carry."""
    hello = {**INITIALIZE, "params": {**INITIALIZE["params"], "protocolVersion": version}}
    answer = httpx.post(url, json=hello, headers=MCP_HEADERS)
    assert answer.status_code == 200, answer.text
    headers = {**MCP_HEADERS, "Mcp-Session-Id": answer.headers["mcp-session-id"]}
    if version != "2025-03-26":  # the header came with 2025-06-18
        headers["Mcp-Protocol-Version"] = version
    initialized = httpx.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    assert initialized.status_code == 202
    return headers


def read_until_response(stream: httpx.Response, request_id: int) -> list[dict]:
    """The JSON-RPC messages of an SSE stream, up to the response to `request_id`."""
    messages = []
    for line in stream.iter_lines():
        if line.startswith("data:") and line[5:].strip():
            messages.append(json.loads(line[5:]))
            if messages[-1].get("id") == request_id and "result" in messages[-1]:
                break
    return messages


def test_a_stream_cut_after_its_first_event_is_resumed_with_last_event_id(project: Path, http_server):
    with http_server(project) as url:
        headers = open_session(url, "2025-11-25")
        request = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "list_agents", "arguments": {}}}
        with httpx.stream("POST", url, json=request, headers=headers) as stream:
            first = next(stream.iter_lines())  # the priming event's id line; the connection drops right after
        assert first.startswith("id:")
        primed = first.split(":", 1)[1].strip()
        with httpx.stream("GET", url, headers={**headers, "Last-Event-ID": primed}, timeout=30) as resumed:
            replayed = read_until_response(resumed, 7)  # a resumed stream stays open for more, like the SDK's client
        unknown = httpx.get(url, headers={**headers, "Last-Event-ID": "no-such/42"})
        evicted_shape = httpx.get(url, headers={**headers, "Last-Event-ID": primed.rsplit("/", 1)[0] + "/0"})
        still_serving = httpx.post(url, json={**request, "id": 8}, headers=headers)
    assert resumed.status_code == 200
    assert [m["id"] for m in replayed if "result" in m] == [7]
    assert "coder" in json.dumps(replayed[-1]["result"])
    for refused in (unknown, evicted_shape):
        assert refused.status_code == 400
        assert "unknown or no longer held" in refused.json()["error"]["message"]
    assert still_serving.status_code == 200 and '"id":8' in still_serving.text.replace(" ", "")


def modern(method: str, params: dict, **headers: str) -> tuple[dict, dict[str, str]]:
    """A 2026-07-28 request (declaring the tasks extension) and its HTTP headers: `MCP-Protocol-Version`,
    `Mcp-Method`, and whatever `headers` add (`Mcp-Name`...)."""
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}}}
    body = {"jsonrpc": "2.0", "id": 9, "method": method, "params": {**params, "_meta": meta}}
    return body, {**MCP_HEADERS, "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method,
                  **{k.replace("_", "-"): v for k, v in headers.items()}}


def test_2026_a_missing_or_mismatched_mcp_name_is_refused_as_header_mismatch(project: Path, http_server):
    """SEP-2243: `Mcp-Name` is REQUIRED on `tools/call` (and, SEP-2663, on `tasks/get`, `tasks/update`,
    `tasks/cancel`: the task id), and "required headers missing" is a HeaderMismatch like a wrong value: an
    intermediary that routes by the header must never see a request the server would run differently."""
    call = ("tools/call", {"name": "get_agent", "arguments": {"name": "coder"}})
    get = ("tasks/get", {"taskId": "t-1"})
    with http_server(project) as url:
        answers = {
            "call, missing": httpx.post(url, json=modern(*call)[0], headers=modern(*call)[1]),
            "call, mismatched": httpx.post(url, json=modern(*call)[0], headers=modern(*call, Mcp_Name="get_run")[1]),
            "call, matched": httpx.post(url, json=modern(*call)[0], headers=modern(*call, Mcp_Name="get_agent")[1]),
            "get, missing": httpx.post(url, json=modern(*get)[0], headers=modern(*get)[1]),
            "get, mismatched": httpx.post(url, json=modern(*get)[0], headers=modern(*get, Mcp_Name="t-2")[1]),
            "get, matched": httpx.post(url, json=modern(*get)[0], headers=modern(*get, Mcp_Name="t-1")[1]),
        }
    for case in ("call, missing", "call, mismatched", "get, missing", "get, mismatched"):
        assert answers[case].status_code == 400, case
        assert answers[case].json()["error"]["code"] == -32020, case
    assert "coder" in answers["call, matched"].text and '"error"' not in answers["call, matched"].text
    assert "unknown task 't-1'" in answers["get, matched"].json()["error"]["message"]  # routed, then looked up


def test_batches_are_answered_on_2025_03_26_and_refused_later(project: Path, http_server):
    batch = [
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "get_agent", "arguments": {"name": "coder"}}},
        {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": "t", "progress": 1}},
        {"jsonrpc": "2.0", "id": 3, "method": "prompts/list"},
        {"jsonrpc": "2.0", "id": 4, "method": "no/such/method"},
    ]
    with http_server(project) as url:
        old = open_session(url, "2025-03-26")
        new = open_session(url, "2025-11-25")
        answered = httpx.post(url, json=batch, headers=old, timeout=60)
        refused = httpx.post(url, json=batch, headers=new)
        sessionless = httpx.post(url, json=batch, headers=MCP_HEADERS)
        only_notifications = httpx.post(url, json=[batch[1]], headers=old)
        empty = httpx.post(url, json=[], headers=old)
        single_after = httpx.post(url, json=batch[2], headers=new)
    assert answered.status_code == 200, answered.text
    responses = {m["id"]: m for m in answered.json()}
    assert set(responses) == {2, 3, 4}
    assert responses[2]["result"]["structuredContent"]["chain"] == ["coder", "base"]
    assert any(p["name"] == "explain_agent" for p in responses[3]["result"]["prompts"])
    assert responses[4]["error"]["code"] == -32601
    assert refused.status_code == sessionless.status_code == 400
    refusal = refused.json()["error"]["message"]
    assert "batches are refused on protocol version 2025-11-25: only 2025-03-26 allows them" in refusal
    assert "without a session" in sessionless.json()["error"]["message"]
    assert only_notifications.status_code == 202
    assert empty.status_code == 400 and "empty JSON-RPC batch" in empty.json()["error"]["message"]
    assert single_after.status_code == 200 and "explain_agent" in single_after.text


def test_refusals_are_problems_and_audited_in_the_served_workspace(project: Path, http_server, parac):
    """The MCP endpoint is behind the same authentication layer as `parac serve` (`parac.server.auth`)."""
    with http_server(project, env={"PARAC_MCP_TOKEN": "s3cret-token"}) as url:
        wrong = httpx.post(url, json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": "Bearer s3cret-guess"})
        foreign = httpx.post(url, json=INITIALIZE, headers={**MCP_HEADERS, "Origin": "http://evil.example"})
    assert wrong.status_code == 401 and wrong.headers["content-type"] == "application/problem+json"
    assert wrong.json()["detail"] == "unknown token" and foreign.status_code == 403
    exported = parac("--workspace", str(project), "audit", "export", "--format", "jsonl")
    denied = [json.loads(line) for line in exported.out.splitlines() if '"http.denied"' in line]
    assert [(e["subject"], e["data"]["status"]) for e in denied] == [("POST /mcp", 401), ("POST /mcp", 403)]
    assert "s3cret" not in exported.out
