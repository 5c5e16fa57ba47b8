"""`parac mcp serve` spawned as editors spawn it, driven by the official SDK client and by raw bytes on stdin."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError
from support.raw_mcp import RawServer

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": "init",
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
}


def serve_params(command: list[str], project: Path) -> StdioServerParameters:
    return StdioServerParameters(
        command=command[0], args=[*command[1:], "--workspace", str(project)], env={**os.environ, "PARAC_LOAD_PLUGINS": ""}
    )


@pytest.mark.parametrize(("mode", "version"), [("legacy", "2025-11-25"), ("auto", "2026-07-28")])
async def test_sdk_client_over_stdio(project: Path, serve_command: list[str], mode: str, version: str):
    async with Client(serve_params(serve_command, project), mode=mode) as session:
        assert session.protocol_version == version
        assert session.server_info is not None and session.server_info.name == "parac"
        tools = {t.name for t in (await session.list_tools()).tools}
        resources = {r.uri for r in (await session.list_resources()).resources}
        prompts = {p.name for p in (await session.list_prompts()).prompts}
        agents = await session.call_tool("list_agents", {})
        coder = await session.call_tool("get_agent", {"name": "coder"})
        with pytest.raises(MCPError, match='unknown tool "nope"'):
            await session.call_tool("nope", {})
        source = await session.read_resource("parac://agents/coder/source")
    assert {"list_agents", "get_agent", "validate_workspace", "list_plugins"} <= tools
    assert "parac://agents/coder" in resources and "agent_coder" in prompts
    assert "coder" in {a["name"] for a in agents.structured_content["agents"]}
    assert coder.structured_content["chain"] == ["coder", "base"]
    assert source.contents[0].text == (project / ".parac/agents/coder.yaml").read_text()


GARBAGE = [
    b"not json at all",
    b"{}",
    b'{"jsonrpc": "2.0"}',
    b"[1, 2, 3]",
    b'{"jsonrpc": "1.0", "id": 7, "method": "ping"}',
    b"\x00\xff\xfe binary",
    b"x" * 5_000_000,
    b'{"jsonrpc": "2.0", "id": "big", "method": "ping", "params": {"pad": "' + b"y" * 3_000_000 + b'"}}',
    b'{"jsonrpc": "2.0", "id": "nope", "method": "no/such/method"}',
]


def test_garbage_on_stdin_never_kills_the_server(project: Path, serve_command: list[str]):
    server = RawServer(serve_command, project)
    try:
        for line in GARBAGE:
            server.send(line)
        assert server.reply_to("nope")["error"]["code"] == -32601
        server.request(INITIALIZE)
        assert server.reply_to("init")["result"]["serverInfo"]["name"] == "parac"
        server.request({"jsonrpc": "2.0", "method": "notifications/initialized"})
        for line in GARBAGE:
            server.send(line)
        server.request({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_agents", "arguments": {}}})
        server.request({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "get_agent", "arguments": "oops"}})
        server.request({"jsonrpc": "2.0", "id": 3, "method": "resources/read", "params": {"uri": 42}})
        server.request({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "get_agent", "arguments": {"name": 1}}})
        listed = server.reply_to(1)
        assert not listed["result"].get("isError") and listed["result"]["structuredContent"]["agents"]
        assert server.reply_to(2)["error"]["code"] == -32602
        assert server.reply_to(3)["error"]["code"] == -32602
        assert server.reply_to(4)["result"]["isError"] is True
        assert server.proc.poll() is None
    finally:
        code = server.close()
    assert code == 0
    for line in server.raw_stdout:  # stdout carried protocol frames only
        assert json.loads(line)["jsonrpc"] == "2.0"


def test_lines_that_are_not_messages_are_answered_as_json_rpc_says(project: Path, serve_command: list[str]):
    server = RawServer(serve_command, project)
    try:
        server.send(b"not json, and a secret sk-live-51ab3c")
        parse_error = server.reply_to(None)
        server.send(b"")  # a blank line is no message: nothing to answer
        server.send(b'{"jsonrpc": "1.0", "id": 7, "method": "ping"}')
        wrong_version = server.reply_to(7)
        server.send(b"[1, 2, 3]")
        not_an_object = server.reply_to(None)
        server.request({"jsonrpc": "2.0", "id": "after", "method": "ping"})
        after = server.reply_to("after")
    finally:
        assert server.close() == 0
    assert parse_error["error"]["code"] == -32700 and "Invalid JSON" in parse_error["error"]["message"]
    assert "sk-live" not in parse_error["error"]["message"]
    assert wrong_version["error"]["code"] == -32600 and '"jsonrpc": "2.0"' in wrong_version["error"]["message"]
    assert not_an_object["error"]["code"] == -32600
    assert after == {"jsonrpc": "2.0", "id": "after", "result": {}}
    assert len(server.raw_stdout) == 4  # one answer per line, none for the blank one


def test_requests_piped_before_stdin_ends_are_all_answered(project: Path, serve_command: list[str]):
    """A script writes its requests and closes stdin at once; the server answers them all, then exits."""
    server = RawServer(serve_command, project)
    server.request(INITIALIZE)
    server.request({"jsonrpc": "2.0", "method": "notifications/initialized"})
    for index in range(20):
        server.request(
            {"jsonrpc": "2.0", "id": index, "method": "tools/call", "params": {"name": "list_agents", "arguments": {}}}
        )
    assert server.close() == 0
    assert [server.reply_to(key, timeout=5)["id"] for key in ("init", *range(20))] == ["init", *range(20)]


def test_stdin_eof_ends_the_server_cleanly(project: Path, serve_command: list[str]):
    server = RawServer(serve_command, project)
    server.request(INITIALIZE)
    server.reply_to("init")
    assert server.close() == 0
    assert server.proc.stderr is not None and b"Traceback" not in server.proc.stderr.read()


def test_logs_go_to_stderr_not_stdout(project: Path, serve_command: list[str]):
    server = RawServer(serve_command, project)
    (project / ".parac/agents/base.yaml").write_text("description: [broken\n")
    server.request(INITIALIZE)
    server.reply_to("init")
    server.request({"jsonrpc": "2.0", "method": "notifications/initialized"})
    server.request({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_agent", "arguments": {"name": "coder"}}})
    reply = server.reply_to(1)
    assert reply["result"]["isError"] is True and "base.yaml" in reply["result"]["content"][0]["text"]
    assert server.close() == 0
    assert all(json.loads(line)["jsonrpc"] == "2.0" for line in server.raw_stdout)
