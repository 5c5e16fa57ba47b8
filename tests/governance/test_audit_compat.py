"""A trail written before the audit module was split (and its HMAC replaced by the standard library's) still
verifies, and tampering with it is still found: the hash format is what other copies of a trail are checked
against, so it must never change.

``fixtures/audit-before-split/`` was written by ``parac.core.audit`` at commit e46fe09: three unkeyed entries,
then five signed with ``fixture-audit-key`` (one from a batch, one through the writer thread); the rows as
``parac audit export`` prints them, the head record beside the database, and an anchor taken at entry 7. Its
entries hold what canonical JSON must escape or keep: non-ASCII text, an emoji, quotes, backslashes, control
characters, a big integer, floats, an infinity stored as text, nesting.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from parac.core.audit import SHA, AuditLog, canonical_json, entry_message

FIXTURE = Path(__file__).parent / "fixtures" / "audit-before-split"
KEY = b"fixture-audit-key"
ROWS = [json.loads(line) for line in (FIXTURE / "trail.jsonl").read_text(encoding="utf-8").splitlines()]
ANCHOR = json.loads((FIXTURE / "anchor.json").read_text(encoding="utf-8"))


def restore(tmp_path: Path, rows: list[dict] = ROWS, key: bytes | None = KEY) -> AuditLog:
    """The fixture trail in a database of its own, with its head record, opened as a workspace would."""
    tmp_path.mkdir(exist_ok=True)
    db = tmp_path / "parac.db"
    AuditLog(db).close()  # the table, as the current code creates it
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(r["seq"], r["ts"], r["actor"], r["action"], r["subject"], r["outcome"], canonical_json(r["data"]),
              r["prev_hash"], r["hash"]) for r in rows],
        )
    shutil.copy(FIXTURE / "audit.head", tmp_path / "audit.head")
    return AuditLog(db, key=key)


def edited(seq: int, **changes: object) -> list[dict]:
    return [{**row, **changes} if row["seq"] == seq else row for row in ROWS]


def test_the_old_trail_verifies_with_its_head_and_anchor(tmp_path):
    report = restore(tmp_path).verify(anchor=ANCHOR)
    assert report.ok, report.problems
    assert (report.entries, report.last_hash, report.warnings) == (8, ROWS[-1]["hash"], [])


def test_new_entries_continue_the_old_chain(tmp_path):
    log = restore(tmp_path)
    entry = log.append("tool.call", actor="alice", subject="after the split", data={"n": 2})
    assert entry.prev_hash == ROWS[-1]["hash"] and entry.hash.startswith("hmac-sha256:")
    assert log.read_head()["keyed_from"] == 4
    assert log.verify(anchor=ANCHOR).ok


@pytest.mark.parametrize(("seq", "field", "value"), [
    (2, "subject", "files.write"),       # unkeyed part
    (3, "data", {"big": 1, "error": "x", "nested": []}),
    (4, "actor", "agent:someone-else"),  # first keyed entry
    (7, "ts", "2026-12-06T20:06:56.928426Z"),
    (8, "outcome", "error"),             # after the anchor
])
def test_a_changed_entry_of_the_old_trail_is_named(tmp_path, seq, field, value):
    report = restore(tmp_path, edited(seq, **{field: value})).verify()
    assert [(p.kind, p.seq) for p in report.problems] == [("changed", seq)]


def test_a_keyed_entry_rehashed_without_the_key_is_a_downgrade(tmp_path):
    row = ROWS[4]
    message = entry_message(row["seq"], row["ts"], row["actor"], row["action"], "shell.run --force", row["outcome"],
                            canonical_json(row["data"]), row["prev_hash"])
    forged = edited(5, subject="shell.run --force", hash=SHA + hashlib.sha256(message).hexdigest())
    report = restore(tmp_path, forged).verify()
    assert (report.first.kind, report.first.seq) == ("changed", 5)
    assert "not signed with the key" in report.first.message


def test_the_old_trail_needs_its_key(tmp_path):
    wrong = restore(tmp_path / "wrong", key=b"another-key").verify()
    assert [(p.kind, p.seq) for p in wrong.problems] == [("changed", 4)]  # the first signed entry
    missing = restore(tmp_path / "missing", key=None).verify()
    assert [(p.kind, p.seq) for p in missing.problems] == [("unverifiable", 4)]


def test_a_forged_anchor_is_refused(tmp_path):
    report = restore(tmp_path).verify(anchor={**ANCHOR, "seq": 8, "hash": ROWS[-1]["hash"]})
    assert report.first.kind == "head"
