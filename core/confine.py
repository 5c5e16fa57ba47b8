"""Confinement for tools that touch files, run commands or reach the network.

Three gates, each usable by any tool (built-in or a plugin's), each failing with a `ConfinementError` whose message
says what was refused and why, in one sentence fit for a model or a person:

- `FileJail`: paths are relative to the workspace root and stay under it. No ``..``, no absolute paths, no
  backslashes, percent-encoded or look-alike Unicode separators, no symbolic links that lead out (resolved, then
  checked, then opened without following links), no hard links (a second name for a file elsewhere), no devices,
  FIFOs or sockets, and never the workspace's state (``.parac/state``: the audit trail and the database), compared
  without regard to case so that a case-insensitive file system cannot be used to slip past.
- `run_command`: an allow-listed program, given as an argument vector (never a shell string, so ``;``, ``|`` or
  ``$(…)`` are plain characters), found on a fixed search path, run with a scrubbed environment (no secrets are
  inherited), a time limit (the whole process group is killed) and an output cap, inside the sandbox the policy
  asks for (:mod:`parac.core.sandbox`: what the program's own options reach, the allow-list cannot see).
- `http_request`: only allow-listed hosts, named exactly as allowed (an IP address never stands in for a name, and IP
  addresses in other than their standard form are refused), no credentials in URLs, no redirects to another host,
  a body size cap and a total time limit (a server that trickles bytes does not keep the call alive).
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
import time
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from parac.core.redact import SECRET_ENV_NAME

if TYPE_CHECKING:
    import subprocess

    import httpx

    from parac.core.sandbox import SandboxPolicy

# The process and network modules are imported where commands run and hosts are checked: every parac command loads
# this module (through the tool plugins), most never run a command.


class ConfinementError(PermissionError):
    """A path, command or URL that a tool may not use. ``what`` is the refused value, ``reason`` the sentence."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"{reason}: {what!r}" if what else reason)
        self.what = what
        self.reason = reason


# --- files -------------------------------------------------------------------------------------------------------

#: Paths no tool may read or write: the database and the audit trail's head record live there.
HIDDEN = (".parac/state",)
#: Paths tools may read but not change: a tool that could edit the policies could grant itself anything.
READ_ONLY = (".parac/policies", ".parac/parac.yaml", ".parac/tokens.json", ".git")
MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255
_PERCENT = re.compile(r"%(?:2e|2f|5c|00|25)", re.IGNORECASE)


