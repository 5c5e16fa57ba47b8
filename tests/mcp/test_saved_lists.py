"""The first `tools/list` answered from the last server's answer (`parac.server.mcp.saved_lists`): the same tools as
a server that builds them, a stale answer corrected with `list_changed`, and no stored answer when what the list
follows from changed (the profile in `parac.yaml`), while problems in `parac.yaml` are still reported.

Real `parac mcp serve` processes over stdio, each with the test's own cache folder (``XDG_CACHE_HOME``).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from support.paths import PARAC

FROM_DISK = "tools/list answered from the list last served"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}


class Served:
    """One server on pipes."""

    def __init__(self, project: Path, cache: Path) -> None:
        self.proc = subprocess.Popen(
            [PARAC, "mcp", "serve", "--workspace", str(project), "--log-level", "debug"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PARAC_LOAD_PLUGINS": "", "XDG_CACHE_HOME": str(cache)},
        )
        self.seen: list[dict[str, Any]] = []
        self.send(INITIALIZE)
        self.until(lambda m: m.get("id") == 0)
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        self.proc.stdin.flush()

    def until(self, wanted: Any) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            assert line, "the server closed stdout"
            message = json.loads(line)
            self.seen.append(message)
            if wanted(message):
                return message

    def tools(self) -> list[str]:
        self.send(LIST)
        return [tool["name"] for tool in self.until(lambda m: m.get("id") == 1)["result"]["tools"]]

    def close(self) -> str:
        _, err = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, err.decode()
        return err.decode()


def saved_file(cache: Path) -> Path:
    [file] = (cache / "parac").glob("tools-*.json")
    return file


def test_a_second_server_answers_from_disk_what_the_first_built(project: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    first = Served(project, cache)
    built = first.tools()
    assert FROM_DISK not in first.close()
    assert "list_agents" in built and "file_read" in built  # parac's tools and the plugins'

    second = Served(project, cache)
    assert second.tools() == built
    assert FROM_DISK in second.close()


def test_a_stale_saved_list_is_corrected_with_list_changed(project: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    first = Served(project, cache)
    built = first.tools()
    first.close()
    file = saved_file(cache)
    stored = json.loads(file.read_text())
    stored["answer"]["tools"] = [t for t in stored["answer"]["tools"] if t["name"] != "list_agents"]
    file.write_text(json.dumps(stored))  # as if a plugin had changed in place since

    server = Served(project, cache)
    assert server.tools() == [name for name in built if name != "list_agents"]
    server.until(lambda m: m.get("method") == "notifications/tools/list_changed")
    assert server.tools() == built
    server.close()
    assert [t["name"] for t in json.loads(file.read_text())["answer"]["tools"]] == built


def test_a_changed_parac_yaml_is_not_answered_from_the_old_list(project: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    first = Served(project, cache)
    built = first.tools()
    first.close()
    settings = project / ".parac" / "parac.yaml"
    settings.write_text(settings.read_text() + "\nmcp:\n  profile: minimal\n")

    server = Served(project, cache)
    minimal = server.tools()
    assert FROM_DISK not in server.close()
    assert "list_agents" in minimal and len(minimal) < len(built)
    assert not any(m.get("method") == "notifications/tools/list_changed" for m in server.seen)


def test_problems_in_parac_yaml_are_still_reported_when_answered_from_disk(project: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    settings = project / ".parac" / "parac.yaml"
    settings.write_text(settings.read_text() + "\nsettings: [unclosed\n")
    reports = []
    for _ in range(2):
        server = Served(project, cache)
        listed = server.tools()
        server.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                     "params": {"name": "validate_workspace", "arguments": {}}})
        result = server.until(lambda m: m.get("id") == 2)["result"]
        reports.append((listed, json.dumps(result), server.close()))
    (listed, validated, log), (listed_again, validated_again, log_again) = reports
    assert FROM_DISK in log_again and FROM_DISK not in log
    assert listed_again == listed
    assert "parac.yaml" in validated and "while parsing a flow sequence" in validated
    assert validated_again == validated


def test_a_save_prunes_old_files_and_keeps_a_bounded_number_per_workspace(project: Path, tmp_path: Path, monkeypatch):
    """In process: each save keeps the workspace's newest files up to the bound, and deletes any workspace's file
    not written for MAX_AGE_S, while a recent file of another workspace stays."""
    from parac.server.mcp.saved_lists import KEEP_PER_WORKSPACE, MAX_AGE_S, SavedLists

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "cache" / "parac"
    folder.mkdir(parents=True)
    stale, recent = folder / "tools-0000000000000000-aaaaaaaaaaaaaaaa.json", folder / "tools-1111111111111111-b.json"
    for other in (stale, recent):
        other.write_text("{}")
    os.utime(stale, (time.time() - MAX_AGE_S - 60,) * 2)
    lists = SavedLists(project, None)
    roles = [f"role{index}" for index in range(KEEP_PER_WORKSPACE + 4)]
    for index, role in enumerate(roles):
        lists.write(role, {"tools": [{"name": f"t{index}"}]})
        written = lists._file(role)
        os.utime(written, (time.time() - len(roles) + index,) * 2)  # distinct ages, oldest first
    mine = sorted(path for path in folder.glob("tools-*.json") if path not in (stale, recent))
    assert len(mine) == KEEP_PER_WORKSPACE
    fresh = SavedLists(project, None)
    kept = [role for role in roles if fresh.read(role) is not None]
    assert kept == roles[-KEEP_PER_WORKSPACE:]  # the newest survive, the oldest went first
    assert not stale.exists() and recent.exists()
