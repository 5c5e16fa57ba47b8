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


def test_token_file_from_parac_yaml(project: Path, http_server):
    settings = project / ".parac/parac.yaml"
    settings.write_text(settings.read_text() + "settings:\n  mcp:\n    token_file: mcp-token\n")
    (project / ".parac/mcp-token").write_text("from-file\n")
    with http_server(project) as url:
        missing = httpx.post(url, json=INITIALIZE, headers=MCP_HEADERS)
        right = httpx.post(url, json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": "Bearer from-file"})
    assert missing.status_code == 401 and right.status_code == 200


def test_non_loopback_without_token_is_refused(parac, project: Path):
    result = parac("mcp", "serve", "--transport", "http", "--host", "0.0.0.0", "--port", "0", "--workspace", str(project))
    assert result.code == 1
    assert "refusing to serve MCP on 0.0.0.0 without a token" in result.err


def test_an_unreadable_token_file_is_named_and_nothing_serves(parac, project: Path):
    settings = project / ".parac/parac.yaml"
    settings.write_text(settings.read_text() + "settings:\n  mcp:\n    token_file: mcp-token\n")
    (project / ".parac/mcp-token").write_text("\n")
    empty = parac("mcp", "serve", "--transport", "http", "--port", "0", "--workspace", str(project))
    (project / ".parac/mcp-token").unlink()
    missing = parac("mcp", "serve", "--transport", "http", "--port", "0", "--workspace", str(project))
    assert empty.code == missing.code == 1
    assert "mcp-token (settings.mcp.token_file) is empty" in empty.err
    assert "cannot read" in missing.err and "mcp-token (settings.mcp.token_file)" in missing.err