class FileJail:
    """The workspace root as the only place file tools may go.

    ``resolve`` checks a path and returns its real absolute location; ``open`` and the helpers re-check at open
    time (the final component is opened without following links and the opened file is checked again), so that a
    symbolic link swapped in between check and use cannot lead out.
    """

    def __init__(self, root: str | Path, *, hidden: Iterable[str] = HIDDEN, read_only: Iterable[str] = READ_ONLY) -> None:
        self.root = Path(os.path.realpath(root))
        self.hidden = tuple(_fold(item) for item in hidden)
        self.read_only = tuple(_fold(item) for item in read_only)

    def resolve(self, path: str | os.PathLike[str], *, write: bool = False) -> Path:
        """The real absolute path of ``path`` (relative to the root) after every check; the file need not exist.

        ``write=True`` also refuses read-only areas and requires the parent, if it exists, to be a directory."""
        text = _check_syntax(os.fspath(path))
        relative = "/".join(part for part in text.split("/") if part not in ("", "."))
        self._check_area(relative, text, write)
        target = Path(os.path.realpath(self.root / relative)) if relative else self.root
        if not _inside(target, self.root):
            raise ConfinementError(text, "path leads outside the workspace through a symbolic link")
        real_relative = target.relative_to(self.root).as_posix() if target != self.root else ""
        self._check_area(real_relative, text, write)
        try:
            info = os.lstat(target)
        except FileNotFoundError:
            return target
        except OSError as exc:
            raise ConfinementError(text, f"path cannot be examined ({exc.strerror})") from None
        _check_kind(info, text)
        return target

    def relative(self, path: Path) -> str:
        """``path`` (as returned by `resolve`) relative to the root, with ``/`` separators, for messages."""
        return path.relative_to(self.root).as_posix() if path != self.root else "."

    def open(self, path: str | os.PathLike[str], mode: str = "r", **kwargs: Any) -> IO[Any]:
        """Open a confined file like the built-in `open` (text or binary; ``r``, ``w``, ``a``, ``x``, ``+``).

        Parent directories are created (inside the root) for writing modes."""
        write = any(flag in mode for flag in "wax+")
        target = self.resolve(path, write=write)
        if write:
            self._make_parents(target, os.fspath(path))
        flags = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        if "+" in mode:
            flags |= os.O_RDWR
        elif write:
            flags |= os.O_WRONLY
        else:
            flags |= os.O_RDONLY
        if "w" in mode:
            flags |= os.O_CREAT | os.O_TRUNC
        elif "a" in mode:
            flags |= os.O_CREAT | os.O_APPEND
        elif "x" in mode:
            flags |= os.O_CREAT | os.O_EXCL
        try:
            fd = os.open(target, flags, 0o666)
        except OSError as exc:
            if exc.errno == 40:  # ELOOP: the final component became a symbolic link after the check
                raise ConfinementError(os.fspath(path), "path is a symbolic link") from None
            raise
        try:
            _check_kind(os.fstat(fd), os.fspath(path), opened=True)
            self._check_opened(fd, os.fspath(path))
            os.set_blocking(fd, True)
            return os.fdopen(fd, mode, **kwargs)
        except BaseException:
            os.close(fd)
            raise

    def read_bytes(self, path: str | os.PathLike[str], max_bytes: int | None = None) -> bytes:
        """The file's bytes; refuses a file larger than ``max_bytes`` rather than reading part of it."""
        with self.open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if max_bytes is not None and size > max_bytes:
                raise ConfinementError(os.fspath(path), f"file is {size} bytes, more than the limit of {max_bytes}")
            return handle.read()

    def write_bytes(self, path: str | os.PathLike[str], data: bytes) -> Path:
        """Write ``data`` to a confined file (created with its parents), returning its real path."""
        with self.open(path, "wb") as handle:
            handle.write(data)
        return self.resolve(path, write=True)

    def walk(self, path: str | os.PathLike[str] = ".", *, skip_dirs: Iterable[str] = ()) -> Iterator[str]:
        """Every regular file under ``path`` as a root-relative ``/`` path, sorted per directory.

        Symbolic links are not followed (a link inside the workspace is listed only if it is a file link that
        stays inside), and hidden areas are skipped, so a listing shows only what `open` would allow. Folders
        named in ``skip_dirs`` (``.git``, ``node_modules``) are not entered at all."""
        start = self.resolve(path)
        if not start.is_dir():
            raise ConfinementError(os.fspath(path), "not a directory")
        skipped = set(skip_dirs)
        for folder, dirs, files in os.walk(start):
            relative_folder = Path(folder).relative_to(self.root).as_posix()
            dirs[:] = sorted(d for d in dirs if d not in skipped and not self._is_hidden(_join(relative_folder, d)))
            for name in sorted(files):
                relative = _join(relative_folder, name)
                if self._is_hidden(relative):
                    continue
                try:
                    self.resolve(relative)
                except ConfinementError:
                    continue
                yield relative

    def _is_hidden(self, relative: str) -> bool:
        folded = _fold(relative)
        return any(folded == area or folded.startswith(area + "/") for area in self.hidden)

    def _check_area(self, relative: str, shown: str, write: bool) -> None:
        if self._is_hidden(relative):
            raise ConfinementError(shown, "path is in the workspace's private state, which tools may not touch")
        if write:
            folded = _fold(relative)
            if not relative or any(folded == area or folded.startswith(area + "/") for area in self.read_only):
                raise ConfinementError(shown, "path is read-only for tools (policies, settings and git internals)")

    def _make_parents(self, target: Path, shown: str) -> None:
        parent = target.parent
        if not parent.exists():
            parent.mkdir(parents=True, exist_ok=True)
            if not _inside(Path(os.path.realpath(parent)), self.root):
                raise ConfinementError(shown, "path leads outside the workspace through a symbolic link")
        elif not parent.is_dir():
            raise ConfinementError(shown, "a parent of the path is not a directory")

    def _check_opened(self, fd: int, shown: str) -> None:
        """On Linux, ask the kernel where the open file really is: this catches a directory on the way that was
        swapped for a link between `resolve` and the open."""
        link = f"/proc/self/fd/{fd}"
        if os.path.exists(link) and not _inside(Path(os.readlink(link)), self.root):
            raise ConfinementError(shown, "path leads outside the workspace through a symbolic link")


