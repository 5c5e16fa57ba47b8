"""Sandboxes the kernel enforces around commands parac runs for a tool: what they see, reach and may use up.

The allow-list in :mod:`parac.core.confine` decides *which* program runs; it cannot see what the program's options
do (``git log --output=/elsewhere``, ``make -f /elsewhere/x.mk``, ``pytest --basetemp=…``). A sandbox makes those
options harmless: outside the workspace there is nothing to read or write.

`Bubblewrap` (Linux, the ``bwrap`` program) builds, for each command, a mount namespace with

- the system (``/usr``, ``/bin``, ``/sbin``, ``/lib*``, ``/etc``) read-only, and the folders the command's programs
  come from (its search path, a virtual environment and its base Python) read-only;
- the workspace read-write, except its protected areas (``.parac/``, ``.git/hooks``, ``.git/config`` and the
  policies' ``files.read_only``), bound read-only over it, and ``.parac/state`` and ``files.hidden``, hidden;
  ``.parac/`` and ``.git/`` are mount points, so they cannot be renamed or deleted from inside either;
- ``$HOME`` and ``/tmp`` empty private file systems, and nothing else of the host;
- its own user, PID, IPC, UTS and network namespaces (no network unless the policy says ``network: true``), no
  capabilities, a new session (no terminal to inject input into), and death with its parent;
- limits on CPU seconds, address space, processes and file size, set by ``prlimit`` *inside* the user namespace,
  where the kernel counts processes for the sandbox alone (a limit set before would count every process of the
  user). The kernel does not hold root to ``RLIMIT_NPROC``: run as root, parac puts the sandbox in a ``pids``
  cgroup of its own where it can make one (moving a process into a cgroup costs some milliseconds, so only then).

`NoSandbox` runs the command as it is; it is used only when a policy says ``shell: {sandbox: none}``. When the
policy asks for a sandbox and none can start, `sandbox_for` raises `SandboxUnavailable` naming the fix: parac fails
closed. Whether bubblewrap works is found by really starting it once per process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from parac.core.confine import ConfinementError

#: Where bubblewrap is looked for when ``PARAC_BWRAP`` does not name it.
BWRAP_ENV = "PARAC_BWRAP"
#: Workspace areas bound read-only inside the sandbox whatever the policies say.
PROTECTED = (".parac", ".git/hooks", ".git/config")
#: Workspace areas the sandbox does not show at all.
HIDDEN = (".parac/state",)
SYSTEM_DIRS = ("/usr", "/etc")
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
FIX = ("install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap) and allow "
       "user namespaces (sysctl kernel.unprivileged_userns_clone=1), or, accepting that commands then run "
       "unconfined, say so in a policy: shell: {sandbox: none}")


class SandboxUnavailable(ConfinementError):
    """The policy wants a sandbox and none can start here; the message names the fix."""


@dataclass(frozen=True)
class Limits:
    """Per-command resource limits. The defaults let a test suite run and stop a runaway one."""

    cpu_s: int = 600
    memory_mb: int = 4096
    processes: int = 256
    file_size_mb: int = 1024


@dataclass(frozen=True)
class SandboxPolicy:
    """What the policies ask of the sandbox: ``kind`` is ``bubblewrap`` unless one says ``none`` in so many words."""

    kind: str = "bubblewrap"
    network: bool = False
    limits: Limits = field(default_factory=Limits)
    read_only: tuple[str, ...] = ()
    """Workspace-relative paths bound read-only besides `PROTECTED` (the policies' ``files.read_only``)."""
    hidden: tuple[str, ...] = ()
    """Workspace-relative paths hidden besides `HIDDEN` (the policies' ``files.hidden``)."""


@dataclass
class Confined:
    """A command ready to start: its argument vector and what ``Popen`` must do in the child before ``exec``."""

    argv: list[str]
    preexec: Callable[[], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    """Variables the sandbox sets for the command (``HOME``, ``TMPDIR``)."""


class Sandbox:
    """Turns an argument vector into one that runs confined. ``name`` is what audits and ``parac`` show."""

    name = "none"

    @contextmanager
    def confine(self, argv: Sequence[str], *, root: Path, cwd: Path, environ: dict[str, str]) -> Iterator[Confined]:
        yield Confined(list(argv))


class NoSandbox(Sandbox):
    """The command runs as it is: only the allow-list, the scrubbed environment and the time limit hold."""


class Bubblewrap(Sandbox):
    name = "bubblewrap"

    def __init__(self, bwrap: str, prlimit: str, policy: SandboxPolicy) -> None:
        self.bwrap, self.prlimit, self.policy = bwrap, prlimit, policy

    @contextmanager
    def confine(self, argv: Sequence[str], *, root: Path, cwd: Path, environ: dict[str, str]) -> Iterator[Confined]:
        command = self.command(argv, root=root, cwd=cwd, environ=environ)
        if os.geteuid() != 0:
            yield command  # RLIMIT_NPROC, set inside the user namespace, counts the sandbox's processes
            return
        with _pids_cgroup(self.policy.limits.processes) as join:  # the kernel does not hold root to RLIMIT_NPROC
            command.preexec = join
            yield command

    def command(self, argv: Sequence[str], *, root: Path, cwd: Path, environ: dict[str, str]) -> Confined:
        """The sandboxed command line alone, for a process parac does not start itself (an MCP server)."""
        home = environ.get("HOME", "")
        if not os.path.isabs(home) or any(_under(system, home) for system in (*SYSTEM_DIRS, "/proc", "/dev", "/tmp")):
            home = "/home/sandbox"  # an empty file system over "/" or "/usr" would hide what commands need
        args = [self.bwrap, *self._system(), "--tmpfs", "/tmp", "--tmpfs", home, "--dir", "/var/tmp"]
        search = os.pathsep.join([os.path.dirname(argv[0]), environ.get("PATH", "")])
        args += [arg for folder in program_dirs(search, root) for arg in ("--ro-bind", folder, folder)]
        args += self._workspace(root)
        args += ["--chdir", str(cwd), "--unshare-all", "--unshare-user", "--cap-drop", "ALL", "--die-with-parent",
                 "--new-session", "--hostname", "sandbox"]
        if self.policy.network:
            args.append("--share-net")
        limits = self.policy.limits
        args += ["--", self.prlimit, f"--cpu={limits.cpu_s}", f"--as={limits.memory_mb * 2**20}",
                 f"--nproc={limits.processes}", f"--fsize={limits.file_size_mb * 2**20}", "--core=0", "--", *argv]
        return Confined(args, None, {"HOME": home, "TMPDIR": "/tmp"})

    def _system(self) -> list[str]:
        args = ["--proc", "/proc", "--dev", "/dev"]
        for folder in SYSTEM_DIRS:
            if os.path.isdir(folder):
                args += ["--ro-bind", folder, folder]
        for entry in SYSTEM_LINKS:
            if os.path.islink(entry):
                args += ["--symlink", os.readlink(entry), entry]
            elif os.path.isdir(entry):
                args += ["--ro-bind", entry, entry]
        return args

    def _workspace(self, root: Path) -> list[str]:
        top = str(root)
        args = ["--bind", top, top]
        git = root / ".git"
        if git.is_dir() and not git.is_symlink():
            args += ["--bind", str(git), str(git)]  # a mount point cannot be renamed away and replaced
        elif _plain(git, root):
            args += ["--ro-bind", str(git), str(git)]  # a worktree's .git file names the repository git uses
        for relative in (*PROTECTED, *self.policy.read_only):
            path = root / relative
            if _plain(path, root):
                args += ["--ro-bind", str(path), str(path)]
            elif relative == ".parac" and not os.path.lexists(path):
                args += ["--tmpfs", str(path), "--remount-ro", str(path)]  # else a command could write policies
        for relative in (*HIDDEN, *self.policy.hidden):
            path = root / relative
            if _plain(path, root):
                args += (["--tmpfs", str(path), "--remount-ro", str(path)] if path.is_dir()
                         else ["--ro-bind", "/dev/null", str(path)])
        return args


def _plain(path: Path, root: Path) -> bool:
    """An existing file or folder reached without a symbolic link: only such a path is mounted over (a link's
    target may be anywhere)."""
    try:
        return os.path.lexists(path) and os.path.realpath(path) == str(path) and path.is_relative_to(root)
    except OSError:
        return False


def program_dirs(search_path: str, root: Path) -> list[str]:
    """The folders commands' programs come from, outside the system folders and the workspace: each folder of the
    search path, for a virtual environment's ``bin`` the environment and the Python it was made from, and for a
    version manager's ``shims`` the manager's folder."""
    found: dict[str, None] = {}
    for entry in search_path.split(os.pathsep):
        if not entry or not os.path.isabs(entry) or not os.path.isdir(entry):
            continue
        folder = os.path.realpath(entry)
        # pyenv, rbenv and asdf put scripts in <root>/shims that run the versions kept under <root>
        candidates = [os.path.dirname(folder) if os.path.basename(folder) == "shims" else folder]
        config = Path(folder).parent / "pyvenv.cfg"
        if config.is_file():
            candidates.append(str(config.parent))
            home = _venv_home(config)
            if home:
                candidates.append(os.path.dirname(os.path.realpath(home)))
        for candidate in candidates:
            if _under(str(root), candidate):
                continue  # it would show what is beside the workspace
            if not any(_under(candidate, system) for system in (*SYSTEM_DIRS, *SYSTEM_LINKS, str(root))):
                found[candidate] = None
    return sorted(found, key=len)


def _venv_home(config: Path) -> str | None:
    for line in config.read_text(errors="replace").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home" and os.path.isabs(value.strip()):
            return value.strip()
    return None


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


_cgroup_lock = threading.Lock()
_cgroup_count = 0


@contextmanager
def _pids_cgroup(processes: int) -> Iterator[Callable[[], None] | None]:
    """A fresh ``pids`` cgroup capped at ``processes``, and the function the child runs before ``exec`` to join it;
    ``None`` where no cgroup can be made."""
    global _cgroup_count
    parent = _pids_parent()
    folder = None
    if parent is not None:
        with _cgroup_lock:
            _cgroup_count += 1
            name = f"parac-{os.getpid()}-{_cgroup_count}"
        try:
            folder = parent / name
            folder.mkdir()
            (folder / "pids.max").write_text(str(processes))
            procs = os.open(folder / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)
        except OSError:
            if folder is not None:
                _remove_cgroup(folder)
            folder = None
    if folder is None:
        yield None
        return

    def join() -> None:  # runs in the forked child: no locks, no allocation worth speaking of
        os.write(procs, b"0")

    try:
        yield join
    finally:
        os.close(procs)
        _remove_cgroup(folder)


def _remove_cgroup(folder: Path) -> None:
    for _ in range(500):  # the last processes of the sandbox may still be exiting
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            import time

            time.sleep(0.001)


@cache
def _pids_parent() -> Path | None:
    """The ``pids`` cgroup this process is in, if it may make children there (cgroup v1 or v2)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "pids" in controllers.split(","):
            folder = Path("/sys/fs/cgroup/pids") / path.lstrip("/")
        elif controllers == "" and "pids" in _read(Path("/sys/fs/cgroup") / path.lstrip("/") / "cgroup.subtree_control"):
            folder = Path("/sys/fs/cgroup") / path.lstrip("/")
        else:
            continue
        if (folder / "cgroup.procs").exists() and os.access(folder, os.W_OK):
            return folder
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


# --- choosing ----------------------------------------------------------------------------------------------------


def sandbox_for(policy: SandboxPolicy) -> Sandbox:
    """The sandbox the policy asks for, or `SandboxUnavailable` when it asks for one that cannot start here."""
    if policy.kind == "none":
        return NoSandbox()
    found = bubblewrap_status()
    if isinstance(found, str):
        raise SandboxUnavailable("", f"commands must run in a sandbox and none can start here ({found}); {FIX}")
    return Bubblewrap(*found, policy)


def sandboxed_command(argv: Sequence[str], *, root: Path, cwd: Path, environ: dict[str, str],
                      policy: SandboxPolicy) -> Confined:
    """``argv`` as a command line that runs it in bubblewrap (whatever ``policy.kind`` says: the caller asked for a
    sandbox), or `SandboxUnavailable`. For long-running processes started elsewhere, such as stdio MCP servers."""
    found = bubblewrap_status()
    if isinstance(found, str):
        raise SandboxUnavailable("", f"no sandbox can start here ({found}); {FIX}")
    return Bubblewrap(*found, policy).command(argv, root=root, cwd=cwd, environ=environ)


def bubblewrap_status() -> tuple[str, str] | str:
    """``(bwrap, prlimit)`` paths when bubblewrap really starts here, else why not."""
    return _probe(os.environ.get(BWRAP_ENV) or shutil.which("bwrap") or "bwrap")


@cache
def _probe(bwrap: str) -> tuple[str, str] | str:
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux, this is {sys.platform}"
    if not os.path.isfile(bwrap) or not os.access(bwrap, os.X_OK):
        return f"bubblewrap is not installed ({bwrap} not found)"
    prlimit = shutil.which("prlimit", path="/usr/bin:/bin")
    if prlimit is None:
        return "prlimit (util-linux) is not installed"
    probe = Bubblewrap(bwrap, prlimit, SandboxPolicy())
    with tempfile.TemporaryDirectory(prefix="parac-probe-") as folder:
        root = Path(os.path.realpath(folder))
        env = {"PATH": "/usr/bin:/bin", "HOME": "/home/sandbox"}
        try:
            with probe.confine(["true"], root=root, cwd=root, environ=env) as confined:
                done = subprocess.run(confined.argv, env=env, capture_output=True, timeout=20,
                                      preexec_fn=confined.preexec)
        except (OSError, subprocess.SubprocessError) as exc:
            return f"bubblewrap did not start ({exc})"
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return f"bubblewrap did not start ({detail[-1] if detail else f'exit status {done.returncode}'})"
    return bwrap, prlimit


def describe(policy: SandboxPolicy) -> str:
    """One line for ``parac policy check`` and ``parac plugins``: which sandbox commands run in, and with what."""
    if policy.kind == "none":
        return "none (a policy says shell: {sandbox: none}; commands run unconfined but for the allow-list)"
    found = bubblewrap_status()
    if isinstance(found, str):
        return f"unavailable: {found}; shell_run refuses every command (fix: {FIX})"
    limits = policy.limits
    return (f"bubblewrap ({found[0]}; network {'on' if policy.network else 'off'}; limits: {limits.cpu_s} CPU s, "
            f"{limits.memory_mb} MB memory, {limits.processes} processes, {limits.file_size_mb} MB per file"
            f"{'; the process limit does not hold: parac runs as root and cannot make a pids cgroup' if os.geteuid() == 0 and not _pids_parent() else ''})")
