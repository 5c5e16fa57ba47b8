"""The audit trail: an append-only, hash-chained log in the workspace's SQLite database.

Every entry holds ``seq``, the server's time, the actor, the action, its subject, the outcome, a JSON ``data``
object, the previous entry's hash and its own hash. The hash covers the canonical JSON of all those fields (keys
sorted, no spaces, non-ASCII text as UTF-8, only ``"``, ``\\`` and control characters escaped), so changing any byte of an entry, removing one, reordering or inserting one breaks
the chain at that point. With ``PARAC_AUDIT_KEY`` set the hash is an HMAC, so whoever rewrites the chain also needs
the key; without it, a rewrite of the whole chain from the first changed entry on is only caught by the head record
and by anchors kept elsewhere.

Cutting entries off the end leaves a valid chain, so the log also keeps a signed *head record* (the last ``seq`` and
hash) in a file beside the database, ``.parac/state/audit.head``, and prints *anchors* on request (the same record,
meant to be stored somewhere the attacker cannot reach); `AuditLog.verify` compares the table with both.

Hashes carry their algorithm (``sha256:…`` or ``hmac-sha256:…``) so that a log started before a key was set stays
verifiable; the head records from which entry on the chain is keyed, and an unkeyed entry after that point is
reported as changed (a downgrade is the first thing someone without the key would try).

Speed matters because every tool and model call appends: appends inside `AuditLog.batch` share one durable commit,
and `verify` builds each entry's canonical JSON by concatenation from the stored columns (``data`` is stored in its
canonical form), not by re-serialising it.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from json.encoder import encode_basestring as _quote  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any

from parac.core import store
from parac.core.redact import Redactor, default_redactor

KEY_ENV = "PARAC_AUDIT_KEY"
HEAD_FILE = "audit.head"
SHA = "sha256:"
HMAC = "hmac-sha256:"
#: How far `verify` looks for an entry that was renumbered after entries before it were removed or inserted.
RENUMBER_WINDOW = 64
#: How long the writer thread lets entries gather before a commit: calls that come close together share one fsync.
#: The ledger's window too. 5 ms meant a commit (two fsyncs) every few tool calls under load, which cost a serving
#: MCP server about a fifth of its throughput on two cores; a process that ends, or a `flush()`, cuts it short.
GROUP_COMMIT_S = 0.05
#: The most entries one transaction holds (a burst is committed in several, each holding the write lock briefly).
MAX_BATCH = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    outcome TEXT NOT NULL,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_action ON audit (action);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""
_COLUMNS = "seq, ts, actor, action, subject, outcome, data, prev_hash, hash"
_INSERT = f"INSERT INTO audit ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
#: Each entry's number, links and the bytes its hash covers, built by SQLite (see `AuditLog._walk`). ``prev_hash``
#: goes in unquoted: the walk compares it with the previous entry's verified hash (``sha256:`` + hex) before it
#: hashes anything, so it never holds a character JSON would escape. The text comes back as bytes (no decoding
#: into a Python string and encoding back for the hash).
_MESSAGE_SQL = (
    """SELECT seq, prev_hash, hash, CAST('{"action":' || json_quote(action) || ',"actor":' || json_quote(actor)"""
    """ || ',"data":' || data || ',"outcome":' || json_quote(outcome) || ',"prev_hash":"' || prev_hash"""
    """ || '","seq":' || seq || ',"subject":' || json_quote(subject) || ',"ts":' || json_quote(ts) || '}' AS BLOB)"""
    """ FROM audit ORDER BY seq"""
)


class AuditError(Exception):
    """The audit log cannot be written or read (not a verification failure: see `VerifyReport`)."""


@dataclass(frozen=True)
class AuditEntry:
    """One entry as stored; ``data`` is parsed."""

    seq: int
    ts: str
    actor: str
    action: str
    subject: str
    outcome: str
    data: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Problem:
    """What `verify` found wrong: the first bad entry (``seq``), the kind, and a sentence for people."""

    kind: str
    """``changed``, ``removed``, ``reordered``, ``inserted``, ``truncated``, ``head`` or ``unverifiable``."""
    seq: int | None
    message: str


@dataclass
class VerifyReport:
    """The result of `AuditLog.verify`. ``ok`` is false when any problem was found."""

    entries: int = 0
    last_seq: int = 0
    last_hash: str = ""
    keyed: bool = False
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "last_seq": self.last_seq,
            "last_hash": self.last_hash,
            "keyed": self.keyed,
            "problems": [asdict(problem) for problem in self.problems],
            "warnings": list(self.warnings),
        }


def canonical_json(value: Any) -> str:
    """The canonical JSON text of ``value``: sorted keys, no spaces, UTF-8 text unescaped, no NaN.

    Values JSON cannot hold (paths, datetimes, sets) become their ``str()``, so that auditing never fails on a
    caller's odd argument; floats that JSON cannot hold (NaN, infinities) become strings too."""
    try:
        return _CANONICAL.encode(value)
    except ValueError:
        return canonical_json(_finite(value))


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_finite(item) for item in value]
    return value


