"""Git tools on real repositories in temporary folders, with a local bare repository as the remote."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from parac.core.tools import ToolError

from .conftest import call, git, init_repo, write


@pytest.fixture
def repo(workspace: Path) -> Path:
    init_repo(workspace)
    write(workspace / "app.py", "def main():\n    return 1\n")
    git(workspace, "add", "--all")
    git(workspace, "commit", "-q", "-m", "first")
    return workspace


@pytest.fixture
def remote(repo: Path, tmp_path: Path) -> Path:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "-u", "origin", "main")
    return bare


async def test_status_diff_add_commit_log_show(host, repo: Path) -> None:
    write(repo / "app.py", "def main():\n    return 2\n")
    write(repo / "notes.md", "new\n")
    status = await call(host, "git_status")
    assert status["branch"] == "main"
    assert status["unstaged"] == [{"path": "app.py", "change": "modified"}]
    assert status["untracked"] == ["notes.md"] and not status["clean"]

    diff = await call(host, "git_diff")
    assert "-    return 1\n+    return 2" in diff["diff"]
    assert diff["files"] == [{"path": "app.py", "added": 1, "deleted": 1}]

    added = await call(host, "git_add", paths=["app.py", "notes.md"])
    assert {c["path"] for c in added["staged"]} == {"app.py", "notes.md"}
    assert (await call(host, "git_diff"))["diff"] == ""
    assert "+new" in (await call(host, "git_diff", staged=True))["diff"]

    committed = await call(host, "git_commit", message="Return 2\n\nBecause two is better.")
    assert committed["branch"] == "main" and committed["summary"] == "Return 2"
    assert {f["path"] for f in committed["files"]} == {"app.py", "notes.md"}
    assert (await call(host, "git_status"))["clean"]

    log = await call(host, "git_log")
    assert [c["subject"] for c in log["commits"]] == ["Return 2", "first"]
    assert log["commits"][0]["author"] == "Test Dev"
    shown = await call(host, "git_show", rev=log["commits"][0]["sha"])
    assert shown["message"] == "Return 2\n\nBecause two is better."
    assert "+    return 2" in shown["diff"]
    between = await call(host, "git_diff", base=log["commits"][1]["sha"], target=log["commits"][0]["sha"])
    assert {f["path"] for f in between["files"]} == {"app.py", "notes.md"}
    only_app = await call(host, "git_log", path="notes.md")
    assert [c["subject"] for c in only_app["commits"]] == ["Return 2"]


async def test_commit_refuses_when_nothing_is_staged(host, repo: Path) -> None:
    with pytest.raises(ToolError, match="nothing staged"):
        await call(host, "git_commit", message="empty")


async def test_blame_names_the_commit_of_each_line(host, repo: Path) -> None:
    write(repo / "app.py", "def main():\n    return 1\n# second author\n")
    git(repo, "-c", "user.name=Other", "commit", "-q", "-am", "comment")
    blame = await call(host, "git_blame", path="app.py")
    assert [(line["line"], line["author"]) for line in blame["lines"]] == [(1, "Test Dev"), (2, "Test Dev"), (3, "Other")]
    ranged = await call(host, "git_blame", path="app.py", start_line=3, end_line=3)
    assert [line["text"] for line in ranged["lines"]] == ["# second author"]


async def test_branches_switch_and_tags(host, repo: Path) -> None:
    created = await call(host, "git_branch_create", name="feature/x")
    assert created["name"] == "feature/x"
    write(repo / "app.py", "changed\n")
    # creating a branch and switching to it carries uncommitted work along; nothing is lost
    await call(host, "git_branch_create", name="work", switch=True)
    assert (await call(host, "git_status"))["branch"] == "work"
    assert (repo / "app.py").read_text() == "changed\n"
    await call(host, "git_commit", message="on work", all_tracked=True)
    write(repo / "app.py", "uncommitted on work\n")
    with pytest.raises(ToolError, match="git switch failed: .*overwritten"):
        await call(host, "git_switch", branch="main")
    assert (repo / "app.py").read_text() == "uncommitted on work\n"
    git(repo, "checkout", "-q", "--", "app.py")
    switched = await call(host, "git_switch", branch="main")
    assert switched["name"] == "main" and (repo / "app.py").read_text().startswith("def main")
    branches = await call(host, "git_branch_list")
    assert branches["current"] == "main"
    assert {b["name"] for b in branches["branches"]} == {"main", "feature/x", "work"}
    with pytest.raises(ToolError, match="already exists"):
        await call(host, "git_branch_create", name="work")
    with pytest.raises(ToolError, match="check-ref-format"):
        await call(host, "git_branch_create", name="bad..name")
    with pytest.raises(ToolError, match='no branch "missing"'):
        await call(host, "git_switch", branch="missing")

    tag = await call(host, "git_tag", name="v1.0.0", message="first release")
    assert tag["sha"] == git(repo, "rev-parse", "HEAD")
    assert git(repo, "cat-file", "-t", "v1.0.0") == "tag"
    with pytest.raises(ToolError, match="already exists"):
        await call(host, "git_tag", name="v1.0.0")


async def test_push_fetch_and_pull_with_a_bare_remote(host, repo: Path, remote: Path, tmp_path: Path) -> None:
    write(repo / "app.py", "pushed\n")
    await call(host, "git_commit", message="to push", all_tracked=True)
    pushed = await call(host, "git_push")
    assert pushed["sha"] == git(repo, "rev-parse", "HEAD") == git(remote, "rev-parse", "main")

    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    init_repo_user(other)
    write(other / "app.py", "from elsewhere\n")
    git(other, "commit", "-q", "-am", "upstream change")
    git(other, "push", "-q", "origin", "main")

    fetched = await call(host, "git_fetch")
    assert fetched["remote"] == "origin"
    assert (await call(host, "git_status"))["behind"] == 1

    write(repo / "app.py", "local edit\n")
    with pytest.raises(ToolError, match="uncommitted changes"):
        await call(host, "git_pull")
    git(repo, "checkout", "-q", "--", "app.py")
    pulled = await call(host, "git_pull")
    assert pulled["updated"] and pulled["after"] == git(remote, "rev-parse", "main")
    assert (repo / "app.py").read_text() == "from elsewhere\n"

    with pytest.raises(ToolError, match='no remote "upstream" is configured.*origin'):
        await call(host, "git_push", remote="upstream")


async def test_pull_never_merges_diverged_branches(host, repo: Path, remote: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    init_repo_user(other)
    write(other / "theirs.txt", "theirs\n")
    git(other, "add", "theirs.txt")
    git(other, "commit", "-q", "-m", "theirs")
    git(other, "push", "-q", "origin", "main")
    write(repo / "ours.txt", "ours\n")
    await call(host, "git_add", paths=["ours.txt"])
    await call(host, "git_commit", message="ours")
    head = git(repo, "rev-parse", "HEAD")
    with pytest.raises(ToolError, match="git pull failed"):
        await call(host, "git_pull")
    assert git(repo, "rev-parse", "HEAD") == head
    with pytest.raises(ToolError, match="(?s)git push failed.*rejected"):
        await call(host, "git_push")


async def test_mid_merge_refuses_changes_but_reports_status(host, repo: Path) -> None:
    git(repo, "switch", "-q", "-c", "side")
    write(repo / "app.py", "side\n")
    git(repo, "commit", "-q", "-am", "side")
    git(repo, "switch", "-q", "main")
    write(repo / "app.py", "main\n")
    git(repo, "commit", "-q", "-am", "main")
    merge = subprocess.run(["git", "merge", "side"], cwd=repo, capture_output=True)
    assert merge.returncode != 0
    status = await call(host, "git_status")
    assert status["in_progress"] == "a merge" and status["conflicted"] == ["app.py"]
    for name, arguments in [("git_commit", {"message": "x"}), ("git_add", {"paths": ["."]}), ("git_pull", {}),
                            ("git_branch_create", {"name": "y"}), ("git_switch", {"branch": "side"})]:
        with pytest.raises(ToolError, match="middle of a merge"):
            await call(host, name, **arguments)


async def test_not_a_repository_and_bad_paths(host, workspace: Path) -> None:
    with pytest.raises(ToolError, match="not a git repository"):
        await call(host, "git_status")
    init_repo(workspace)
    with pytest.raises(ToolError, match=r"'\.\.'"):
        await call(host, "git_add", paths=["../outside"])
    with pytest.raises(ToolError, match="invalid arguments"):
        await call(host, "git_log", ref="--output=/tmp/x")
    assert (await call(host, "git_log"))["commits"] == []


def init_repo_user(path: Path) -> None:
    git(path, "config", "user.name", "Someone Else")
    git(path, "config", "user.email", "else@example.com")


async def test_hooks_never_run(host, repo: Path) -> None:
    """A hooks folder in the working tree is writable by the file tools; committing must not execute it."""
    git(repo, "config", "core.hooksPath", ".githooks")
    await call(host, "file_write", path=".githooks/pre-commit", content="#!/bin/sh\ntouch hook-ran\n")
    (repo / ".githooks/pre-commit").chmod(0o755)
    write(repo / "app.py", "changed\n")
    await call(host, "git_commit", message="with a hook", all_tracked=True)
    assert not (repo / "hook-ran").exists()
    assert git(repo, "log", "-1", "--format=%s") == "with a hook"
