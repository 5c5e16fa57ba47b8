"""`AuditLog`: appending to the trail (one entry, a batch, or queued for a writer thread that commits groups),
the signed head record and anchors, and reading entries back.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parac.core import store
from parac.core.errors import ParacBaseError
from parac.core.pages import ListingFilter
from parac.core.redact import Redactor, default_redactor

from .schema import COLUMNS, INSERT, KEY_ENV, MESSAGE_SQL, SCHEMA, AuditEntry, Hasher, canonical_json, entry_from_row, entry_message
from .verify import Verifier, VerifyReport

HEAD_FILE = "audit.head"
#: How long the writer thread lets entries gather before a commit: calls that come close together share one fsync.
#: The ledger's window too. 5 ms meant a commit (two fsyncs) every few tool calls under load, which cost a serving
#: MCP server about a fifth of its throughput on two cores; a process that ends, or a `flush()`, cuts it short.
GROUP_COMMIT_S = 0.05
#: The most entries one transaction holds (a burst is committed in several, each holding the write lock briefly).
MAX_BATCH = 1000


class AuditError(ParacBaseError):
    """The audit log cannot be written or read (not a verification failure: see `VerifyReport`)."""



def audit_key(env: Mapping[str, str] | None = None) -> bytes | None:
    """The HMAC key from ``PARAC_AUDIT_KEY``, or None when it is not set."""
    value = (os.environ if env is None else env).get(KEY_ENV)
    return value.encode("utf-8") if value else None


def now() -> str:
    """Server time in UTC, ISO 8601 with microseconds (``2026-01-31T12:00:00.000000Z``)."""
    global _clock
    stamp = time.time()
    second = int(stamp)
    clock = _clock  # one read: another thread may replace it meanwhile (several hosts' writers run at once)
    if second != clock[0]:
        clock = _clock = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{clock[1]}.{int((stamp - second) * 1_000_000):06d}Z"


#: The last whole second formatted by `now` (formatting the date costs more than the rest of an append). A cache of
#: the clock, which every workspace shares, so it is per process.
_clock: tuple[int, str] = (-1, "")


_WRITING: weakref.WeakSet[AuditLog] = weakref.WeakSet()
"""This process's logs with a writer thread: a reader of the same database commits what they queued first. Per
process, not per host, on purpose: it is found by database file, and any host (or a CLI command) reading a trail
must see what every writer of this process queued for that file."""


@dataclass(frozen=True)
class AuditFilter(ListingFilter):
    """Which entries a page of the trail shows: every condition given must hold (None: any). ``subject`` is what
    an entry is about: the tool of a ``tool.call``, the model of an ``llm.call``, the run of a workflow event.
    ``since``/``until``: Unix times, the window [since, until)."""

    actor: str | None = None
    action: str | None = None
    subject: str | None = None
    outcome: str | None = None
    since: float | None = None
    until: float | None = None


class AuditLog:
    """The audit log of one workspace database.

    Owns its own connection (opened with `parac.core.store.connect`, then switched to ``synchronous=FULL``: an
    acknowledged audit entry survives a power loss, not only a killed process). Safe to share between threads.
    """

    def __init__(
        self,
        db_path: str | Path,
        *,
        key: bytes | None = None,
        head_path: str | Path | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        """``db_path``: the SQLite file. ``key``: the HMAC key (see `audit_key`). ``head_path``: where the head
        record lives (default: ``audit.head`` beside the database). ``redactor``: masks strings before they are
        written (default: the process's output redactor); the workspace's governance sets `redactor` to its
        own, and replaces it when the policies are reloaded."""
        self.db_path = Path(db_path)
        self.head_path = Path(head_path) if head_path else self.db_path.with_name(HEAD_FILE)
        self._setup(key, redactor, where=str(self.db_path))
        self._conn = store.connect(self.db_path)
        self._conn.row_factory = None
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.executescript(SCHEMA)
        self._head_lock_fd: int | None = None
        self._head_lock_pid = 0

    def _setup(self, key: bytes | None, redactor: Redactor | None, *, where: str) -> None:
        """What every store's log holds: the hasher, the locks, the writer's queue. ``where`` names the store (a
        reader commits what this process queued for the same one first)."""
        self.key = key
        self._hash = Hasher(key)
        self.redactor = redactor
        self.where = where
        self._lock = threading.RLock()
        self._batch_depth = 0
        self._pending_head: tuple[int, str] | None = None
        self._tail: tuple[int, str, str] | None = None  # the last entry's seq, hash and time
        self._pending: list[tuple[Any, ...]] = []
        self._queue_lock = threading.Lock()
        self._arrived = threading.Event()  # the writer has entries to commit
        self._hurry = threading.Event()  # a flush waits: commit without waiting out the group-commit window
        self._writer_pid = 0
        """The process whose writer thread commits `submit`'s entries (0: none). A pid, not the thread: asking a
        thread `is_alive()` was most of what an entry cost its caller, and a fork's child has no writer."""
        self._submitted = self._written = 0
        self._written_changed = threading.Condition()
        self._failure: Exception | None = None

    @classmethod
    def for_workspace(cls, root: str | Path, **kwargs: Any) -> AuditLog:
        """The log of the workspace whose root (the directory holding ``.parac/``) is ``root``, keyed from the
        environment unless ``key`` is given."""
        kwargs.setdefault("key", audit_key())
        from parac.core.engines import shared_database_url

        url = shared_database_url(root)
        if url is not None:  # the dbos engine: one chain in Postgres for every process of every host
            from .postgres import PostgresAuditLog

            kwargs.pop("head_path", None)
            return PostgresAuditLog(url, **kwargs)
        return cls(store.db_path(root), **kwargs)

    def close(self) -> None:
        """Commit what `submit` queued, then close the connection."""
        self.flush()
        with self._lock:
            self._conn.close()
            if self._head_lock_fd is not None and self._head_lock_pid == os.getpid():
                os.close(self._head_lock_fd)
            self._head_lock_fd = None

    # --- group commit ----------------------------------------------------------------------------------------

    def submit(self, action: str, *, actor: str, subject: str = "", outcome: str = "ok",
               data: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None) -> None:
        """Queue an entry for the writer thread, which commits whatever has queued up in one durable transaction.

        This is what the hooks around tool and model calls use: the caller pays for a list append (the writer redacts),
        not for an fsync, and entries that arrive together share one. `data` may be a function the writer calls to
        make it, so that a caller answering a request does not (an entry whose function fails is logged and left
        out, as a failing hook's would be). An entry is durable once `flush` returns
        (`close` and interpreter exit flush); until then a crash of the process can lose it, never reorder or
        corrupt the chain."""
        with self._queue_lock:
            if self._writer_pid != os.getpid():  # none yet, it ended, or it is the parent's (this is a fork)
                self._writer_pid = os.getpid()
                threading.Thread(target=self._write_queued, name="parac-audit", daemon=True).start()
                atexit.register(self.flush)
                _WRITING.add(self)
            self._submitted += 1
            self._pending.append((action, actor, subject, outcome, data))
            if len(self._pending) == 1:
                self._arrived.set()

    def flush(self, timeout: float | None = 30.0) -> None:
        """Wait until every entry submitted so far is committed; raises `AuditError` if the writer failed."""
        with self._queue_lock:
            target = self._submitted
        self._hurry.set()
        with self._written_changed:
            self._written_changed.wait_for(lambda: self._written >= target or self._failure is not None, timeout)
            if self._failure is not None:
                failure, self._failure = self._failure, None
                raise AuditError(f"audit entries could not be written: {failure}")

    def _write_queued(self) -> None:
        """Commit what was submitted, a group at a time: the first entry wakes the writer, which then waits out
        the window (or less, when a flush is waiting); entries submitted meanwhile only join the list, so the
        calling threads wake no thread per entry."""
        try:
            while True:
                self._arrived.wait()
                self._hurry.wait(GROUP_COMMIT_S)
                with self._queue_lock:
                    items, self._pending = self._pending, []
                    self._arrived.clear()
                    self._hurry.clear()
                for start in range(0, len(items), MAX_BATCH):
                    self._write_batch(items[start:start + MAX_BATCH])
        finally:  # ended by what `_write_batch` does not catch: the next `submit` starts another
            with self._queue_lock:
                self._writer_pid = 0

    def _write_batch(self, items: list[tuple[Any, ...]]) -> None:
        try:
            with self.batch():
                for action, actor, subject, outcome, data in items:
                    if callable(data):
                        try:
                            data = data()
                        except Exception as exc:
                            logging.getLogger("parac.audit").error("audit entry %s %s not made: %s: %s", action,
                                                                   subject, type(exc).__name__, exc)
                            continue
                    self.append(action, actor=actor, subject=subject, outcome=outcome, data=data)
        except Exception as exc:  # the writer must outlive a locked or full database; flush reports it
            self._failure = exc
            logging.getLogger("parac.audit").error("audit batch of %d entries failed: %s", len(items), exc)
        with self._written_changed:
            self._written += len(items)
            self._written_changed.notify_all()

    # --- writing -------------------------------------------------------------------------------------------------

    def append(self, action: str, *, actor: str, subject: str = "", outcome: str = "ok",
               data: Mapping[str, Any] | None = None) -> AuditEntry:
        """Append one entry and return it. Outside `batch` the entry is committed durably before this returns.

        Strings in ``subject`` and ``data`` are redacted first; ``data`` values JSON cannot hold are stored as
        their ``str()``."""
        redactor = self.redactor or default_redactor()
        subject = redactor.text(subject)
        clean = redactor.value(data) if data else {}
        data_text = canonical_json(clean)
        with self._lock, (contextlib.nullcontext() if self._batch_depth else self.batch()):
            seq, prev, last_ts = self._tail or self._read_tail()
            seq += 1
            ts = max(now(), last_ts)  # never before the entry it follows: another host's clock may run ahead
            try:
                message = entry_message(seq, ts, actor, action, subject, outcome, data_text, prev)
            except UnicodeEncodeError:  # lone surrogates (from undecodable file names) cannot be stored as UTF-8
                actor, action, subject, outcome, data_text = (
                    _valid_utf8(text) for text in (actor, action, subject, outcome, data_text))
                message = entry_message(seq, ts, actor, action, subject, outcome, data_text, prev)
            digest = self._hash.digest(message)
            self._conn.execute(INSERT, (seq, ts, actor, action, subject, outcome, data_text, prev, digest))
            self._tail = (seq, digest, ts)
            self._pending_head = (seq, digest)
        return AuditEntry(seq, ts, actor, action, subject, outcome, clean, prev, digest)

    @contextlib.contextmanager
    def batch(self) -> Iterator[AuditLog]:
        """Group appends into one transaction and one durable commit (nesting joins the outer batch).

        The write lock is held from the first statement to the commit, so entries from other processes cannot
        interleave with the batch's and the chain's tail read at the start stays the tail."""
        with self._lock:
            if self._batch_depth:
                self._batch_depth += 1
                try:
                    yield self
                finally:
                    self._batch_depth -= 1
                return
            self._batch_depth = 1
            self._tail = None
            try:
                with self._transaction():
                    yield self
            except BaseException:
                self._pending_head = None
                raise
            finally:
                self._batch_depth = 0
                self._tail = None
            if self._pending_head:
                seq, digest = self._pending_head
                self._pending_head = None
                self._write_head(seq, digest)

    def _transaction(self) -> contextlib.AbstractContextManager[Any]:
        """A write transaction that no other process's appends interleave with (SQLite's write lock)."""
        return store.transaction(self._conn)

    def _read_tail(self) -> tuple[int, str, str]:
        row = self._conn.execute("SELECT seq, hash, ts FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return (row[0], row[1], row[2]) if row else (0, "", "")

    # --- the head record and anchors --------------------------------------------------------------------------

    def _write_head(self, seq: int, digest: str) -> None:
        """Replace the head record, never moving it backwards (another process may have written a later one).

        The record goes to a new file, synced, then renamed over the old one: a reader or a crash sees the old
        record or the new one, never half of one. This runs after every group commit, so it costs only what that
        needs (the lock file stays open for the log's life; the file is written without Python's text layers)."""
        lock = self._head_lock()
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            record = self._next_head(seq, digest)
            if record is None:
                return
            body = canonical_json(record).encode("utf-8")
            tmp = f"{self.head_path}.tmp"
            handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
            try:
                if os.write(handle, body) != len(body):
                    raise OSError(f"short write to {tmp}")
                os.fsync(handle)
            finally:
                os.close(handle)
            os.replace(tmp, self.head_path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

    def _next_head(self, seq: int, digest: str) -> dict[str, Any] | None:
        """The signed head record for entry ``seq``, or None when the stored one is already as far or further."""
        current = self.read_head()
        if current and isinstance(current.get("seq"), int) and current["seq"] >= seq:
            return None
        keyed_from = current.get("keyed_from") if current else None
        if keyed_from is None and self.key is not None:
            keyed_from = self._first_keyed_seq()
        record: dict[str, Any] = {"seq": seq, "hash": digest, "keyed_from": keyed_from, "ts": now()}
        record["sig"] = self._hash.sign(record)
        return record

    def _head_lock(self) -> int:
        """The open lock file that orders head writers across processes (opened again in a forked child, which
        must not share the parent's lock)."""
        if self._head_lock_fd is None or self._head_lock_pid != os.getpid():
            self.head_path.parent.mkdir(parents=True, exist_ok=True)
            self._head_lock_fd = os.open(f"{self.head_path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            self._head_lock_pid = os.getpid()
        return self._head_lock_fd

    def _first_keyed_seq(self) -> int | None:
        row = self._conn.execute(
            "SELECT MIN(seq) FROM audit WHERE hash LIKE 'hmac-sha256:%'"
        ).fetchone()
        return row[0] if row else None

    def read_head(self) -> dict[str, Any] | None:
        """The head record as stored, or None when there is none (or it is not a JSON object)."""
        try:
            value = json.loads(self.head_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def anchor(self) -> dict[str, Any]:
        """An anchor for the current tail: store it somewhere else; ``verify(anchor=...)`` checks the log against
        it later, which catches a rewrite or truncation that also replaced the head record."""
        with self._lock:
            seq, digest, _ = self._read_tail()
        record: dict[str, Any] = {"parac_audit_anchor": 1, "seq": seq, "hash": digest, "ts": now()}
        record["sig"] = self._hash.sign(record)
        return record

    # --- reading ---------------------------------------------------------------------------------------------

    def _commit_own_process(self) -> None:
        """Commit the entries this process has queued for this database (by any log, such as the governance
        plugin's), so that a reader here sees every call it was answered for. Other processes' queues are theirs:
        they commit within :data:`GROUP_COMMIT_S`."""
        for log in list(_WRITING):
            if log.where == self.where:
                log.flush()

    def tail(self, count: int = 20) -> list[AuditEntry]:
        """The last ``count`` entries, oldest first."""
        self._commit_own_process()
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {COLUMNS} FROM audit ORDER BY seq DESC LIMIT ?", (max(0, count),)
            ).fetchall()
        return [entry_from_row(row) for row in reversed(rows)]

    def before(self, seq: int | None, count: int, where: AuditFilter | None = None) -> list[AuditEntry]:
        """Up to ``count`` entries older than ``seq`` (None: the newest), newest first, that `where` lets through:
        a page of the trail.

        An index per condition (``audit_actor``, ``_action``, ``_subject``, ``_outcome``; the key, ``seq``, for time)
        yields its entries in ``seq`` order, so a page reads about a page of rows. The time window becomes a window
        of ``seq`` first (`_seq_window`)."""
        self._commit_own_process()
        where = where or AuditFilter()
        sql = f"SELECT {COLUMNS} FROM audit WHERE seq < ?"
        params: list[Any] = [seq if seq is not None else 2**62]
        for column in ("actor", "action", "subject", "outcome"):
            if getattr(where, column) is not None:
                sql += f" AND {column} = ?"
                params.append(getattr(where, column))
        with self._lock:
            if where.since is not None or where.until is not None:
                first, last = self._seq_window(_stamp(where.since), _stamp(where.until))
                sql += " AND seq BETWEEN ? AND ?"
                params += [first, last]
            rows = self._conn.execute(sql + " ORDER BY seq DESC LIMIT ?", (*params, max(0, count))).fetchall()
        return [entry_from_row(row) for row in rows]

    def _seq_window(self, since: str | None, until: str | None) -> tuple[int, int]:
        """The first and last ``seq`` of the entries stamped in [since, until) (ISO times as `now` writes them).

        An entry's time is taken inside the write transaction that gives it its ``seq`` (`append`), never before
        the previous entry's (hosts' clocks differ on a shared chain), so times rise with ``seq``, and a binary search over the key finds each end in about 17 lookups for 100,000 entries
        (no index on the time to keep up on every append). A clock stepped back (or behind another host's)
        stamps the previous entry's time until it catches up."""
        import bisect

        (top,) = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM audit").fetchone()

        def stamp(seq: int) -> str:
            row = self._conn.execute("SELECT ts FROM audit WHERE seq = ?", (seq,)).fetchone()
            return row[0] if row else ""

        seqs = range(1, top + 1)
        first = 1 + (bisect.bisect_left(seqs, since, key=stamp) if since is not None else 0)
        last = bisect.bisect_left(seqs, until, key=stamp) if until is not None else top
        return first, last

    def last(self, action: str) -> AuditEntry | None:
        """The latest committed entry of ``action``, or None."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {COLUMNS} FROM audit WHERE action = ? ORDER BY seq DESC LIMIT 1", (action,)
            ).fetchone()
        return entry_from_row(row) if row else None

    def get(self, seq: int) -> AuditEntry | None:
        with self._lock:
            row = self._conn.execute(f"SELECT {COLUMNS} FROM audit WHERE seq = ?", (seq,)).fetchone()
        return entry_from_row(row) if row else None

    def entries(self, since: int = 1, action: str | None = None) -> Iterator[AuditEntry]:
        """Entries from ``seq`` ``since`` on, oldest first, optionally of one action; read in pages, so an export
        of a large log does not hold it all in memory or hold the lock for long."""
        self._commit_own_process()
        after = since - 1
        while True:
            query = f"SELECT {COLUMNS} FROM audit WHERE seq > ?" + (" AND action = ?" if action else "")
            params: tuple[Any, ...] = (after, action) if action else (after,)
            with self._lock:
                rows = self._conn.execute(query + " ORDER BY seq LIMIT 1000", params).fetchall()
            if not rows:
                return
            for row in rows:
                yield entry_from_row(row)
            after = rows[-1][0]

    # --- verification ----------------------------------------------------------------------------------------

    def verify(self, anchor: Mapping[str, Any] | None = None) -> VerifyReport:
        """Check the whole chain, the head record and, when given, an anchor (see `parac.core.audit.verify`)."""
        self._commit_own_process()
        return Verifier(self._conn, self._lock, self._hash, self.head_name, self._message_sql).run(self.read_head(), anchor)

    _message_sql = MESSAGE_SQL

    @property
    def head_name(self) -> str:
        """Where the head record is kept, as a verification report names it."""
        return self.head_path.name


def _stamp(when: float | None) -> str | None:
    """A Unix time as `now` writes it (fixed width, so the text sorts as the time does)."""
    if when is None:
        return None
    second = int(when // 1)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)) + f".{int((when - second) * 1_000_000):06d}Z"


def _valid_utf8(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")

