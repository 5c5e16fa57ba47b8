"""Hover: a key's documentation (from the spec models), and for agents the resolved value with the agent that gave it.

Resolution is the core's (:meth:`parac.core.workspace.Workspace.resolve_agent`). While the file is broken, the
resolution of the last version that was valid is shown, marked as such, so hover keeps working as people type.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from parac.core import fields

from .. import vocabulary
from ..positions import position

if TYPE_CHECKING:
    from parac.core.workspace import Workspace

    from ..context import FeatureServer
    from ..documents import Document

MAX_VALUE = 400


def show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def key_hover(ls: FeatureServer, doc: Document, kind: str, path: tuple[str | int, ...]) -> str | None:
    ref = fields.field_at(vocabulary.model_for(kind), path)
    if ref is None:
        return None
    lines = [f"**{ref.key}** ({fields.type_name(ref.annotation)}{', required' if ref.required else ''})", "", ref.doc]
    if kind == "agent" and len(path) == 1 and doc.path is not None:
        agent, stale = ls.resolved(doc.path.stem)
        if agent is not None and ref.key in agent.fields:
            origin = agent.provenance.get(ref.key, "?")
            note = " (as last valid; the file has errors)" if stale else ""
            lines += ["", f"Resolved{note}: `{show(agent.fields[ref.key])}` from **{origin}**"]
            for item, giver in agent.item_provenance.get(ref.key, {}).items():
                lines.append(f"- `{item}` from **{giver}**")
    return "\n".join(lines)


def reference_hover(ls: FeatureServer, core: Workspace, ref: vocabulary.Reference) -> str | None:
    if ref.target == "agent":
        agent, stale = ls.resolved(ref.name)
        if agent is None:
            return f"unknown agent `{ref.name}`"
        lines = [f"**agent {ref.name}** ({core.agent_origin(ref.name)})", ""]
        if agent.fields.get("description"):
            lines += [str(agent.fields["description"]), ""]
        lines.append("chain: " + " → ".join(agent.chain) + (" (as last valid)" if stale else ""))
        for key in ("model", "tools", "skills"):
            lines.append(f"- {key}: `{show(agent.fields.get(key))}` from **{agent.provenance.get(key, '?')}**")
        return "\n".join(lines)
    for name in vocabulary.names(core, ref.target):
        if name.name == ref.name:
            return f"**{ref.target} {name.name}**: {name.detail}"
    return None


async def hover(ls: FeatureServer, params: types.HoverParams) -> types.Hover | None:
    spot = await ls.spot(params.text_document.uri, params.position)
    if spot is None:
        return None
    doc = spot.doc
    key = doc.key_at(spot.row, spot.column)
    text: str | None = None
    span = None
    if key is not None:
        text = key_hover(ls, doc, spot.kind, key.path)
        span = key.token
    elif (ref := vocabulary.reference_at(doc, spot.kind, spot.row, spot.column)) is not None:
        text = reference_hover(ls, spot.core, ref)
        span = ref.scalar
    if not text or span is None:
        return None
    rng = types.Range(
        start=position(doc.lines, span.row, span.column, ls.encoding),
        end=position(doc.lines, span.end_row, span.end_column, ls.encoding),
    )
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text), range=rng)
