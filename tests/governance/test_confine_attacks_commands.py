"""Command-side attacks on the confinement, through the MCP SDK's client over stdio against ``parac mcp serve``, with
``shell_run`` and the git tools granted by a policy and commands run in the real bubblewrap.

Every command of the default template's allow-list (``pytest``, ``python -m pytest``, ``make test``, ``ls``,
``git status``, ``git diff``, ``git log``) is given options that write, read, change directory, load code or reach
out; the git tools are given arguments that look like git's options or lead out. Each attack is judged by looking
outside, never by the error text: a canary tree beside the workspace must be unchanged (names, contents, modes) and
nothing new may appear beside the workspace; no answer may hold the canary's content or its secret file name; the
workspace's protected areas (policies, settings, ``.git/config``, ``.git/hooks``) must be unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from support.paths import PARAC

from parac.core.audit import AuditLog
from parac.core.policy import load_policies

CONTENT = "canary-content-7f3a9c"   # inside the canary's files
NAME = "canary-name-51be02"          # in a file name of the canary no attack mentions

GRANTS = """\
allow:
  - tools: [shell_run, "git_*"]
"""


# --- the world -------------------------------------------------------------------------------------------------------


def _tree_digest(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Every entry under ``folder`` (not following links) with its kind, mode and content digest; the top-level
    entries named in ``skip`` are not entered (the audit writer renames files in ``.parac/state`` meanwhile)."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        if Path(dirpath) == folder:
            dirnames[:] = [name for name in dirnames if name not in skip]
            filenames = [name for name in filenames if name not in skip]
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            info = os.lstat(path)
            rel = path.relative_to(folder).as_posix()
            if os.path.islink(path):
                out[rel] = f"link {os.readlink(path)}"
            elif path.is_file():
                out[rel] = f"file {oct(info.st_mode)} {hashlib.sha256(path.read_bytes()).hexdigest()}"
            else:
                out[rel] = f"dir {oct(info.st_mode)}"
    return out


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_world(base: Path, policy_extra: str = "") -> Path:
    """``base/canary`` (the outside, with a makefile, a test file and a pytest.ini that would act if run) and
    ``base/ws`` (a default-template workspace, a git repository with a Makefile and tests)."""
    canary = base / "canary"
    (canary / "deep").mkdir(parents=True)
    (canary / "secret.txt").write_text(f"{CONTENT}\n")
    (canary / f"{NAME}.txt").write_text(f"{CONTENT}\n")
    (canary / "deep" / "more.txt").write_text(f"{CONTENT} deep\n")
    (canary / "evil.mk").write_text(f"test:\n\tcat {canary}/secret.txt; touch {base}/pwned-make\n")
    (canary / "test_evil.py").write_text(
        f"def test_evil():\n    open({str(base / 'pwned-pytest')!r}, 'w').write('x')\n"
        f"    print(open({str(canary / 'secret.txt')!r}).read())\n"
    )
    (canary / "pytest.ini").write_text(f"[pytest]\naddopts = --basetemp={canary}\n")
    (canary / "conftest.py").write_text(f"open({str(base / 'pwned-conftest')!r}, 'w').write('x')\n")
    ws = base / "ws"
    result = subprocess.run([PARAC, "init", str(ws)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    (ws / ".parac" / "policies" / "attack.yaml").write_text(GRANTS + policy_extra)
    (ws / "Makefile").write_text("test:\n\t@echo tests ran\n")
    (ws / "tests").mkdir()
    (ws / "tests" / "test_ok.py").write_text("def test_ok():\n    assert True\n")
    (ws / "README.md").write_text("hello\n")
    _git(ws, "init", "-q", "-b", "main")
    _git(ws, "config", "user.name", "Test Dev")
    _git(ws, "config", "user.email", "dev@example.com")
    _git(ws, "add", "-A")
    _git(ws, "commit", "-qm", "first")
    return ws


def protected_digest(ws: Path) -> dict[str, str]:
    digest = {f".parac/{k}": v for k, v in _tree_digest(ws / ".parac", skip=("state",)).items()}
    digest.update({f".git/hooks/{k}": v for k, v in _tree_digest(ws / ".git" / "hooks").items()})
    digest[".git/config"] = hashlib.sha256((ws / ".git" / "config").read_bytes()).hexdigest()
    digest[".parac"] = oct(os.lstat(ws / ".parac").st_mode)
    digest[".git"] = oct(os.lstat(ws / ".git").st_mode)
    return digest


def answer_text(result: Any) -> str:
    parts = [getattr(item, "text", "") for item in result.content]
    if result.structured_content is not None:
        parts.append(json.dumps(result.structured_content))
    return "\n".join(parts)


@asynccontextmanager
async def serve(ws: Path, **env: str):
    params = StdioServerParameters(command=PARAC, args=["mcp", "serve", "--workspace", str(ws)],
                                   env={**os.environ, "PARAC_LOAD_PLUGINS": "", **env})
    async with Client(params, mode="legacy") as session:
        yield session


class Judge:
    """Looks outside before and after each attack; collects every escape with what gave it away."""

    def __init__(self, base: Path, ws: Path) -> None:
        self.base, self.ws = base, ws
        self.canary = _tree_digest(base / "canary")
        self.beside = sorted(p.name for p in base.iterdir())
        self.protected = protected_digest(ws)
        self.escapes: list[str] = getattr(self, "escapes", [])
        self.count = getattr(self, "count", 0)

    def check(self, label: str, result: Any) -> None:
        self.count += 1
        text = answer_text(result)
        problems = []
        if CONTENT in text or NAME in text:
            problems.append("the answer holds the canary")
        if _tree_digest(self.base / "canary") != self.canary:
            problems.append("the canary changed")
        if sorted(p.name for p in self.base.iterdir()) != self.beside:
            problems.append(f"beside the workspace: {sorted(p.name for p in self.base.iterdir())}")
        if protected_digest(self.ws) != self.protected:
            problems.append("a protected area changed")
        if any(CONTENT in text for text in _workspace_texts(self.ws)):
            problems.append("the canary's content was copied into the workspace")
        if problems:
            self.escapes.append(f"{label}: {'; '.join(problems)}")
            self.__init__(self.base, self.ws)  # the next attack is judged on its own


def _workspace_texts(ws: Path) -> Iterator[str]:
    """The workspace's files as text, but for git's objects and parac's state (which change as the server runs)."""
    for dirpath, dirnames, filenames in os.walk(ws):
        dirnames[:] = [d for d in dirnames if d not in (".git", "state")]
        for name in filenames:
            try:
                yield (Path(dirpath) / name).read_text(errors="replace")
            except OSError:
                continue


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path]:
    base = tmp_path / "base"
    base.mkdir()
    return base, make_world(base)


