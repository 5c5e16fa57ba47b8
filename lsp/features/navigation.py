"""Go to definition and find references.

Definition: a parent or a step's agent goes to the agent's file, a skill to its SKILL.md, a workflow to its file, a
tool to the line its plugin defines it on, a step id in ``depends_on`` to that step; an agent's key goes to the agent
of its chain that gives the value. References: the agents that inherit from an agent, the workflow steps that run it,
the policies that grant it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from .. import vocabulary
from ..documents import path_to_uri
from ..positions import position, span_range

if TYPE_CHECKING:
    from parac.core.workspace import Workspace

    from ..context import FeatureServer
    from ..documents import Document

START = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0))


def location_of(ls: FeatureServer, path: Path, loc: tuple[str | int, ...] | None = None, *, key: bool = False) -> types.Location:
    """Where ``loc`` stands in the workspace file ``path`` (its start when ``loc`` is None or unknown)."""
    core = ls.core
    entry = core.files.get(path) if core else None
    doc = ls.text_of(path)
    if loc is None or entry is None or entry.doc is None or doc is None:
        return types.Location(uri=path_to_uri(path), range=START)
    span = entry.doc.span(loc, key=key)
    rng = span_range(doc.lines, span.line, span.column, span.end_line, span.end_column, ls.encoding)
    return types.Location(uri=path_to_uri(path), range=rng)


def _tool_location(core: Workspace, name: str) -> types.Location | None:
    contribution = core.catalog.tools.get(name) if core.catalog else None
    source = contribution.value.source if contribution else None
    if not source:
        return None
    file, _, line = source.rpartition(":")
    row = max(int(line) - 1, 0) if line.isdigit() else 0
    if not file:
        file, row = source, 0
    point = types.Position(line=row, character=0)
    return types.Location(uri=path_to_uri(Path(file)), range=types.Range(start=point, end=point))


def definition_of(ls: FeatureServer, doc: Document, kind: str, row: int, column: int) -> list[types.Location]:
    core = ls.core
    assert core is not None
    key = doc.key_at(row, column)
    if key is not None:
        if kind == "agent" and len(key.path) == 1 and doc.path is not None:
            agent, _ = ls.resolved(doc.path.stem)
            giver = agent.provenance.get(key.name) if agent else None
            where = core.agent_path(giver) if giver else None
            return [location_of(ls, where, (key.name,), key=True)] if where else []
        return []
    ref = vocabulary.reference_at(doc, kind, row, column)
    if ref is None:
        return []
    if ref.target == "agent":
        where = core.agent_path(ref.name)
    elif ref.target == "skill":
        skill = core.skills.get(ref.name)
        where = skill.path if skill else None
    elif ref.target == "workflow":
        entry = core.workflows.get(ref.name)
        contribution = core.catalog.workflows.get(ref.name) if core.catalog else None
        where = entry.path if entry else contribution.path if contribution else None
    elif ref.target == "tool":
        found = _tool_location(core, ref.name)
        return [found] if found else []
    elif ref.target == "step":
        ids = [k for k in doc.keys if len(k.path) == 3 and k.path[2] == "id" and (v := doc.value_of(k)) is not None and v.text == ref.name]
        return _key_locations(ls, doc, ids)
    elif ref.target == "state":
        return _key_locations(ls, doc, [k for k in vocabulary.state_keys(doc) if k.name == ref.name])
    else:
        where = None
    return [location_of(ls, where)] if where else []


def _key_locations(ls: FeatureServer, doc: Document, keys: list[Any]) -> list[types.Location]:
    """Where ``keys`` of ``doc`` are written (a step's id, a state's name): definitions within the file."""
    return [
        types.Location(
            uri=doc.uri,
            range=types.Range(
                start=position(doc.lines, k.token.row, k.token.column, ls.encoding),
                end=position(doc.lines, k.token.end_row, k.token.end_column, ls.encoding),
            ),
        )
        for k in keys
    ]


def agent_under_cursor(ls: FeatureServer, doc: Document, kind: str, row: int, column: int) -> str | None:
    """The agent a request is about: the one named under the cursor, else the agent file's own."""
    ref = vocabulary.reference_at(doc, kind, row, column)
    if ref is not None and ref.target == "agent":
        return ref.name
    if kind == "agent" and doc.path is not None:
        return doc.path.stem
    return None


async def definition(ls: FeatureServer, params: types.DefinitionParams) -> list[types.Location] | None:
    spot = await ls.spot(params.text_document.uri, params.position)
    return definition_of(ls, spot.doc, spot.kind, spot.row, spot.column) if spot else None


async def references(ls: FeatureServer, params: types.ReferenceParams) -> list[types.Location] | None:
    spot = await ls.spot(params.text_document.uri, params.position)
    name = agent_under_cursor(ls, spot.doc, spot.kind, spot.row, spot.column) if spot else None
    if spot is None or name is None:
        return None
    found = [location_of(ls, where, loc) for where, loc in vocabulary.agent_references(spot.core, name)]
    if params.context.include_declaration and (own := spot.core.agent_path(name)) is not None:
        found.insert(0, location_of(ls, own))
    return found
