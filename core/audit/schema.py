"""What an audit entry is on disk and how it is hashed: the table, the canonical JSON an entry's hash covers, and
the two hash forms (``sha256:`` + hex, ``hmac-sha256:`` + hex). This is the format other copies of a trail (exports,
anchors kept elsewhere) are checked against: it must not change.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from json.encoder import encode_basestring as _quote  # type: ignore[attr-defined]
from typing import Any

#: The environment variable holding the HMAC key.
KEY_ENV = "PARAC_AUDIT_KEY"
SHA = "sha256:"
HMAC = "hmac-sha256:"

SCHEMA = """
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
CREATE INDEX IF NOT EXISTS audit_actor ON audit (actor);
CREATE INDEX IF NOT EXISTS audit_subject ON audit (subject);
CREATE INDEX IF NOT EXISTS audit_outcome ON audit (outcome);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""
COLUMNS = "seq, ts, actor, action, subject, outcome, data, prev_hash, hash"
INSERT = f"INSERT INTO audit ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
#: Each entry's number, links and the bytes its hash covers, built by SQLite (see `parac.core.audit.verify`).
#: ``prev_hash`` goes in unquoted: the walk compares it with the previous entry's verified hash (``sha256:`` + hex)
#: before it hashes anything, so it never holds a character JSON would escape. The text comes back as bytes (no decoding
#: into a Python string and encoding back for the hash).
MESSAGE_SQL = (
    """SELECT seq, prev_hash, hash, CAST('{"action":' || json_quote(action) || ',"actor":' || json_quote(actor)"""
    """ || ',"data":' || data || ',"outcome":' || json_quote(outcome) || ',"prev_hash":"' || prev_hash"""
    """ || '","seq":' || seq || ',"subject":' || json_quote(subject) || ',"ts":' || json_quote(ts) || '}' AS BLOB)"""
    """ FROM audit ORDER BY seq"""
)


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


class Hasher:
    """Hashes entries and signs head records and anchors: with a key, HMAC-SHA256; without, plain SHA-256.

    The key is set up once (`hmac.new`) and every message continues from a copy of that keyed object:
    `hmac.digest` would set the key up again for each message, which costs more than the copy."""

    def __init__(self, key: bytes | None) -> None:
        self.key = key
        self._keyed = hmac.new(key, digestmod=hashlib.sha256) if key is not None else None

    def keyed_hex(self, message: bytes) -> str:
        """The HMAC of ``message`` in hex (without the ``hmac-sha256:`` tag); only for a hasher with a key."""
        assert self._keyed is not None
        mac = self._keyed.copy()
        mac.update(message)
        return mac.hexdigest()

    def digest(self, message: bytes) -> str:
        """``message``'s hash as stored, tagged with its algorithm."""
        if self._keyed is not None:
            return HMAC + self.keyed_hex(message)
        return SHA + hashlib.sha256(message).hexdigest()

    def sign(self, record: Mapping[str, Any]) -> str:
        """The signature of a head record or an anchor: the hash of its canonical JSON without ``sig``."""
        return self.digest(canonical_json({k: v for k, v in record.items() if k != "sig"}).encode("utf-8"))


def entry_from_row(row: tuple[Any, ...]) -> AuditEntry:
    try:
        data = json.loads(row[6])
    except ValueError:
        data = {"unparsable": row[6]}
    return AuditEntry(row[0], row[1], row[2], row[3], row[4], row[5], data, row[7], row[8])

