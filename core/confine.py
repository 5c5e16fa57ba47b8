"""Confinement for tools that touch files, run commands or reach the network.

Three gates, each usable by any tool (built-in or a plugin's), each failing with a `ConfinementError` whose message
says what was refused and why, in one sentence fit for a model or a person:

- `FileJail`: paths are relative to the workspace root and stay under it. No ``..``, no absolute paths, no
  backslashes, percent-encoded or look-alike Unicode separators; every path is resolved beneath a descriptor of
  the root and every operation acts on descriptors (:mod:`parac.core.beneath`), so a link leading out, or one
  swapped in by a racing process, is never followed. No hard links (a second name for a file elsewhere), no
  devices, FIFOs or sockets, never the workspace's state (``.parac/state``), no writes to policies, settings or
  ``.git/``, and ``.parac/``, its entries and ``.git/`` are protected as wholes; names are compared as a
  case-insensitive file system would see them, so that one cannot be used to slip past.
- `run_command`: an allow-listed program, given as an argument vector (never a shell string, so ``;``, ``|`` or
  ``$(…)`` are plain characters), found on a fixed search path, run with a scrubbed environment (no secrets are
  inherited), a time limit (the whole process group is killed) and an output cap, inside the sandbox the policy
  asks for (:mod:`parac.core.sandbox`: what the program's own options reach, the allow-list cannot see).
- `http_request`: only allow-listed hosts, named exactly as allowed (an IP address never stands in for a name, and IP
  addresses in other than their standard form are refused), no credentials in URLs, no redirects to another host,
  a body size cap and a total time limit (a server that trickles bytes does not keep the call alive).
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import functools
import os
import re
import secrets
import shutil
import stat
import threading
import time
import unicodedata
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from parac.core import beneath
from parac.core.errors import ParacBaseError
from parac.core.redact import SECRET_ENV_NAME

if TYPE_CHECKING:
    import subprocess

    import httpx

    from parac.core.sandbox import SandboxPolicy

# The process and network modules are imported where commands run and hosts are checked: every parac command loads
# this module (through the tool plugins), most never run a command.


class ConfinementError(ParacBaseError, PermissionError):
    """A path, command or URL that a tool may not use. ``what`` is the refused value, ``reason`` the sentence."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"{reason}: {what!r}" if what else reason)
        self.what = what
        self.reason = reason


# --- files -------------------------------------------------------------------------------------------------------

