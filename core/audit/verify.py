"""Verification of an audit trail: walk the chain, recomputing every hash, and name the first bad entry and what
happened to it (changed, removed, reordered, inserted, truncated); then compare the end of the chain with the signed
head record and, when given, an anchor kept elsewhere.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .schema import COLUMNS, HMAC, KEY_ENV, MESSAGE_SQL, SHA, Hasher, entry_message

#: How far `verify` looks for an entry that was renumbered after entries before it were removed or inserted.
RENUMBER_WINDOW = 64


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


class Verifier:
    """One verification of a log's table, with the log's connection (under its lock) and its hasher."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.RLock, hasher: Hasher, head_name: str,
                 message_sql: str = MESSAGE_SQL) -> None:
        """``conn`` is the log's store (SQLite, or an adapter with the same ``execute``); ``message_sql`` the query
        that builds each entry's hashed text in that store's SQL dialect."""
        self._conn = conn
        self._message_sql = message_sql
        self._lock = lock
        self._hash = hasher
        self._head_name = head_name

    def run(self, head: dict[str, Any] | None, anchor: Mapping[str, Any] | None = None) -> VerifyReport:
        """Check the whole chain, the head record ``head`` (as read from its file) and, when given, an anchor.

        The walk stops at the first bad entry and names it with what is wrong; later entries are not judged,
        because once the chain is broken everything after the break is unanchored."""
        report = VerifyReport(keyed=self._hash.key is not None)
        head_problem = self._head_problem(head)
        keyed_from = head.get("keyed_from") if head and not head_problem else None
        walk = _Walk(keyed_from if isinstance(keyed_from, int) else None)
        with self._lock:
            try:
                self._walk(self._conn.execute(self._message_sql), walk)
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

        SQLite builds each entry's canonical JSON (`MESSAGE_SQL`); its ``json_quote`` escapes exactly as
        Python's ``encode_basestring`` does, and any entry whose SQLite-built text does not match is checked again
        from its raw columns in Python before it is called bad, so the shortcut can cost speed, never verdicts."""
        keyed = self._hash.keyed_hex if self._hash.key is not None else None
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
                    raw = self._conn.execute(f"SELECT {COLUMNS} FROM audit WHERE seq = ?", (seq,)).fetchone()
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
            return self._hash.key is not None and digest == HMAC + self._hash.keyed_hex(message)
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
                f"SELECT {COLUMNS} FROM audit WHERE seq >= ? ORDER BY seq", (expected,)
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
        if sig.startswith(HMAC) and self._hash.key is None:
            return Problem("unverifiable", None, f"the head record is signed with a key; set {KEY_ENV} to verify")
        if self._hash.key is not None and not sig.startswith(HMAC):
            return Problem("head", None, "the head record is not signed with the key (it was replaced without it)")
        if sig != self._hash.sign(head):
            return Problem("head", None, "the head record was edited: its signature does not match")
        return None

    def _check_head(self, report: VerifyReport, head: dict[str, Any] | None) -> None:
        last = report.last_seq
        if head is None:
            if last:
                report.problems.append(Problem(
                    "head", None,
                    f"the head record {self._head_name} is missing or unreadable, so removal of the last "
                    f"entries cannot be ruled out",
                ))
            return
        head_seq = head.get("seq")
        self._compare_tail(report, head_seq, head.get("hash"), "the head record")
        if not report.problems and isinstance(head_seq, int) and head_seq < last:
            report.warnings.append(
                f"entries {head_seq + 1} to {last} come after the head record (a process stopped before updating it)")

    def _check_anchor(self, report: VerifyReport, anchor: Mapping[str, Any]) -> None:
        if anchor.get("parac_audit_anchor") != 1 or anchor.get("sig") != self._hash.sign(anchor):
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
            with self._lock:
                stored = self._conn.execute("SELECT hash FROM audit WHERE seq = ?", (seq,)).fetchone()
            if stored is None or stored[0] != digest:
                report.problems.append(Problem(
                    "changed", seq, f"entry {seq} differs from {what}: the chain up to it was rewritten"))



@dataclass
class _Walk:
    """Where the verification walk is: the next expected seq, the last good hash, the first keyed entry."""

    keyed_from: int | None
    expected: int = 1
    prev: str = ""
    problem: Problem | None = None


def _tolerant_text(raw: bytes) -> str:
    """Decode a text column whose bytes may have been edited into invalid UTF-8 (it then fails to hash)."""
    return raw.decode("utf-8", "surrogateescape")