def _check_syntax(text: str) -> str:
    """Refuse paths that are not plain relative paths, before anything touches the file system."""
    if not text:
        raise ConfinementError(text, "empty path")
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise ConfinementError(text, "path contains control characters")
    if len(text.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
        raise ConfinementError(text[:80] + "…", f"path is longer than {MAX_PATH_BYTES} bytes")
    if "\\" in text:
        raise ConfinementError(text, "path contains a backslash; use / between folders")
    if _PERCENT.search(text):
        raise ConfinementError(text, "path contains percent-encoded characters; give the plain path")
    if text.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", text):
        raise ConfinementError(text, "absolute paths are not allowed; give a path relative to the workspace root")
    normal = unicodedata.normalize("NFKC", text)
    if normal != text and (".." in normal.split("/") or normal.startswith("/") or "\\" in normal):
        raise ConfinementError(text, "path uses look-alike Unicode characters for '.' or '/'")
    parts = text.split("/")
    if ".." in parts:
        raise ConfinementError(text, "path contains '..'; paths must stay inside the workspace")
    for part in parts:
        if len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            raise ConfinementError(part[:80] + "…", f"a file name is longer than {MAX_NAME_BYTES} bytes")
    return text


def _check_kind(info: os.stat_result, shown: str, *, opened: bool = False) -> None:
    mode = info.st_mode
    if stat.S_ISLNK(mode):
        return  # resolve() has followed it and checked where it leads; open() refuses to follow one
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise ConfinementError(shown, "path is a device, pipe or socket, not a regular file")
    if stat.S_ISREG(mode) and info.st_nlink > 1:
        raise ConfinementError(shown, "file has other hard links, so it may be a file outside the workspace")


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _fold(relative: str) -> str:
    return unicodedata.normalize("NFKC", relative).casefold().strip("/")


def _join(folder: str, name: str) -> str:
    return name if folder in ("", ".") else f"{folder}/{name}"


# --- commands ----------------------------------------------------------------------------------------------------

#: Environment variables a confined command inherits; everything else (API keys above all) stays behind.
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME")
_PROGRAM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


@dataclass(frozen=True)
class CommandPolicy:
    """Which commands may run and how.

    ``allow`` entries are argument-vector prefixes: ``"pytest"`` allows any ``pytest …``; ``"git status"`` allows
    ``git status …`` and nothing else of git. Allowing an interpreter (``python``) allows any code it can run."""

    allow: tuple[str, ...] = ()
    timeout_s: float = 60.0
    max_output_bytes: int = 1_000_000
    env: tuple[str, ...] = ()
    """Extra environment variables passed through by name."""
    path: str | None = None
    """Search path for programs (default: this process's ``PATH`` when the policy is made)."""
    sandbox: SandboxPolicy = field(default_factory=lambda: _sandbox_policy())
    """The sandbox commands run in (bubblewrap, no network, default limits unless the policies say otherwise)."""

    def allowed_prefixes(self) -> list[list[str]]:
        return [entry.split() for entry in self.allow if entry.split()]


def _sandbox_policy() -> SandboxPolicy:
    from parac.core.sandbox import SandboxPolicy  # the sandbox module builds on this one

    return SandboxPolicy()


@dataclass(frozen=True)
class CommandResult:
    argv: list[str]
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool = False
    truncated: bool = False
    duration_s: float = 0.0
    sandbox: str = "none"

    def to_dict(self) -> dict[str, Any]:
        return {
            "argv": self.argv, "exit_code": self.exit_code, "stdout": self.stdout, "stderr": self.stderr,
            "timed_out": self.timed_out, "truncated": self.truncated, "duration_s": round(self.duration_s, 3),
            "sandbox": self.sandbox,
        }


def check_command(argv: Sequence[str], policy: CommandPolicy) -> list[str]:
    """The argument vector with its program resolved to an absolute path, or `ConfinementError`.

    A string instead of a vector is refused: splitting it is the caller's job (``shlex.split``), and making that
    explicit keeps anyone from assuming shell behaviour."""
    if isinstance(argv, (str, bytes)) or not isinstance(argv, Sequence):
        raise ConfinementError(str(argv), "give the command as a list of arguments, not a string")
    args = list(argv)
    if not args:
        raise ConfinementError("", "empty command")
    for arg in args:
        if not isinstance(arg, str):
            raise ConfinementError(repr(arg), "every argument must be a string")
        if "\x00" in arg:
            raise ConfinementError(arg, "argument contains a NUL character")
    program = args[0]
    if not _PROGRAM.fullmatch(program):
        raise ConfinementError(program, "the program must be a bare name from the allow-list (no paths, spaces "
                                        "or shell characters)")
    if not any(args[:len(prefix)] == prefix for prefix in policy.allowed_prefixes()):
        allowed = ", ".join(policy.allow) or "nothing"
        raise ConfinementError(" ".join(args[:3]), f"command is not allowed (allowed: {allowed})")
    import shutil

    found = shutil.which(program, path=policy.path if policy.path is not None else os.environ.get("PATH", ""))
    if found is None:
        raise ConfinementError(program, "program is allowed but not installed on the search path")
    return [found, *args[1:]]


def command_env(policy: CommandPolicy, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a confined command gets: the inherited basics and the policy's names, never a secret
    unless the policy names it explicitly."""
    source = os.environ if environ is None else environ
    env = {name: source[name] for name in INHERITED_ENV if name in source and not SECRET_ENV_NAME.search(name)}
    env.update({name: source[name] for name in policy.env if name in source})
    env["TERM"] = "dumb"
    return env


def run_command(
    argv: Sequence[str],
    policy: CommandPolicy,
    *,
    cwd: str | Path,
    root: str | Path | None = None,
    stdin: bytes | None = None,
    environ: Mapping[str, str] | None = None,
) -> CommandResult:
    """Run an allowed command as an argument vector in ``cwd``, in the sandbox the policy asks for, with ``root``
    (default: ``cwd``) as the workspace it may write; never raises for the command's own failure.

    Raises `parac.core.sandbox.SandboxUnavailable` when the policy wants a sandbox that cannot start here. Output
    past ``max_output_bytes`` (per stream) is read and dropped, so a chatty command still finishes; at the time
    limit the whole process group is killed, and with it the sandbox and everything in it."""
    import subprocess

    from parac.core.sandbox import sandbox_for

    resolved = check_command(argv, policy)
    sandbox = sandbox_for(policy.sandbox)
    workspace = Path(os.path.realpath(root if root is not None else cwd))
    env = command_env(policy, environ)
    started = time.monotonic()
    with sandbox.confine(resolved, root=workspace, cwd=Path(os.path.realpath(cwd)), environ=env) as confined:
        proc = subprocess.Popen(
            confined.argv, cwd=cwd, env={**env, **confined.env}, preexec_fn=confined.preexec,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, close_fds=True,
        )
        if stdin:
            try:
                assert proc.stdin is not None
                proc.stdin.write(stdin)
                proc.stdin.close()
            except BrokenPipeError:
                pass
        out, err, truncated, timed_out = _collect(proc, policy.timeout_s, policy.max_output_bytes, started)
    return CommandResult(
        argv=list(argv), exit_code=proc.returncode, stdout=out.decode("utf-8", "replace"),
        stderr=err.decode("utf-8", "replace"), timed_out=timed_out, truncated=truncated,
        duration_s=time.monotonic() - started, sandbox=sandbox.name,
    )


def _collect(proc: subprocess.Popen[bytes], timeout_s: float, cap: int, started: float) -> tuple[bytes, bytes, bool, bool]:
    import selectors
    import subprocess

    buffers = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    truncated = timed_out = False
    with selectors.DefaultSelector() as selector:
        for stream in buffers:
            selector.register(stream, selectors.EVENT_READ)  # type: ignore[arg-type]
        while selector.get_map():
            remaining = timeout_s - (time.monotonic() - started)
            if remaining <= 0:
                timed_out = True
                break
            for key, _ in selector.select(timeout=min(remaining, 0.5)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                buffer = buffers[key.fileobj]  # type: ignore[index]
                room = cap - len(buffer)
                if len(chunk) > room:
                    truncated = True
                buffer.extend(chunk[:max(room, 0)])
    if timed_out:
        _kill_group(proc)
    try:
        proc.wait(timeout=max(0.1, timeout_s - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
        proc.wait()
    for stream in buffers:
        stream.close()  # type: ignore[union-attr]
    return bytes(buffers[proc.stdout]), bytes(buffers[proc.stderr]), truncated, timed_out


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# --- HTTP --------------------------------------------------------------------------------------------------------

_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class HttpPolicy:
    """Which hosts may be reached and within which limits.

    ``allow_hosts`` entries: ``api.github.com`` (that name, any port), ``*.pypi.org`` (its subdomains),
    ``127.0.0.1:8080`` (a name or address with one port), ``[::1]`` (an IPv6 address)."""

    allow_hosts: tuple[str, ...] = ()
    timeout_s: float = 30.0
    max_bytes: int = 5_000_000
    max_request_bytes: int = 1_000_000
    max_redirects: int = 5


@dataclass(frozen=True)
class HttpResult:
    status: int
    url: str
    headers: dict[str, str]
    body: bytes
    redirects: list[str] = field(default_factory=list)

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def check_url(url: str, policy: HttpPolicy) -> httpx.URL:
    """The parsed URL when its scheme and host are allowed, else `ConfinementError`."""
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise ConfinementError(str(url), f"not a valid URL ({exc})") from None
    if parsed.scheme not in ("http", "https"):
        raise ConfinementError(str(url), "only http and https URLs are allowed")
    if parsed.userinfo:
        raise ConfinementError(_without_userinfo(parsed), "URLs with credentials (user:password@) are not allowed")
    host = _canonical_host(parsed.host, str(url))
    port = parsed.port
    if port is not None and not 0 < port < 65536:
        raise ConfinementError(str(url), "port out of range")
    for entry in policy.allow_hosts:
        if _host_matches(entry, host, port):
            return parsed
    raise ConfinementError(host, f"host is not allowed (allowed: {', '.join(policy.allow_hosts) or 'none'})")


def http_request(
    method: str,
    url: str,
    policy: HttpPolicy,
    *,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    json: Any = None,
    client: httpx.Client | None = None,
) -> HttpResult:
    """Send one request within the policy and return the response; HTTP error statuses are results, not errors.

    Redirects are followed only to the same host (and re-checked); the body is read up to ``max_bytes`` and the
    whole exchange, redirects included, must end within ``timeout_s``."""
    import json as jsonlib

    import httpx

    if json is not None:
        content = jsonlib.dumps(json).encode("utf-8")
        headers = {"content-type": "application/json", **(headers or {})}
    if content is not None and len(content) > policy.max_request_bytes:
        raise ConfinementError(url, f"request body is {len(content)} bytes, more than the limit of "
                                    f"{policy.max_request_bytes}")
    current = check_url(url, policy)
    deadline = time.monotonic() + policy.timeout_s
    own = client is None
    session = client or httpx.Client(trust_env=False, follow_redirects=False, timeout=policy.timeout_s)
    redirects: list[str] = []
    try:
        while True:
            request = session.build_request(method.upper(), current, headers=headers, content=content)
            try:
                response = session.send(request, stream=True, follow_redirects=False)
            except httpx.TimeoutException:
                raise ConfinementError(str(current), f"no answer within {policy.timeout_s} s") from None
            except httpx.HTTPError as exc:
                raise ConfinementError(str(current), f"request failed ({type(exc).__name__}: {exc})") from None
            try:
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    target = current.join(location)
                    if _canonical_host(target.host, str(target)) != _canonical_host(current.host, str(current)):
                        raise ConfinementError(_without_userinfo(target), "redirect to another host refused")
                    if len(redirects) >= policy.max_redirects:
                        raise ConfinementError(str(target), f"more than {policy.max_redirects} redirects")
                    check_url(str(target), policy)
                    redirects.append(str(target))
                    if response.status_code == 303 or (response.status_code in (301, 302) and method.upper() == "POST"):
                        method, content = "GET", None
                    current = target
                    continue
                body = _read_limited(response, policy, deadline, str(current))
                return HttpResult(response.status_code, str(current), dict(response.headers), body, redirects)
            finally:
                response.close()
    finally:
        if own:
            session.close()


def _read_limited(response: httpx.Response, policy: HttpPolicy, deadline: float, shown: str) -> bytes:
    import httpx

    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > policy.max_bytes:
        raise ConfinementError(shown, f"response is {declared} bytes, more than the limit of {policy.max_bytes}")
    body = bytearray()
    try:
        for chunk in response.iter_bytes():
            body.extend(chunk)
            if len(body) > policy.max_bytes:
                raise ConfinementError(shown, f"response is larger than the limit of {policy.max_bytes} bytes")
            if time.monotonic() > deadline:
                raise ConfinementError(shown, f"response took longer than {policy.timeout_s} s")
    except httpx.TimeoutException:
        raise ConfinementError(shown, f"response took longer than {policy.timeout_s} s") from None
    except httpx.HTTPError as exc:
        raise ConfinementError(shown, f"reading the response failed ({type(exc).__name__})") from None
    return bytes(body)


def _canonical_host(host: str, shown: str) -> str:
    """The host in the form allow-list entries are compared in: lower case, no trailing dot, IP addresses in
    standard notation. IPv4 addresses written any other way (``2130706433``, ``0x7f.1``, ``0177.0.0.1``,
    ``127.1``) are refused: resolvers accept them, and they exist mostly to slip past filters."""
    import ipaddress
    import socket

    name = host.lower().rstrip(".")
    if not name:
        raise ConfinementError(shown, "URL has no host")
    try:
        return str(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        pass
    try:
        socket.inet_aton(name)
    except OSError:
        pass
    else:
        raise ConfinementError(name, "IP address in a non-standard form")
    return name


def _host_matches(entry: str, host: str, port: int | None) -> bool:
    import ipaddress

    entry = entry.strip().lower()
    want_port: int | None = None
    match = re.fullmatch(r"(\[[^\]]+\]|[^:]+)(?::(\d+|\*))?", entry)
    if not match:
        return False
    name, port_text = match.group(1).strip("[]").rstrip("."), match.group(2)
    if port_text and port_text != "*":
        want_port = int(port_text)
    if want_port is not None and port != want_port:
        return False
    try:
        name = str(ipaddress.ip_address(name))
    except ValueError:
        pass
    if name.startswith("*."):
        return host.endswith(name[1:]) and host != name[2:] and fnmatch.fnmatchcase(host, name)
    return host == name


def _without_userinfo(url: httpx.URL) -> str:
    return str(url.copy_with(username=None, password=None))
