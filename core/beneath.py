"""Resolving paths beneath a directory descriptor, so that nothing swapped in afterwards can redirect them.

A path string checked and then opened again can be redirected between the two steps (a racing process swaps a
folder for a symbolic link to ``/``). Here a path is resolved once, relative to a descriptor held on the
workspace root, into a descriptor of the folder that holds its last component and that component's name
(`Place`); every operation then uses that descriptor (``dir_fd=``) and the bare name, never following a link at
the last step, so what it acts on is what was resolved.

Two resolvers, the same answers:

- ``openat2(2)`` with ``RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS`` (Linux ≥ 5.6, through
  ``ctypes``): one system call for the common case, a path without links. The kernel refuses anything that
  would leave the root.
- A component-by-component walk with ``O_NOFOLLOW`` and ``dir_fd``, holding a descriptor for every folder it
  enters. It is used where the kernel has no ``openat2`` (or a seccomp filter refuses it) and whenever a path
  contains a link: a link is followed only while it stays beneath the root (``..`` may not climb above it, an
  absolute target is refused, as ``RESOLVE_BENEATH`` does), and the walk knows the real components it went
  through, which the rules about protected areas are judged on. ``openat2`` follows such links too, but does not
  say where they led.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from parac.core.errors import ParacBaseError

RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
_SYS_OPENAT2 = 437  # the same number on every architecture (added after the syscall tables were unified)
_RENAME_NOREPLACE = 1
MAX_LINKS = 40  # as the kernel's MAXSYMLINKS
_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC


class Escape(ParacBaseError, OSError):
    """The path leads outside the root (through a link, or a ``..`` in one)."""

    def __init__(self) -> None:
        super().__init__(errno.EXDEV, "path leads outside the root")


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_HOW_SIZE = ctypes.sizeof(_OpenHow)
_openat2_works: bool | None = None  # a property of the kernel (and its seccomp filter), learnt on first use


def openat2(dir_fd: int, path: str, flags: int, mode: int = 0, *, resolve: int) -> int:
    """``openat2(2)``: raises `OSError` as ``os.open`` does (``ENOSYS`` where the kernel lacks it)."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode if flags & os.O_CREAT else 0, resolve)
    fd = _syscall(_SYS_OPENAT2, dir_fd, os.fsencode(path), ctypes.byref(how), _HOW_SIZE)
    if fd < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), path)
    return fd


def has_openat2(root_fd: int) -> bool:
    """Whether ``openat2`` can be used here; a kernel without it answers ``ENOSYS``, a seccomp filter ``EPERM``."""
    global _openat2_works
    if _openat2_works is None:
        try:
            os.close(openat2(root_fd, ".", _DIR, resolve=RESOLVE_BENEATH))
            _openat2_works = True
        except OSError as exc:
            if exc.errno not in (errno.ENOSYS, errno.EPERM, errno.EINVAL):
                raise
            _openat2_works = False
    return _openat2_works


def open_beneath(root_fd: int, parts: list[str], flags: int) -> tuple[int, tuple[str, ...]]:
    """A descriptor of the existing file or folder at ``parts`` beneath the root, following links only while they
    stay beneath it, and the real components it was found at.

    The fast case is one ``openat2`` (no link on the way, so the real components are the given ones); a path with
    a link, or a kernel without ``openat2``, takes the walk."""
    if parts and has_openat2(root_fd):
        try:
            fd = openat2(root_fd, "/".join(parts), flags, resolve=RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS)
            return fd, tuple(parts)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.EXDEV, errno.EAGAIN):
                raise
    with place(root_fd, parts) as where:
        return os.open(where.name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=where.dir_fd), where.parts


@dataclass
class Place:
    """Where a path leads: ``name`` in the folder open as ``dir_fd``; ``parts`` are the real components from the root
    to it (empty for the root itself, whose ``name`` is ``"."``). Close it (or use ``with``)."""

    dir_fd: int
    name: str
    parts: tuple[str, ...]

    def __enter__(self) -> Place:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self.dir_fd >= 0:
            os.close(self.dir_fd)
            self.dir_fd = -1

    def lstat(self) -> os.stat_result | None:
        """The entry itself (a link is not followed), or None when nothing is there."""
        try:
            return os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None


