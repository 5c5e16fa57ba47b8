"""File tools on a real workspace: every operation, the line ranges, and each refusal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from parac.core.tools import ToolError

from .conftest import call, write


async def test_write_read_edit_round_trip(host, workspace: Path) -> None:
    created = await call(host, "file_write", path="src/app.py", content="one\ntwo\nthree\nfour\n")
    assert created == {"path": "src/app.py", "bytes_written": 19, "created": True}
    assert (workspace / "src/app.py").read_text() == "one\ntwo\nthree\nfour\n"

    whole = await call(host, "file_read", path="src/app.py")
    assert whole["content"] == "one\ntwo\nthree\nfour\n" and whole["total_lines"] == 4
    part = await call(host, "file_read", path="src/app.py", start_line=2, end_line=3)
    assert (part["content"], part["start_line"], part["end_line"]) == ("two\nthree\n", 2, 3)

    edited = await call(host, "file_edit", path="src/app.py", old_text="two\n", new_text="2\n")
    assert edited["replacements"] == 1
    assert (workspace / "src/app.py").read_text() == "one\n2\nthree\nfour\n"
    replaced = await call(host, "file_write", path="src/app.py", content="new\n")
    assert replaced["created"] is False
    with pytest.raises(ToolError, match="already exists"):
        await call(host, "file_write", path="src/app.py", content="x", overwrite=False)
    assert not [p for p in (workspace / "src").iterdir() if p.name.endswith(".tmp")]


async def test_edit_requires_exactly_one_match_unless_replace_all(host, workspace: Path) -> None:
    write(workspace / "a.txt", "x = 1\nx = 1\n")
    with pytest.raises(ToolError, match="occurs 2 times"):
        await call(host, "file_edit", path="a.txt", old_text="x = 1", new_text="x = 2")
    with pytest.raises(ToolError, match="not found"):
        await call(host, "file_edit", path="a.txt", old_text="y", new_text="z")
    assert (workspace / "a.txt").read_text() == "x = 1\nx = 1\n"
    done = await call(host, "file_edit", path="a.txt", old_text="x = 1", new_text="x = 2", replace_all=True)
    assert done["replacements"] == 2 and (workspace / "a.txt").read_text() == "x = 2\nx = 2\n"


async def test_list_glob_search(host, workspace: Path) -> None:
    write(workspace / "src/a.py", "def alpha():\n    return 'needle'\n")
    write(workspace / "src/pkg/b.py", "NEEDLE = 1\n")
    write(workspace / "docs/c.md", "a needle in docs\n")
    listed = await call(host, "file_list", path="src")
    assert [(e["path"], e["type"]) for e in listed["entries"]] == [("src/a.py", "file"), ("src/pkg", "dir")]
    everything = await call(host, "file_list", recursive=True)
    paths = [e["path"] for e in everything["entries"]]
    assert "src/pkg/b.py" in paths and not any(p.startswith(".parac/state") for p in paths)
    limited = await call(host, "file_list", recursive=True, max_entries=2)
    assert len(limited["entries"]) == 2 and limited["truncated"]

    globbed = await call(host, "file_glob", pattern="**/*.py")
    assert globbed["matches"] == ["src/a.py", "src/pkg/b.py"]

    found = await call(host, "file_search", pattern="needle", ignore_case=True, glob="*.py")
    assert [(m["path"], m["line"]) for m in found["matches"]] == [("src/a.py", 2), ("src/pkg/b.py", 1)]
    write(workspace / ".git/hooks/needle.py", "needle\n")
    write(workspace / "web/node_modules/dep/needle.py", "needle\n")
    again = await call(host, "file_search", pattern="needle", glob="*.py")
    assert [m["path"] for m in again["matches"]] == ["src/a.py"]
    listed_again = await call(host, "file_list", recursive=True)
    assert not [e for e in listed_again["entries"] if "needle" in e["path"]]
    with pytest.raises(ToolError, match="invalid regular expression"):
        await call(host, "file_search", pattern="(")


async def test_move_and_delete(host, workspace: Path) -> None:
    write(workspace / "old/name.txt", "content\n")
    write(workspace / "keep.txt", "keep\n")
    moved = await call(host, "file_move", source="old/name.txt", destination="new/place.txt")
    assert moved["destination"] == "new/place.txt" and (workspace / "new/place.txt").read_text() == "content\n"
    with pytest.raises(ToolError, match="already exists"):
        await call(host, "file_move", source="new/place.txt", destination="keep.txt")
    with pytest.raises(ToolError, match="not empty"):
        await call(host, "file_delete", path="new")
    assert (await call(host, "file_delete", path="new", recursive=True))["type"] == "dir"
    assert not (workspace / "new").exists()
    os.symlink("keep.txt", workspace / "link.txt")
    assert (await call(host, "file_delete", path="link.txt"))["type"] == "symlink"
    assert (workspace / "keep.txt").read_text() == "keep\n"
    with pytest.raises(ToolError, match="no such file"):
        await call(host, "file_delete", path="missing.txt")


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("file_read", {"path": "../outside.txt"}, "'..'"),
        ("file_read", {"path": "/etc/passwd"}, "absolute paths"),
        ("file_read", {"path": ".parac/state/parac.db"}, "private state"),
        ("file_write", {"path": ".parac/policies/grant.yaml", "content": "allow: []"}, "read-only"),
        ("file_write", {"path": ".git/config", "content": ""}, "read-only"),
        ("file_delete", {"path": "."}, "read-only"),
        ("file_delete", {"path": "src/."}, "no such file"),
        ("file_glob", {"pattern": "../*"}, "must not contain"),
        ("file_read", {"path": "src/app.py", "start_line": 0}, "invalid arguments"),
    ],
)
async def test_refusals(host, workspace: Path, tool: str, arguments: dict, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        await call(host, tool, **arguments)


async def test_symlink_out_of_the_workspace_is_refused(host, workspace: Path, tmp_path: Path) -> None:
    secret = write(tmp_path / "secret.txt", "secret\n")
    os.symlink(secret, workspace / "leak.txt")
    with pytest.raises(ToolError, match="symbolic link"):
        await call(host, "file_read", path="leak.txt")
    with pytest.raises(ToolError, match="symbolic link"):
        await call(host, "file_write", path="leak.txt", content="overwritten")
    assert secret.read_text() == "secret\n"


async def test_binary_and_huge_files_are_clear_errors(host, workspace: Path) -> None:
    (workspace / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(ToolError, match="binary file"):
        await call(host, "file_read", path="image.png")
    (workspace / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(ToolError, match="not UTF-8"):
        await call(host, "file_read", path="latin1.txt")
    with open(workspace / "huge.log", "wb") as handle:  # 1 GiB, sparse: no gigabyte is written or read
        handle.truncate(1024**3)
    with pytest.raises(ToolError, match="1073741824 bytes, more than the limit"):
        await call(host, "file_read", path="huge.log")
    with pytest.raises(ToolError, match="more than the limit"):
        await call(host, "file_edit", path="huge.log", old_text="a", new_text="b")
    found = await call(host, "file_search", pattern="IHDR")
    assert found["matches"] == []