#: Governance and version-control internals. Wherever they are in the tree (a nested workspace or repository is as
#: much a target as the root's), each is protected as a whole: not deleted, moved, renamed over or replaced by a
#: link, and no folder holding one is deleted or moved.
PROTECTED = (".parac", ".git")
#: The entries of ``.parac/`` the README lists, protected as wholes too; what agents, skills, workflows, memory and
#: the roadmap hold is the team's content, which tools may edit.
PARAC_ENTRIES = ("parac.yaml", "agents", "skills", "workflows", "policies", "memory", "roadmap", "state")
#: Paths no tool may read or write, at any depth: the database and the audit trail's head record live there.
HIDDEN = (".parac/state",)
#: Paths tools may read but not change, at any depth: a tool that could edit the policies could grant itself
#: anything, and one that could write ``.git/hooks`` or ``.git/config`` could make git run its code.
READ_ONLY = (".parac/policies", ".parac/parac.yaml", ".parac/tokens.json", ".git")
MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255
_PERCENT = re.compile(r"%(?:2e|2f|5c|00|25)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: What any refusal of `_check_syntax` needs to see in an ASCII path: an empty path, a control character, a
#: backslash, a percent sign, a leading ``/`` or ``~`` or drive letter, a ``..`` component.
_SUSPECT = re.compile(r"\A\Z|[\x00-\x1f\x7f\\%]|\A[/~]|\A[A-Za-z]:|(?:\A|/)\.\.(?:/|\Z)")
_READ = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC  # O_NONBLOCK: a FIFO is refused after its open, not waited on
_Parts = tuple[str, ...]


@dataclass(frozen=True)
class Entry:
    """A folder entry as the file tools show it. ``leads_to`` is what a link leads to (``file``, ``dir``)."""

    path: str
    kind: str  # file, dir, symlink
    size: int
    leads_to: str = ""


class FileJail:
    """The workspace root as the only place file tools may go.

    The root is opened once; every path is resolved beneath that descriptor (:mod:`parac.core.beneath`) and every
    operation acts on the descriptor of the folder it resolved to and a bare name, never following a link at the
    last step, so that nothing swapped in between a check and a use can redirect it. The rules (hidden and
    read-only areas, protected wholes) are judged on the path as given and again on the real components it led
    to. ``hidden`` and ``read_only`` add root-relative areas (the policies' ``files`` sections) to the built-in
    ones."""

    def __init__(self, root: str | Path, *, hidden: Iterable[str] = (), read_only: Iterable[str] = ()) -> None:
        self.root = Path(os.path.realpath(root))
        self.hidden = tuple(dict.fromkeys(_fold_parts(item) for item in hidden if _fold_parts(item)))
        self.read_only = tuple(dict.fromkeys(_fold_parts(item) for item in read_only if _fold_parts(item)))
        self._fd = -1
        self._lock = threading.Lock()

    # --- the root descriptor ------------------------------------------------------------------------------------

    @property
    def root_fd(self) -> int:
        """A descriptor of the root (``O_PATH``), opened on first use and closed with the jail."""
        if self._fd < 0:
            with self._lock:
                if self._fd < 0:
                    fd = os.open(self.root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                    weakref.finalize(self, os.close, fd)
                    self._fd = fd
        return self._fd

    # --- what a path string may name ----------------------------------------------------------------------------

    def resolve(self, path: str | os.PathLike[str], *, write: bool = False) -> Path:
        """The real absolute path of ``path`` (relative to the root) after every check; the file need not exist.

        For callers that must hand a path string to another program (a working folder for git or a command); file
        operations use the jail's own methods, which act on descriptors. ``write=True`` also refuses read-only
        areas."""
        shown, parts = self._parts(path, write=write)
        try:
            with self._place(parts, shown, write=write) as where:
                info = where.lstat()
                real = where.parts
        except FileNotFoundError:
            return self.root.joinpath(*parts)  # a folder on the way is missing: nothing there to lead elsewhere
        if info is not None:
            _check_kind(info, shown)
        return self.root.joinpath(*real)

    def relative(self, path: Path) -> str:
        """``path`` (as returned by `resolve`) relative to the root, with ``/`` separators, for messages."""
        return path.relative_to(self.root).as_posix() if path != self.root else "."

    # --- reading ------------------------------------------------------------------------------------------------

    def open(self, path: str | os.PathLike[str], mode: str = "r", **kwargs: Any) -> IO[Any]:
        """Open a confined file like the built-in `open` (text or binary; ``r``, ``w``, ``a``, ``x``, ``+``).

        Parent directories are created (inside the root) for writing modes. A write goes to the file in place;
        `write_bytes` replaces it atomically."""
        write = any(flag in mode for flag in "wax+")
        if not write:
            fd, _ = self._open(path, _READ)
        else:
            flags = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | (os.O_RDWR if "+" in mode else os.O_WRONLY)
            flags |= {"w": os.O_CREAT | os.O_TRUNC, "a": os.O_CREAT | os.O_APPEND, "x": os.O_CREAT | os.O_EXCL}.get(
                next((flag for flag in mode if flag in "wax"), ""), 0)
            shown, parts = self._parts(path, write=True)
            with self._place(parts, shown, write=True, make_parents=True, whole=True) as where, _refusing(shown):
                fd = os.open(where.name, flags, 0o666, dir_fd=where.dir_fd)
        try:
            _check_kind(os.fstat(fd), os.fspath(path))
            os.set_blocking(fd, True)
            return os.fdopen(fd, mode, **kwargs)
        except BaseException:
            os.close(fd)
            raise

    def read_bytes(self, path: str | os.PathLike[str], max_bytes: int | None = None) -> bytes:
        """The file's bytes; refuses a file larger than ``max_bytes`` rather than reading part of it."""
        fd, _ = self._open(path, _READ)
        try:
            info = os.fstat(fd)
            _check_kind(info, os.fspath(path))
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError(errno.EISDIR, "is a folder", os.fspath(path))
            if max_bytes is not None and info.st_size > max_bytes:
                raise ConfinementError(os.fspath(path), f"file is {info.st_size} bytes, more than the limit of "
                                                        f"{max_bytes}")
            chunks = [os.read(fd, info.st_size + 1)]  # a regular file: O_NONBLOCK does not apply
            while chunks[-1] and (max_bytes is None or sum(map(len, chunks)) <= max_bytes):
                chunks.append(os.read(fd, 1 << 20))  # it grew since the fstat
            data = b"".join(chunks)
            if max_bytes is not None and len(data) > max_bytes:
                raise ConfinementError(os.fspath(path), f"file is more than the limit of {max_bytes} bytes")
            return data
        finally:
            os.close(fd)

    def entries(self, path: str | os.PathLike[str] = ".", *, recursive: bool = False,
                descend: Callable[[str], bool] | None = None) -> Iterator[Entry]:
        """The entries of a folder (with ``recursive``, of every folder below it), sorted per folder, as
        root-relative ``/`` paths. Links are not followed (one is shown only if it stays inside and leads to
        something a tool could open), hidden areas and devices are left out, and a folder is entered only if
        ``descend(its path)`` says so. Raises `NotADirectoryError` for a file."""
        fd, real = self._open(path, _READ | os.O_DIRECTORY)
        try:
            if not recursive:
                with os.scandir(fd) as listing:
                    names = sorted(entry.name for entry in listing)
                yield from filter(None, (self._entry(real, name, fd) for name in names))
                return
            for folder, dirs, files, folder_fd in os.fwalk(".", dir_fd=fd, follow_symlinks=False):
                base = (*real, *(part for part in folder.split("/") if part != "."))
                entered = []
                for name in sorted((*dirs, *files)):
                    entry = self._entry(base, name, folder_fd)
                    if entry is None:
                        continue
                    if entry.kind == "dir" and (descend is None or descend(entry.path)):
                        entered.append(name)
                    yield entry
                dirs[:] = [name for name in dirs if name in entered]
        finally:
            os.close(fd)

    def walk(self, path: str | os.PathLike[str] = ".", *, skip_dirs: Iterable[str] = ()) -> Iterator[str]:
        """Every file under ``path`` (regular files, and links that stay inside and lead to one) as a root-relative
        ``/`` path, sorted per folder. Folders named in ``skip_dirs`` (``.git``, ``node_modules``) are not
        entered."""
        skipped = set(skip_dirs)
        for entry in self.entries(path, recursive=True, descend=lambda folder: folder.rpartition("/")[2] not in skipped):
            if entry.kind == "file" or entry.leads_to == "file":
                yield entry.path

    # --- changing -----------------------------------------------------------------------------------------------

    def write_bytes(self, path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True) -> bool:
        """Replace the file's content atomically (a new file beside it, renamed over it relative to the folder's
        descriptor): readers see the old content or the new, never half, and a link swapped in meanwhile is
        replaced, not written through. Parent folders are created. Returns whether the file is new; raises
        `FileExistsError` (without ``overwrite``) and `IsADirectoryError`."""
        shown, parts = self._parts(path, write=True)
        with self._place(parts, shown, write=True, make_parents=True, whole=True) as where, _refusing(shown):
            info = where.lstat()
            if info is not None:
                if stat.S_ISDIR(info.st_mode):
                    raise IsADirectoryError(errno.EISDIR, "is a folder", shown)
                _check_kind(info, shown)
                if not overwrite:
                    raise FileExistsError(errno.EEXIST, "already exists", shown)
            temp = f".{where.name[:200]}.{secrets.token_hex(6)}.tmp"
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666,
                         dir_fd=where.dir_fd)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    if info is not None:
                        os.fchmod(fd, stat.S_IMODE(info.st_mode))
                beneath.rename(beneath.Place(where.dir_fd, temp, ()), where, replace=overwrite)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp, dir_fd=where.dir_fd)
                raise
            return info is None

    def delete(self, path: str | os.PathLike[str], *, recursive: bool = False) -> str:
        """Delete a file, a link (never what it points to) or a folder (``recursive`` for one with contents,
        removed relative to descriptors without following links); returns which it was. Raises
        `FileNotFoundError`, and `OSError` (``ENOTEMPTY``) for a folder with contents without ``recursive``."""
        shown, parts = self._parts(path, write=True)
        with self._place(parts, shown, write=True, follow_final=False, whole=True) as where, _refusing(shown):
            info = where.lstat()
            if info is None:
                raise FileNotFoundError(errno.ENOENT, "no such file or folder", shown)
            if stat.S_ISLNK(info.st_mode):
                os.unlink(where.name, dir_fd=where.dir_fd)
                return "symlink"
            if not stat.S_ISDIR(info.st_mode):
                _check_kind(info, shown)
                os.unlink(where.name, dir_fd=where.dir_fd)
                return "file"
            self._check_holds_no_protected(where, shown)
            if recursive:
                shutil.rmtree(where.name, dir_fd=where.dir_fd)  # descriptor-relative, links never followed
            else:
                os.rmdir(where.name, dir_fd=where.dir_fd)
            return "dir"

    def move(self, source: str | os.PathLike[str], destination: str | os.PathLike[str], *,
             overwrite: bool = False) -> None:
        """Rename a file, folder or link (never what it points to) within the root, creating the destination's
        folders. Raises `FileNotFoundError` (no source), `FileExistsError` (a destination without ``overwrite``,
        refused by the kernel itself), `IsADirectoryError` (a folder at the destination)."""
        from_shown, from_parts = self._parts(source, write=True)
        to_shown, to_parts = self._parts(destination, write=True)
        with self._place(from_parts, from_shown, write=True, follow_final=False, whole=True) as origin, \
                _refusing(from_shown):
            info = origin.lstat()
            if info is None:
                raise FileNotFoundError(errno.ENOENT, "no such file or folder", from_shown)
            if stat.S_ISDIR(info.st_mode):
                self._check_holds_no_protected(origin, from_shown)
            elif not stat.S_ISLNK(info.st_mode):
                _check_kind(info, from_shown)
            with self._place(to_parts, to_shown, write=True, follow_final=False, make_parents=True,
                             whole=True) as target, _refusing(to_shown):
                if stat.S_ISDIR(info.st_mode) and target.parts[:len(origin.parts)] == origin.parts:
                    raise ConfinementError(to_shown, "a folder cannot be moved into itself")
                existing = target.lstat()
                if existing is not None and stat.S_ISDIR(existing.st_mode):
                    raise IsADirectoryError(errno.EISDIR, "a folder already exists there", to_shown)
                beneath.rename(origin, target, replace=overwrite)

    # --- rules --------------------------------------------------------------------------------------------------

    def _parts(self, path: str | os.PathLike[str], *, write: bool) -> tuple[str, list[str]]:
        """The path as shown in messages and its components, after the checks that need no file system."""
        text = _check_syntax(os.fspath(path))
        parts = [part for part in text.split("/") if part not in ("", ".")]
        self._check_area(parts, text, write)
        return text, parts

    def _open(self, path: str | os.PathLike[str], flags: int) -> tuple[int, _Parts]:
        shown, parts = self._parts(path, write=False)
        try:
            fd, real = beneath.open_beneath(self.root_fd, parts, flags)
        except OSError as exc:
            raise _refusal(exc, shown) from None
        if len(real) == len(parts) and list(real) == parts:
            return fd, real  # no link on the way: the path given is where it is, and has been checked
        try:
            self._check_area(real, shown, write=False)
        except BaseException:
            os.close(fd)
            raise
        return fd, real

    @contextlib.contextmanager
    def _place(self, parts: list[str], shown: str, *, write: bool, follow_final: bool = True,
               make_parents: bool = False, whole: bool = False) -> Iterator[beneath.Place]:
        """Resolve beneath the root and check where the path really leads; ``whole`` also refuses protected
        wholes (for operations that replace, delete or move the entry itself)."""
        if whole:
            self._check_whole(parts, shown)

        def may_make(real: _Parts) -> None:
            self._check_area(real, shown, write=True)

        with _refusing(shown):
            where = beneath.place(self.root_fd, parts, follow_final=follow_final,
                                  make_parents=may_make if make_parents else None)
        with where:
            self._check_area(where.parts, shown, write)
            if whole:
                self._check_whole(where.parts, shown)
            yield where

    def _check_area(self, parts: Sequence[str], shown: str, write: bool) -> None:
        folded = _fold_all(parts)
        if _within(folded, self.hidden, _BUILT_IN_HIDDEN):
            raise ConfinementError(shown, "path is in the workspace's private state, which tools may not touch")
        if write and (not folded or _within(folded, self.read_only, _BUILT_IN_READ_ONLY)):
            raise ConfinementError(shown, "path is read-only for tools (policies, settings and git internals)")

    def _check_whole(self, parts: Sequence[str], shown: str) -> None:
        folded = _fold_all(parts)
        if folded and (folded[-1] in PROTECTED or (len(folded) > 1 and folded[-2] == ".parac"
                                                   and folded[-1] in PARAC_ENTRIES)):
            raise ConfinementError(shown, "path is a protected area (.parac/ and its entries, .git/), which tools may "
                                          "not delete, move, replace or rename over")
        if any(area[:len(folded)] == folded for area in (*self.hidden, *self.read_only)):
            raise ConfinementError(shown, "path holds an area the policies protect, so it may not be deleted, moved "
                                          "or replaced")

    def _check_holds_no_protected(self, where: beneath.Place, shown: str) -> None:
        """Refuse to delete or move a folder that holds a protected area at any depth (a nested repository's
        ``.git``, another workspace's ``.parac``)."""
        fd = os.open(where.name, _READ | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=where.dir_fd)
        try:
            for _, dirs, files, _ in os.fwalk(".", dir_fd=fd, follow_symlinks=False):
                if any(_fold(name) in PROTECTED for name in (*dirs, *files)):
                    raise ConfinementError(shown, "folder holds a protected area (.parac/ or .git/), which tools may "
                                                  "not delete or move")
        finally:
            os.close(fd)

    def _entry(self, folder: _Parts, name: str, dir_fd: int) -> Entry | None:
        """The entry ``name`` of an open folder, or None when a tool may not see it."""
        parts = (*folder, name)
        relative = "/".join(parts)
        if _within(_fold_all(parts), self.hidden, _BUILT_IN_HIDDEN):
            return None
        try:
            info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            return None  # gone meanwhile
        if stat.S_ISDIR(info.st_mode):
            return Entry(relative, "dir", 0)
        if stat.S_ISLNK(info.st_mode):
            try:
                fd, _ = self._open(relative, os.O_PATH | os.O_CLOEXEC)
            except (ConfinementError, OSError):
                return None  # leads out, into a hidden area, or nowhere
            try:
                target = os.fstat(fd)
                _check_kind(target, relative)
            except ConfinementError:
                return None
            finally:
                os.close(fd)
            return Entry(relative, "symlink", 0, "dir" if stat.S_ISDIR(target.st_mode) else "file")
        try:
            _check_kind(info, relative)
        except ConfinementError:
            return None
        return Entry(relative, "file", info.st_size)