# --- the corpus -----------------------------------------------------------------------------------------------------


def shell_attacks(base: Path) -> list[tuple[list[str], str | None]]:
    """(argv, stdin) for every allow-listed command: options that write, read, change folder or load code."""
    O = str(base / "canary")
    S = f"{O}/secret.txt"
    B = str(base)
    attacks: list[tuple[list[str], str | None]] = []
    # ls: read what is beside the workspace, by every spelling of the way out
    for target in (O, B, "..", "../canary", "/proc/self/cwd/..", "/proc/1/root" + B, "/proc/1/cwd/..", S, "/tmp",
                   "/root", "/home", "../canary/deep"):
        attacks.append((["ls", "-laR", target], None))
    for target in ("/", "/proc", "/proc/1/root/", "/proc/self/root" + B):
        attacks.append((["ls", "-la", target], None))
    attacks.append((["ls", "-la", "--", O], None))
    attacks.append((["ls", "--dired", "-l", O, B], None))
    # git status / diff / log: --output, --no-index and pathspecs that lead out
    for target in (f"{O}/f", f"{B}/f", "../f", "../canary/secret.txt", ".parac/policies/evil.yaml", ".git/config",
                   ".git/hooks/pre-commit", ".parac/parac.yaml", ".parac/state/x", "/proc/1/root" + f"{B}/f"):
        attacks.append((["git", "log", f"--output={target}"], None))
    attacks.append((["git", "diff", "HEAD", f"--output={O}/f"], None))
    attacks.append((["git", "diff", f"--output={B}/diff.txt"], None))
    attacks.append((["git", "diff", "--no-index", S, "/dev/null"], None))
    attacks.append((["git", "diff", "--no-index", "../canary/secret.txt", "README.md"], None))
    attacks.append((["git", "diff", "--no-index", "--stat", O, "."], None))
    attacks.append((["git", "diff", "--no-index", "/proc/1/root" + S, "README.md"], None))
    attacks.append((["git", "status", "--porcelain", "--ignored", "--", "../canary"], None))
    attacks.append((["git", "status", "--", O], None))
    attacks.append((["git", "log", "-p", "--", S], None))
    # refused by the allow-list before anything runs: global options ahead of the allowed words
    attacks.append((["git", "-C", O, "status"], None))
    attacks.append((["git", f"--git-dir={O}", "log"], None))
    attacks.append((["git", "-c", f"core.pager=touch {B}/pwned", "log"], None))
    attacks.append((["git", "--exec-path=" + O, "status"], None))
    # make test: other makefiles, evaluated rules, other folders
    rules = {
        "read": f"test: ; cat {S} {O}/deep/more.txt",
        "copy": f"test: ; cp {S} copied.txt",
        "write": f"test: ; touch {B}/pwned; echo x > {O}/secret.txt",
        "delete": f"test: ; rm -rf {O}",
        "parac": "test: ; echo 'allow: [{tools: [\"*\"]}]' > .parac/policies/all.yaml",
        "rename": "test: ; mv .parac moved; mv .git moved-git",
        "hooks": "test: ; echo 'touch pwned' > .git/hooks/pre-commit; chmod +x .git/hooks/pre-commit",
        "config": "test: ; git config core.fsmonitor 'touch pwned'; echo '[core]' >> .git/config",
        "unmount": "test: ; umount .parac; umount -l .git/config; echo x > .parac/parac.yaml",
        "proc": f"test: ; cat /proc/1/root{S}; ls /proc/*/root{O}",
        "link": f"test: ; ln -s {S} link.txt; cat link.txt",
    }
    for rule in rules.values():
        attacks.append((["make", "test", f"--eval={rule}"], None))
    attacks.append((["make", "test", "-f", f"{O}/evil.mk"], None))
    attacks.append((["make", "test", f"--file={O}/evil.mk"], None))
    attacks.append((["make", "test", "-f", "../canary/evil.mk"], None))
    attacks.append((["make", "test", "-C", O], None))
    attacks.append((["make", "test", "-C", "..", "-f", "canary/evil.mk"], None))
    attacks.append((["make", "test", f"MAKEFILES={O}/evil.mk"], None))
    attacks.append((["make", "test", "-f", "/dev/stdin"], f"test:\n\tcat {S}; touch {B}/pwned\n"))
    attacks.append((["make", "test", "-I", O, "--eval=include evil.mk"], None))
    # pytest and python -m pytest: reports, caches and temporary folders outside; tests and plugins from outside
    for runner in (["pytest", "-q"], ["python", "-m", "pytest", "-q"]):
        attacks += [
            ([*runner, f"--junitxml={O}/j.xml"], None),
            ([*runner, f"--junitxml={B}/j.xml"], None),
            ([*runner, "-o", f"cache_dir={O}/c"], None),
            ([*runner, "-o", f"cache_dir={B}/c"], None),
            ([*runner, f"--basetemp={O}"], None),
            ([*runner, f"--basetemp={B}/bt"], None),
            ([*runner, f"{O}/test_evil.py"], None),
            ([*runner, "-c", f"{O}/pytest.ini"], None),
            ([*runner, f"--rootdir={O}", O], None),
            ([*runner, f"--debug={O}/debug.log"], None),
            ([*runner, f"--log-file={B}/log.txt"], None),
            ([*runner, f"--confcutdir={B}", "../canary"], None),
        ]
    return attacks


