"""Memory entries in the workspace database: a table, its FTS5 index (BM25 ranking), and optional vectors.

Every entry lives in a *namespace* (``workspace``, ``agent:NAME``, ``run:ID``, ``workflow:NAME`` or any name a
team picks) and has a *kind*: ``fact`` (added by a tool or a person), ``document`` (a section of a Markdown file
under ``.parac/memory/``) or ``episode`` (the summary of a finished run). Text is redacted before it is stored,
so the index never holds what the audit trail would not; an entry larger than the limit is refused, not cut.

The FTS5 table is an *external content* index over ``memory_entries``: the text is stored once. :meth:`Memory.add_many`
indexes a batch with one ``INSERT ... SELECT`` in the transaction that stores it (a trigger per row costs three
times as much: see bench/memory_search.py), and a trigger deletes a row's index entries in the same transaction. :meth:`Memory.forget` then merges the
index and checkpoints the WAL with ``secure_delete`` on, so forgotten text does not linger in free pages either.

Searches take words by default (any of them may match; BM25 ranks the entries that match most, rarer words
weighing more) because that is how people and agents ask. ``fts=True`` takes FTS5's own query syntax (phrases,
``AND``/``OR``/``NOT``, ``prefix*``, ``NEAR``) and turns a syntax error into a :class:`MemoryError` that says so.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from typing_extensions import NotRequired, TypedDict

from ..errors import ParacError
from ..redact import Redactor
from ..store import transaction

Embed = Callable[[list[str]], list[list[float]]]

DEFAULT_MAX_ENTRY_CHARS = 20_000
NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/@-]{0,199}$")
KINDS = ("fact", "document", "episode")
MAX_RESULTS = 100
#: Candidates taken from the index before the filters (namespaces, kinds, expiry) apply; past this, one join.
MAX_CANDIDATES = 10_000
#: Entries left without their vector (see :meth:`Memory._backfill`) embedded per add or search: one request's worth.
BACKFILL_BATCH = 256

_SCHEMA = """
CREATE TABLE IF NOT EXISTS memory_entries (
    id INTEGER PRIMARY KEY,
    namespace TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    source TEXT,
    digest TEXT,
    created_at REAL NOT NULL,
    expires_at REAL,
    unembedded INTEGER
);
CREATE INDEX IF NOT EXISTS memory_by_namespace ON memory_entries (namespace, created_at);
CREATE INDEX IF NOT EXISTS memory_by_source ON memory_entries (source) WHERE source IS NOT NULL;
CREATE INDEX IF NOT EXISTS memory_by_expiry ON memory_entries (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS memory_unembedded ON memory_entries (id) WHERE unembedded IS NOT NULL;
CREATE VIRTUAL TABLE IF NOT EXISTS memory_fts USING fts5(
    title, content, content='memory_entries', content_rowid='id', tokenize='porter unicode61'
);
CREATE TRIGGER IF NOT EXISTS memory_fts_delete AFTER DELETE ON memory_entries BEGIN
    INSERT INTO memory_fts (memory_fts, rowid, title, content) VALUES ('delete', old.id, old.title, old.content);
END;
"""

#: Words too common to rank by; dropped from word queries (an FTS5 OR of "the" matches nearly everything).
STOP_WORDS = frozenset(
    "a an and are as at be but by can do does for from had has have how i if in into is it its me my no not of on "
    "or our so that the their them then there these they this to us was we were what when where which who why will "
    "with you your".split()
)
_WORD = re.compile(r"\w+", re.UNICODE)


class MemoryError(ParacError):  # noqa: A001 - parac's, not the builtin's; always imported by module
    """A memory request that cannot be honoured: bad query, oversized entry, unknown namespace or id."""


class MemoryEntry(TypedDict):
    """An entry as JSON (`Entry.to_json`): what the memory tools answer and the memory resources hold."""

    id: int
    namespace: str
    kind: str
    title: str
    content: str
    metadata: dict[str, Any]
    source: str | None
    created_at: float
    expires_at: float | None
    uri: str
    score: NotRequired[float]


@dataclass
class Entry:
    """One memory entry; ``score`` is set by searches (higher is better)."""

    id: int
    namespace: str
    kind: str
    title: str
    content: str
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    created_at: float = 0.0
    expires_at: float | None = None
    score: float | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row, score: float | None = None) -> Entry:
        return cls(row["id"], row["namespace"], row["kind"], row["title"], row["content"],
                   json.loads(row["metadata"] or "{}"), row["source"], row["created_at"], row["expires_at"], score)

    def to_json(self) -> MemoryEntry:
        data: MemoryEntry = {"id": self.id, "namespace": self.namespace, "kind": self.kind, "title": self.title,
                "content": self.content, "metadata": self.metadata, "source": self.source,
                "created_at": self.created_at, "expires_at": self.expires_at, "uri": f"parac://memory/entries/{self.id}"}
        if self.score is not None:
            data["score"] = round(self.score, 6)
        return data


def ensure_schema(conn: sqlite3.Connection) -> sqlite3.Connection:
    triggers = {row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name IN ('memory_fts_delete', 'memory_fts_insert')")}
    if "memory_fts_delete" not in triggers:
        conn.executescript(_SCHEMA)
    if "memory_fts_insert" in triggers:  # a database from before bulk indexing: add_many indexes new rows itself
        conn.execute("DROP TRIGGER memory_fts_insert")
    if "unembedded" not in {row[1] for row in conn.execute("PRAGMA table_info(memory_entries)")}:
        with transaction(conn):  # a database from before the backfill; checked again under the write lock
            if "unembedded" not in {row[1] for row in conn.execute("PRAGMA table_info(memory_entries)")}:
                conn.execute("ALTER TABLE memory_entries ADD COLUMN unembedded INTEGER")
                conn.execute("CREATE INDEX memory_unembedded ON memory_entries (id) WHERE unembedded IS NOT NULL")
    return conn


def check_namespace(namespace: str) -> str:
    if not NAMESPACE.match(namespace):
        raise MemoryError(
            f"invalid namespace {namespace!r}: letters, digits and _ . : / @ - (up to 200), starting with a letter "
            "or digit (workspace, agent:NAME, run:ID, or your own)"
        )
    return namespace


def embedded_text(title: str, content: str) -> str:
    """What an entry's vector is the embedding of."""
    return f"{title}\n{content}"


def word_query(text: str) -> str:
    """An FTS5 query matching any of the words of ``text`` (stop words dropped unless nothing else is left)."""
    words = [w.lower() for w in _WORD.findall(text)]
    kept = [w for w in words if w not in STOP_WORDS] or words
    if not kept:
        raise MemoryError(f"nothing to search for in {text!r}: give at least one word")
    return " OR ".join(f'"{w}"' for w in dict.fromkeys(kept))


class Memory:
    """The memory of one workspace over its database connection (see the module docstring).

    ``redactor`` masks secrets and configured PII (the workspace's policies' redactor); ``embed`` turns texts into
    vectors when an embedding model is configured (see :mod:`.vectors`); ``ttl_days`` is the default retention.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        redactor: Redactor | None = None,
        max_entry_chars: int = DEFAULT_MAX_ENTRY_CHARS,
        ttl_days: float | None = None,
        embed: Embed | None = None,
        owned: bool = False,
    ) -> None:
        """``owned``: the connection was opened for this memory, and :meth:`close` closes it."""
        self.conn = ensure_schema(conn)
        self.owned = owned
        self.redact: Callable[[str], str] = redactor.text if redactor is not None else str
        self.redact_many: Callable[[Sequence[str]], list[str]] = redactor.texts if redactor is not None else list
        self.max_entry_chars = max_entry_chars
        self.ttl_days = ttl_days
        self.vectors = None
        if embed is not None:
            from .vectors import VectorIndex, vector_path

            self.vectors = VectorIndex(vector_path(conn), embed)

    def close(self) -> None:
        """Close the vector index, and the connection when it is ours."""
        if self.vectors is not None:
            self.vectors.close()
        if self.owned:
            self.conn.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------------------------------
    def add(
        self,
        content: str,
        *,
        namespace: str = "workspace",
        title: str = "",
        kind: str = "fact",
        metadata: dict[str, Any] | None = None,
        ttl_days: float | None = None,
        source: str | None = None,
        digest: str | None = None,
    ) -> Entry:
        """Store one entry (redacted) and return it; refuse one over the size limit or with a bad namespace."""
        return self.add_many([dict(content=content, namespace=namespace, title=title, kind=kind, metadata=metadata,
                                   ttl_days=ttl_days, source=source, digest=digest)])[0]

    def add_many(self, items: Iterable[dict[str, Any]]) -> list[Entry]:
        """Store several entries in one transaction (ingest, benchmarks): all or none.

        With vectors, each row is stored marked ``unembedded`` and the mark is cleared once its vector is written
        to the other file: a process that dies in between leaves the mark, and :meth:`_backfill` finds it.
        """
        if self.vectors is not None:
            self._backfill()
        now = time.time()
        rows = [self._row(item, now) for item in items]
        texts = self.redact_many([text for row in rows for text in (row[2], row[3])])  # one scan for the batch
        rows = [(row[0], row[1], texts[2 * i], texts[2 * i + 1], *row[4:]) for i, row in enumerate(rows)]
        # embedded before anything is written: an unreachable model stores nothing (see .vectors on the two files)
        vectors, marked = [], None
        if self.vectors is not None:
            vectors, marked = self.vectors.vectors([embedded_text(row[2], row[3]) for row in rows]), 1
        with transaction(self.conn):
            first = self.conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM memory_entries").fetchone()[0]
            self.conn.executemany(
                "INSERT INTO memory_entries (id, namespace, kind, title, content, metadata, source, digest,"
                " created_at, expires_at, unembedded) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(first + index, *row, marked) for index, row in enumerate(rows)])
            self.conn.execute("INSERT INTO memory_fts (rowid, title, content) SELECT id, title, content"
                              " FROM memory_entries WHERE id >= ?", (first,))  # the write lock is ours: only these
        entries = [Entry(first + index, row[0], row[1], row[2], row[3], json.loads(row[4]) if row[4] != "{}" else {},
                         row[5], row[7], row[8]) for index, row in enumerate(rows)]
        if self.vectors is not None:
            self._embedded([(e.id, e.created_at) for e in entries], vectors)
        return entries

    def _backfill(self) -> None:
        """Embed entries stored without their vector, oldest first and at most :data:`BACKFILL_BATCH` per call.

        They are the entries of a process that died between committing them and writing their vectors (the two
        files are not one transaction, see :mod:`.vectors`); the partial index on the mark makes finding none one
        lookup, so every add and search can afford to ask.
        """
        assert self.vectors is not None
        rows = self.conn.execute(
            "SELECT id, created_at, title, content FROM memory_entries WHERE unembedded IS NOT NULL ORDER BY id"
            " LIMIT ?", (BACKFILL_BATCH,)).fetchall()
        if rows:
            self._embedded([(row[0], row[1]) for row in rows],
                           self.vectors.vectors([embedded_text(row[2], row[3]) for row in rows]))

    def _embedded(self, keys: list[tuple[int, float]], vectors: list[list[float]]) -> None:
        """Write the vectors of the entries ``keys`` (id, created_at), then clear their marks.

        The creation time is part of the key so that an id forgotten and used again meanwhile keeps its own mark.
        """
        assert self.vectors is not None
        self.vectors.store([key[0] for key in keys], vectors)
        with transaction(self.conn):
            self.conn.executemany("UPDATE memory_entries SET unembedded = NULL WHERE id = ? AND created_at = ?", keys)

    def _row(self, item: dict[str, Any], now: float) -> tuple:
        """An entry's row, checked; its metadata redacted, its title and content not yet (see :meth:`add_many`)."""
        content, title = str(item.get("content") or ""), str(item.get("title") or "")
        if not content.strip():
            raise MemoryError("an entry needs some content")
        size = len(content) + len(title)
        if size > self.max_entry_chars:
            raise MemoryError(
                f"entry of {size} characters refused: the limit is {self.max_entry_chars} "
                "(memory.max_entry_chars in parac.yaml); split it or store a summary"
            )
        kind = item.get("kind") or "fact"
        if kind not in KINDS:
            raise MemoryError(f"unknown kind {kind!r}: one of {', '.join(KINDS)}")
        metadata = item.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise MemoryError("metadata must be a mapping")
        ttl = item.get("ttl_days") or self.ttl_days
        encoded = json.dumps(self._masked(metadata), ensure_ascii=False, default=str) if metadata else "{}"
        return (check_namespace(item.get("namespace") or "workspace"), kind, title, content, encoded, item.get("source"), item.get("digest"), now,
                now + float(ttl) * 86400 if ttl else None)

    def _masked(self, value: Any) -> Any:
        """``value`` with every string in it (keys included) redacted."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {self._masked(str(key)): self._masked(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._masked(item) for item in value]
        return value

    def forget(
        self, *, ids: Sequence[int] = (), namespace: str | None = None, source: str | None = None
    ) -> int:
        """Remove entries by id, a whole namespace, or everything from one source; return how many went.

        The index entries go in the same transaction (the delete trigger), then the index is merged and the WAL
        checkpointed with ``secure_delete`` on, so the text is gone from the file too, not only from searches.
        """
        if not ids and namespace is None and source is None:
            raise MemoryError("say what to forget: entry ids, a namespace or a source")
        clauses, params = [], []
        if ids:
            clauses.append(f"id IN ({','.join('?' * len(ids))})")
            params.extend(int(i) for i in ids)
        if namespace is not None:
            clauses.append("namespace = ?")
            params.append(check_namespace(namespace))
        if source is not None:
            clauses.append("source = ?")
            params.append(source)
        return self._delete(" AND ".join(clauses), params)

    def purge_expired(self, now: float | None = None) -> int:
        """Remove entries whose retention has passed (searches already skip them)."""
        return self._delete("expires_at IS NOT NULL AND expires_at <= ?", [now or time.time()], scrub=False)

    def _delete(self, where: str, params: list[Any], *, scrub: bool = True) -> int:
        self.conn.execute("PRAGMA secure_delete = ON")
        with transaction(self.conn):
            ids = [row[0] for row in self.conn.execute(f"SELECT id FROM memory_entries WHERE {where}", params)]
            if ids:
                self.conn.executemany("DELETE FROM memory_entries WHERE id = ?", [(i,) for i in ids])
        if ids and self.vectors is not None:
            self.vectors.remove(ids)
        if ids and scrub:
            self.conn.execute("INSERT INTO memory_fts (memory_fts) VALUES ('optimize')")
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return len(ids)

    # -- reading ----------------------------------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        namespaces: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
        limit: int = 10,
        fts: bool = False,
    ) -> list[Entry]:
        """The entries that best match ``query``, best first (BM25; fused with vector similarity when configured).

        ``fts=True``: ``query`` is FTS5 query syntax, and a syntax error is a :class:`MemoryError`.
        """
        limit = max(1, min(int(limit), MAX_RESULTS))
        match = query if fts else word_query(query)
        where, params = self._filters(namespaces, kinds)
        found = self._ranked(query, match, where, params, limit)
        if self.vectors is not None:
            self._backfill()
            found = self._fused(query, found, where, params, limit)
        return found

    def _ranked(self, query: str, match: str, where: str, params: list[Any], limit: int) -> list[Entry]:
        """The best ``limit`` entries by BM25 that pass the filters.

        The index is asked alone (FTS5 ranks in C, without a join per match), for a few times ``limit``
        candidates, and the filters are applied to those; only when the filters leave too few is it asked for more.
        """
        fetch = max(4 * limit, 40)
        while True:
            try:
                hits = self.conn.execute(
                    "SELECT rowid, bm25(memory_fts, 2.0, 1.0) AS score FROM memory_fts WHERE memory_fts MATCH ?"
                    " ORDER BY score LIMIT ?", (match, fetch)).fetchall()
            except sqlite3.OperationalError as exc:
                raise MemoryError(f"invalid search {query!r}: {exc} (FTS5 query syntax: words, \"phrases\", "
                                  "AND/OR/NOT, prefix*; or search without --fts for plain words)") from None
            scores = {row[0]: -row[1] for row in hits}
            if not scores:
                return []
            rows = self.conn.execute(
                f"SELECT e.* FROM memory_entries e WHERE e.id IN ({','.join('?' * len(scores))}){where}",
                [*scores, *params]).fetchall()
            found = sorted((Entry.from_row(row, scores[row["id"]]) for row in rows), key=lambda e: -(e.score or 0))
            if len(found) >= limit or len(hits) < fetch:
                return found[:limit]
            if fetch >= MAX_CANDIDATES:  # the filters keep few of the matches: let SQLite join them all
                rows = self.conn.execute(
                    "SELECT e.*, bm25(memory_fts, 2.0, 1.0) AS score FROM memory_fts CROSS JOIN memory_entries e"
                    f" ON e.id = memory_fts.rowid WHERE memory_fts MATCH ?{where} ORDER BY score LIMIT ?",
                    [match, *params, limit]).fetchall()
                return [Entry.from_row(row, -row["score"]) for row in rows]
            fetch *= 4

    def _fused(self, query: str, lexical: list[Entry], where: str, params: list[Any], limit: int) -> list[Entry]:
        """Reciprocal rank fusion of the BM25 list and the nearest vectors (k=60, the usual constant)."""
        assert self.vectors is not None
        nearest = self.vectors.nearest(query, limit * 4)
        scores: dict[int, float] = {}
        for rank, entry in enumerate(lexical):
            scores[entry.id] = scores.get(entry.id, 0.0) + 1 / (60 + rank)
        for rank, entry_id in enumerate(nearest):
            scores[entry_id] = scores.get(entry_id, 0.0) + 1 / (60 + rank)
        best = sorted(scores, key=scores.__getitem__, reverse=True)
        rows = {row["id"]: row for row in self.conn.execute(
            f"SELECT e.* FROM memory_entries e WHERE e.id IN ({','.join('?' * len(best))}){where}", [*best, *params])}
        return [Entry.from_row(rows[i], scores[i]) for i in best if i in rows][:limit]

    def _filters(self, namespaces: Sequence[str] | None, kinds: Sequence[str] | None) -> tuple[str, list[Any]]:
        where, params = " AND (e.expires_at IS NULL OR e.expires_at > ?)", [time.time()]
        if namespaces:
            where += f" AND e.namespace IN ({','.join('?' * len(namespaces))})"
            params.extend(check_namespace(n) for n in namespaces)
        if kinds:
            where += f" AND e.kind IN ({','.join('?' * len(kinds))})"
            params.extend(kinds)
        return where, params

    def get(self, entry_id: int) -> Entry:
        row = self.conn.execute("SELECT * FROM memory_entries WHERE id = ?", (int(entry_id),)).fetchone()
        if row is None:
            raise MemoryError(f"no memory entry {entry_id} (see `parac memory list`)")
        return Entry.from_row(row)

    def list(self, *, namespace: str | None = None, kind: str | None = None, limit: int = 50) -> list[Entry]:
        """The newest entries, of one namespace or kind when given."""
        where, params = self._filters([namespace] if namespace else None, [kind] if kind else None)
        rows = self.conn.execute(
            f"SELECT e.* FROM memory_entries e WHERE 1{where} ORDER BY e.created_at DESC, e.id DESC LIMIT ?",
            [*params, max(1, min(int(limit), 1000))])
        return [Entry.from_row(row) for row in rows]

    def namespaces(self) -> list[dict[str, Any]]:
        """Every namespace with its entry count and newest entry time."""
        rows = self.conn.execute(
            "SELECT namespace, COUNT(*) AS entries, MAX(created_at) AS newest FROM memory_entries"
            " WHERE expires_at IS NULL OR expires_at > ? GROUP BY namespace ORDER BY namespace", (time.time(),))
        return [dict(row) for row in rows]

    def sources(self, kind: str) -> dict[str, str]:
        """The digest stored for each source of entries of ``kind`` (ingest compares files against it)."""
        rows = self.conn.execute(
            "SELECT source, digest FROM memory_entries WHERE kind = ? AND source IS NOT NULL GROUP BY source", (kind,))
        return {row[0]: row[1] for row in rows}
