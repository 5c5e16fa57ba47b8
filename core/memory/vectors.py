"""Optional vector search over memory entries: ``sqlite-vec`` (the ``vector`` extra) in a database beside the
workspace's.

Used only when ``parac.yaml`` names a ``memory.embedding_model``: entries are embedded as they are stored and a
search fuses the nearest vectors with BM25's ranking (see :meth:`parac.core.memory.store.Memory.search`). The
embedding comes from a plugin's provider that offers ``embed(model, texts)``, else from litellm's ``embedding``
(a hosted model, or a named provider of ``parac.yaml`` such as ``local/nomic-embed-text`` sent to its
``api_base``); parac never downloads a model.

Why a file of its own (``parac.vectors.db`` beside ``parac.db``), opened with ``sqlean`` (the ``sqlean-py``
package: :mod:`sqlite3`'s API over its own, newer SQLite): loading ``sqlite-vec`` needs
``enable_load_extension``, which many Pythons' :mod:`sqlite3` is built without (this project's CI and dev
machines among them). Opening ``parac.db`` itself through a second SQLite library in the same process is not an
option: two copies of SQLite do not see each other's POSIX locks, and one closing the file drops the other's
locks (sqlite.org/howtocorrupt.html, 2.2.1). So only ``sqlean`` ever opens the vector file, keyed by entry id.

The two files are not one transaction: vectors are computed before the entries are written (an unreachable
model stores nothing), and written after they commit. An entry whose vector was lost to a crash in between is
still found by its words, and keeps the ``unembedded`` mark it was stored with: the next add or search that has
the model embeds it (see :meth:`parac.core.memory.store.Memory._backfill`). A vector whose entry is gone is
never returned (searches join on the entries), and is replaced when its id is used again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ParacError
from ..store import connect

Embed = Callable[[list[str]], list[list[float]]]


class VectorsUnavailable(ParacError):
    """An embedding model is configured but vectors cannot be used (extra missing, model unreachable)."""


def vector_path(conn: sqlite3.Connection) -> str:
    """The vector file beside the database of ``conn`` (``parac.db`` → ``parac.vectors.db``); ``:memory:`` for a
    database in memory."""
    main = next((row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"), "")
    return str(Path(main).with_suffix(".vectors.db")) if main else ":memory:"


class VectorIndex:
    """A ``vec0`` table keyed by memory entry id in its own file; created with the dimension of the first
    embedding."""

    def __init__(self, path: str, embed: Embed) -> None:
        try:
            import sqlean
            import sqlite_vec
        except ImportError:
            raise VectorsUnavailable(
                "memory.embedding_model is set but the vector extra is not installed: pip install 'parac[vector]'"
            ) from None
        self.conn = connect(path, driver=sqlean)
        self.conn.enable_load_extension(True)
        try:
            sqlite_vec.load(self.conn)
        finally:
            self.conn.enable_load_extension(False)
        self.embed = embed
        self._serialize = sqlite_vec.serialize_float32

    def close(self) -> None:
        self.conn.close()

    def _exists(self) -> bool:
        found = self.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'memory_vec'").fetchone()
        return found is not None

    def vectors(self, texts: list[str]) -> list[list[float]]:
        """The embeddings of ``texts``, checked to be one per text and all of one dimension."""
        vectors = self.embed(texts) if texts else []
        if len(vectors) != len(texts) or len({len(v) for v in vectors}) > 1:
            raise VectorsUnavailable(
                f"the embedding model answered {len(vectors)} vectors of sizes {sorted({len(v) for v in vectors})} "
                f"for {len(texts)} texts")
        return vectors

    def store(self, ids: Sequence[int], vectors: Sequence[list[float]]) -> None:
        """Write the vectors of entries ``ids`` (replacing any left under those ids)."""
        if not ids:
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS memory_vec USING vec0(embedding float[{len(vectors[0])}])")
            self.conn.executemany("DELETE FROM memory_vec WHERE rowid = ?", [(i,) for i in ids])
            self.conn.executemany("INSERT INTO memory_vec (rowid, embedding) VALUES (?, ?)",
                                  [(i, self._serialize(v)) for i, v in zip(ids, vectors, strict=True)])
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def remove(self, ids: Sequence[int]) -> None:
        """Delete the vectors of entries ``ids``, leaving no page that still holds them."""
        if ids and self._exists():
            self.conn.execute("PRAGMA secure_delete = ON")
            self.conn.executemany("DELETE FROM memory_vec WHERE rowid = ?", [(i,) for i in ids])
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def nearest(self, query: str, k: int) -> list[int]:
        """Entry ids nearest to ``query``, nearest first."""
        if not self._exists():
            return []
        vector = self.vectors([query])[0]
        rows = self.conn.execute(
            "SELECT rowid FROM memory_vec WHERE embedding MATCH ? AND k = ? ORDER BY distance",
            (self._serialize(vector), k),
        )
        return [row[0] for row in rows]


def embedder(model: str, provider: Any | None, endpoint: Any | None = None) -> Embed:
    """Texts → vectors with ``model``: a plugin provider's ``embed(model, texts)`` when it serves the model, else
    litellm's ``embedding`` (imported only now), sent to ``endpoint`` (a named provider's ``api_base``, key and
    headers, see :func:`parac.core.providers.route`) when there is one."""
    own = getattr(provider, "embed", None) if provider is not None else None
    if own is not None:
        return lambda texts: [list(map(float, v)) for v in own(model, texts)]
    where: dict[str, Any] = {}
    if endpoint is not None:
        where = {"api_base": endpoint.api_base, "api_key": endpoint.api_key or "none"}
        if endpoint.headers:
            where["extra_headers"] = dict(endpoint.headers)

    def through_litellm(texts: list[str]) -> list[list[float]]:
        import os

        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # as the provider does: no price map download
        import litellm

        try:
            answer = litellm.embedding(model=model, input=texts, **where)
        except Exception as exc:  # litellm raises its own hierarchy; the message names the model, never the key
            message = str(exc).replace(key, "***") if (key := where.get("api_key")) else str(exc)
            raise VectorsUnavailable(f"embedding model {model!r} failed: {type(exc).__name__}: {message}") from None
        return [list(map(float, item["embedding"])) for item in answer.data]

    return through_litellm
