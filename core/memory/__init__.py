"""The workspace's memory: long-term entries, ingested notes and episodes of finished runs, searchable by agents,
people and tools.

    from parac.core.memory import open_memory

    memory = open_memory(workspace)
    memory.add("The staging database is db-stg-2", namespace="workspace")
    [entry.content for entry in memory.search("which database does staging use")]

:func:`open_memory` is what every face calls (the CLI, the MCP resources and tools, the ``memory_*`` tools, agents'
recall, and the REST routes of ``parac serve``): it applies ``parac.yaml``'s ``memory:`` settings and the
workspace's redaction, and re-indexes ``.parac/memory/**/*.md`` files that changed.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from .store import Entry, Memory, MemoryEntry, MemoryError, ensure_schema

if TYPE_CHECKING:
    from ..workspace import Workspace

__all__ = ["Entry", "Memory", "MemoryEntry", "MemoryError", "ensure_schema", "open_memory"]


def open_memory(workspace: Workspace, conn: sqlite3.Connection | None = None, *, sync: bool = True) -> Memory:
    """The memory of ``workspace`` over ``conn`` (its own connection to the database when not given: close the
    memory then, or use it as a context manager); with ``sync``, expired entries purged and notes re-indexed."""
    from ..store import connect_workspace

    settings = workspace.settings.memory
    embed = None
    if settings.embedding_model:
        from ..providers import MissingKey, route
        from .vectors import VectorsUnavailable, embedder

        try:
            routed = route(settings.embedding_model, workspace.settings.providers, workspace.root)
        except MissingKey as exc:  # a provider error is not for callers; this one names a variable, never a value
            raise VectorsUnavailable(f"memory.embedding_model {settings.embedding_model!r}: {exc}") from None
        catalog = workspace.catalog
        provider = catalog.provider_for(routed.model) if catalog is not None else None
        embed = embedder(routed.model, provider, routed.endpoint)
    redactor = workspace.current_policies().redactor()
    memory = Memory(conn if conn is not None else connect_workspace(workspace.root), redactor=redactor,
                    max_entry_chars=settings.max_entry_chars, ttl_days=settings.ttl_days, embed=embed,
                    owned=conn is None)
    if sync:
        from .ingest import sync as sync_notes

        memory.purge_expired()
        sync_notes(memory, workspace.root)
    return memory
