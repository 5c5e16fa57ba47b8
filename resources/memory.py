"""The memory index as resources: ``parac://memory/namespaces``, ``parac://memory/entries/{id}``,
``parac://memory/namespace/{name}`` (its newest entries) and ``parac://memory/search/{query}``, as JSON.

The notes themselves stay at ``parac://memory/{path}`` (:mod:`.workspace`); this module registers first (modules load
in name order) so these names win over a note folder of the same name. Read through
:func:`parac.core.memory.open_memory`, as the CLI and the ``memory_*`` tools do.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from typing_extensions import TypedDict

from parac.core.memory import MemoryEntry
from parac.server.mcp.call import Call
from parac.server.mcp.faces import FaceError, Faces


class Namespace(TypedDict):
    namespace: str
    entries: int
    newest: float


Namespaces = list[Namespace]
Entries = list[MemoryEntry]

NEWEST = 50
"""How many entries a namespace's resource shows, newest first."""


async def _read(call: Call, read: Callable[[Any], Any]) -> str:
    from parac.core.memory import MemoryError, open_memory

    workspace = await call.workspace()

    def work() -> Any:
        with open_memory(workspace) as memory:
            return read(memory)

    try:
        data = await call.to_thread(work)
    except MemoryError as exc:
        raise FaceError(str(exc)) from None
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


async def namespace_names(call: Call, typed: str) -> list[str]:
    from parac.core.memory import open_memory

    workspace = await call.workspace()

    def work() -> list[str]:
        with open_memory(workspace, sync=False) as memory:
            return [row["namespace"] for row in memory.namespaces() if row["namespace"].startswith(typed)]

    return await call.to_thread(work)


def register(faces: Faces) -> None:
    @faces.resource(
        "parac://memory/namespaces", name="memory-namespaces", title="Memory namespaces",
        description="Every namespace of the workspace's memory with its entry count", mime_type="application/json",
    )
    async def namespaces(call: Call) -> str:
        return await _read(call, lambda memory: memory.namespaces())

    @faces.template(
        "parac://memory/entries/{id}", name="memory-entry", title="A memory entry",
        description="One entry of the workspace's memory: namespace, kind, title, content, metadata",
        mime_type="application/json",
    )
    async def entry(call: Call, id: str) -> str:  # noqa: A002 - the URI template's parameter name
        if not id.isdigit():
            raise FaceError(f"memory entry ids are numbers, not {id!r}")
        return await _read(call, lambda memory: memory.get(int(id)).to_json())

    @faces.template(
        "parac://memory/namespace/{name}", name="memory-namespace", title="A memory namespace",
        description=f"The newest {NEWEST} entries of one namespace (workspace, agent:NAME, run:ID, ...)",
        mime_type="application/json", complete={"name": namespace_names},
    )
    async def namespace(call: Call, name: str) -> str:
        return await _read(call, lambda memory: [e.to_json() for e in memory.list(namespace=name, limit=NEWEST)])

    @faces.template(
        "parac://memory/search/{query}", name="memory-search", title="Search memory",
        description="The entries that best match the words of the query, best first (BM25)",
        mime_type="application/json",
    )
    async def search(call: Call, query: str) -> str:
        return await _read(call, lambda memory: [e.to_json() for e in memory.search(query)])