# Test files an attacker writes into the workspace and runs with the allowed pytest: arbitrary code.
CODE = {
    "read": "print(open({S!r}).read())",
    "list": "import os; print(os.listdir({O!r}), os.listdir({B!r}))",
    "write": "open({B!r} + '/pwned', 'w').write('x')",
    "overwrite": "open({S!r}, 'w').write('gone')",
    "delete": "import shutil; shutil.rmtree({O!r})",
    "walk-up": "import os; os.chdir('..'); print(os.listdir('.')); open('pwned', 'w').write('x')",
    "proc-root": "import os; print([os.listdir(f'/proc/{{p}}/root' + {B!r}) for p in os.listdir('/proc') if p.isdigit()])",
    "policies": "open('.parac/policies/all.yaml', 'w').write('allow: [{{tools: [\"*\"]}}]')",
    "rename-parac": "import os; os.rename('.parac', 'p2'); os.mkdir('.parac')",
    "rename-git": "import os; os.rename('.git', 'g2')",
    "hooks": "open('.git/hooks/post-checkout', 'w').write('#!/bin/sh\\ntouch pwned')",
    "git-config": "open('.git/config', 'a').write('[core]\\n\\tfsmonitor = touch {B}/pwned\\n')",
    "mount": "import ctypes, os; libc = ctypes.CDLL(None); print(libc.umount2(b'.parac', 2), libc.mount(b'none', b'.parac', b'tmpfs', 0, None)); open('.parac/parac.yaml', 'w').write('x')",
    "state": "import os; print(os.listdir('.parac/state')); open('.parac/state/x', 'w').write('x')",
    "home": "import os; print(os.listdir(os.path.expanduser('~'))); open(os.path.expanduser('~/.bashrc'), 'a').write('touch {B}/pwned')",
    "chroot-escape": "import os; os.mkdir('cj'); os.chroot('cj'); os.chdir('../../../../../..'); print(os.listdir('.'))",
    "ptrace-parent": "import os; print(open('/proc/1/cmdline').read()); os.kill(1, 9)",
}