def entry_message(seq: int, ts: str, actor: str, action: str, subject: str, outcome: str, data: str, prev: str) -> bytes:
    """The bytes that an entry's hash covers: the canonical JSON object of all its fields but ``hash``.

    ``data`` is already canonical JSON text, so the result equals ``canonical_json`` of the entry as a dict with
    ``data`` parsed; building it by concatenation is what keeps `verify` fast."""
    return (
        f'{{"action":{_quote(action)},"actor":{_quote(actor)},"data":{data},"outcome":{_quote(outcome)},'
        f'"prev_hash":{_quote(prev)},"seq":{seq},"subject":{_quote(subject)},"ts":{_quote(ts)}}}'
    ).encode("utf-8")


def audit_key(env: Mapping[str, str] | None = None) -> bytes | None:
    """The HMAC key from ``PARAC_AUDIT_KEY``, or None when it is not set."""
    value = (os.environ if env is None else env).get(KEY_ENV)
    return value.encode("utf-8") if value else None


def now() -> str:
    """Server time in UTC, ISO 8601 with microseconds (``2026-01-31T12:00:00.000000Z``)."""
    stamp = time.time()
    second = int(stamp)
    if second != _clock[0]:
        _clock[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))]
    return f"{_clock[1]}.{int((stamp - second) * 1_000_000):06d}Z"


#: The last whole second formatted by `now`: formatting the date costs more than the rest of an append.
_clock: list[Any] = [None, ""]


