"""What the trail says about who and what: HTTP callers by their token's name, the plugins a process loaded, the
configuration it ran under; read-only commands leave no trace; without governance no registered tool runs.

Everything runs through the installed `parac` command and `parac mcp serve --transport http` with the official SDK
client over a real socket."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from support.paths import PARAC
from support.serving import free_port, wait_until_listening

GRANTS = "allow:\n  - tools: [file_list, file_write]\n"


@pytest.fixture
def project(project: Path) -> Path:
    (project / ".parac" / "policies" / "default.yaml").write_text(GRANTS)
    return project


def trail(parac, root: Path) -> list[dict]:
    result = parac("--workspace", str(root), "audit", "export", "--format", "jsonl")
    assert result.code == 0, result
    return [json.loads(line) for line in result.out.splitlines()]


def actions(entries: list[dict]) -> list[str]:
    return [entry["action"] for entry in entries]


@contextmanager
def http_server(project: Path, cwd: Path, log: Path) -> Iterator[str]:
    """`parac mcp serve --transport http --workspace PROJECT` started from another directory, with no
    PARAC_WORKSPACE to fall back on."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "PARAC_WORKSPACE"}
    with open(log, "wb") as stderr:
        proc = subprocess.Popen(
            [PARAC, "mcp", "serve", "--transport", "http", "--port", str(port), "--workspace", str(project)],
            cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
            env={**env, "PARAC_LOAD_PLUGINS": ""},
        )
    try:
        wait_until_listening(proc, port, why=log.read_text)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def call_as(url: str, token: str, calls: list[tuple[str, dict]]) -> list:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        async with Client(streamable_http_client(url, http_client=http), mode="legacy") as session:
            return [await session.call_tool(name, arguments) for name, arguments in calls]