@contextlib.contextmanager
def _refusing(shown: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise _refusal(exc, shown) from None


def _refusal(exc: OSError, shown: str) -> OSError:
    """Name the rule when the kernel refuses a path: a link leading out, or one swapped in at the last step."""
    if isinstance(exc, beneath.Escape):
        return ConfinementError(shown, "path leads outside the workspace through a symbolic link")
    if exc.errno == errno.ELOOP:
        return ConfinementError(shown, "path is a symbolic link (or a chain of too many)")
    return exc


def _check_syntax(text: str) -> str:
    """Refuse paths that are not plain relative paths, before anything touches the file system."""
    if text.isascii() and len(text) <= MAX_NAME_BYTES and not _SUSPECT.search(text):
        return text  # the common case, in one pass; anything that may be refused is examined below
    if not text:
        raise ConfinementError(text, "empty path")
    if _CONTROL.search(text):
        raise ConfinementError(text, "path contains control characters")
    if len(text.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
        raise ConfinementError(text[:80] + "…", f"path is longer than {MAX_PATH_BYTES} bytes")
    if "\\" in text:
        raise ConfinementError(text, "path contains a backslash; use / between folders")
    if _PERCENT.search(text):
        raise ConfinementError(text, "path contains percent-encoded characters; give the plain path")
    if text.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", text):
        raise ConfinementError(text, "absolute paths are not allowed; give a path relative to the workspace root")
    normal = text if text.isascii() else unicodedata.normalize("NFKC", text)
    if normal != text and (".." in normal.split("/") or normal.startswith("/") or "\\" in normal):
        raise ConfinementError(text, "path uses look-alike Unicode characters for '.' or '/'")
    parts = text.split("/")
    if ".." in parts:
        raise ConfinementError(text, "path contains '..'; paths must stay inside the workspace")
    for part in parts:
        if len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            raise ConfinementError(part[:80] + "…", f"a file name is longer than {MAX_NAME_BYTES} bytes")
    return text


def _check_kind(info: os.stat_result, shown: str) -> None:
    mode = info.st_mode
    if stat.S_ISLNK(mode):
        return  # the resolvers have followed it beneath the root; operations never follow one at the last step
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise ConfinementError(shown, "path is a device, pipe or socket, not a regular file")
    if stat.S_ISREG(mode) and info.st_nlink > 1:
        raise ConfinementError(shown, "file has other hard links, so it may be a file outside the workspace")


@functools.lru_cache(maxsize=4096)
def _fold(name: str) -> str:
    """A name as a case-insensitive, normalising file system (APFS, HFS+, NTFS) may see it: NFKC, case-folded,
    without invisible format characters (HFS+ ignores some) and trailing dots and spaces (Windows drops them)."""
    if name.isascii():
        return name.lower().rstrip(" .") or name.lower()
    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(char for char in folded if unicodedata.category(char) != "Cf").rstrip(" .") or folded


def _fold_all(parts: Sequence[str]) -> _Parts:
    return tuple(map(_fold, parts))


def _fold_parts(relative: str) -> _Parts:
    return _fold_all([part for part in relative.split("/") if part not in ("", ".")])


_BUILT_IN_HIDDEN = tuple(_fold_parts(area) for area in HIDDEN)
_BUILT_IN_READ_ONLY = tuple(_fold_parts(area) for area in READ_ONLY)


def _within(folded: _Parts, rooted: tuple[_Parts, ...], anywhere: tuple[_Parts, ...]) -> bool:
    """Whether the path is at or under an area: ``rooted`` ones from the root, ``anywhere`` ones at any depth
    (all of which begin with a protected name, so a path without one is done with at once)."""
    if any(folded[:len(area)] == area for area in rooted):
        return True
    if not any(part in PROTECTED for part in folded):
        return False
    return any(folded[i:i + len(area)] == area for area in anywhere for i in range(len(folded) - len(area) + 1))


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
    cancel: threading.Event | None = None,
) -> CommandResult:
    """Run an allowed command as an argument vector in ``cwd``, in the sandbox the policy asks for, with ``root``
    (default: ``cwd``) as the workspace it may write; never raises for the command's own failure.

    Raises `parac.core.sandbox.SandboxUnavailable` when the policy wants a sandbox that cannot start here. Output
    past ``max_output_bytes`` (per stream) is read and dropped, so a chatty command still finishes; at the time
    limit the whole process group is killed, and with it the sandbox and everything in it; so it is once
    ``cancel`` is set (the call was cancelled)."""
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
        out, err, truncated, timed_out = _collect(proc, policy.timeout_s, policy.max_output_bytes, started, cancel)
    return CommandResult(
        argv=list(argv), exit_code=proc.returncode, stdout=out.decode("utf-8", "replace"),
        stderr=err.decode("utf-8", "replace"), timed_out=timed_out, truncated=truncated,
        duration_s=time.monotonic() - started, sandbox=sandbox.name,
    )


def _collect(
    proc: subprocess.Popen[bytes], timeout_s: float, cap: int, started: float, cancel: threading.Event | None = None
) -> tuple[bytes, bytes, bool, bool]:
    import selectors
    import subprocess

    buffers = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    truncated = timed_out = stopped = False
    look = 0.05 if cancel is not None else 0.5  # how soon a cancel is seen
    with selectors.DefaultSelector() as selector:
        for stream in buffers:
            selector.register(stream, selectors.EVENT_READ)  # type: ignore[arg-type]
        while selector.get_map():
            remaining = timeout_s - (time.monotonic() - started)
            if remaining <= 0:
                timed_out = True
                break
            if cancel is not None and cancel.is_set():
                stopped = True
                break
            for key, _ in selector.select(timeout=min(remaining, look)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                buffer = buffers[key.fileobj]  # type: ignore[index]
                room = cap - len(buffer)
                if len(chunk) > room:
                    truncated = True
                buffer.extend(chunk[:max(room, 0)])
    if timed_out or stopped:
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
