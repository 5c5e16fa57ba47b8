"""Write parac's entry into the configuration file of an MCP client (Claude Desktop, Claude Code, Cline, Roo, Kilo,
Cursor, VS Code), or take it out again.

Every client keeps its servers in a JSON file of its own shape and place. Hosts spawn servers with a minimal PATH
and an unknown working directory, so the entry names the interpreter and the workspace by absolute path. Writing
merges: other servers and unrelated keys stay as they are, a user's own approvals on parac's entry survive a
re-install, and the previous file is kept beside it as a backup. Uninstalling removes parac's entry alone, with the
same backup. This module knows nothing about click or MCP: `parac mcp install|uninstall|config` (server/cli/mcp.py)
prints what it returns.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parac.core.errors import ParacBaseError


class ClientConfigError(ParacBaseError):
    """The client's existing file cannot be merged into (it is not JSON, or not the expected shape)."""


@dataclass(frozen=True)
class ClientFormat:
    """One client: where its file lives and how one server entry looks in it."""

    name: str
    servers_key: str
    entry: Callable[[str, list[str]], dict[str, Any]]
    locate: Callable[[Path, Mapping[str, str], str, Path], Path]
    kept_keys: tuple[str, ...] = ()
    """Keys of an existing parac entry that belong to the user (approvals, disabled) and survive a re-install."""


def _stdio_entry(command: str, args: list[str]) -> dict[str, Any]:
    return {"command": command, "args": args}


def _typed_entry(command: str, args: list[str]) -> dict[str, Any]:
    return {"type": "stdio", "command": command, "args": args}


def _claude_code_entry(command: str, args: list[str]) -> dict[str, Any]:
    """What `claude mcp add NAME -- COMMAND ARGS...` writes."""
    return {"type": "stdio", "command": command, "args": args, "env": {}}


def _cline_entry(command: str, args: list[str]) -> dict[str, Any]:
    return {"type": "stdio", "command": command, "args": args, "disabled": False, "autoApprove": []}


def _roo_entry(command: str, args: list[str]) -> dict[str, Any]:
    return {"type": "stdio", "command": command, "args": args, "disabled": False, "alwaysAllow": []}


def _config_home(home: Path, env: Mapping[str, str], platform: str) -> Path:
    """The per-user application-data folder: what Electron apps (Claude, VS Code) call appData."""
    if platform == "darwin":
        return home / "Library" / "Application Support"
    if platform == "win32":
        return Path(env.get("APPDATA") or home / "AppData" / "Roaming")
    return Path(env.get("XDG_CONFIG_HOME") or home / ".config")


def claude_desktop_path(home: Path, env: Mapping[str, str], platform: str, project: Path) -> Path:
    """Claude Desktop's file; on Windows the MSIX build (the default installer since 2026) reads a virtualised copy.

    The MSIX app never sees `%APPDATA%\\Claude`, so when a `Claude_*` package folder exists under
    `%LOCALAPPDATA%\\Packages` its `LocalCache\\Roaming\\Claude` is the file that counts.
    """
    if platform == "win32":
        local = Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local")
        packages = sorted((local / "Packages").glob("Claude_*"))
        if packages:
            return packages[0] / "LocalCache" / "Roaming" / "Claude" / "claude_desktop_config.json"
    return _config_home(home, env, platform) / "Claude" / "claude_desktop_config.json"


def _vscode_global_storage(extension: str, filename: str) -> Callable[[Path, Mapping[str, str], str, Path], Path]:
    def locate(home: Path, env: Mapping[str, str], platform: str, project: Path) -> Path:
        user = _config_home(home, env, platform) / "Code" / "User"
        return user / "globalStorage" / extension / "settings" / filename

    return locate


def _in_project(*parts: str) -> Callable[[Path, Mapping[str, str], str, Path], Path]:
    def locate(home: Path, env: Mapping[str, str], platform: str, project: Path) -> Path:
        return project.joinpath(*parts)

    return locate


def _in_home(*parts: str) -> Callable[[Path, Mapping[str, str], str, Path], Path]:
    def locate(home: Path, env: Mapping[str, str], platform: str, project: Path) -> Path:
        return home.joinpath(*parts)

    return locate


CLIENTS: dict[str, ClientFormat] = {
    "claude-desktop": ClientFormat("Claude Desktop", "mcpServers", _stdio_entry, claude_desktop_path),
    "claude-code": ClientFormat("Claude Code", "mcpServers", _claude_code_entry, _in_project(".mcp.json"), ("env",)),
    "claude-code-user": ClientFormat(
        "Claude Code (all projects)", "mcpServers", _claude_code_entry, _in_home(".claude.json"), ("env",)
    ),
    "cline": ClientFormat(
        "Cline",
        "mcpServers",
        _cline_entry,
        _vscode_global_storage("saoudrizwan.claude-dev", "cline_mcp_settings.json"),
        kept_keys=("autoApprove", "disabled"),
    ),
    "roo": ClientFormat(
        "Roo Code", "mcpServers", _roo_entry, _in_project(".roo", "mcp.json"), kept_keys=("alwaysAllow", "disabled")
    ),
    "kilo": ClientFormat(
        "Kilo Code",
        "mcpServers",
        _roo_entry,
        _in_project(".kilocode", "mcp.json"),
        kept_keys=("alwaysAllow", "disabled"),
    ),
    "cursor": ClientFormat("Cursor", "mcpServers", _stdio_entry, _in_project(".cursor", "mcp.json")),
    "cursor-global": ClientFormat("Cursor (all projects)", "mcpServers", _stdio_entry, _in_home(".cursor", "mcp.json")),
    "vscode": ClientFormat("VS Code", "servers", _typed_entry, _in_project(".vscode", "mcp.json")),
}