def code_attacks(base: Path) -> list[tuple[str, str]]:
    O, B = str(base / "canary"), str(base)
    S = f"{O}/secret.txt"
    return [(name, f"def test_attack():\n    {code.format(O=O, B=B, S=S)}\n") for name, code in CODE.items()]


async def test_allow_listed_commands_cannot_reach_outside_or_protected_areas(world) -> None:
    base, ws = world
    judge = Judge(base, ws)
    async with serve(ws) as session:
        for argv, stdin in shell_attacks(base):
            arguments: dict[str, Any] = {"command": argv}
            if stdin is not None:
                arguments["stdin"] = stdin
            result = await session.call_tool("shell_run", arguments)
            judge.check(" ".join(argv), result)
        for index, (name, code) in enumerate(code_attacks(base)):
            path = f"tests/test_{name.replace('-', '_')}.py"
            (ws / path).write_text(code)
            runner = ["pytest", "-q"] if index % 2 else ["python", "-m", "pytest", "-q"]
            result = await session.call_tool("shell_run", {"command": [*runner, "-p", "no:cacheprovider", path]})
            judge.check(f"{' '.join(runner)} running code that tries to {name}", result)
        outside = str(base / "canary")
        for cwd in ("..", "../canary", outside, "/", "/proc/1/root" + outside, "%2e%2e", "\uff0e\uff0e"):
            result = await session.call_tool("shell_run", {"command": ["ls", "-la"], "cwd": cwd})
            judge.check(f"ls in cwd {cwd}", result)
        works = await session.call_tool("shell_run", {"command": ["make", "test"]})
    assert judge.count >= 100
    assert judge.escapes == []
    assert not works.is_error and works.structured_content["stdout"] == "tests ran\n"
    assert works.structured_content["sandbox"] == "bubblewrap"


