"""Tool profiles as a client sees them: `parac mcp serve` over stdio with the official client, the profile from
`parac.yaml` or `--profile`; a tool outside the profile is refused; an edited profile reaches the client as
tools list_changed; a profile that cannot be served stops the server at start, positioned in `parac.yaml`."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp_types import ToolListChangedNotification

from parac.server.mcp.profiles import MINIMAL

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


def params(command: list[str], project: Path, *extra: str) -> StdioServerParameters:
    env = {**os.environ, "PARAC_LOAD_PLUGINS": ""}
    return StdioServerParameters(command=command[0], args=[*command[1:], "--workspace", str(project), *extra], env=env)


def set_mcp(project: Path, section: str) -> None:
    """Replace the `mcp:` section of the project's parac.yaml."""
    settings = project / ".parac/parac.yaml"
    kept = settings.read_text().split("\nmcp:\n")[0].rstrip("\n")
    settings.write_text(f"{kept}\nmcp:\n{section}")


async def tool_names(command: list[str], project: Path, *extra: str) -> set[str]:
    async with Client(params(command, project, *extra), mode="legacy") as session:
        return {tool.name for tool in (await session.list_tools()).tools}


async def test_built_in_profiles(project: Path, serve_command: list[str]):
    everything = await tool_names(serve_command, project)
    minimal = await tool_names(serve_command, project, "--profile", "minimal")
    authoring = await tool_names(serve_command, project, "--profile", "authoring")
    operations = await tool_names(serve_command, project, "--profile", "operations")
    assert len(everything) >= 51 and {"shell_run", "git_push", "create_agent"} <= everything
    assert minimal == set(MINIMAL) and len(minimal) == 12  # every tool the minimal profile names exists
    assert {"create_agent", "create_workflow", "file_write", "validate_workspace"} <= authoring
    assert not {"shell_run", "git_push", "run_agent", "approve_step"} & authoring
    assert {"run_workflow", "approve_step", "audit_verify", "shell_run", "git_push"} <= operations
    assert not {"create_agent", "file_write"} & operations
    assert minimal < everything and authoring < everything and operations < everything


async def test_project_profile_by_glob_and_plugin_refuses_other_tools(project: Path, serve_command: list[str]):
    set_mcp(project, "  profile: mine\n  profiles:\n    mine:\n      tools: [list_*]\n      plugins: [git]\n")
    async with Client(params(serve_command, project), mode="legacy") as session:
        names = {tool.name for tool in (await session.list_tools()).tools}
        refused = await session.call_tool("file_write", {"path": "canary.txt", "content": "x"})
        allowed = await session.call_tool("list_agents", {})
    assert "list_agents" in names and "git_status" in names and "git_push" in names
    assert all(name.startswith(("list_", "git_")) for name in names)
    assert refused.is_error and 'profile "mine"' in refused.content[0].text
    assert not (project / "canary.txt").exists()
    assert not allowed.is_error


async def test_flag_overrides_parac_yaml(project: Path, serve_command: list[str]):
    set_mcp(project, "  profile: operations\n")
    assert await tool_names(serve_command, project, "--profile", "minimal") == set(MINIMAL)
    assert "shell_run" in await tool_names(serve_command, project)


async def test_profile_edited_while_serving_sends_list_changed(project: Path, serve_command: list[str]):
    set_mcp(project, "  profile: minimal\n")
    received: list[Any] = []

    async def on_message(message: Any) -> None:
        received.append(getattr(message, "root", message))

    async with Client(params(serve_command, project), mode="legacy", message_handler=on_message) as session:
        assert session.server_capabilities.tools.list_changed is True
        before = {tool.name for tool in (await session.list_tools()).tools}
        await anyio.sleep(0.7)  # the watcher takes its first snapshot
        set_mcp(project, "  profile: nowhere\n")  # a bad profile while serving: the last good one stays
        await anyio.sleep(1.5)
        kept = {tool.name for tool in (await session.list_tools()).tools}
        set_mcp(project, "  profile: operations\n")
        with anyio.fail_after(15):
            while not any(isinstance(m, ToolListChangedNotification) for m in received):
                await anyio.sleep(0.05)
        after = {tool.name for tool in (await session.list_tools()).tools}
    assert before == set(MINIMAL) == kept
    assert "shell_run" in after and "file_write" not in after


