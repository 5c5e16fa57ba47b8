"""Document symbols (the outline: keys, nested, with workflow steps named by their id) and workspace symbols
(every agent, workflow, skill and step, filtered by the query)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from ..documents import path_to_uri
from ..positions import line_at, position
from .navigation import START, location_of

if TYPE_CHECKING:
    from ..context import FeatureServer
    from ..documents import Document

MAX_WORKSPACE_SYMBOLS = 500


def outline(doc: Document, encoding: str) -> list[types.DocumentSymbol]:
    """Keys as a tree; list items that hold keys become symbols of their own, named by their ``id`` or ``name``."""
    roots: list[types.DocumentSymbol] = []
    by_path: dict[tuple[str | int, ...], types.DocumentSymbol] = {}

    def node_for(path: tuple[str | int, ...], row: int, column: int) -> list[types.DocumentSymbol]:
        """The children list that a symbol at ``path`` goes into, creating list-item symbols on the way."""
        if not path:
            return roots
        if path in by_path:
            return by_path[path].children  # type: ignore[return-value]
        siblings = node_for(path[:-1], row, column)
        point = position(doc.lines, row, column, encoding)
        item = types.DocumentSymbol(
            name=f"[{path[-1]}]",
            kind=types.SymbolKind.Object,
            range=types.Range(start=point, end=point),
            selection_range=types.Range(start=point, end=point),
            children=[],
        )
        siblings.append(item)
        by_path[path] = item
        return item.children  # type: ignore[return-value]

    for key in doc.keys:
        token = key.token
        start = position(doc.lines, token.row, token.column, encoding)
        selection = types.Range(start=start, end=position(doc.lines, token.end_row, token.end_column, encoding))
        value = doc.value_of(key)
        symbol = types.DocumentSymbol(
            name=key.name or "(empty key)",
            kind=types.SymbolKind.Property,
            detail=value.text if value is not None else None,
            range=types.Range(start=start, end=position(doc.lines, token.row, len(line_at(doc.lines, token.row)), encoding)),
            selection_range=selection,
            children=[],
        )
        node_for(key.path[:-1], token.row, token.column).append(symbol)
        by_path[key.path] = symbol
        if key.name in ("id", "name") and len(key.path) > 1 and isinstance(key.path[-2], int) and value:
            by_path[key.path[:-1]].name = value.text
    _extend(roots)
    return roots


def _extend(symbols: list[types.DocumentSymbol]) -> None:
    """Make each symbol's range cover its children, as the protocol requires."""
    for symbol in symbols:
        if symbol.children:
            _extend(symbol.children)
            last = symbol.children[-1].range.end
            if (last.line, last.character) > (symbol.range.end.line, symbol.range.end.character):
                symbol.range = types.Range(start=symbol.range.start, end=last)
            first = symbol.children[0].range.start
            if (first.line, first.character) < (symbol.range.start.line, symbol.range.start.character):
                symbol.range = types.Range(start=first, end=symbol.range.end)


async def document_symbols(ls: FeatureServer, params: types.DocumentSymbolParams) -> list[types.DocumentSymbol] | None:
    await ls.workspace_ready()
    doc = ls.document(params.text_document.uri)
    if doc is None or doc.too_large:
        return None
    return outline(doc, ls.encoding)


async def workspace_symbols(ls: FeatureServer, params: types.WorkspaceSymbolParams) -> list[types.WorkspaceSymbol] | None:
    core = await ls.workspace_ready()
    if core is None:
        return None
    query = params.query.lower()
    found: list[types.WorkspaceSymbol] = []

    def add(name: str, kind: types.SymbolKind, location: types.Location, container: str | None = None) -> None:
        if query in name.lower() and len(found) < MAX_WORKSPACE_SYMBOLS:
            found.append(types.WorkspaceSymbol(name=name, kind=kind, location=location, container_name=container))

    for name, entry in sorted(core.agents.items()):
        if entry.path is not None:
            add(name, types.SymbolKind.Class, types.Location(uri=path_to_uri(entry.path), range=START), "agent")
    for name, entry in sorted(core.skill_entries.items()):
        if entry.path is not None:
            add(name, types.SymbolKind.Module, types.Location(uri=path_to_uri(entry.path), range=START), "skill")
    for name, entry in sorted(core.workflows.items()):
        if entry.path is None:
            continue
        add(name, types.SymbolKind.Module, types.Location(uri=path_to_uri(entry.path), range=START), "workflow")
        for index, step in enumerate(entry.spec.steps if entry.spec else []):
            add(step.id, types.SymbolKind.Event, location_of(ls, entry.path, ("steps", index, "id")), name)
    return found