def git_attacks(base: Path) -> list[tuple[str, dict[str, Any]]]:
    O, B = str(base / "canary"), str(base)
    S = f"{O}/secret.txt"
    return [
        ("git_log", {"ref": f"--output={O}/f"}),
        ("git_log", {"ref": "HEAD", "path": "../canary/secret.txt"}),
        ("git_log", {"ref": "HEAD", "path": S}),
        ("git_log", {"ref": f"--exec-path={O}"}),
        ("git_log", {"repo": "../canary"}),
        ("git_log", {"repo": O}),
        ("git_diff", {"base": "--no-index", "paths": [S]}),
        ("git_diff", {"base": f"--output={B}/f"}),
        ("git_diff", {"paths": [f"--output={B}/f"]}),
        ("git_diff", {"paths": ["../canary"]}),
        ("git_diff", {"paths": [":(top)../canary"]}),
        ("git_diff", {"paths": [":/../canary/secret.txt"]}),
        ("git_diff", {"base": "HEAD", "target": f"--output={O}/f"}),
        ("git_show", {"rev": f"--output={O}/f"}),
        ("git_show", {"rev": "HEAD:../canary/secret.txt"}),
        ("git_show", {"rev": f"--config-env=core.pager=PATH"}),
        ("git_blame", {"path": "../canary/secret.txt"}),
        ("git_blame", {"path": "README.md", "rev": f"--contents={S}"}),
        ("git_blame", {"path": "README.md", "rev": "-S" + S}),
        ("git_status", {"repo": ".."}),
        ("git_status", {"repo": "/"}),
        ("git_add", {"paths": ["../canary"]}),
        ("git_add", {"paths": [S]}),
        ("git_add", {"paths": [":(top)", "--chmod=+x"]}),
        ("git_branch_create", {"name": "-c", "start_point": f"--upload-pack=touch {B}/pwned"}),
        ("git_branch_create", {"name": "ok", "start_point": f"--output={O}/f"}),
        ("git_switch", {"branch": "--orphan"}),
        ("git_switch", {"branch": f"--git-dir={O}"}),
        ("git_tag", {"name": "--exec-path=/tmp", "rev": "HEAD"}),
        ("git_tag", {"name": "t1", "rev": f"--work-tree={O}"}),
        ("git_commit", {"message": f"--output={O}/f", "all_tracked": True}),
        ("git_fetch", {"remote": f"--upload-pack=touch {B}/pwned"}),
        ("git_fetch", {"remote": "-oProxyCommand=touch pwned"}),
        ("git_pull", {"remote": f"--upload-pack=touch {B}/pwned"}),
        ("git_push", {"remote": f"--receive-pack=touch {B}/pwned"}),
        ("git_push", {"remote": "origin", "branch": f"--receive-pack=touch {B}/pwned"}),
    ]


async def test_git_tool_arguments_never_reach_git_options_or_lead_out(world) -> None:
    base, ws = world
    judge = Judge(base, ws)
    async with serve(ws) as session:
        for tool, arguments in git_attacks(base):
            result = await session.call_tool(tool, arguments)
            judge.check(f"{tool} {arguments}", result)
        log = await session.call_tool("git_log", {})
    assert judge.count >= 30
    assert judge.escapes == []
    assert [c["subject"] for c in log.structured_content["commits"]] == ["first"]


async def test_git_tools_refuse_repositories_whose_configuration_a_command_could_write(world) -> None:
    """A sandboxed command may make a repository below the workspace, or a commondir file, whose configuration
    names a program; the git tools run outside the sandbox, so they must not use that configuration."""
    base, ws = world
    judge = Judge(base, ws)
    setup = textwrap.dedent(f"""\
        import shutil, subprocess
        def test_setup():
            subprocess.run(['git', 'init', '-q', 'sub'], check=True)
            subprocess.run(['git', '-C', 'sub', 'config', 'core.fsmonitor', 'touch {base}/pwned-sub'], check=True)
            for part in ('objects', 'refs', 'HEAD'):
                (shutil.copytree if part != 'HEAD' else shutil.copy)('.git/' + part, 'evil/' + part)
            open('evil/config', 'w').write('[core]\\n\\tfsmonitor = touch {base}/pwned-common\\n')
            open('.git/commondir', 'w').write('../evil')
    """)
    (ws / "tests" / "test_setup.py").write_text(setup)
    async with serve(ws) as session:
        made = await session.call_tool("shell_run", {"command": ["pytest", "-q", "tests/test_setup.py"]})
        assert made.structured_content["exit_code"] == 0, made.structured_content
        for tool, arguments in [("git_status", {"repo": "sub"}), ("git_diff", {"repo": "sub"}),
                                ("git_status", {}), ("git_add", {"paths": ["README.md"]}), ("git_diff", {})]:
            result = await session.call_tool(tool, arguments)
            judge.check(f"{tool} {arguments} after planting configuration", result)
    assert (ws / "sub" / ".git" / "config").is_file() and (ws / ".git" / "commondir").is_file()  # the plant took
    assert judge.escapes == []


