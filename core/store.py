"""The workspace's SQLite database, ``.parac/state/parac.db``.

One file holds everything parac must not lose: workflow runs and checkpoints, the cost ledger, budget
reservations, the audit chain. This module only opens it; each module that owns tables creates them itself
(``CREATE TABLE IF NOT EXISTS`` at first use), so no central schema has to know every feature.

Connections are opened in autocommit mode (``isolation_level=None``): a module says where its transactions
begin with :func:`transaction`, which takes the write lock up front (``BEGIN IMMEDIATE``). That is what makes
read-check-write sequences such as budget reservations safe across threads and processes; the implicit
deferred transactions of :mod:`sqlite3`'s default mode would let two writers read the same state and then
race for the lock.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Where the database lives, relative to the directory that holds ``.parac/``.
DB_RELATIVE_PATH = Path(".parac") / "state" / "parac.db"

#: How long a connection waits for another writer before giving up, in milliseconds. Workflow steps and
#: concurrent agent calls write from several threads and processes; a short wait beats a spurious error.
BUSY_TIMEOUT_MS = 10_000
WAL_RETRY_S = 0.005


def db_path(workspace_root: str | Path) -> Path:
    """Return the database file of the workspace whose root (the directory holding ``.parac/``) is given.

    A path that already ends in ``.parac`` is accepted as well, since callers often hold that directory.
    """
    root = Path(workspace_root)
    if root.name == ".parac":
        return root / "state" / "parac.db"
    return root / DB_RELATIVE_PATH


def connect(path: str | Path, driver: Any = sqlite3) -> sqlite3.Connection:
    """Open (creating if needed) the SQLite database at ``path`` with parac's settings.

    - WAL journal: readers (``parac costs report``, the MCP resources) never block the writer, and a commit
      is one append, which is what makes per-call ledger rows cheap.
    - ``synchronous=NORMAL``: in WAL mode a committed transaction survives a killed process (what the
      workflow engine's crash-resume relies on); only a power loss may drop the last commits, never corrupt.
    - ``busy_timeout`` so concurrent writers queue instead of failing.
    - ``check_same_thread=False`` so a connection may be handed to a worker thread (anyio's ``to_thread``);
      callers must still not use one connection from two threads at the same time.

    ``":memory:"`` opens a private in-memory database (for tests and benchmarks of callers). ``driver`` is a
    DB-API module shaped like :mod:`sqlite3` (``sqlean`` for the vector index, which must load an extension).
    """
    target = str(path)
    if target != ":memory:":
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    conn = driver.connect(target, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.row_factory = driver.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    _use_wal(conn, driver)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _use_wal(conn: sqlite3.Connection, driver: Any) -> None:
    """Put the database in WAL mode (kept in the file; for a database already in it, the pragma changes nothing).

    Several connections turning a new database to WAL at once (the first runs of a fresh workspace) are refused
    by SQLite with "database is locked" at once, without waiting out ``busy_timeout``: the pragma is tried again
    until it passes or the timeout has. (The mode is not read from the file's header instead: a second descriptor
    on the database, closed, drops every POSIX lock this process holds on it, which lets another process take the
    database for unused and checkpoint or recover it under this process's connections.)"""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except driver.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(WAL_RETRY_S)


def connect_workspace(workspace_root: str | Path) -> sqlite3.Connection:
    """Open the database of the workspace rooted at ``workspace_root`` (see :func:`db_path`)."""
    return connect(db_path(workspace_root))


def ensure_tables(conn: sqlite3.Connection, schema: str) -> None:
    """Run ``schema`` (``CREATE ... IF NOT EXISTS`` statements) unless every object it creates is there already:
    one lookup instead of a script, for modules that make sure of their tables on every connection they are given
    (an agent run opens one, on its way to its first model call)."""
    names = _created(schema)
    placeholders = ", ".join("?" * len(names))
    found = conn.execute(f"SELECT COUNT(*) FROM sqlite_master WHERE name IN ({placeholders})", names).fetchone()[0]
    if found < len(names):
        conn.executescript(schema)


@functools.cache
def _created(schema: str) -> tuple[str, ...]:
    return tuple(re.findall(r"CREATE\s+(?:UNIQUE\s+)?(?:TABLE|INDEX|VIEW|TRIGGER)\s+IF\s+NOT\s+EXISTS\s+(\w+)", schema,
                            re.IGNORECASE))


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, *, immediate: bool = True) -> Iterator[sqlite3.Connection]:
    """Run the body as one transaction: commit when it returns, roll back when it raises.

    ``immediate=True`` takes the write lock at ``BEGIN``, so a body that reads, decides and writes sees no
    other writer in between. Use ``immediate=False`` for read-only snapshots.
    """
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def process_alive(pid: int) -> bool:
    """Whether a process on this machine still runs: the owner of a lease or a reservation left in the database.

    A zombie (killed, not yet reaped by its parent) counts as dead: it holds nothing any more.
    """
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True