def place(root_fd: int, parts: list[str], *, follow_final: bool = True,
          make_parents: Callable[[tuple[str, ...]], None] | None = None) -> Place:
    """Resolve ``parts`` beneath the root to the folder holding the last component (see `Place`).

    Links on the way are followed while they stay beneath the root; the last component is followed too when it
    is a link and ``follow_final`` is set, else it is the link itself. A missing last component is fine (a file
    about to be created); missing folders on the way are created when ``make_parents`` is given (it is called
    first with the real components of each, and refuses one by raising), else `FileNotFoundError`. Raises
    `Escape` when a link leads out."""
    if len(parts) > 1 and has_openat2(root_fd):
        try:
            fd = openat2(root_fd, "/".join(parts[:-1]), _DIR,
                         resolve=RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS)
        except OSError:
            pass  # a link on the way, a missing folder, a file where a folder should be: the walk sorts it out
        else:
            found = Place(fd, parts[-1], tuple(parts))
            info = found.lstat() if follow_final else None
            if info is None or not stat.S_ISLNK(info.st_mode):
                return found
            found.close()
    return _walk(root_fd, parts, follow_final=follow_final, make_parents=make_parents)


def _walk(root_fd: int, parts: list[str], *, follow_final: bool,
          make_parents: Callable[[tuple[str, ...]], None] | None) -> Place:
    entered: list[tuple[int, str]] = []  # folders below the root, each held open: (descriptor, real name)
    pending = [part for part in reversed(parts) if part not in ("", ".")]
    links = 0

    def here() -> int:
        return entered[-1][0] if entered else root_fd

    def at(name: str) -> Place:
        return Place(os.dup(here()), name, (*(n for _, n in entered), name))

    try:
        while pending:
            name = pending.pop()
            if name == "..":
                if not entered:
                    raise Escape()
                os.close(entered.pop()[0])
                continue
            last = not pending
            if last and not follow_final:
                return at(name)
            try:
                fd = os.open(name, _DIR | os.O_NOFOLLOW, dir_fd=here())
            except (NotADirectoryError, FileNotFoundError) as exc:
                target = _link_target(name, here())
                if target is None:
                    if last:
                        return at(name)  # a file, or nothing yet
                    if isinstance(exc, NotADirectoryError) and _is_dir_or_link(name, here()) and links < MAX_LINKS:
                        links += 1  # a link when opened, not when read: swapped meanwhile, so look again
                        pending.append(name)
                        continue
                    if isinstance(exc, FileNotFoundError) and make_parents is not None:
                        make_parents((*(n for _, n in entered), name))
                        try:
                            os.mkdir(name, dir_fd=here())
                        except FileExistsError:
                            pass  # made meanwhile: the next turn opens it, without following a link
                        pending.append(name)
                        continue
                    raise
                links += 1
                if links > MAX_LINKS:
                    raise OSError(errno.ELOOP, "too many levels of symbolic links", name) from None
                if target.startswith("/"):
                    raise Escape() from None
                pending.extend(part for part in reversed(target.split("/")) if part not in ("", "."))
                continue
            entered.append((fd, name))
        # The path ended in the root or in a folder already entered (``a/..``, a link to ``.``): name that folder
        # from its parent.
        if not entered:
            return Place(os.dup(root_fd), ".", ())
        _, name = entered.pop()
        found = at(name)
        os.close(_)
        return found
    finally:
        for fd, _ in entered:
            os.close(fd)


def _is_dir_or_link(name: str, dir_fd: int) -> bool:
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
        return stat.S_ISDIR(mode) or stat.S_ISLNK(mode)
    except OSError:
        return False


def _link_target(name: str, dir_fd: int) -> str | None:
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except (OSError, ValueError):
        return None


def rename(src: Place, dst: Place, *, replace: bool) -> None:
    """Rename ``src`` to ``dst``, each relative to its folder's descriptor. Without ``replace`` an existing
    destination is refused by the kernel itself (``renameat2(RENAME_NOREPLACE)``), not by a check that a racing
    process could pass between."""
    if replace:
        os.rename(src.name, dst.name, src_dir_fd=src.dir_fd, dst_dir_fd=dst.dir_fd)
        return
    renameat2 = getattr(_libc, "renameat2", None)
    if renameat2 is not None:
        if renameat2(src.dir_fd, os.fsencode(src.name), dst.dir_fd, os.fsencode(dst.name), _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.ENOSYS, errno.EINVAL):  # EINVAL: a file system without RENAME_NOREPLACE
            raise OSError(code, os.strerror(code), dst.name)
    if dst.lstat() is not None:
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), dst.name)
    os.rename(src.name, dst.name, src_dir_fd=src.dir_fd, dst_dir_fd=dst.dir_fd)