# --- fail closed, network, limits ------------------------------------------------------------------------------------


async def test_without_a_sandbox_shell_run_refuses_and_runs_nothing(world) -> None:
    base, ws = world
    (ws / "tests" / "test_mark.py").write_text("def test_mark():\n    open('marker', 'w').write('ran')\n")
    async with serve(ws, PARAC_BWRAP=str(base / "missing" / "bwrap")) as session:
        refused = await session.call_tool("shell_run", {"command": ["pytest", "-q", "tests/test_mark.py"]})
    assert refused.is_error and "apt-get install bubblewrap" in answer_text(refused)
    assert not (ws / "marker").exists()


async def test_sandbox_none_runs_unconfined_and_the_audit_says_so(world) -> None:
    base, ws = world
    (ws / ".parac" / "policies" / "unconfined.yaml").write_text("shell: {sandbox: none}\n")
    (ws / "tests" / "test_mark.py").write_text(f"def test_mark():\n    open({str(base / 'marker')!r}, 'w').write('ran')\n")
    async with serve(ws, PARAC_BWRAP=str(base / "missing" / "bwrap")) as session:
        ran = await session.call_tool("shell_run", {"command": ["pytest", "-q", "tests/test_mark.py"]})
        boxed = await session.call_tool("git_status", {})
    assert not ran.is_error and ran.structured_content["sandbox"] == "none"
    assert (base / "marker").read_text() == "ran"  # unconfined: it could write beside the workspace
    assert not boxed.is_error
    log = AuditLog.for_workspace(ws)
    try:
        calls = {e.subject: e.data for e in log.entries(action="tool.call")}
    finally:
        log.close()
    assert calls["shell_run"]["sandbox"] == "none"
    assert "sandbox" not in calls["git_status"]


def _listener() -> tuple[socket.socket, list[bytes]]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    received: list[bytes] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                received.append(conn.recv(100))

    threading.Thread(target=accept, daemon=True).start()
    return server, received


NET_TEST = """\
import socket
import sys
def test_connect():
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=3).sendall(b"reached")
    except OSError as exc:
        print("no network:", exc)
"""


@pytest.mark.parametrize("network", [False, True])
async def test_network_is_reachable_only_when_a_policy_says_so(tmp_path: Path, network: bool) -> None:
    base = tmp_path / "base"
    base.mkdir()
    ws = make_world(base, "shell: {network: true}\n" if network else "")
    server, received = _listener()
    try:
        (ws / "tests" / "test_net.py").write_text(NET_TEST.format(port=server.getsockname()[1]))
        async with serve(ws) as session:
            result = await session.call_tool("shell_run", {"command": ["pytest", "-q", "-s", "tests/test_net.py"]})
        for _ in range(50):  # the listener's thread may still be reading what arrived
            if received or not network:
                break
            time.sleep(0.1)
    finally:
        server.close()
    assert not result.is_error
    assert received == ([b"reached"] if network else [])


LIMITS = """\
shell:
  allow: [python]
  timeout_s: 30
  limits: {cpu_s: 2, memory_mb: 512, processes: 40, file_size_mb: 1}
"""

HOGS = {
    "fork": """\
import os, time
n = 0
for _ in range(300):
    try:
        if os.fork() == 0:
            time.sleep(3); os._exit(0)
        n += 1
    except OSError:
        break
open('forked', 'w').write(str(n))
""",
    "file": "open('big.bin', 'wb').write(b'x' * (5 * 2**20))",
    "memory": "block = bytearray(1024 * 2**20); open('allocated', 'w').write('yes')",
    "cpu": """\
import time
while True:
    open('cpu', 'w').write(str(time.process_time()))
""",
}


