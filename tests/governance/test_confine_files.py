"""Path escapes: a corpus of traversal attempts against `FileJail`, each refused with a reason, none reaching out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from parac.core import beneath
from parac.core.confine import ConfinementError, FileJail

SECRET = "outside-secret-content"


@pytest.fixture(autouse=True, params=["openat2", "walk"])
def resolver(request, monkeypatch):
    """Every test with both resolvers: the kernel's openat2, and the walk used where it is missing (or refused by a
    seccomp filter) and for paths with links."""
    if request.param == "walk":
        monkeypatch.setattr(beneath, "_openat2_works", False)
    else:
        assert beneath.has_openat2(os.open("/", os.O_PATH))  # this kernel (≥ 5.6) has it: the fast path is tested
    return request.param


@pytest.fixture
def world(tmp_path: Path) -> tuple[FileJail, Path]:
    """A workspace with a secret file beside it, links of every kind, and the private state folder."""
    root = tmp_path / "ws"
    outside = tmp_path / "outside"
    (root / "src" / "deep").mkdir(parents=True)
    (root / ".parac" / "state").mkdir(parents=True)
    (root / ".parac" / "policies").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    (root / "src" / "ok.txt").write_text("inside")
    (root / ".parac" / "state" / "parac.db").write_text("db")
    (root / ".parac" / "policies" / "default.yaml").write_text("allow: []\n")
    os.symlink(outside, root / "out")                              # a folder link that leads out
    os.symlink(outside / "secret.txt", root / "src" / "leak.txt")  # a file link that leads out
    os.symlink("../out", root / "src" / "chain1")                  # a chain: src/chain1 -> out -> outside
    os.symlink("chain1", root / "src" / "chain2")
    os.symlink("/", root / "rootlink")
    os.symlink("src", root / "inner")                              # a link that stays inside
    os.symlink(".parac/state", root / "statelink")                 # a link into the private state
    os.link(outside / "secret.txt", root / "hard.txt")             # a hard link to the outside file
    os.mkfifo(root / "fifo")
    return FileJail(root), root


ESCAPES = [
    "../outside/secret.txt",
    "src/../../outside/secret.txt",
    "src/deep/../../../outside/secret.txt",
    "./../outside/secret.txt",
    "..",
    "../",
    "/etc/passwd",
    "//etc/passwd",
    "~/.ssh/id_rsa",
    "~root/.bashrc",
    "C:/Windows/win.ini",
    "c:\\windows\\win.ini",
    "..\\outside\\secret.txt",
    "src\\..\\..\\outside",
    "%2e%2e/outside/secret.txt",
    "%2E%2E%2Foutside%2Fsecret.txt",
    "src/%2e%2e/%2e%2e/outside",
    "..%2foutside",
    "%252e%252e/outside",
    "src/%00/x",
    "src/ok.txt\x00.png",
    "\uff0e\uff0e/outside/secret.txt",      # fullwidth full stops
    "\uff0e\uff0e\uff0foutside",             # fullwidth solidus
    "src/\u2025/outside",                    # two-dot leader (NFKC: "..")
    "\u2024\u2024/outside",                  # one-dot leaders
    "out/secret.txt",
    "out",
    "src/leak.txt",
    "src/chain2/secret.txt",
    "src/chain1/secret.txt",
    "rootlink/etc/passwd",
    "hard.txt",
    "fifo",
    ".parac/state/parac.db",
    ".PARAC/STATE/parac.db",
    ".Parac/State",
    ".parac/./state/parac.db",
    "statelink/parac.db",
    "a" * 300,
    "src/" + "a/" * 2100,
    "",
    "src/\n/x",
]


@pytest.mark.parametrize("path", ESCAPES, ids=[repr(p)[:40] for p in ESCAPES])
def test_escape_is_refused(world, path):
    jail, _ = world
    with pytest.raises(ConfinementError) as refused:
        target = jail.resolve(path)
        # A path that is not refused by name must at least not lead out, and cannot be opened to read the secret.
        with jail.open(path) as handle:
            assert SECRET not in handle.read()
        pytest.fail(f"{path!r} resolved to {target}")
    assert refused.value.reason


@pytest.mark.parametrize("path", ["src/ok.txt", "./src/ok.txt", "src//ok.txt", "inner/ok.txt", "src/deep/../ok.txt"])
def test_paths_inside_are_served(world, path):
    jail, root = world
    if ".." in path:
        with pytest.raises(ConfinementError, match=r"'\.\.'"):
            jail.resolve(path)
        return
    assert jail.resolve(path) == root / "src" / "ok.txt"
    assert jail.open(path).read() == "inside"


def test_writes_to_policies_and_settings_are_refused(world):
    jail, _ = world
    for path in [".parac/policies/default.yaml", ".parac/policies/new.yaml", ".parac/parac.yaml", ".git/config",
                 ".PARAC/Policies/x.yaml"]:
        with pytest.raises(ConfinementError, match="read-only"):
            jail.open(path, "w")
    assert jail.open(".parac/policies/default.yaml").read() == "allow: []\n"


def test_write_through_link_out_is_refused(world, tmp_path):
    jail, _ = world
    for path in ["out/new.txt", "src/chain2/new.txt", "src/leak.txt"]:
        with pytest.raises(ConfinementError):
            jail.open(path, "w")
    assert sorted(p.name for p in (tmp_path / "outside").iterdir()) == ["secret.txt"]
    assert (tmp_path / "outside" / "secret.txt").read_text() == SECRET


def test_write_creates_parents_inside(world):
    jail, root = world
    jail.write_bytes("new/dir/file.txt", b"x")
    assert (root / "new" / "dir" / "file.txt").read_bytes() == b"x"


def test_symlink_swapped_after_check_is_not_followed(world, tmp_path):
    """The race a checker-then-opener loses: the final component becomes a link after `resolve`."""
    jail, root = world
    target = root / "src" / "swap.txt"
    target.write_text("inside")
    jail.resolve("src/swap.txt")
    target.unlink()
    os.symlink(tmp_path / "outside" / "secret.txt", target)
    with pytest.raises(ConfinementError):
        jail.open("src/swap.txt")


def test_device_files_are_refused(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    os.symlink("/dev/zero", root / "zero")
    with pytest.raises(ConfinementError):
        FileJail(root).open("zero", "rb")


def test_read_bytes_cap(world):
    jail, root = world
    (root / "big.bin").write_bytes(b"x" * 5000)
    with pytest.raises(ConfinementError, match="limit of 1000"):
        jail.read_bytes("big.bin", max_bytes=1000)


def test_walk_lists_only_reachable_files(world):
    jail, _ = world
    listed = list(jail.walk())
    assert "src/ok.txt" in listed
    assert ".parac/policies/default.yaml" in listed
    for bad in ["hard.txt", "fifo", "src/leak.txt", ".parac/state/parac.db"]:
        assert bad not in listed
    assert not any(path.startswith(("out/", "rootlink/", "statelink/")) for path in listed)


def test_case_insensitive_file_system_trick(world):
    """On a case-insensitive file system `.PARAC/STATE` is the state folder; it is refused everywhere."""
    jail, root = world
    (root / ".PARAC").mkdir()
    (root / ".PARAC" / "STATE").mkdir()
    (root / ".PARAC" / "STATE" / "x").write_text("y")
    with pytest.raises(ConfinementError, match="private state"):
        jail.open(".PARAC/STATE/x")


def test_links_that_stay_inside_are_followed_for_every_operation(world):
    jail, root = world
    os.symlink("ok.txt", root / "src" / "alias.txt")
    assert jail.read_bytes("src/alias.txt") == b"inside"
    assert jail.write_bytes("inner/alias.txt", b"changed") is False  # through two inside links, onto the file
    assert (root / "src" / "ok.txt").read_bytes() == b"changed" and (root / "src" / "alias.txt").is_symlink()
    # Listed through the inside link, at their real place; the links that lead out are left out.
    assert [entry.path for entry in jail.entries("inner")] == ["src/alias.txt", "src/deep", "src/ok.txt"]
    jail.move("inner/alias.txt", "moved-alias.txt")  # the link itself moves, not its file
    assert (root / "moved-alias.txt").is_symlink() and (root / "src" / "ok.txt").exists()
    assert jail.delete("moved-alias.txt") == "symlink" and (root / "src" / "ok.txt").exists()


def test_protected_areas_are_wholes_at_any_depth_and_spelling(world, tmp_path):
    jail, root = world
    (root / "vendor" / "lib" / ".git" / "hooks").mkdir(parents=True)
    (root / "bait.txt").write_text("bait")
    for path in [".parac", ".PARAC", ".parac/agents", ".Parac/Memory", ".git", "vendor/lib/.GIT",
                 "vendor/lib/.git/hooks", ".git.", ".par\u200bac"]:
        with pytest.raises(ConfinementError):
            jail.delete(path, recursive=True)
        with pytest.raises(ConfinementError):
            jail.move("bait.txt", path, overwrite=True)
    for holder in ["vendor", "vendor/lib"]:  # folders holding a nested repository
        with pytest.raises(ConfinementError, match="holds a protected area"):
            jail.delete(holder, recursive=True)
        with pytest.raises(ConfinementError, match="holds a protected area"):
            jail.move(holder, "elsewhere")
    assert (root / "vendor" / "lib" / ".git" / "hooks").is_dir() and (root / ".parac" / "policies").is_dir()
    (root / ".parac" / "memory").mkdir()
    jail.write_bytes(".parac/memory/notes.md", b"the team's content")  # inside an entry: content tools may edit
    assert jail.delete(".parac/memory/notes.md") == "file"


def test_policy_areas_cannot_go_with_a_parent(tmp_path):
    root = tmp_path / "ws"
    (root / "lib" / "vendor").mkdir(parents=True)
    (root / "lib" / "vendor" / "x.txt").write_text("x")
    jail = FileJail(root, read_only=["lib/vendor"])
    for attempt in (lambda: jail.delete("lib", recursive=True), lambda: jail.move("lib", "lib2"),
                    lambda: jail.delete("LIB/Vendor/x.txt")):
        with pytest.raises(ConfinementError):
            attempt()
    assert (root / "lib" / "vendor" / "x.txt").read_text() == "x"


def test_writes_are_atomic_and_keep_the_mode(world):
    jail, root = world
    target = root / "src" / "ok.txt"
    target.chmod(0o640)
    before = target.stat().st_ino
    assert jail.write_bytes("src/ok.txt", b"new") is False
    assert target.read_bytes() == b"new" and target.stat().st_ino != before and target.stat().st_mode & 0o777 == 0o640
    with pytest.raises(FileExistsError):
        jail.write_bytes("src/ok.txt", b"again", overwrite=False)
    assert not [p for p in (root / "src").iterdir() if p.name.endswith(".tmp")]
