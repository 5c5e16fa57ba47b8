"""External MCP servers as tool sources: a server written in these tests, spawned over stdio and served over
Streamable HTTP on 127.0.0.1, whose tools an agent (scripted provider) calls through parac, audited."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from parac.core.audit import AuditLog
from parac.core.diagnostics import ParacError
from parac.core.runtime import Runtime
from parac.core.tools import ToolError
from parac.server.host import Host

from .conftest import call, write

SERVER = Path(__file__).parent / "external_server.py"


def add_servers(root: Path, servers: dict[str, dict]) -> None:
    settings = root / ".parac" / "parac.yaml"
    settings.write_text(settings.read_text() + "\nmcp_servers: " + json.dumps(servers) + "\n")


def stdio(mode: str = "stdio", **options: object) -> dict:
    return {"command": sys.executable, "args": [str(SERVER), mode], "connect_timeout_s": 60, **options}


def add_agent(root: Path, tools: list[str], turns: list[dict]) -> None:
    write(root / ".parac" / "script.yaml", json.dumps(turns))
    write(root / ".parac" / "agents" / "helper.yaml", json.dumps(
        {"description": "Uses external tools", "model": "scripted:.parac/script.yaml", "tools": tools}
    ))


def tool_calls(root: Path) -> list[tuple[str, str, str | None]]:
    """The audit trail's tool calls; a reader first commits what this process's writers queued for it."""
    log = AuditLog.for_workspace(root)
    try:
        return [(e.subject, e.outcome, e.data.get("agent")) for e in log.entries(action="tool.call")]
    finally:
        log.close()


@pytest.fixture
def stdio_host(workspace: Path) -> Iterator[Host]:
    add_servers(workspace, {"ext": stdio(), "junk": stdio("garbage", connect_timeout_s=2)})
    host = Host.for_workspace(workspace)
    yield host
    host.tool_sources.close()


async def test_stdio_tools_are_called_through_parac(stdio_host: Host, workspace: Path) -> None:
    stdio_host.tool_sources.declare(["ext.gone"])  # as an agent naming a tool the server does not have
    assert (await call(stdio_host, "ext.add", a=2, b=40)) == {"result": 42}
    assert (await call(stdio_host, "ext.shout", text="hi")) == {"result": "HI"}
    tool = stdio_host.tool("ext.add")
    assert tool.description == "Add two integers."
    assert tool.input_schema["required"] == ["a", "b"]
    with pytest.raises(ToolError, match="invalid arguments for tool \"ext.add\" at a"):
        await call(stdio_host, "ext.add", a="two", b=1)
    with pytest.raises(ToolError, match='tool refuse of MCP server "ext" failed: .*no thanks'):
        await call(stdio_host, "ext.refuse", reason="no thanks")
    with pytest.raises(ToolError, match='has no tool "gone" \\(it has: add, crash, hang, pid, refuse, shout\\)'):
        await call(stdio_host, "ext.gone")
    with pytest.raises(ParacError, match='unknown tool "ext.shoot" \\(did you mean "ext.shout"'):
        await call(stdio_host, "ext.shoot")
    assert "ext.shoot" not in stdio_host.registry.catalog.tools
    assert [c[:2] for c in tool_calls(workspace)] == [
        ("ext.add", "ok"), ("ext.shout", "ok"), ("ext.add", "error"), ("ext.refuse", "error"), ("ext.gone", "error"),
    ]  # the call whose arguments failed the schema is audited too


async def test_a_crashed_server_is_restarted_by_the_next_call(stdio_host: Host) -> None:
    first = await call(stdio_host, "ext.pid")
    with pytest.raises(ToolError, match='MCP server "ext" closed the connection'):
        await call(stdio_host, "ext.crash")
    second = await call(stdio_host, "ext.pid")
    assert second["result"] != first["result"]
    [ext] = [s for s in stdio_host.tool_sources.status() if s["name"] == "ext"]
    assert (ext["state"], ext["restarts"]) == ("ready", 1)


async def test_a_call_that_never_answers_times_out(workspace: Path) -> None:
    add_servers(workspace, {"ext": stdio(call_timeout_s=3)})
    host = Host.for_workspace(workspace)
    try:
        first = await call(host, "ext.pid")
        with pytest.raises(ToolError, match='MCP server "ext" did not answer in time \\(tool hang\\)'):
            await call(host, "ext.hang")
        assert (await call(host, "ext.pid"))["result"] != first["result"]  # the hung server was replaced
    finally:
        host.tool_sources.close()


async def test_a_server_that_sends_garbage_fails_alone(stdio_host: Host) -> None:
    with pytest.raises(ToolError, match='MCP server "junk" is unavailable: no MCP handshake within 2 s'):
        await call(stdio_host, "junk.anything")
    assert (await call(stdio_host, "ext.add", a=1, b=1)) == {"result": 2}
    states = {s["name"]: s for s in stdio_host.tool_sources.discover_all()}
    assert states["junk"]["state"] == "failed" and states["ext"]["state"] == "ready"
    assert "ext.shout" in stdio_host.registry.catalog.tools
    assert stdio_host.registry.catalog.tools["ext.shout"].origin == "mcp:ext"


async def test_a_misconfigured_or_missing_server_is_a_clear_error(workspace: Path) -> None:
    add_servers(workspace, {"both": {"command": "x", "url": "http://127.0.0.1:1/mcp"},
                            "absent": {"command": "parac-no-such-program", "connect_timeout_s": 5}})
    host = Host.for_workspace(workspace)
    try:
        with pytest.raises(ToolError, match="give either command .stdio. or url"):
            await call(host, "both.tool")
        with pytest.raises(ToolError, match='MCP server "absent" is unavailable: .*(No such file|not found)'):
            await call(host, "absent.tool")
        with pytest.raises(Exception, match='unknown tool "nobody.tool"'):
            await call(host, "nobody.tool")
    finally:
        host.tool_sources.close()


async def test_an_agent_uses_external_tools_governed_and_audited(stdio_host: Host, workspace: Path) -> None:
    add_agent(workspace, ["ext.add", "ext.shout"], [
        {"tool_calls": [{"name": "ext_add", "arguments": {"a": 20, "b": 22}},
                        {"name": "ext_shout", "arguments": {"text": "done"}}]},
        {"text": "The sum is 42."},
    ])
    host = Host.for_workspace(workspace)
    try:
        assert host.workspace.validate() == []
        with Runtime(host.workspace, hooks=host.hooks) as runtime:
            result = await runtime.run("helper", "add 20 and 22")
        assert result.status == "completed" and result.output == "The sum is 42."
        answers = [m["content"] for m in result.transcript if m.get("role") == "tool"]
        assert any("42" in answer for answer in answers) and any("DONE" in answer for answer in answers)
        assert ("ext.add", "ok", "helper") in tool_calls(workspace)
        assert ("ext.shout", "ok", "helper") in tool_calls(workspace)
    finally:
        host.tool_sources.close()


async def test_policy_denies_an_external_tool_it_does_not_grant(stdio_host: Host, workspace: Path) -> None:
    (workspace / ".parac" / "policies" / "tools.yaml").write_text(
        'allow:\n  - tools: ["ext.add"]\ndeny: ["ext.crash"]\n'
    )
    host = Host.for_workspace(workspace)
    try:
        assert (await call(host, "ext.add", a=1, b=2)) == {"result": 3}
        with pytest.raises(Exception, match="ext.crash"):
            await call(host, "ext.crash")
        with pytest.raises(Exception, match="ext.shout"):
            await call(host, "ext.shout", text="x")
        assert ("ext.crash", "denied", None) in tool_calls(workspace)
    finally:
        host.tool_sources.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def http_server() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(SERVER), "http", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None, "the HTTP MCP server exited"
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}/mcp"
    process.terminate()
    process.wait(10)


async def test_streamable_http_server_tools(workspace: Path, http_server: str, monkeypatch) -> None:
    monkeypatch.setenv("TEST_MCP_TOKEN", "Bearer t0ken")
    add_servers(workspace, {"web": {"url": http_server, "headers_env": {"Authorization": "TEST_MCP_TOKEN"}},
                            "needs": {"url": http_server, "headers_env": {"Authorization": "PARAC_UNSET_VAR"}}})
    add_agent(workspace, ["web.add"], [
        {"tool_calls": [{"name": "web_add", "arguments": {"a": 1, "b": 2}}]},
        {"text": "three"},
    ])
    host = Host.for_workspace(workspace)
    try:
        assert (await call(host, "web.shout", text="over http")) == {"result": "OVER HTTP"}
        with Runtime(host.workspace, hooks=host.hooks) as runtime:
            result = await runtime.run("helper", "add")
        assert result.status == "completed" and result.tool_calls == 1
        assert ("web.add", "ok", "helper") in tool_calls(workspace)
        with pytest.raises(ToolError, match="PARAC_UNSET_VAR"):
            await call(host, "needs.add", a=1, b=1)
    finally:
        host.tool_sources.close()


def test_cli_lists_servers_and_calls_their_tools(workspace: Path, parac) -> None:
    add_servers(workspace, {"ext": stdio(), "broken": {"url": "ftp://nowhere"}})
    listed = parac("mcp", "servers", "--json", cwd=workspace)
    assert listed.code == 0, listed
    servers = {s["name"]: s for s in listed.json()}
    assert servers["ext"]["state"] == "ready" and servers["ext"]["tools"] == ["add", "crash", "hang", "pid", "refuse", "shout"]
    assert servers["broken"]["state"] == "invalid" and "http://" in servers["broken"]["error"]

    called = parac("tools", "call", "ext.add", "--args", '{"a": 5, "b": 6}', "--json", cwd=workspace)
    assert called.code == 0, called
    assert called.json() == {"ok": True, "tool": "ext.add", "result": {"result": 11}}
    tools = {t["name"]: t for t in parac("tools", "list", "--json", cwd=workspace).json()}
    assert tools["ext.add"]["origin"] == "mcp:ext" and tools["file_read"]["origin"] == "files"


async def test_parac_mcp_server_is_a_gateway_to_external_tools(workspace: Path) -> None:
    """An MCP client of `parac mcp serve` sees and calls the external server's tools, governed by parac."""
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    add_servers(workspace, {"ext": stdio()})
    (workspace / ".parac" / "policies" / "tools.yaml").write_text('allow:\n  - tools: ["ext.add"]\n')
    parac_bin = str(Path(sys.executable).parent / "parac")
    params = StdioServerParameters(command=parac_bin, args=["mcp", "serve", "--workspace", str(workspace)],
                                   env={"PARAC_LOAD_PLUGINS": ""})
    async with stdio_client(params) as (read, write_stream), ClientSession(read, write_stream) as session:
        await session.initialize()
        names = {tool.name for tool in (await session.list_tools()).tools}
        assert {"ext.add", "ext.shout", "file_read"} <= names
        added = await session.call_tool("ext.add", {"a": 3, "b": 4})
        assert not added.is_error and added.structured_content == {"result": 7}
        refused = await session.call_tool("ext.shout", {"text": "x"})
        assert refused.is_error and "ext.shout" in refused.content[0].text
    assert ("ext.add", "ok", None) in tool_calls(workspace)
    assert ("ext.shout", "denied", None) in tool_calls(workspace)


def test_validation_accepts_tools_of_configured_servers_without_connecting(workspace: Path, parac) -> None:
    add_servers(workspace, {"ext": {"command": "parac-no-such-program"}})
    write(workspace / ".parac/agents/helper.yaml", "tools: [ext.anything, other.tool]\n")
    checked = parac("validate", "--json", cwd=workspace)
    assert checked.code == 1, checked
    problems = [(d["code"], d["message"]) for d in checked.json()]
    assert problems == [("unknown-tool", 'unknown tool "other.tool"')]