def server_command(
    workspace: Path, python: str | None = None, profile: str | None = None
) -> tuple[str, list[str]]:
    """The absolute interpreter and the arguments that start `parac mcp serve` on `workspace` over stdio (with
    `--profile` when a tool profile is asked for)."""
    interpreter = str(Path(python or sys.executable).absolute())
    args = ["-m", "parac.server.mcp", "serve", "--workspace", str(workspace.resolve())]
    return interpreter, [*args, "--profile", profile] if profile else args


def server_entry(client: str, workspace: Path, python: str | None = None) -> dict[str, Any]:
    """parac's entry as `client` expects it (the value stored under the server's name)."""
    command, args = server_command(workspace, python)
    return _client(client).entry(command, args)


def snippet(client: str, workspace: Path, name: str = "parac", python: str | None = None) -> dict[str, Any]:
    """A whole minimal file for `client` holding only parac's entry: what `parac mcp config` prints."""
    return {_client(client).servers_key: {name: server_entry(client, workspace, python)}}


def config_path(
    client: str, project: Path, *, home: Path | None = None, env: Mapping[str, str] | None = None, platform: str = ""
) -> Path:
    """Where `client` keeps its file for this user and project (platform defaults to this machine's)."""
    return _client(client).locate(
        home if home is not None else Path.home(), os.environ if env is None else env, platform or sys.platform, project
    )


@dataclass(frozen=True)
class InstallResult:
    path: Path
    backup: Path | None
    replaced: bool
    """True when an entry of that name was already there (and was updated, or removed)."""


def install(
    client: str,
    workspace: Path,
    *,
    name: str = "parac",
    project: Path | None = None,
    home: Path | None = None,
    env: Mapping[str, str] | None = None,
    platform: str = "",
    python: str | None = None,
    profile: str | None = None,
) -> InstallResult:
    """Merge parac's entry into `client`'s file, keeping a backup of the previous file; nothing changes on error."""
    fmt = _client(client)
    path = config_path(client, project or workspace, home=home, env=env, platform=platform)
    document = _read_document(path)
    servers = document.setdefault(fmt.servers_key, {})
    if not isinstance(servers, dict):
        raise ClientConfigError(f"{path}: {fmt.servers_key!r} is {type(servers).__name__}, expected an object")
    entry = fmt.entry(*server_command(workspace, python, profile))
    previous = servers.get(name)
    if isinstance(previous, dict):
        entry.update({key: previous[key] for key in fmt.kept_keys if key in previous})
    servers[name] = entry
    return InstallResult(path=path, backup=_save(path, document), replaced=previous is not None)


def uninstall(
    client: str,
    workspace: Path,
    *,
    name: str = "parac",
    project: Path | None = None,
    home: Path | None = None,
    env: Mapping[str, str] | None = None,
    platform: str = "",
) -> InstallResult | None:
    """Remove the entry ``name`` from `client`'s file, keeping a backup; None (and nothing written) when it has none."""
    fmt = _client(client)
    path = config_path(client, project or workspace, home=home, env=env, platform=platform)
    document = _read_document(path)
    servers = document.get(fmt.servers_key)
    if not isinstance(servers, dict) or name not in servers:
        return None
    del servers[name]
    return InstallResult(path=path, backup=_save(path, document), replaced=True)


def _save(path: Path, document: dict[str, Any]) -> Path | None:
    """Write ``document`` to ``path`` atomically; the file it replaces is kept as ``.bak`` (returned)."""
    backup = None
    if path.exists():
        backup = path.with_name(path.name + ".bak")
        shutil.copy2(path, backup)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    return backup


def _client(client: str) -> ClientFormat:
    try:
        return CLIENTS[client]
    except KeyError:
        raise ClientConfigError(f"unknown client {client!r}; expected one of: {', '.join(CLIENTS)}") from None


_JSONC_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/|,(?=\s*[}\]])', re.DOTALL)


def _strip_jsonc(text: str) -> str:
    """Drop the comments and trailing commas VS Code allows in its JSON files, leaving strings untouched.

    Comments and trailing commas are replaced by spaces of the same length so error positions stay true.
    """

    def blank(match: re.Match[str]) -> str:
        token = match.group(0)
        return token if token.startswith('"') else re.sub(r"[^\n]", " ", token)

    return _JSONC_TOKEN.sub(blank, text)


def _read_document(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        return {}
    try:
        document = json.loads(_strip_jsonc(text))
    except json.JSONDecodeError as error:
        raise ClientConfigError(
            f"{path}:{error.lineno}:{error.colno}: not valid JSON ({error.msg}); fix or move the file, nothing was changed"
        ) from None
    if not isinstance(document, dict):
        raise ClientConfigError(f"{path}:1:1: expected a JSON object at the top level, found {type(document).__name__}")
    return document