def serve_fails(serve_command: list[str], project: Path, *extra: str) -> str:
    env = {**os.environ, "PARAC_LOAD_PLUGINS": ""}
    done = subprocess.run(
        [*serve_command, "--workspace", str(project), *extra],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode != 0, done
    return done.stderr


def line_of(project: Path, text: str) -> int:
    lines = (project / ".parac/parac.yaml").read_text().splitlines()
    return next(index for index, line in enumerate(lines, 1) if text in line)


def test_unknown_profile_stops_the_server_positioned(project: Path, serve_command: list[str]):
    set_mcp(project, "  profile: minimall\n")
    stderr = serve_fails(serve_command, project)
    assert re.search(rf"parac\.yaml:{line_of(project, 'minimall')}:\d+: .*no profile \"minimall\"", stderr), stderr
    assert 'did you mean "minimal"' in stderr


def test_unknown_tool_in_profile_stops_the_server_positioned(project: Path, serve_command: list[str]):
    set_mcp(project, "  profile: mine\n  profiles:\n    mine:\n      tools: [list_*, file_raed]\n      plugins: [git]\n")
    stderr = serve_fails(serve_command, project)
    assert re.search(rf"parac\.yaml:{line_of(project, 'file_raed')}:\d+: .*no tool \"file_raed\"", stderr), stderr


def test_unknown_plugin_and_flag_stop_the_server(project: Path, serve_command: list[str]):
    set_mcp(project, "  profile: mine\n  profiles:\n    mine:\n      plugins:\n        - gti\n")
    stderr = serve_fails(serve_command, project)
    assert re.search(rf"parac\.yaml:{line_of(project, 'gti')}:\d+: .*no plugin \"gti\"", stderr), stderr
    assert 'no profile "nope"' in serve_fails(serve_command, project, "--profile", "nope")


async def test_installer_serves_the_profile_it_was_given(parac, project: Path, tmp_path: Path):
    home = {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "home/.config")}
    refused = parac("mcp", "install", "cursor", "--workspace", str(project), "--profile", "minimall", env=home)
    assert refused.code == 1 and 'no profile "minimall"' in refused.err
    assert not (project / ".cursor/mcp.json").exists()
    result = parac("mcp", "install", "cursor", "--workspace", str(project), "--profile", "minimal", env=home)
    assert result.code == 0, result
    entry = json.loads((project / ".cursor/mcp.json").read_text())["mcpServers"]["parac"]
    assert entry["args"][-2:] == ["--profile", "minimal"]
    server = StdioServerParameters(command=entry["command"], args=entry["args"], env={"PARAC_LOAD_PLUGINS": ""})
    async with Client(server, mode="legacy") as session:
        assert {tool.name for tool in (await session.list_tools()).tools} == set(MINIMAL)


async def test_profile_selects_an_external_servers_tools(project: Path, serve_command: list[str]):
    """`servers: [NAME]` offers every tool of `mcp_servers.NAME` (a real server over stdio, written for the tests),
    and only those with the profile's other selections; a server the profile does not name stays out."""
    import sys

    server = Path(__file__).parents[1] / "tools" / "external_server.py"
    spawn = {"command": sys.executable, "args": [str(server), "stdio"], "connect_timeout_s": 60}
    settings = project / ".parac/parac.yaml"
    settings.write_text(settings.read_text() + "\nmcp_servers: " + json.dumps({"ext": spawn, "other": spawn}) + "\n")
    (project / ".parac/policies/tools.yaml").write_text('allow:\n  - tools: ["ext.add"]\n')
    set_mcp(project, "  profile: mine\n  profiles:\n    mine:\n      tools: [list_agents]\n      servers: [ext]\n")
    async with Client(params(serve_command, project), mode="legacy") as session:
        names = {tool.name for tool in (await session.list_tools()).tools}
        added = await session.call_tool("ext.add", {"a": 2, "b": 5})
        outside = await session.call_tool("other.add", {"a": 2, "b": 5})
    assert "list_agents" in names and {"ext.add", "ext.shout"} <= names
    assert not any(name.startswith("other.") for name in names) and "file_read" not in names
    assert names == {"list_agents"} | {name for name in names if name.startswith("ext.")}
    assert not added.is_error and added.structured_content == {"result": 7}
    assert outside.is_error and 'profile "mine"' in outside.content[0].text