_WRITING: weakref.WeakSet[AuditLog] = weakref.WeakSet()
"""This process's logs with a writer thread: a reader of the same database commits what they queued first."""


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
        written (default: the process-wide one)."""
        self.db_path = Path(db_path)
        self.key = key
        self._hmac = _KeyedHash(key) if key is not None else None
        self.head_path = Path(head_path) if head_path else self.db_path.with_name(HEAD_FILE)
        self._redactor = redactor
        self._lock = threading.RLock()
        self._conn = store.connect(self.db_path)
        self._conn.row_factory = None
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.executescript(_SCHEMA)
        self._batch_depth = 0
        self._pending_head: tuple[int, str] | None = None
        self._tail: tuple[int, str] | None = None
        self._pending: list[tuple[Any, ...]] = []
        self._queue_lock = threading.Lock()
        self._arrived = threading.Event()  # the writer has entries to commit
        self._hurry = threading.Event()  # a flush waits: commit without waiting out the group-commit window
        self._writer: threading.Thread | None = None
        self._submitted = self._written = 0
        self._written_changed = threading.Condition()
        self._failure: Exception | None = None
        self._head_lock_fd: int | None = None
        self._head_lock_pid = 0

    @classmethod
    def for_workspace(cls, root: str | Path, **kwargs: Any) -> AuditLog:
        """The log of the workspace whose root (the directory holding ``.parac/``) is ``root``, keyed from the
        environment unless ``key`` is given."""
        kwargs.setdefault("key", audit_key())
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
               data: Mapping[str, Any] | None = None) -> None:
        """Queue an entry for the writer thread, which commits whatever has queued up in one durable transaction.

        This is what the hooks around tool and model calls use: the caller pays for a list append (the writer redacts),
        not for an fsync, and entries that arrive together share one. An entry is durable once `flush` returns
        (`close` and interpreter exit flush); until then a crash of the process can lose it, never reorder or
        corrupt the chain."""
        with self._queue_lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._write_queued, name="parac-audit", daemon=True)
                self._writer.start()
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
        while True:
            self._arrived.wait()
            self._hurry.wait(GROUP_COMMIT_S)
            with self._queue_lock:
                items, self._pending = self._pending, []
                self._arrived.clear()
                self._hurry.clear()
            for start in range(0, len(items), MAX_BATCH):
                self._write_batch(items[start:start + MAX_BATCH])

    def _write_batch(self, items: list[tuple[Any, ...]]) -> None:
        try:
            with self.batch():
                for action, actor, subject, outcome, data in items:
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
        redactor = self._redactor or default_redactor()
        subject = redactor.text(subject)
        clean = redactor.value(data) if data else {}
        data_text = canonical_json(clean)
        with self._lock, (contextlib.nullcontext() if self._batch_depth else self.batch()):
            seq, prev = self._tail or self._read_tail()
            seq += 1
            ts = now()
            try:
                message = entry_message(seq, ts, actor, action, subject, outcome, data_text, prev)
            except UnicodeEncodeError:  # lone surrogates (from undecodable file names) cannot be stored as UTF-8
                actor, action, subject, outcome, data_text = (
                    _valid_utf8(text) for text in (actor, action, subject, outcome, data_text))
                message = entry_message(seq, ts, actor, action, subject, outcome, data_text, prev)
            digest = self._digest(message)
            self._conn.execute(_INSERT, (seq, ts, actor, action, subject, outcome, data_text, prev, digest))
            self._tail = self._pending_head = (seq, digest)
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
                with store.transaction(self._conn):
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

    def _read_tail(self) -> tuple[int, str]:
        row = self._conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        return (row[0], row[1]) if row else (0, "")

    def _digest(self, message: bytes) -> str:
        if self._hmac is not None:
            return HMAC + self._hmac.hexdigest(message)
        return SHA + hashlib.sha256(message).hexdigest()

    # --- the head record and anchors --------------------------------------------------------------------------

    def _sign(self, record: Mapping[str, Any]) -> str:
        body = canonical_json({k: v for k, v in record.items() if k != "sig"}).encode("utf-8")
        return self._digest(body)

    def _write_head(self, seq: int, digest: str) -> None:
        """Replace the head record, never moving it backwards (another process may have written a later one).

        The record goes to a new file, synced, then renamed over the old one: a reader or a crash sees the old
        record or the new one, never half of one. This runs after every group commit, so it costs only what that
        needs (the lock file stays open for the log's life; the file is written without Python's text layers)."""
        lock = self._head_lock()
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            current = self.read_head()
            if current and isinstance(current.get("seq"), int) and current["seq"] >= seq:
                return
            keyed_from = current.get("keyed_from") if current else None
            if keyed_from is None and self.key is not None:
                keyed_from = self._first_keyed_seq()
            record: dict[str, Any] = {"seq": seq, "hash": digest, "keyed_from": keyed_from, "ts": now()}
            record["sig"] = self._sign(record)
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
            seq, digest = self._read_tail()
        record: dict[str, Any] = {"parac_audit_anchor": 1, "seq": seq, "hash": digest, "ts": now()}
        record["sig"] = self._sign(record)
        return record

    # --- reading ---------------------------------------------------------------------------------------------

    def _commit_own_process(self) -> None:
        """Commit the entries this process has queued for this database (by any log, such as the governance
        plugin's), so that a reader here sees every call it was answered for. Other processes' queues are theirs:
        they commit within :data:`GROUP_COMMIT_S`."""
        for log in list(_WRITING):
            if log.db_path == self.db_path:
                log.flush()

    def tail(self, count: int = 20) -> list[AuditEntry]:
        """The last ``count`` entries, oldest first."""
        self._commit_own_process()
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM audit ORDER BY seq DESC LIMIT ?", (max(0, count),)
            ).fetchall()
        return [_entry(row) for row in reversed(rows)]

    def last(self, action: str) -> AuditEntry | None:
        """The latest committed entry of ``action``, or None."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM audit WHERE action = ? ORDER BY seq DESC LIMIT 1", (action,)
            ).fetchone()
        return _entry(row) if row else None

    def get(self, seq: int) -> AuditEntry | None:
        with self._lock:
            row = self._conn.execute(f"SELECT {_COLUMNS} FROM audit WHERE seq = ?", (seq,)).fetchone()
        return _entry(row) if row else None

    def entries(self, since: int = 1, action: str | None = None) -> Iterator[AuditEntry]:
        """Entries from ``seq`` ``since`` on, oldest first, optionally of one action; read in pages, so an export
        of a large log does not hold it all in memory or hold the lock for long."""
        self._commit_own_process()
        after = since - 1
        while True:
            query = f"SELECT {_COLUMNS} FROM audit WHERE seq > ?" + (" AND action = ?" if action else "")
            params: tuple[Any, ...] = (after, action) if action else (after,)
            with self._lock:
                rows = self._conn.execute(query + " ORDER BY seq LIMIT 1000", params).fetchall()
            if not rows:
                return
            for row in rows:
                yield _entry(row)
            after = rows[-1][0]

    # --- verification ----------------------------------------------------------------------------------------

    def verify(self, anchor: Mapping[str, Any] | None = None) -> VerifyReport:
        """Check the whole chain, the head record and, when given, an anchor.

        The walk stops at the first bad entry and names it with what is wrong; later entries are not judged,
        because once the chain is broken everything after the break is unanchored."""
        self._commit_own_process()
        report = VerifyReport(keyed=self.key is not None)
        head = self.read_head()
        head_problem = self._head_problem(head)
        keyed_from = head.get("keyed_from") if head and not head_problem else None
        walk = _Walk(keyed_from if isinstance(keyed_from, int) else None)
        with self._lock:
            try:
                self._walk(self._conn.execute(_MESSAGE_SQL), walk)
            except sqlite3.OperationalError:  # a text column that is no longer UTF-8: bytes were edited
                walk.problem = self._diagnose(walk)
            except sqlite3.DatabaseError as exc:
                walk.problem = Problem("unreadable", walk.expected, f"the database cannot be read at entry "
                                       f"{walk.expected} or after: {exc}")
        report.entries = report.last_seq = walk.expected - 1
        report.last_hash = walk.prev
        if walk.problem:
            report.problems.append(walk.problem)
        elif head_problem:
            report.problems.append(head_problem)
        else:
            self._check_head(report, head)
            if anchor is not None and not report.problems:
                self._check_anchor(report, anchor)
        return report

    def _walk(self, rows: Iterator[tuple[Any, ...]], walk: _Walk) -> None:
        """The fast path: recompute every hash in order. On the first mismatch, hand over to `_diagnose`.

        SQLite builds each entry's canonical JSON (`_MESSAGE_SQL`); its ``json_quote`` escapes exactly as
        Python's ``encode_basestring`` does, and any entry whose SQLite-built text does not match is checked again
        from its raw columns in Python before it is called bad, so the shortcut can cost speed, never verdicts."""
        keyed = self._hmac.hexdigest if self._hmac is not None else None
        sha256 = hashlib.sha256
        expected, prev, keyed_from = walk.expected, walk.prev, walk.keyed_from
        try:
            for seq, prev_hash, digest, message in rows:
                if seq != expected or prev_hash != prev:
                    break
                try:
                    if digest[:12] == HMAC:
                        if keyed is None:
                            walk.problem = Problem("unverifiable", seq,
                                                   f"entry {seq} is signed with a key; set {KEY_ENV} to verify the log")
                            return
                        if keyed_from is None or seq < keyed_from:
                            keyed_from = seq
                        good = digest == HMAC + keyed(message)
                    else:
                        good = (keyed_from is None or seq < keyed_from) and (
                            digest == SHA + sha256(message).hexdigest())
                except (TypeError, AttributeError):  # a NULL or a number where text belongs
                    good = False
                if not good:
                    raw = self._conn.execute(f"SELECT {_COLUMNS} FROM audit WHERE seq = ?", (seq,)).fetchone()
                    if not self._valid(raw, keyed_from=keyed_from):
                        break
                prev = digest
                expected = seq + 1
            else:
                return
        finally:
            walk.expected, walk.prev, walk.keyed_from = expected, prev, keyed_from
        walk.problem = self._diagnose(walk)

    def _valid(self, row: tuple[Any, ...], seq: int | None = None, keyed_from: int | None = None) -> bool:
        """Whether ``row``'s stored hash matches its contents, taking its seq as ``seq`` when given."""
        number = row[0] if seq is None else seq
        digest = row[8]
        if not all(isinstance(part, str) for part in row[1:9]):
            return False
        try:
            message = entry_message(number, *row[1:8])
        except UnicodeEncodeError:
            return False
        if digest.startswith(HMAC):
            return self._hmac is not None and digest == HMAC + self._hmac.hexdigest(message)
        if keyed_from is not None and number >= keyed_from:
            return False
        return digest == SHA + hashlib.sha256(message).hexdigest()

    def _diagnose(self, walk: _Walk) -> Problem:
        """Say what happened at the first entry the fast path rejected.

        Looks at the rows from ``expected`` on: a gap in the numbers is a removal (or a move); an entry whose
        previous-hash link points at a later entry was reordered; an entry whose hash is right for another number
        was renumbered after entries were removed or inserted before it; an entry that is right in itself but does
        not link to its predecessor means the predecessor was rewritten; anything else is a changed entry."""
        expected, prev, keyed_from = walk.expected, walk.prev, walk.keyed_from
        self._conn.text_factory = _tolerant_text
        try:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM audit WHERE seq >= ? ORDER BY seq", (expected,)
            ).fetchall()
        finally:
            self._conn.text_factory = str
        row = rows[0]
        seq, prev_hash = row[0], row[7]
        digest = row[8] if isinstance(row[8], str) else ""
        later_hashes = {later[8]: later[0] for later in rows[1:]}
        if seq != expected:
            moved = next((later[0] for later in rows if later[7] == prev), None)
            if moved is not None and moved != seq:
                return Problem("reordered", expected, f"entry {expected} was moved to position {moved}")
            if seq - expected == 1:
                return Problem("removed", expected, f"entry {expected} was removed")
            return Problem("removed", expected, f"entries {expected} to {seq - 1} were removed")
        if prev_hash != prev and prev_hash in later_hashes:
            return Problem(
                "reordered", expected,
                f"entry {expected} is out of order: it follows entry {later_hashes[prev_hash]} in the chain",
            )
        if self._valid(row, keyed_from=keyed_from):
            if prev_hash != prev and expected > 1:
                return Problem(
                    "changed", expected - 1,
                    f"entry {expected - 1} was rewritten: its hash no longer matches the link stored in entry {expected}",
                )
            return Problem("changed", expected, f"entry {expected} does not link to the entry before it")
        for shift in range(1, RENUMBER_WINDOW + 1):
            if self._valid(row, expected + shift, keyed_from):
                removed = f"entry {expected}" if shift == 1 else f"entries {expected} to {expected + shift - 1}"
                return Problem("removed", expected, f"{removed} removed and the later entries renumbered")
            if expected - shift >= 1 and self._valid(row, expected - shift, keyed_from):
                first = expected - shift
                return Problem("inserted", first, f"entry {first} was inserted and the later entries renumbered")
        if (
            len(rows) > 1 and rows[1][7] == prev_hash == prev
            and self._valid(rows[1], expected, keyed_from)
        ):
            return Problem("inserted", expected, f"entry {expected} was inserted and the later entries renumbered")
        if digest.startswith(SHA) and keyed_from is not None:
            return Problem("changed", expected, f"entry {expected} is not signed with the key (a rewrite without it)")
        return Problem("changed", expected, f"entry {expected} was changed: its contents do not match its hash")

    def _head_problem(self, head: dict[str, Any] | None) -> Problem | None:
        """What is wrong with the head record itself (its signature), before the chain is compared with it."""
        if head is None:
            return None
        sig = head.get("sig")
        if not isinstance(sig, str):
            return Problem("head", None, "the head record has no signature")
        if sig.startswith(HMAC) and self.key is None:
            return Problem("unverifiable", None, f"the head record is signed with a key; set {KEY_ENV} to verify")
        if self.key is not None and not sig.startswith(HMAC):
            return Problem("head", None, "the head record is not signed with the key (it was replaced without it)")
        if sig != self._sign(head):
            return Problem("head", None, "the head record was edited: its signature does not match")
        return None

    def _check_head(self, report: VerifyReport, head: dict[str, Any] | None) -> None:
        last = report.last_seq
        if head is None:
            if last:
                report.problems.append(Problem(
                    "head", None,
                    f"the head record {self.head_path.name} is missing or unreadable, so removal of the last "
                    f"entries cannot be ruled out",
                ))
            return
        head_seq = head.get("seq")
        self._compare_tail(report, head_seq, head.get("hash"), "the head record")
        if not report.problems and isinstance(head_seq, int) and head_seq < last:
            report.warnings.append(
                f"entries {head_seq + 1} to {last} come after the head record (a process stopped before updating it)")

    def _check_anchor(self, report: VerifyReport, anchor: Mapping[str, Any]) -> None:
        if anchor.get("parac_audit_anchor") != 1 or anchor.get("sig") != self._sign(anchor):
            report.problems.append(Problem("head", None, "the anchor is not a valid parac audit anchor for this key"))
            return
        self._compare_tail(report, anchor.get("seq"), anchor.get("hash"), "the anchor")

    def _compare_tail(self, report: VerifyReport, seq: Any, digest: Any, what: str) -> None:
        last = report.last_seq
        if not isinstance(seq, int) or seq < 0:
            report.problems.append(Problem("head", None, f"{what} holds no entry number"))
        elif seq > last:
            report.problems.append(Problem(
                "truncated", last + 1,
                f"entries {last + 1} to {seq} were removed from the end ({what} says the log reaches {seq})",
            ))
        elif seq > 0:
            stored = self.get(seq)
            if stored is None or stored.hash != digest:
                report.problems.append(Problem(
                    "changed", seq, f"entry {seq} differs from {what}: the chain up to it was rewritten"))


