"""Attacks on the audit chain: every single-entry tampering is detected and names the right entry.

The attacker here has write access to the database file (the triggers that make the table append-only are dropped
first, as anyone with the file can) but not to ``PARAC_AUDIT_KEY``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parac.core.audit import SHA, AuditLog, Hasher, canonical_json, entry_message
from parac.core.audit.schema import MESSAGE_SQL

KEY = b"test-audit-key"
COUNT = 20
POSITIONS = [1, 2, 7, COUNT - 1]


def make_log(tmp_path: Path, key: bytes | None = KEY, count: int = COUNT) -> AuditLog:
    log = AuditLog(tmp_path / "parac.db", key=key)
    for index in range(1, count + 1):
        log.append("tool.call", actor="alice", subject=f"files.read-{index}",
                   outcome="ok", data={"marker": f"MARKER-{index:04d}", "n": index})
    return log


def raw(log: AuditLog) -> sqlite3.Connection:
    """The attacker's connection: autocommit, triggers gone."""
    conn = sqlite3.connect(log.db_path, isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS audit_no_update")
    conn.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    return conn


def columns(conn: sqlite3.Connection, seq: int) -> tuple:
    return conn.execute(
        "SELECT ts, actor, action, subject, outcome, data, prev_hash, hash FROM audit WHERE seq = ?", (seq,)
    ).fetchone()


def forge(seq: int, prev: str, subject: str = "forged", key: bytes | None = None) -> tuple:
    """A well-formed entry as someone without ``key`` would compute it (plain sha256)."""
    data = canonical_json({"forged": True})
    message = entry_message(seq, "2026-01-01T00:00:00.000000Z", "mallory", "tool.call", subject, "ok", data, prev)
    return (seq, "2026-01-01T00:00:00.000000Z", "mallory", "tool.call", subject, "ok", data, prev,
            SHA + hashlib.sha256(message).hexdigest())


def shift_up(conn: sqlite3.Connection, first: int, by: int = 1) -> None:
    for (seq,) in conn.execute("SELECT seq FROM audit WHERE seq >= ? ORDER BY seq DESC", (first,)).fetchall():
        conn.execute("UPDATE audit SET seq = ? WHERE seq = ?", (seq + by, seq))


def insert(conn: sqlite3.Connection, row: tuple) -> None:
    conn.execute("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)


def first(log: AuditLog, **kwargs):
    report = log.verify(**kwargs)
    assert not report.ok, report
    return report.first


def test_intact_log_verifies(tmp_path):
    log = make_log(tmp_path)
    report = log.verify()
    assert report.ok, report.problems
    assert report.entries == COUNT and report.keyed


def test_append_only_triggers_refuse_updates(tmp_path):
    log = make_log(tmp_path)
    conn = sqlite3.connect(log.db_path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE audit SET outcome = 'x' WHERE seq = 1")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM audit WHERE seq = 1")


@pytest.mark.parametrize("key", [KEY, None], ids=["keyed", "unkeyed"])
@pytest.mark.parametrize("pos", POSITIONS)
@pytest.mark.parametrize("column", ["actor", "action", "subject", "outcome", "data", "ts", "hash"])
def test_changed_field(tmp_path, key, pos, column):
    log = make_log(tmp_path, key)
    value = '{"marker":"MARKER-9999","n":1}' if column == "data" else "tampered"
    raw(log).execute(f"UPDATE audit SET {column} = ? WHERE seq = ?", (value, pos))
    problem = first(log)
    assert (problem.kind, problem.seq) == ("changed", pos)


@pytest.mark.parametrize("pos", POSITIONS)
def test_removed_entry(tmp_path, pos):
    log = make_log(tmp_path)
    raw(log).execute("DELETE FROM audit WHERE seq = ?", (pos,))
    problem = first(log)
    assert (problem.kind, problem.seq) == ("removed", pos)


@pytest.mark.parametrize("pos", POSITIONS)
def test_removed_entry_and_renumbered(tmp_path, pos):
    log = make_log(tmp_path)
    conn = raw(log)
    conn.execute("DELETE FROM audit WHERE seq = ?", (pos,))
    conn.execute("UPDATE audit SET seq = seq - 1 WHERE seq > ?", (pos,))
    problem = first(log)
    assert (problem.kind, problem.seq) == ("removed", pos)


@pytest.mark.parametrize("key", [KEY, None], ids=["keyed", "unkeyed"])
@pytest.mark.parametrize("pos", POSITIONS)
def test_swapped_entries(tmp_path, key, pos):
    log = make_log(tmp_path, key)
    conn = raw(log)
    a, b = columns(conn, pos), columns(conn, pos + 1)
    sets = "ts=?, actor=?, action=?, subject=?, outcome=?, data=?, prev_hash=?, hash=?"
    conn.execute(f"UPDATE audit SET {sets} WHERE seq = ?", (*b, pos))
    conn.execute(f"UPDATE audit SET {sets} WHERE seq = ?", (*a, pos + 1))
    problem = first(log)
    assert (problem.kind, problem.seq) == ("reordered", pos)


def test_entry_moved_to_another_number(tmp_path):
    log = make_log(tmp_path)
    raw(log).execute("UPDATE audit SET seq = 500 WHERE seq = 5")
    problem = first(log)
    assert (problem.kind, problem.seq) == ("reordered", 5)


@pytest.mark.parametrize("key", [KEY, None], ids=["forger-without-the-key", "unkeyed-log"])
@pytest.mark.parametrize("pos", POSITIONS)
def test_inserted_entry_is_found(tmp_path, pos, key):
    """Keyed, the forger cannot compute the entry's MAC. Without a key the forged entry itself verifies; the
    renumbered one after it gives the insertion away."""
    log = make_log(tmp_path, key=key)
    conn = raw(log)
    prev = columns(conn, pos - 1)[7] if pos > 1 else ""
    shift_up(conn, pos)
    insert(conn, forge(pos, prev))
    problem = first(log)
    assert (problem.kind, problem.seq) == ("inserted", pos)


def test_forged_entry_appended_past_the_head(tmp_path):
    log = make_log(tmp_path)
    conn = raw(log)
    insert(conn, forge(COUNT + 1, columns(conn, COUNT)[7]))
    problem = first(log)
    assert problem.seq == COUNT + 1 and problem.kind == "changed"


@pytest.mark.parametrize("pos", POSITIONS)
def test_chain_rewritten_without_the_key(tmp_path, pos):
    """The attacker changes an entry and recomputes every hash from there on, with plain sha256."""
    log = make_log(tmp_path)
    conn = raw(log)
    prev = columns(conn, pos - 1)[7] if pos > 1 else ""
    for seq in range(pos, COUNT + 1):
        ts, actor, action, subject, outcome, data, _, _ = columns(conn, seq)
        if seq == pos:
            outcome = "denied"
        digest = SHA + hashlib.sha256(entry_message(seq, ts, actor, action, subject, outcome, data, prev)).hexdigest()
        conn.execute("UPDATE audit SET outcome=?, prev_hash=?, hash=? WHERE seq=?", (outcome, prev, digest, seq))
        prev = digest
    problem = first(log)
    assert (problem.kind, problem.seq) == ("changed", pos)


def test_chain_rewritten_with_a_wrong_key(tmp_path):
    log = make_log(tmp_path)
    conn = raw(log)
    conn.execute("DELETE FROM audit WHERE seq >= 5")
    forger = AuditLog(tmp_path / "parac.db", key=b"not-the-key", head_path=tmp_path / "elsewhere.head")
    for index in range(5, COUNT + 1):
        forger.append("tool.call", actor="alice", subject=f"files.read-{index}")
    problem = first(log)
    assert (problem.kind, problem.seq) == ("changed", 5)


@pytest.mark.parametrize("cut", [1, 5, COUNT - 1])
def test_truncated_tail(tmp_path, cut):
    log = make_log(tmp_path)
    raw(log).execute("DELETE FROM audit WHERE seq > ?", (COUNT - cut,))
    problem = first(log)
    assert (problem.kind, problem.seq) == ("truncated", COUNT - cut + 1)


def test_truncated_tail_with_head_replaced_is_caught_by_the_anchor(tmp_path):
    """Without a key the head record can be re-signed; an anchor kept elsewhere still catches the cut."""
    log = make_log(tmp_path, key=None)
    anchor = log.anchor()
    raw(log).execute("DELETE FROM audit WHERE seq > 12")
    log.head_path.unlink()
    log.append("tool.call", actor="mallory", subject="cover-up")  # writes a fresh, valid head at 13
    assert log.verify().ok  # the head alone cannot tell
    problem = first(log, anchor=anchor)
    assert (problem.kind, problem.seq) == ("truncated", 14)


def test_anchor_reports_truncation_below_it(tmp_path):
    log = make_log(tmp_path, key=None)
    anchor = log.anchor()
    raw(log).execute("DELETE FROM audit WHERE seq > 12")
    log.head_path.unlink()
    problem = first(log, anchor=anchor)
    assert problem.kind in ("head", "truncated")
    log.append("tool.call", actor="x")  # fresh head for 13 entries
    problem = first(log, anchor=anchor)
    assert (problem.kind, problem.seq) == ("truncated", 14)


def test_forged_anchor_is_refused(tmp_path):
    log = make_log(tmp_path)
    anchor = dict(log.anchor(), seq=3)
    problem = first(log, anchor=anchor)
    assert problem.kind == "head"


def test_head_record_missing_or_edited(tmp_path):
    log = make_log(tmp_path)
    head = json.loads(log.head_path.read_text())
    log.head_path.write_text(json.dumps(dict(head, seq=COUNT - 3)))
    assert first(log).kind == "head"
    log.head_path.unlink()
    assert first(log).kind == "head"


@pytest.mark.parametrize("pos", POSITIONS)
@pytest.mark.parametrize("replacement", [b"MARKER-X", b"MARKER\xff"], ids=["ascii", "invalid-utf8"])
def test_database_file_bytes_edited(tmp_path, pos, replacement):
    log = make_log(tmp_path)
    log._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    log.close()
    path = tmp_path / "parac.db"
    blob = bytearray(path.read_bytes())
    marker = f"MARKER-{pos:04d}".encode()
    offset = blob.index(marker)
    blob[offset:offset + len(replacement)] = replacement
    path.write_bytes(bytes(blob))
    problem = first(AuditLog(path, key=KEY))
    assert (problem.kind, problem.seq) == ("changed", pos)


def test_keyed_log_without_the_key_is_unverifiable(tmp_path):
    make_log(tmp_path).close()
    problem = first(AuditLog(tmp_path / "parac.db", key=None))
    assert problem.kind == "unverifiable"


def test_log_started_without_key_continues_with_key(tmp_path):
    make_log(tmp_path, key=None, count=5).close()
    keyed = AuditLog(tmp_path / "parac.db", key=KEY)
    keyed.append("tool.call", actor="alice")
    assert keyed.verify().ok
    conn = raw(keyed)
    ts, actor, action, subject, outcome, data, prev, _ = columns(conn, 6)
    downgraded = SHA + hashlib.sha256(entry_message(6, ts, actor, action, "x", outcome, data, prev)).hexdigest()
    conn.execute("UPDATE audit SET subject='x', hash=? WHERE seq=6", (downgraded,))
    problem = first(keyed)
    assert (problem.kind, problem.seq) == ("changed", 6)


def test_batch_rolls_back_as_a_whole(tmp_path):
    log = make_log(tmp_path, count=3)
    with pytest.raises(RuntimeError):
        with log.batch():
            log.append("tool.call", actor="alice")
            raise RuntimeError("boom")
    assert [entry.seq for entry in log.tail(10)] == [1, 2, 3]
    assert log.verify().ok


def test_concurrent_writers_keep_one_chain(tmp_path):
    import threading

    logs = [AuditLog(tmp_path / "parac.db", key=KEY) for _ in range(4)]

    def write(log: AuditLog) -> None:
        for index in range(50):
            log.append("tool.call", actor="t", data={"i": index})

    threads = [threading.Thread(target=write, args=(log,)) for log in logs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = logs[0].verify()
    assert report.ok and report.entries == 200, report


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=60, deadline=None)
@given(actor=text, subject=text, data=st.dictionaries(text, st.one_of(text, st.integers(), st.floats(allow_nan=False))))
def test_sqlite_built_message_equals_python_canonical_json(tmp_path_factory, actor, subject, data):
    """The fast path lets SQLite build the bytes that are hashed; they must be the canonical JSON of the entry."""
    log = AuditLog(tmp_path_factory.mktemp("h") / "parac.db", key=None)
    entry = log.append("tool.call", actor=actor, subject=subject, data=data)
    expected = canonical_json({name: value for name, value in entry.to_dict().items() if name != "hash"})
    built = log._conn.execute(MESSAGE_SQL).fetchone()[3]
    assert built == expected.encode("utf-8")
    assert log.verify().ok


@settings(max_examples=200, deadline=None)
@given(key=st.binary(min_size=1, max_size=200), messages=st.lists(st.binary(max_size=500), min_size=1, max_size=3))
def test_keyed_hash_is_hmac_sha256(key, messages):
    """The log's HMAC, continued from one keyed object for message after message, equals the standard library's
    one-shot HMAC of each, for keys shorter and longer than a block."""
    hasher = Hasher(key)
    for message in messages:
        assert hasher.digest(message) == "hmac-sha256:" + hmac.digest(key, message, "sha256").hex()


def test_an_entry_is_never_stamped_before_the_one_it_follows(tmp_path: Path, monkeypatch):
    """On a shared chain each host stamps with its own clock: after a host whose clock runs ahead, a host behind
    stamps the same time, not an earlier one, so a time window (found by binary search over seq) holds both."""
    from datetime import UTC, datetime

    from parac.core.audit import log as audit_log
    from parac.core.audit.log import AuditFilter

    log = AuditLog(tmp_path / "parac.db", key=KEY)
    ahead = "2100-01-01T00:00:00.000000Z"
    with monkeypatch.context() as clock:
        clock.setattr(audit_log, "now", lambda: ahead)
        log.append("host.ahead", actor="a")
    behind = log.append("host.behind", actor="b")  # this host's clock: about 75 years earlier
    log.append("host.behind", actor="b")
    assert behind.ts == ahead
    since = datetime(2099, 1, 1, tzinfo=UTC).timestamp()
    window = log.before(None, 10, AuditFilter(since=since))
    assert [entry.action for entry in window] == ["host.behind", "host.behind", "host.ahead"]
    assert log.verify().ok
    log.close()
