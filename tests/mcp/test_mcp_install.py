"""`parac mcp install|config`: each client's file in its own place and format, merged, backed up, never broken."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from parac.server.mcp.clients import ClientConfigError, config_path, install

SERVE_ARGS = ["-m", "parac.server.mcp", "serve", "--workspace"]


def home_env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "APPDATA": "", "LOCALAPPDATA": ""}


@pytest.mark.parametrize(
    ("client", "relative", "servers_key"),
    [
        ("claude-desktop", ".config/Claude/claude_desktop_config.json", "mcpServers"),
        ("cline", ".config/Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json", "mcpServers"),
        ("cursor-global", ".cursor/mcp.json", "mcpServers"),
    ],
)
def test_install_writes_the_user_file(parac, project: Path, tmp_path: Path, client: str, relative: str, servers_key: str):
    home = tmp_path / "home"
    result = parac("mcp", "install", client, "--workspace", str(project), env=home_env(home))
    assert result.code == 0, result
    path = home / relative
    entry = json.loads(path.read_text())[servers_key]["parac"]
    assert Path(entry["command"]).is_absolute()
    assert entry["args"] == [*SERVE_ARGS, str(project.resolve())]
    assert str(path) in result.out


@pytest.mark.parametrize(
    ("client", "relative", "servers_key", "extra"),
    [
        ("cursor", ".cursor/mcp.json", "mcpServers", {}),
        ("vscode", ".vscode/mcp.json", "servers", {"type": "stdio"}),
        ("roo", ".roo/mcp.json", "mcpServers", {"type": "stdio", "alwaysAllow": [], "disabled": False}),
        ("kilo", ".kilocode/mcp.json", "mcpServers", {"alwaysAllow": []}),
    ],
)
def test_install_writes_the_project_file(parac, project: Path, tmp_path: Path, client, relative, servers_key, extra):
    result = parac("mcp", "install", client, "--workspace", str(project), env=home_env(tmp_path / "home"))
    assert result.code == 0, result
    entry = json.loads((project / relative).read_text())[servers_key]["parac"]
    assert entry["args"][-1] == str(project.resolve())
    for key, value in extra.items():
        assert entry[key] == value


def test_cline_entry_has_type_and_auto_approve(project: Path, tmp_path: Path):
    result = install("cline", project, home=tmp_path, env={}, platform="linux")
    entry = json.loads(result.path.read_text())["mcpServers"]["parac"]
    assert entry["type"] == "stdio" and entry["autoApprove"] == [] and entry["disabled"] is False


def test_merge_keeps_other_servers_and_user_approvals_and_makes_a_backup(project: Path, tmp_path: Path):
    path = config_path("cline", project, home=tmp_path, env={}, platform="linux")
    path.parent.mkdir(parents=True)
    before = {
        "mcpServers": {
            "other": {"command": "node", "args": ["x.js"]},
            "parac": {"command": "/old/python", "args": [], "autoApprove": ["list_agents"], "disabled": True},
        },
        "theme": "dark",
    }
    path.write_text(json.dumps(before))
    result = install("cline", project, home=tmp_path, env={}, platform="linux", python="/opt/py/bin/python3")
    after = json.loads(path.read_text())
    assert after["theme"] == "dark"
    assert after["mcpServers"]["other"] == before["mcpServers"]["other"]
    parac_entry = after["mcpServers"]["parac"]
    assert parac_entry["command"] == "/opt/py/bin/python3"
    assert parac_entry["autoApprove"] == ["list_agents"] and parac_entry["disabled"] is True
    assert result.replaced
    assert result.backup is not None and json.loads(result.backup.read_text()) == before


def test_name_option_adds_a_second_entry(project: Path, tmp_path: Path):
    install("cursor", project)
    install("cursor", project, name="parac-other")
    servers = json.loads((project / ".cursor" / "mcp.json").read_text())["mcpServers"]
    assert set(servers) == {"parac", "parac-other"}


def test_vscode_file_with_comments_and_trailing_commas_is_merged(project: Path):
    path = project / ".vscode" / "mcp.json"
    path.parent.mkdir()
    path.write_text('{\n  // my servers\n  "servers": {"git": {"type": "stdio", "command": "git-mcp",},},\n  "inputs": [],\n}\n')
    install("vscode", project)
    document = json.loads(path.read_text())
    assert set(document["servers"]) == {"git", "parac"} and document["inputs"] == []


def test_broken_file_is_refused_with_its_position_and_left_unchanged(parac, project: Path, tmp_path: Path):
    path = project / ".cursor" / "mcp.json"
    path.parent.mkdir()
    broken = '{\n  "mcpServers": {\n    "x": {"command": "a"\n  }\n'
    path.write_text(broken)
    result = parac("mcp", "install", "cursor", "--workspace", str(project))
    assert result.code == 1
    assert f"{path}:5:1" in result.err and "not valid JSON" in result.err
    assert path.read_text() == broken
    assert not path.with_name("mcp.json.bak").exists()


def test_wrong_shape_is_refused(project: Path):
    path = project / ".vscode" / "mcp.json"
    path.parent.mkdir()
    path.write_text('{"servers": []}')
    with pytest.raises(ClientConfigError, match="'servers' is list, expected an object"):
        install("vscode", project)
    assert path.read_text() == '{"servers": []}'


def test_claude_desktop_locations_per_platform(tmp_path: Path):
    project = tmp_path
    mac = config_path("claude-desktop", project, home=tmp_path, env={}, platform="darwin")
    assert mac == tmp_path / "Library/Application Support/Claude/claude_desktop_config.json"
    linux = config_path("claude-desktop", project, home=tmp_path, env={}, platform="linux")
    assert linux == tmp_path / ".config/Claude/claude_desktop_config.json"
    env = {"APPDATA": str(tmp_path / "Roaming"), "LOCALAPPDATA": str(tmp_path / "Local")}
    windows = config_path("claude-desktop", project, home=tmp_path, env=env, platform="win32")
    assert windows == tmp_path / "Roaming/Claude/claude_desktop_config.json"
    package = tmp_path / "Local/Packages/Claude_pzs8sxrjxfjjc"
    package.mkdir(parents=True)
    msix = config_path("claude-desktop", project, home=tmp_path, env=env, platform="win32")
    assert msix == package / "LocalCache/Roaming/Claude/claude_desktop_config.json"


def test_config_prints_the_snippet_without_writing(parac, project: Path, tmp_path: Path):
    home = tmp_path / "home"
    result = parac("mcp", "config", "vscode", "--workspace", str(project), env=home_env(home))
    assert result.code == 0, result
    snippet = json.loads(result.out)
    assert snippet["servers"]["parac"]["args"] == [*SERVE_ARGS, str(project.resolve())]
    assert not (project / ".vscode").exists()
    assert ".vscode/mcp.json" in result.err


def test_unknown_workspace_is_a_clear_error(parac, tmp_path: Path):
    result = parac("mcp", "install", "cursor", "--workspace", str(tmp_path))
    assert result.code == 1 and "no .parac/ folder" in result.err


def test_installed_command_starts_the_server(project: Path):
    """The written entry is runnable as a host would run it: absolute interpreter, no PATH."""
    import subprocess

    from parac.server.mcp.clients import server_command

    command, args = server_command(project)
    assert command == str(Path(sys.executable).absolute())
    request = '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}\n'
    proc = subprocess.run([command, *args], input=request, capture_output=True, text=True, timeout=60, env={"PARAC_LOAD_PLUGINS": ""})
    reply = json.loads(proc.stdout.splitlines()[0])
    assert reply["id"] == 1 and reply["result"]["serverInfo"]["name"] == "parac"
