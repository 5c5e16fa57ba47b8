"""Code actions, from the core's diagnostics at the requested range (their ``data`` carries the candidates):

- a misspelt key or name (unknown key, parent, tool, skill, agent, step, workflow): replace it with the closest
  candidate;
- a name that does not match its file: use the file's name;
- a missing required key: insert it beside its siblings;
- an unknown parent: create the parent agent's file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from parac.core import fields
from parac.core.diagnostics import did_you_mean

from .. import vocabulary
from ..documents import path_to_uri
from ..positions import position, span_range
from ..publisher import MAX_PER_FILE

if TYPE_CHECKING:
    from pathlib import Path

    from parac.core.diagnostics import Diagnostic

    from ..context import FeatureServer
    from ..documents import Document

MISSPELT = {"unknown-key", "unknown-parent", "unknown-tool", "unknown-skill", "unknown-agent", "unknown-step", "unknown-workflow", "unknown-input", "unknown-attribute"}
PLACEHOLDER = {"string": '""', "list": "[]", "mapping": "{}"}


def _overlaps(d: Diagnostic, rng: types.Range) -> bool:
    """Whether ``d`` is on a line of the range: a cursor anywhere on a line gets the fixes for that line."""
    return d.line - 1 <= rng.end.line and rng.start.line <= d.end_line - 1


def _fix(title: str, uri: str, edit_range: types.Range, text: str, diagnostic: types.Diagnostic, preferred: bool = True) -> types.CodeAction:
    return types.CodeAction(
        title=title,
        kind=types.CodeActionKind.QuickFix,
        diagnostics=[diagnostic],
        is_preferred=preferred,
        edit=types.WorkspaceEdit(changes={uri: [types.TextEdit(range=edit_range, new_text=text)]}),
    )


def _missing_key(ls: FeatureServer, doc: Document, kind: str, d: Diagnostic, lsp_d: types.Diagnostic) -> types.CodeAction | None:
    """Insert the missing key just before the first key of its mapping, with that key's indentation."""
    key = d.data.get("missing")
    if not key:
        return None
    entry = ls.core.files.get(doc.path) if ls.core and doc.path else None
    holder_loc: tuple[str | int, ...] = ()
    if entry is not None and entry.doc is not None:
        span = (d.line, d.column)
        holder_loc = next((loc for loc, s in entry.doc.value_spans.items() if (s.line, s.column) == span), ())
    siblings = [k for k in doc.keys if k.path[:-1] == holder_loc]
    if not siblings:
        return None
    first = siblings[0].token
    ref = fields.field_at(vocabulary.model_for(kind), (*holder_loc, key))
    value = PLACEHOLDER.get(fields.type_name(ref.annotation).split(" ")[0], '""') if ref else '""'
    point = position(doc.lines, first.row, first.column, ls.encoding)
    text = f"{key}: {value}\n" + " " * first.column
    return _fix(f'Add the missing key "{key}"', doc.uri, types.Range(start=point, end=point), text, lsp_d)


def _create_parent(ls: FeatureServer, parent: str, lsp_d: types.Diagnostic) -> types.CodeAction | None:
    core = ls.core
    caps = ls.client_capabilities.workspace
    edit_caps = caps.workspace_edit if caps else None
    if core is None or not (edit_caps and types.ResourceOperationKind.Create in (edit_caps.resource_operations or [])):
        return None
    target: Path = core.dir / "agents" / f"{parent}.yaml"
    uri = path_to_uri(target)
    start = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0))
    content = f"description: {parent}\nsystem_prompt: You are {parent}.\n"
    return types.CodeAction(
        title=f'Create the parent agent "{parent}"',
        kind=types.CodeActionKind.QuickFix,
        diagnostics=[lsp_d],
        edit=types.WorkspaceEdit(
            document_changes=[
                types.CreateFile(uri=uri, options=types.CreateFileOptions(ignore_if_exists=True)),
                types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=None),
                    edits=[types.TextEdit(range=start, new_text=content)],
                ),
            ]
        ),
    )


def actions_for(ls: FeatureServer, doc: Document, kind: str, rng: types.Range) -> list[types.CodeAction]:
    core = ls.core
    assert core is not None and doc.path is not None
    out: list[types.CodeAction] = []
    for d in core.diagnostics_for(doc.path)[:MAX_PER_FILE]:
        if not _overlaps(d, rng):
            continue
        where = span_range(doc.lines, d.line, d.column, d.end_line, d.end_column, ls.encoding)
        lsp_d = types.Diagnostic(range=where, message=d.message, code=d.code, source="parac")
        written = _text_in(doc, d)
        if d.code in MISSPELT and (best := did_you_mean(written, d.data.get("candidates") or [])):
            out.append(_fix(f'Change "{written}" to "{best}"', doc.uri, where, best, lsp_d))
        if d.code == "name-mismatch" and d.data.get("replace_with"):
            out.append(_fix(f'Use the file\'s name "{d.data["replace_with"]}"', doc.uri, where, d.data["replace_with"], lsp_d))
        if d.code == "missing-key" and (action := _missing_key(ls, doc, kind, d, lsp_d)):
            out.append(action)
        if d.code == "unknown-parent" and written and (action := _create_parent(ls, written, lsp_d)):
            out.append(action)
    return out


def _text_in(doc: Document, d: Diagnostic) -> str:
    if d.line != d.end_line or d.line - 1 >= len(doc.lines):
        return ""
    return doc.lines[d.line - 1][d.column - 1 : d.end_column - 1].strip().strip("\"'")


async def code_actions(ls: FeatureServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
    spot = await ls.spot(params.text_document.uri)
    return actions_for(ls, spot.doc, spot.kind, params.range) if spot else None
