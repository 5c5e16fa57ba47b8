"""The memory tools: ``memory_add``, ``memory_search`` and ``memory_forget`` over the workspace's memory.

Registered like every other tool, so the governance hooks decide, audit and redact each call (an agent needs a
grant for them, as for any tool). Entries are redacted again by the memory itself before they are stored: what an
agent writes is masked whether or not a policy audits the call.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from typing_extensions import TypedDict

from parac.server.api import Memory, MemoryEntry, MemoryError, ToolContext, ToolError, hookimpl, open_memory

from ._tooling import TypedTool


class Found(TypedDict):
    entries: list[dict[str, Any]]


class Forgotten(TypedDict):
    forgotten: int


@contextmanager
def _memory(ctx: ToolContext) -> Iterator[Memory]:
    if ctx.workspace is None:
        raise ToolError("no workspace is open: memory lives in a workspace's database")
    try:
        with open_memory(ctx.workspace) as memory:
            yield memory
    except MemoryError as exc:
        raise ToolError(str(exc)) from None


def memory_add(
    ctx: ToolContext,
    content: str,
    namespace: str = "workspace",
    title: str = "",
    metadata: dict[str, Any] | None = None,
    ttl_days: float | None = None,
) -> MemoryEntry:
    """Remember a fact or a note: stored (secrets and configured personal data masked) in a namespace
    (`workspace` for the whole team, `agent:NAME`, `run:ID`, or your own) and found later by memory_search."""
    with _memory(ctx) as memory:
        entry = memory.add(content, namespace=namespace, title=title, metadata=metadata, ttl_days=ttl_days)
    data = entry.to_json()
    data.pop("score", None)
    return MemoryEntry(**data)  # type: ignore[typeddict-item]


def memory_search(
    ctx: ToolContext, query: str, namespaces: list[str] | None = None, limit: int = 5, fts: bool = False
) -> Found:
    """Search the workspace's memory (facts, the notes under .parac/memory/, summaries of past runs), best match
    first. The query is plain words; with fts=true it is SQLite FTS5 syntax ("phrase", AND, OR, NOT, prefix*)."""
    with _memory(ctx) as memory:
        return Found(entries=[e.to_json() for e in memory.search(query, namespaces=namespaces, limit=limit, fts=fts)])


def memory_forget(ctx: ToolContext, ids: list[int] | None = None, namespace: str | None = None) -> Forgotten:
    """Forget memory entries for good, by id or a whole namespace (removed from the index and the file too)."""
    with _memory(ctx) as memory:
        return Forgotten(forgotten=memory.forget(ids=ids or (), namespace=namespace))


@hookimpl
def parac_register_tools(register) -> None:
    register(TypedTool(memory_add, "Remember a fact", destructive=False, idempotent=False))
    register(TypedTool(memory_search, "Search memory", read_only=True))
    register(TypedTool(memory_forget, "Forget memory entries", destructive=True, idempotent=True))