class _KeyedHash:
    """HMAC-SHA256 (RFC 2104) with the key's inner and outer hash states computed once.

    `hmac.digest` sets the key up again for every message, which makes it cost about 2.5 times a verified entry's
    plain SHA-256; continuing from copies of the two keyed states costs about 1.5 times. The result is the same."""

    def __init__(self, key: bytes) -> None:
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._outer = hashlib.sha256(key.translate(_OPAD))

    def hexdigest(self, message: bytes) -> str:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


_BLOCK = 64  # SHA-256's block size
_IPAD = bytes(byte ^ 0x36 for byte in range(256))
_OPAD = bytes(byte ^ 0x5C for byte in range(256))


@dataclass
class _Walk:
    """Where the verification walk is: the next expected seq, the last good hash, the first keyed entry."""

    keyed_from: int | None
    expected: int = 1
    prev: str = ""
    problem: Problem | None = None


def _valid_utf8(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


def _tolerant_text(raw: bytes) -> str:
    """Decode a text column whose bytes may have been edited into invalid UTF-8 (it then fails to hash)."""
    return raw.decode("utf-8", "surrogateescape")


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    try:
        data = json.loads(row[6])
    except ValueError:
        data = {"unparsable": row[6]}
    return AuditEntry(row[0], row[1], row[2], row[3], row[4], row[5], data, row[7], row[8])