async def test_limits_bound_fork_bombs_big_files_memory_hogs_and_busy_loops(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    ws = make_world(base, LIMITS)
    async with serve(ws) as session:
        for code in HOGS.values():
            await session.call_tool("shell_run", {"command": ["python", "-c", code]})
    assert int((ws / "forked").read_text()) < 40
    assert (ws / "big.bin").stat().st_size <= 2**20
    assert not (ws / "allocated").exists()
    assert float((ws / "cpu").read_text() or 0) < 3.0


def test_policy_shell_section_errors_are_positioned(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    (root / ".parac" / "policies").mkdir(parents=True)
    (root / ".parac" / "policies" / "bad.yaml").write_text("shell:\n  allow: [ls]\n  sandbox: maybe\n")
    (root / ".parac" / "policies" / "worse.yaml").write_text("shell:\n  limits: {processes: 0}\n")
    problems = {f.label: f.problems[0] for f in load_policies(root).files}
    bad, worse = problems[".parac/policies/bad.yaml"], problems[".parac/policies/worse.yaml"]
    assert (bad.line, bad.column) == (3, 12) and "shell.sandbox" in bad.message
    assert (worse.line, worse.column) == (2, 23) and "shell.limits.processes" in worse.message


BOX_SERVER = """\
from mcp.server.mcpserver import MCPServer

server = MCPServer("box")


@server.tool()
def read(path: str) -> str:
    return open(path).read()


@server.tool()
def write(path: str) -> str:
    open(path, "w").write("x")
    return "written"


server.run("stdio")
"""


@pytest.mark.parametrize("sandbox", [True, False])
async def test_a_stdio_mcp_server_may_run_in_the_sandbox(world, sandbox: bool) -> None:
    """``sandbox: true`` under ``mcp_servers.NAME``: the server's own tools cannot reach outside the workspace.
    Without it they can (the second case shows the attacks would succeed unconfined)."""
    base, ws = world
    (ws / "box_server.py").write_text(BOX_SERVER)
    settings = ws / ".parac" / "parac.yaml"
    server = {"command": sys.executable, "args": ["box_server.py"], "sandbox": sandbox, "connect_timeout_s": 60}
    settings.write_text(settings.read_text() + "\nmcp_servers: " + json.dumps({"box": server}) + "\n")
    (ws / ".parac" / "policies" / "box.yaml").write_text("allow: [{tools: ['box.*']}]\n")
    judge = Judge(base, ws)
    async with serve(ws) as session:
        # The lawful call first: unconfined, the attacks below break the policy file, and then every call is denied.
        inside = await session.call_tool("box.write", {"path": str(ws / "inside.txt")})
        attacks = [("box.read", {"path": str(base / "canary" / "secret.txt")}),
                   ("box.write", {"path": str(base / "pwned")}),
                   ("box.write", {"path": str(ws / ".parac" / "policies" / "box.yaml")}),
                   ("box.write", {"path": str(base / "canary" / "secret.txt")})]
        for tool, arguments in attacks:
            judge.check(f"{tool} {arguments}", await session.call_tool(tool, arguments))
    assert not inside.is_error and (ws / "inside.txt").read_text() == "x"
    assert len(judge.escapes) == (0 if sandbox else len(attacks))


def test_the_cli_shows_which_sandbox_is_active(world, parac) -> None:
    base, ws = world
    missing = {"PARAC_BWRAP": str(base / "missing" / "bwrap")}
    assert "shell commands run in: bubblewrap (" in parac("plugins", cwd=ws).out
    assert "shell commands run in: unavailable: bubblewrap is not installed" in parac("plugins", cwd=ws, env=missing).out
    check = parac("policy", "check", "-", "shell_run", '{"command": ["ls"]}', "--json", cwd=ws)
    assert check.code == 0 and check.json()["sandbox"].startswith("bubblewrap (")
    refused = parac("policy", "check", "-", "shell_run", '{"command": ["ls"]}', "--json", cwd=ws, env=missing)
    assert refused.code == 1 and refused.json()["sandbox"].startswith("unavailable")
    (ws / ".parac" / "policies" / "unconfined.yaml").write_text("shell: {sandbox: none}\n")
    assert "shell commands run in: none (" in parac("plugins", cwd=ws, env=missing).out
