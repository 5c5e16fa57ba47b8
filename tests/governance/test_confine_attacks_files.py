"""The file tools attacked as a model would, over `parac mcp serve` (stdio, the SDK's client) with the tools granted.

Every attack is judged by looking outside: a canary tree beside the workspace is fingerprinted (names, kinds,
inodes, sizes, modification times, contents, link targets) before and after and must not change, nothing of it
may appear in any answer, and the protected areas (``.parac/`` but the state database's folder contents, ``.git/``,
a nested repository's and a nested workspace's) must not change either, nor may anything be created under a name
a case-insensitive file system would take for one of them. Never by the error text.

The racing test runs a separate process that swaps a folder (or a file) inside the workspace with a link to the
canary, atomically and as fast as it can, while every file tool is called 500 times on a path through it.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from support.paths import PARAC, REPO

from parac.core.calls import CallContext
from parac.core.confine import PROTECTED
from parac.core.tools import ToolError
from parac.server.host import Host

MARK = f"CANARY-{secrets.token_hex(8)}"
POLICY = 'allow:\n  - tools: ["file_*"]\n'
RACE_CALLS = 500
RACE_CALLS_MCP = 50
BATCH = 25


@dataclass
class World:
    ws: Path
    canary: Path
    answers: list[str] = field(default_factory=list)

    def arm(self) -> None:
        """(Re)make the links and baits inside the workspace that attacks use (an allowed call may delete a link)."""
        links = {
            "out": str(self.canary),                                  # a folder link out, absolute
            "rel_out": "../canary",                                   # ... and relative
            "leak.txt": str(self.canary / f"{MARK}.txt"),            # a file link out
            "rel_leak.txt": f"../canary/{MARK}.txt",
            "src/chain1": "../rel_out",                               # a chain that ends outside
            "src/chain2": "chain1",
            "rootlink": "/",
            "procself": "/proc/self/root",                            # a magic link
            "procup": "../" * 12 + "proc/self/cwd",
            "sub/deep": "../../canary",                               # a linked parent out, one level down
            "sub2": "sub",                                            # an inside link to that parent
            "pol": ".parac/policies",                                 # inside links into protected areas
            "gitlink": ".git",
            "statelink": ".parac/state",
            "parac_link": ".parac",
            "baitlink": str(self.canary),
            "baitfilelink": str(self.canary / "victim.txt"),
            "devzero": "/dev/zero",
        }
        for name, target in links.items():
            if not os.path.lexists(self.ws / name):
                (self.ws / name).parent.mkdir(parents=True, exist_ok=True)
                os.symlink(target, self.ws / name)
        for name in ("bait.txt", "src/ok.txt"):
            if not (self.ws / name).exists():
                (self.ws / name).write_text("bait\n")
        (self.ws / "baitdir").mkdir(exist_ok=True)
        if not (self.ws / "hard.txt").exists():
            os.link(self.canary / "hard-target.txt", self.ws / "hard.txt")
        if not (self.ws / "fifo").exists():
            os.mkfifo(self.ws / "fifo")


def fingerprint(top: Path, *, skip: Callable[[Path], bool] = lambda _: False) -> dict[str, tuple[Any, ...]]:
    """Everything about a tree that a write, delete, move, rename, chmod or link swap would change."""
    found: dict[str, tuple[Any, ...]] = {}
    if not os.path.lexists(top):
        return found
    for path in [top, *sorted(top.rglob("*"))]:
        if skip(path):
            continue
        info = path.lstat()
        rel = path.relative_to(top).as_posix()
        if path.is_symlink():
            found[rel] = ("link", info.st_ino, os.readlink(path))
        elif path.is_dir():
            found[rel] = ("dir", info.st_ino, info.st_mode)
        elif path.is_file():
            found[rel] = ("file", info.st_ino, info.st_mode, info.st_size, info.st_mtime_ns, info.st_nlink,
                          hashlib.sha256(path.read_bytes()).hexdigest())
        else:
            found[rel] = ("other", info.st_ino, info.st_mode)
    return found


def protected_state(ws: Path) -> dict[str, Any]:
    """The protected areas, and every name anywhere in the workspace that folds to a protected one."""
    state = ws / ".parac" / "state"
    folded = sorted(
        str(path.relative_to(ws)) for path in ws.rglob("*")
        if path.name.casefold().rstrip(" .") in PROTECTED and not path.is_relative_to(state)
    )
    areas = {
        area: fingerprint(ws / area, skip=lambda p: p.is_relative_to(state) and p != state)
        for area in (".parac", ".git", "vendor/lib/.git", "nested/.parac")
    }
    return {"names": folded, "areas": areas}


@pytest.fixture
def world(tmp_path: Path, parac) -> World:
    canary = tmp_path / "canary"
    (canary / "sub").mkdir(parents=True)
    for name in (f"{MARK}.txt", "victim.txt", "edit.txt", "mv.txt", "hard-target.txt", "secret.txt"):
        (canary / name).write_text(f"a {MARK}\n")
    (canary / "sub" / f"{MARK}-x.txt").write_text(f"a {MARK}\n")
    ws = tmp_path / "ws"
    assert parac("init", str(ws)).code == 0
    (ws / ".parac" / "policies" / "default.yaml").write_text(POLICY)
    for repo in (ws, ws / "vendor" / "lib"):
        repo.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (ws / "nested" / ".parac" / "policies").mkdir(parents=True)
    (ws / "nested" / ".parac" / "policies" / "p.yaml").write_text("allow: []\n")
    (ws / "src").mkdir()
    world = World(ws, canary)
    world.arm()
    return world


@asynccontextmanager
async def served(ws: Path) -> AsyncIterator[Any]:
    params = StdioServerParameters(command=PARAC, args=["mcp", "serve", "--workspace", str(ws)],
                                   env={**os.environ, "PARAC_LOAD_PLUGINS": ""})
    async with Client(params, mode="legacy") as session:
        yield session


async def call(session: Any, world: World, tool: str, arguments: dict[str, Any]) -> bool:
    """Call a tool and keep its whole answer; whether it succeeded."""
    result = await session.call_tool(tool, arguments)
    world.answers.append(json.dumps(result.structured_content) + "".join(
        getattr(item, "text", "") for item in result.content))
    return not result.is_error


# --- the corpus ----------------------------------------------------------------------------------------------------

PATH_FORMS = [
    "../canary/secret.txt", "src/../../canary/secret.txt", "./../canary", "..", "../", "/etc/passwd",
    str(Path("/tmp")), "//etc/passwd", "~/.ssh/id_rsa", "~root/.bashrc", "C:/Windows/win.ini",
    "..\\canary\\secret.txt", "%2e%2e/canary/secret.txt", "%2E%2E%2Fcanary", "%252e%252e/canary",
    "src/ok.txt\x00.png", "\uff0e\uff0e/canary/secret.txt", "\uff0e\uff0e\uff0fcanary", "src/\u2025/canary",
    "\u2024\u2024/canary", "src/\n/x",
]
THROUGH_LINKS = [
    "out/secret.txt", "out", "rel_out/secret.txt", "leak.txt", "rel_leak.txt", "src/chain2/secret.txt",
    "src/chain1", "rootlink/etc/passwd", "procself/etc/passwd", "procup/secret.txt", "sub/deep/secret.txt",
    "sub2/deep/secret.txt", "hard.txt", "fifo", "devzero",
]
#: Protected areas at every depth and in several case spellings (a case-insensitive file system's view).
PROTECTED_TARGETS = [
    ".parac", ".PARAC", ".Parac", "./.parac", ".parac/", ".parac/.", ".parac/policies", ".PARAC/POLICIES",
    ".parac/agents", ".parac/skills", ".parac/workflows", ".parac/memory", ".parac/roadmap", ".parac/state",
    ".Parac/State", ".parac/parac.yaml", ".parac/policies/default.yaml", ".git", ".GIT", ".Git/hooks",
    ".git/hooks", ".git/config", ".git/HEAD", "vendor", "vendor/lib", "vendor/lib/.git", "vendor/lib/.GIT/hooks",
    "nested", "nested/.parac", "nested/.parac/policies", "nested/.PARAC/policies/p.yaml", "parac_link/policies",
    "gitlink/hooks", "pol/default.yaml", "statelink/parac.db", ".git.", ".parac ",
]
PROTECTED_WRITES = [
    ".parac/policies/evil.yaml", ".PARAC/policies/evil.yaml", ".parac/parac.yaml", ".parac/state/parac.db",
    ".git/hooks/pre-commit", ".GIT/hooks/pre-commit", ".git/config", "vendor/lib/.git/hooks/post-checkout",
    "vendor/lib/.GIT/config", "nested/.parac/policies/evil.yaml", "deeper/.git/hooks/pre-commit",
    "deeper/.Parac/policies/x.yaml", "pol/evil.yaml", "gitlink/hooks/pre-commit", "parac_link/parac.yaml",
    "statelink/x", ".parac/memory", ".parac/agents", ".git. /config",
]


def corpus() -> list[tuple[str, dict[str, Any]]]:
    attacks: list[tuple[str, dict[str, Any]]] = []
    for path in PATH_FORMS + THROUGH_LINKS:
        attacks += [
            ("file_read", {"path": path}),
            ("file_write", {"path": path, "content": "pwned"}),
            ("file_delete", {"path": path, "recursive": True}),
        ]
    for path in PATH_FORMS[:6] + THROUGH_LINKS:
        attacks += [
            ("file_list", {"path": path}),
            ("file_list", {"path": path, "recursive": True}),
            ("file_search", {"pattern": "a", "path": path}),
            ("file_glob", {"pattern": "**/*", "path": path}),
            ("file_edit", {"path": path, "old_text": "a", "new_text": "pwned", "replace_all": True}),
            ("file_move", {"source": path, "destination": "moved_in"}),
            ("file_move", {"source": "bait.txt", "destination": path.rstrip("/") + "/bait.txt", "overwrite": True}),
        ]
    for pattern in ["../*", "../canary/*", "out/*", "rel_out/**", "sub/deep/*", "**/secret.txt", "*/*/*",
                    "rootlink/etc/*", "/etc/*"]:
        attacks.append(("file_glob", {"pattern": pattern}))
    attacks += [("file_search", {"pattern": "CANARY-[0-9a-f]+"}), ("file_search", {"pattern": "a", "glob": "../*"}),
                ("file_list", {"recursive": True}), ("file_list", {})]
    for target in PROTECTED_TARGETS:
        attacks += [
            ("file_delete", {"path": target, "recursive": True}),
            ("file_delete", {"path": target}),
            ("file_move", {"source": target, "destination": "moved_out"}),
            ("file_move", {"source": "bait.txt", "destination": target, "overwrite": True}),
            ("file_move", {"source": "baitdir", "destination": target}),
            ("file_move", {"source": "baitlink", "destination": target, "overwrite": True}),
            ("file_move", {"source": "baitfilelink", "destination": target, "overwrite": True}),
            ("file_write", {"path": target, "content": "pwned"}),
        ]
    for target in PROTECTED_WRITES:
        attacks += [
            ("file_write", {"path": target, "content": "pwned"}),
            ("file_move", {"source": "bait.txt", "destination": target, "overwrite": True}),
            ("file_edit", {"path": target, "old_text": "a", "new_text": "pwned", "replace_all": True}),
        ]
    return attacks


async def test_attack_corpus_changes_nothing_outside_nor_protected(world: World, parac) -> None:
    attacks = corpus()
    canary = fingerprint(world.canary)
    escapes: list[str] = []
    refused = 0
    async with served(world.ws) as session:
        assert await call(session, world, "file_read", {"path": "src/ok.txt"})  # granted, and working
        await anyio.sleep(0.2)  # the audit trail's first entry has made the state folder private
        guarded = protected_state(world.ws)
        for tool, arguments in attacks:
            world.arm()
            refused += not await call(session, world, tool, arguments)
            if fingerprint(world.canary) != canary:
                escapes.append(f"{tool} {arguments}: the canary changed")
                canary = fingerprint(world.canary)
            if MARK in world.answers[-1]:
                escapes.append(f"{tool} {arguments}: the answer holds the canary")
            now = protected_state(world.ws)
            if now != guarded:
                escapes.append(f"{tool} {arguments}: a protected area changed {_diff(guarded, now)}")
                guarded = now
    assert len(attacks) >= 300, len(attacks)
    assert escapes == [], "\n".join(escapes)
    # Every refusal is in the audit trail as a call that did not succeed.
    trail = [json.loads(line) for line in parac("--workspace", str(world.ws), "audit", "tail", "-n", "100000",
                                                "--json").out.splitlines()]
    failed = [entry for entry in trail if entry["action"] == "tool.call" and entry["outcome"] in ("error", "denied")]
    assert len(failed) == refused


def _diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    if before["names"] != after["names"]:
        return [f"names {before['names']} -> {after['names']}"]
    return [f"{area}/{key}" for area in before["areas"] for key in
            set(before["areas"][area]) ^ set(after["areas"][area]) | {k for k in before["areas"][area]
            if before["areas"][area][k] != after["areas"][area].get(k, before["areas"][area][k])}]


# --- races -------------------------------------------------------------------------------------------------------


@asynccontextmanager
async def racing(first: Path, second: Path, calls: int) -> AsyncIterator[None]:
    """A separate process swapping ``first`` and ``second`` while the block runs; it must have swapped often."""
    proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "support" / "racer.py"), str(first), str(second)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    try:
        yield
    finally:
        proc.terminate()
        swaps = int(proc.communicate(timeout=30)[0].strip() or 0)
    assert swaps > calls, swaps


def put(dir_fd: int, name: str, text: str = "a\n") -> None:
    """Write a file in a folder held by descriptor, wherever the racer has moved that folder meanwhile."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644, dir_fd=dir_fd)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


