"""The audit chain of a workspace on the dbos engine: one chain in Postgres for every process of every host.

With ``engine: {kind: dbos}`` runs execute on ``parac worker`` processes anywhere, so a chain per workspace
database would leave each host's share of the trail on that host. Here the CLI, ``parac serve`` and every worker
append to the table ``parac_audit.audit`` of the engine's database, each group commit under a transaction-scoped
advisory lock (``pg_advisory_xact_lock``): appends from all processes are serialised, each reads the tail, links to
it and commits before the next one starts. The head record lives in ``parac_audit.audit_head``, written in the same
transaction as the entries it covers.

Everything else is :class:`~parac.core.audit.log.AuditLog`'s own: the entry format, the hashing and HMAC, the
writer thread's group commit, the readers, and the verification walk (:mod:`.verify`), which reads through a small
adapter that gives psycopg the few calls it makes of a ``sqlite3`` connection. Why one chain rather than a chain
per worker tied by signed anchors: verification then has one order of events to check, with no gaps between
anchors to reason about, and the lock costs one round trip per group commit.

The schema is ``parac_audit``, not ``parac``: Postgres's default ``search_path`` starts with ``"$user"``, so a schema
named like the role (often ``parac``) would catch the unqualified tables other processes create after it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import psycopg

from parac.core.engines import create_schema, redact_url
from parac.core.redact import Redactor

from .log import AuditError, AuditLog
from .schema import canonical_json

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS parac_audit;
CREATE TABLE IF NOT EXISTS parac_audit.audit (
    seq bigint PRIMARY KEY, ts text NOT NULL, actor text NOT NULL, action text NOT NULL, subject text NOT NULL,
    outcome text NOT NULL, data text NOT NULL, prev_hash text NOT NULL, hash text NOT NULL);
CREATE INDEX IF NOT EXISTS audit_action ON parac_audit.audit (action);
CREATE INDEX IF NOT EXISTS audit_actor ON parac_audit.audit (actor);
CREATE INDEX IF NOT EXISTS audit_subject ON parac_audit.audit (subject);
CREATE INDEX IF NOT EXISTS audit_outcome ON parac_audit.audit (outcome);
CREATE TABLE IF NOT EXISTS parac_audit.audit_head (one boolean PRIMARY KEY DEFAULT true CHECK (one), record text NOT NULL);
CREATE OR REPLACE FUNCTION parac_audit.append_only() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
CREATE OR REPLACE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON parac_audit.audit
    FOR EACH ROW EXECUTE FUNCTION parac_audit.append_only();
"""
#: Each entry's hashed text built by Postgres, as `parac.core.audit.schema.MESSAGE_SQL` does in SQLite: ``to_json``
#: of a text escapes what Python's ``encode_basestring`` escapes, and an entry whose text differs anyway is checked
#: again in Python before it is called bad.
MESSAGE_SQL = (
    """SELECT seq, prev_hash, hash, convert_to('{"action":' || to_json(action)::text || ',"actor":'"""
    """ || to_json(actor)::text || ',"data":' || data || ',"outcome":' || to_json(outcome)::text"""
    """ || ',"prev_hash":"' || prev_hash || '","seq":' || seq || ',"subject":' || to_json(subject)::text"""
    """ || ',"ts":' || to_json(ts)::text || '}', 'UTF8') FROM audit ORDER BY seq"""
)
HEAD_TABLE = "parac_audit.audit_head"


class _Store:
    """A psycopg connection behind the calls the log and its verifier make of a ``sqlite3`` one: ``execute`` with
    ``?`` placeholders, ``text_factory`` (Postgres text is always valid UTF-8, so there is nothing to tolerate)."""

    text_factory: Any = str

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: tuple[Any, ...] | None = None) -> psycopg.Cursor[Any]:
        return self.conn.execute(sql if params is None else sql.replace("?", "%s"), params)

    def close(self) -> None:
        self.conn.close()


class PostgresAuditLog(AuditLog):
    """The audit log kept in the dbos engine's database (see the module's docstring)."""

    _message_sql = MESSAGE_SQL

    def __init__(self, url: str, *, key: bytes | None = None, redactor: Redactor | None = None) -> None:
        self._setup(key, redactor, where=url)
        try:
            conn = psycopg.connect(url, autocommit=True, connect_timeout=5)
            try:
                create_schema(conn, SCHEMA)
                conn.execute("SET search_path TO parac_audit")
            except BaseException:
                conn.close()  # no log is made, so nothing else would ever close it
                raise
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise AuditError(f"cannot reach the audit trail's database {redact_url(url)}: {reason}") from None
        self._conn = _Store(conn)  # type: ignore[assignment]

    def close(self) -> None:
        self.flush()
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One group commit: every process's appends take the advisory lock in turn, and the head record is written
        before the commit, so the table and its head never disagree."""
        with self._conn.conn.transaction():  # type: ignore[attr-defined]
            self._conn.execute("SELECT pg_advisory_xact_lock(hashtext('parac.audit'))")
            yield
            if self._pending_head:
                record = self._next_head(*self._pending_head)
                self._pending_head = None
                if record is not None:
                    self._conn.execute(
                        f"INSERT INTO {HEAD_TABLE} (one, record) VALUES (true, %s) "
                        "ON CONFLICT (one) DO UPDATE SET record = EXCLUDED.record", (canonical_json(record),))

    def read_head(self) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute(f"SELECT record FROM {HEAD_TABLE}").fetchone()
        try:
            value = json.loads(row[0]) if row else None
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    @property
    def head_name(self) -> str:
        return HEAD_TABLE
