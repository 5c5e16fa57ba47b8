"""Rename an agent across the workspace: its file, its ``name:``, and every place that names it.

The edit renames the file (so the client needs ``resourceOperations: rename``; without it the request is refused,
since a renamed agent whose file kept the old name would not validate). A step that runs an agent through its id
(no ``agent:`` key) keeps its id, which other steps and templates refer to, and gets an explicit ``agent:``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidRequest

from parac.core.specs import NAME_PATTERN

from .. import vocabulary
from ..documents import path_to_uri
from ..positions import position
from .navigation import location_of

if TYPE_CHECKING:
    from ..context import FeatureServer, Spot


def _edits_for(ls: FeatureServer, name: str, new: str) -> dict[Path, list[types.TextEdit]]:
    core = ls.core
    assert core is not None
    edits: dict[Path, list[types.TextEdit]] = {}
    for path, loc in vocabulary.agent_references(core, name):
        where = location_of(ls, path, loc)
        if loc[-1] == "id":  # implicit agent: add "agent: NEW" under the id, at the id's indentation
            start = where.range.start
            doc = ls.text_of(path)
            line = doc.lines[start.line] if doc is not None else ""
            indent = len(line) - len(line.lstrip(" -"))
            point = types.Position(line=start.line + 1, character=0)
            edit = types.TextEdit(range=types.Range(start=point, end=point), new_text=" " * indent + f"agent: {new}\n")
        else:
            edit = types.TextEdit(range=where.range, new_text=new)
        edits.setdefault(path, []).append(edit)
    own = core.agent_path(name)
    entry = core.files.get(own) if own else None
    if own is not None and entry is not None and entry.spec is not None and entry.spec.name is not None:
        edits.setdefault(own, []).append(types.TextEdit(range=location_of(ls, own, ("name",)).range, new_text=new))
    return edits


def _version(ls: FeatureServer, path: Path) -> int | None:
    doc = ls.documents.by_path(path)
    return doc.version if doc is not None else None


def rename_edit(ls: FeatureServer, name: str, new: str) -> types.WorkspaceEdit:
    core = ls.core
    assert core is not None
    if not re.match(NAME_PATTERN, new) or len(new) > 64:
        raise JsonRpcInvalidRequest(f'"{new}" is not a valid agent name (letters, digits, ".", "_" and "-")')
    if new in core.agent_names():
        raise JsonRpcInvalidRequest(f'an agent named "{new}" already exists')
    own = core.agent_path(name)
    if own is None or core.agent_origin(name) != "workspace":
        raise JsonRpcInvalidRequest(f'agent "{name}" is not defined in this workspace and cannot be renamed here')
    caps = ls.client_capabilities.workspace
    edit_caps = caps.workspace_edit if caps else None
    if not (edit_caps and types.ResourceOperationKind.Rename in (edit_caps.resource_operations or [])):
        raise JsonRpcInvalidRequest("renaming an agent renames its file, which this editor does not support")
    changes: list[types.TextDocumentEdit | types.RenameFile] = [
        types.TextDocumentEdit(
            text_document=types.OptionalVersionedTextDocumentIdentifier(uri=path_to_uri(path), version=_version(ls, path)),
            edits=edits,
        )
        for path, edits in _edits_for(ls, name, new).items()
    ]
    target = own.with_name(new + own.suffix)
    changes.append(types.RenameFile(old_uri=path_to_uri(own), new_uri=path_to_uri(target)))
    return types.WorkspaceEdit(document_changes=changes)


def _name_at(ls: FeatureServer, spot: Spot) -> tuple[str, types.Range] | None:
    """The agent name under the cursor and its range: a value naming an agent, or an agent file's ``name:``."""
    doc, kind, row, column = spot.doc, spot.kind, spot.row, spot.column
    ref = vocabulary.reference_at(doc, kind, row, column)
    if ref is not None and ref.target == "agent":
        name, scalar = ref.name, ref.scalar
    else:
        scalar = doc.scalar_at(row, column)
        context = doc.context_at(row, column)
        if kind != "agent" or doc.path is None or scalar is None or scalar.is_key or context is None or context.path != ("name",):
            return None
        name = doc.path.stem
    start = position(doc.lines, scalar.row, scalar.column, ls.encoding)
    end = position(doc.lines, scalar.end_row, scalar.end_column, ls.encoding)
    return name, types.Range(start=start, end=end)


async def prepare(ls: FeatureServer, params: types.PrepareRenameParams) -> types.PrepareRenamePlaceholder | None:
    spot = await ls.spot(params.text_document.uri, params.position)
    found = _name_at(ls, spot) if spot else None
    if found is None:
        return None
    return types.PrepareRenamePlaceholder(range=found[1], placeholder=found[0])


async def rename(ls: FeatureServer, params: types.RenameParams) -> types.WorkspaceEdit | None:
    spot = await ls.spot(params.text_document.uri, params.position)
    found = _name_at(ls, spot) if spot else None
    if found is None:
        raise JsonRpcInvalidRequest("put the cursor on an agent's name to rename it")
    return rename_edit(ls, found[0], params.new_name)