Invoke = Callable[[str, dict[str, Any]], Awaitable[bool]]


async def race(invoke: Invoke, calls: list[tuple[str, dict[str, Any]]], refill: Callable[[], None]) -> tuple[int, int]:
    """Make the calls in concurrent batches, refilling between them; (succeeded, refused)."""
    outcomes: list[bool] = []

    async def one(tool: str, arguments: dict[str, Any]) -> None:
        outcomes.append(await invoke(tool, arguments))

    for start in range(0, len(calls), BATCH):
        refill()
        async with anyio.create_task_group() as group:
            for tool, arguments in calls[start:start + BATCH]:
                group.start_soon(one, tool, arguments)
    return outcomes.count(True), outcomes.count(False)


async def run_races(world: World, invoke: Invoke, n: int) -> None:
    """Every file tool ``n`` times through a folder, then a file, that a racing process swaps with a link out."""
    ws, canary_dir = world.ws, world.canary
    (ws / "race" / "sub").mkdir(parents=True)
    os.symlink(canary_dir, ws / "race_alt")
    folder = os.open(ws / "race", os.O_PATH | os.O_DIRECTORY)  # follows the folder wherever the racer puts it
    (ws / "movers").mkdir()
    for index in range(n):
        (ws / "movers" / f"m{index}.txt").write_text("m\n")

    def refill_folder() -> None:
        for name in ("secret.txt", "victim.txt", "edit.txt", "mv.txt"):
            put(folder, name)
        try:
            os.mkdir("sub", dir_fd=folder)
        except FileExistsError:
            pass
        inner = os.open("sub", os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
        put(inner, "x.txt")
        os.close(inner)

    def refill_file() -> None:
        """One regular file and one link out under the two names (a write may have replaced the link with a file,
        a delete removed either): the racer's swaps keep that pair, whichever name holds which."""
        names = [ws / "rf", ws / "rf_alt"]
        while sorted("link" if name.is_symlink() else "file" if name.exists() else "" for name in names) != [
                "file", "link"]:
            (ws / "rf.tmp").write_text("a\n")
            os.replace(ws / "rf.tmp", names[0])
            os.symlink(canary_dir / "secret.txt", ws / "rf.tmp")
            os.replace(ws / "rf.tmp", names[1])

    through_folder: dict[str, list[tuple[str, dict[str, Any]]]] = {
        "file_read": [("file_read", {"path": "race/secret.txt"})] * n,
        "file_write": [("file_write", {"path": "race/w.txt", "content": "w"})] * n,
        "file_edit": [("file_edit", {"path": "race/edit.txt", "old_text": "a", "new_text": "b"})] * n,
        "file_delete file": [("file_delete", {"path": "race/victim.txt"})] * n,
        "file_delete folder": [("file_delete", {"path": "race/sub", "recursive": True})] * n,
        "file_move source": [("file_move", {"source": "race/mv.txt", "destination": f"got/{i}.txt"})
                             for i in range(n)],
        "file_move destination": [("file_move", {"source": f"movers/m{i}.txt", "destination": f"race/d{i}.txt"})
                                  for i in range(n)],
        "file_list": [("file_list", {"path": "race"})] * n,
        "file_search": [("file_search", {"pattern": "a", "path": "race"})] * n,
        "file_glob": [("file_glob", {"pattern": "race/*"})] * n,
    }
    through_file: dict[str, list[tuple[str, dict[str, Any]]]] = {
        "file_read (file)": [("file_read", {"path": "rf"})] * n,
        "file_write (file)": [("file_write", {"path": "rf", "content": "a\n"})] * n,
        "file_edit (file)": [("file_edit", {"path": "rf", "old_text": "a", "new_text": "a"})] * n,
        "file_delete (file)": [("file_delete", {"path": "rf"})] * n,
        "file_move (file)": [("file_move", {"source": "rf", "destination": f"gotf/{i}"}) for i in range(n)],
    }
    before = fingerprint(canary_dir)
    assert await invoke("file_list", {})
    await anyio.sleep(0.2)  # the audit trail's first entry has made the state folder private
    guarded = protected_state(ws)
    counts: dict[str, tuple[int, int]] = {}
    try:
        async with racing(ws / "race", ws / "race_alt", n):
            for label, calls in through_folder.items():
                counts[label] = await race(invoke, calls, refill_folder)
        refill_file()
        async with racing(ws / "rf", ws / "rf_alt", n):
            for label, calls in through_file.items():
                counts[label] = await race(invoke, calls, refill_file)
    finally:
        os.close(folder)
    assert fingerprint(canary_dir) == before
    assert not [answer for answer in world.answers if MARK in answer]
    assert protected_state(ws) == guarded
    # Both sides of the race were taken: through the folder (or file) inside, calls succeeded; through the link,
    # they were refused. Judged over all tools: which side one tool's calls meet is chance (a glob does not enter a
    # link and a write replaces a link rather than following it, so neither need ever be refused).
    assert sum(ok for ok, _ in counts.values()) > 0, json.dumps(counts)
    assert sum(refused for _, refused in counts.values()) > 0, json.dumps(counts)


async def test_a_link_swapped_in_by_a_racing_process_leads_nowhere(world: World) -> None:
    """500 calls of every file tool, through the host's governed call path (what every face calls)."""
    host = Host.for_workspace(world.ws)

    async def invoke(tool: str, arguments: dict[str, Any]) -> bool:
        try:
            answer = await host.call_tool(tool, arguments, CallContext(actor="attacker"))
        except ToolError as exc:
            world.answers.append(str(exc))
            return False
        world.answers.append(json.dumps(answer))
        return True

    await run_races(world, invoke, RACE_CALLS)


async def test_racing_over_mcp_stdio(world: World) -> None:
    """The same races, fewer calls, over `parac mcp serve` with the SDK's client."""
    async with served(world.ws) as session:
        await run_races(world, lambda tool, arguments: call(session, world, tool, arguments), RACE_CALLS_MCP)
