"""Completion: keys at every level, allowed values, and the names of agents, tools, skills, models and steps.

The cursor's context (a key being written in the mapping at a path, or the value at a path) comes from the
tree-sitter tokens, so completion works in a file that does not parse; what is allowed there comes from the spec
models (:mod:`parac.core.fields`) and what exists from the workspace (:mod:`parac.lsp.vocabulary`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from lsprotocol import types

from parac.core import fields

from .. import vocabulary
from ..positions import line_at, position

if TYPE_CHECKING:
    from ..context import FeatureServer
    from ..documents import Document

WORD_BEFORE = re.compile(r"[A-Za-z0-9_.:/@-]*$")
WORD_AFTER = re.compile(r"^[A-Za-z0-9_./@-]*")
ITEM_KIND: dict[str, types.CompletionItemKind] = {
    "agent": types.CompletionItemKind.Class,
    "tool": types.CompletionItemKind.Function,
    "skill": types.CompletionItemKind.Module,
    "workflow": types.CompletionItemKind.Module,
    "model": types.CompletionItemKind.Value,
    "step": types.CompletionItemKind.Reference,
    "state": types.CompletionItemKind.Reference,
}


def word_range(doc: Document, row: int, column: int, encoding: str) -> tuple[types.Range, bool]:
    """The range of the word at the cursor, which a chosen item replaces, and whether a ``:`` already follows it."""
    line = line_at(doc.lines, row)
    before = WORD_BEFORE.search(line[:column])
    start = before.start() if before else column
    after = WORD_AFTER.match(line[column:])
    end = column + (after.end() if after else 0)
    replace = types.Range(start=position(doc.lines, row, start, encoding), end=position(doc.lines, row, end, encoding))
    return replace, line[end:].lstrip().startswith(":")


def key_items(
    doc: Document, kind: str, path: tuple[str | int, ...], replace: types.Range, colon: bool = False
) -> list[types.CompletionItem]:
    model = fields.model_at(vocabulary.model_for(kind), path)
    if model is None:
        return []
    present = {k.name for k in doc.keys if k.path[:-1] == path}
    items = []
    for key, ref in fields.keys(model).items():
        if key in present:
            continue
        items.append(
            types.CompletionItem(
                label=key,
                kind=types.CompletionItemKind.Property,
                detail=fields.type_name(ref.annotation) + (" (required)" if ref.required else ""),
                documentation=types.MarkupContent(kind=types.MarkupKind.Markdown, value=ref.doc),
                sort_text=("0" if ref.required else "1") + key,
                text_edit=types.TextEdit(range=replace, new_text=key if colon else f"{key}: "),
            )
        )
    return items


def value_items(
    ls: FeatureServer, doc: Document, kind: str, path: tuple[str | int, ...], replace: types.Range
) -> list[types.CompletionItem]:
    core = ls.core
    assert core is not None
    model = vocabulary.model_for(kind)
    if fields.model_at(model, path) is not None:  # "- " starting a list item that is a mapping (a workflow step)
        return key_items(doc, kind, path, replace)
    items = []
    ref = fields.field_at(model, path)
    for choice in ref.choices() if ref else []:
        items.append(
            types.CompletionItem(label=choice, kind=types.CompletionItemKind.EnumMember, text_edit=types.TextEdit(range=replace, new_text=choice))
        )
    target = vocabulary.target_at(kind, path)
    if target is None:
        return items
    own = doc.path.stem if doc.path is not None and kind == "agent" else None
    for name in vocabulary.names(core, target, doc):
        if target == "agent" and name.name == own:
            continue
        items.append(
            types.CompletionItem(
                label=name.name,
                kind=ITEM_KIND[target],
                detail=name.detail,
                text_edit=types.TextEdit(range=replace, new_text=name.name),
            )
        )
    return items


async def completion(ls: FeatureServer, params: types.CompletionParams) -> types.CompletionList | None:
    spot = await ls.spot(params.text_document.uri, params.position)
    context = spot.doc.context_at(spot.row, spot.column) if spot else None
    if spot is None or context is None:
        return None
    replace, colon = word_range(spot.doc, spot.row, spot.column, ls.encoding)
    if context.kind == "key":
        items = key_items(spot.doc, spot.kind, context.path, replace, colon)
    else:
        items = value_items(ls, spot.doc, spot.kind, context.path, replace)
    return types.CompletionList(is_incomplete=False, items=items)
