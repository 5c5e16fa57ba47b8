"""Optional vector search over memory entries: ``sqlite-vec`` (the ``vector`` extra) in the same database.

Used only when ``parac.yaml`` names an ``memory.embedding_model``: entries are embedded as they are stored and a
search fuses the nearest vectors with BM25's ranking (see :meth:`parac.core.memory.store.Memory.search`). The
embedding comes from a plugin's provider that offers ``embed(model, texts)``, else from litellm's ``embedding``
(a hosted or self-hosted model as configured); parac never downloads a model.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ParacError

Embed = Callable[[list[str]], list[list[float]]]


class VectorsUnavailable(ParacError):
    """An embedding model is configured but vectors cannot be used (extra missing, model unreachable)."""


class VectorIndex:
    """A ``vec0`` table keyed by memory entry id; created with the dimension of the first embedding."""

    def __init__(self, conn: sqlite3.Connection, embed: Embed) -> None:
        try:
            import sqlite_vec
        except ImportError:
            raise VectorsUnavailable(
                "memory.embedding_model is set but sqlite-vec is not installed: pip install 'parac[vector]'"
            ) from None
        if not hasattr(conn, "enable_load_extension"):
            raise VectorsUnavailable(
                "memory.embedding_model is set but this Python's sqlite3 cannot load extensions (it was built "
                "without --enable-loadable-sqlite-extensions), so sqlite-vec cannot be used; remove "
                "memory.embedding_model to search by words only"
            )
        conn.enable_load_extension(True)
        try:
            sqlite_vec.load(conn)
        finally:
            conn.enable_load_extension(False)
        self.conn = conn
        self.embed = embed
        self._serialize = sqlite_vec.serialize_float32

    def _table(self, dimensions: int) -> None:
        self.conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS memory_vec USING vec0(embedding float[{dimensions}])")

    def _exists(self) -> bool:
        found = self.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'memory_vec'").fetchone()
        return found is not None

    def add(self, items: Sequence[tuple[int, str]]) -> None:
        if not items:
            return
        vectors = self.embed([text for _, text in items])
        self._table(len(vectors[0]))
        self.conn.executemany(
            "INSERT INTO memory_vec (rowid, embedding) VALUES (?, ?)",
            [(entry_id, self._serialize(vector)) for (entry_id, _), vector in zip(items, vectors, strict=True)],
        )

    def remove(self, ids: Sequence[int]) -> None:
        if self._exists():
            self.conn.executemany("DELETE FROM memory_vec WHERE rowid = ?", [(i,) for i in ids])

    def nearest(self, query: str, k: int) -> list[int]:
        """Entry ids nearest to ``query``, nearest first."""
        if not self._exists():
            return []
        vector = self.embed([query])[0]
        rows = self.conn.execute(
            "SELECT rowid FROM memory_vec WHERE embedding MATCH ? AND k = ? ORDER BY distance",
            (self._serialize(vector), k),
        )
        return [row[0] for row in rows]


def embedder(model: str, provider: Any | None) -> Embed:
    """Texts → vectors with ``model``: a plugin provider's ``embed(model, texts)`` when it serves the model, else
    litellm's ``embedding`` (imported only now)."""
    own = getattr(provider, "embed", None) if provider is not None else None
    if own is not None:
        return lambda texts: [list(map(float, v)) for v in own(model, texts)]

    def through_litellm(texts: list[str]) -> list[list[float]]:
        import litellm

        try:
            answer = litellm.embedding(model=model, input=texts)
        except Exception as exc:  # litellm raises its own hierarchy; the message names the model, never the key
            raise VectorsUnavailable(f"embedding model {model!r} failed: {type(exc).__name__}: {exc}") from None
        return [list(map(float, item["embedding"])) for item in answer.data]

    return through_litellm