async def test_http_callers_are_named_by_their_token_and_tokens_follow_the_workspace_option(
    project: Path, parac, tmp_path: Path
):
    alice = parac("--workspace", str(project), "token", "create", "--role", "operator", "--name", "alice",
                  "--json").json()["token"]
    bob = parac("--workspace", str(project), "token", "create", "--role", "viewer", "--name", "bob",
                "--json").json()["token"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with http_server(project, elsewhere, tmp_path / "server.log") as url:
        by_alice = await call_as(url, alice, [
            ("file_write", {"path": "a.txt", "content": "hi"}),
            ("file_list", {}),
            ("run_agent", {"agent": "coder", "task": "say hello"}),
        ])
        by_bob = await call_as(url, bob, [("file_list", {}), ("file_write", {"path": "b.txt", "content": "no"})])
    assert [result.is_error for result in by_alice] == [False, False, False], by_alice
    assert not by_bob[0].is_error
    assert by_bob[1].is_error and "needs the operator role" in by_bob[1].content[0].text

    entries = trail(parac, project)
    calls = [(e["actor"], e["subject"]) for e in entries if e["action"] == "tool.call"]
    assert ("token:alice", "file_write") in calls and ("token:alice", "file_list") in calls
    assert ("token:alice", "run_agent") in calls and ("token:bob", "file_list") in calls
    run_entries = [e for e in entries if e["action"] in ("agent.run.start", "agent.run.end", "llm.call")]
    assert {e["action"] for e in run_entries} == {"agent.run.start", "agent.run.end", "llm.call"}
    assert {e["actor"] for e in run_entries} == {"token:alice"}
    assert not any(e["actor"].startswith("mcp:http") for e in entries)
    database = (project / ".parac" / "state" / "parac.db").read_bytes()
    for secret in (alice, bob):
        assert secret not in json.dumps(entries) and secret.encode() not in database
    assert parac("--workspace", str(project), "audit", "verify").code == 0


def test_read_only_commands_leave_no_database(project: Path, parac):
    for args in (("validate",), ("agents", "list"), ("plugins",), ("policy", "check", "coder", "file_list")):
        assert parac("--workspace", str(project), *args).code == 0
    assert not (project / ".parac" / "state" / "parac.db").exists()


def test_plugin_loads_and_configuration_are_recorded_when_they_change(project: Path, parac):
    call = ("tools", "call", "file_list", "--args", "{}")
    assert parac("--workspace", str(project), *call).code == 0
    first = trail(parac, project)
    assert actions(first) == ["config.change", "plugin.load", "tool.call"]
    loaded = {p["name"]: p for p in first[1]["data"]["plugins"]}
    assert loaded["governance"] == {"name": "governance", "source": "builtin", "module": "parac.plugins.governance",
                                    "enabled": True, "problems": []}
    assert loaded["git"]["enabled"] is True

    assert parac("--workspace", str(project), *call).code == 0
    assert actions(trail(parac, project))[3:] == ["tool.call"]  # same plugins, same configuration

    assert parac("--workspace", str(project), *call, env={"PARAC_DISABLE_PLUGINS": "git"}).code == 0
    after = trail(parac, project)
    assert actions(after)[4:] == ["plugin.load", "tool.call"]
    assert {p["name"]: p for p in after[4]["data"]["plugins"]}["git"]["enabled"] is False

    assert parac("--workspace", str(project), *call).code == 0  # git back: the set changed again
    (project / ".parac" / "policies" / "default.yaml").write_text(GRANTS + "# reviewed\n")
    assert parac("--workspace", str(project), *call).code == 0
    assert actions(trail(parac, project))[6:] == ["plugin.load", "tool.call", "config.change", "tool.call"]
    assert parac("--workspace", str(project), "audit", "verify").code == 0


async def test_a_long_running_server_records_policy_edits(project: Path, parac):
    """The server reads policies again when they change (checked at most every 0.5 s); the next entry after a
    reload is preceded by a configuration entry."""
    params = StdioServerParameters(command=PARAC, args=["mcp", "serve", "--workspace", str(project)],
                                   env={**os.environ, "PARAC_LOAD_PLUGINS": ""})
    async with Client(params, mode="legacy") as session:
        assert not (await session.call_tool("file_list", {})).is_error
        (project / ".parac" / "policies" / "default.yaml").write_text(GRANTS + "deny: [file_write]\n")
        await anyio.sleep(0.6)  # past the policies' recheck interval
        assert (await session.call_tool("file_write", {"path": "a.txt", "content": "x"})).is_error
    entries = trail(parac, project)
    assert actions(entries) == ["config.change", "plugin.load", "tool.call", "config.change", "tool.call"]
    assert entries[0]["data"]["files"] != entries[3]["data"]["files"]
    calls = [(e["subject"], e["outcome"]) for e in entries if e["action"] == "tool.call"]
    assert calls == [("file_list", "ok"), ("file_write", "denied")]


BROKEN_IMPORT = """\
import importlib.abc, sys

class Broken(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "parac.plugins.governance":
            raise ImportError("governance is broken in this install")
        return None

sys.meta_path.insert(0, Broken())
"""


@pytest.mark.parametrize("how", ["environment", "parac.yaml", "import error", "unwritable trail"])
def test_without_working_governance_registered_tools_are_refused(project: Path, parac, tmp_path: Path, how: str):
    env: dict[str, str] = {}
    if how == "environment":
        env["PARAC_DISABLE_PLUGINS"] = "governance"
    elif how == "parac.yaml":
        settings = project / ".parac" / "parac.yaml"
        settings.write_text(settings.read_text().replace("disabled: []", "disabled: [governance]"))
    elif how == "import error":
        site = tmp_path / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(BROKEN_IMPORT)
        env["PYTHONPATH"] = str(site)
    else:
        (project / ".parac" / "state" / "parac.db").mkdir(parents=True)  # SQLite cannot open a directory
    result = parac("--workspace", str(project), "tools", "call", "file_write",
                   "--args", '{"path": "written.txt", "content": "x"}', env=env)
    assert result.code != 0
    assert not (project / "written.txt").exists()
    if how == "unwritable trail":
        assert 'tool "file_write" refused: the audit trail cannot be written' in result.err, result
    else:
        assert 'tool "file_write" refused: no policy plugin is active' in result.err, result
        if how == "import error":
            assert "governance is broken in this install" in result.err
    assert parac("--workspace", str(project), "validate", env=env).code == 0  # reading still works
