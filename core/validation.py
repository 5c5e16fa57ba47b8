"""Schema errors as diagnostics: what pydantic says about a spec file, said at the key it is about.

pydantic reports an error by its key path in the data; :class:`~parac.core.sources.SourceDoc` knows where each key
path is in the file. This module joins the two, words the message for someone editing YAML (an unknown key gets a
"did you mean" and the keys allowed there, which code actions and completion offer), and leaves checks across files
to the workspace.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, ValidationError

from .diagnostics import Diagnostic, suggestion
from .sources import Loc, SourceDoc
from .specs import AGENT_REF_PATTERN, NAME_PATTERN, SKILL_NAME_PATTERN


def schema_diagnostics(model: type[BaseModel], exc: ValidationError, doc: SourceDoc) -> list[Diagnostic]:
    """One diagnostic per error pydantic found validating ``doc``'s data as ``model``."""
    out = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            allowed = _fields_at(model, loc[:-1])
            match = suggestion(key, allowed)
            out.append(
                Diagnostic.at(doc.path, doc.span(loc, key=True), "unknown-key", f'unknown key "{key}"{match}', candidates=allowed)
            )
        elif kind == "missing":
            out.append(Diagnostic.at(doc.path, doc.span(loc[:-1], key=True), "missing-key", f'missing required key "{loc[-1]}"', missing=str(loc[-1])))
        else:
            where = ".".join(str(p) for p in loc)
            prefix = f'"{where}": ' if where else ""
            out.append(Diagnostic.at(doc.path, doc.span(loc), "type", f"{prefix}{_type_message(error)}"))
    return out


def _type_message(error: Any) -> str:
    """pydantic's message, with the value shown and a hint where the value alone does not make the mistake plain."""
    kind, value = error["type"], error.get("input")
    if kind == "string_pattern_mismatch":
        rule = _PATTERN_HINTS.get(error.get("ctx", {}).get("pattern", ""), f"it must match {error.get('ctx', {}).get('pattern')}")
        message = f"{value!r} is not allowed here: {rule}"
        if isinstance(value, str) and ": " in value:
            message += "; it reads like a mapping, so a line is probably mis-indented"
        return message
    if kind == "string_type" and isinstance(value, dict) and isinstance(error["loc"][-1], int):
        return (
            f"expected a string, got a mapping ({', '.join(map(str, value))}): a line under this list item is"
            " probably mis-indented, or the item needs quotes"
        )
    if kind == "string_too_short" and value == "":
        return "an empty string is not a value here: give one or remove the key"
    return error["msg"]


_PATTERN_HINTS = {
    NAME_PATTERN: "a name starts with a letter or digit and holds only letters, digits, '_', '.' and '-'",
    AGENT_REF_PATTERN: "an agent's name (letters, digits, '_', '.', '-'; 64 at most) or a2a:URL (a remote A2A agent)",
    SKILL_NAME_PATTERN: "a skill name holds lowercase letters, digits and single hyphens",
}


def salvage(model: type[BaseModel], data: dict[str, Any], exc: ValidationError) -> tuple[BaseModel | None, set[Loc]]:
    """``data`` as ``model`` with the keys pydantic refused taken out (None when what remains is still refused),
    and the key paths taken out.

    A spec with a type error is not loaded, but the rest of it can still be checked (its tools, skills, steps and
    templates), so that one pass reports every problem instead of one wave at a time. What was taken out is
    returned so that checks skip the parts it changed (a step without its mistyped ``agnet:`` would read as naming
    the agent of its id).
    """
    data = copy.deepcopy(data)
    removed: set[Loc] = set()
    for _ in range(3):  # taking a key out can make its holder miss a required key: drop that holder next round
        items: list[tuple[list[Any], int]] = []  # refused items of lists of names, taken out after the round
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            if error["type"] != "missing" and (item := _name_item(data, loc)) is not None:
                items.append(item)
                removed.add(loc)
            else:
                removed.add(_remove(data, loc[:-1] if error["type"] == "missing" else loc))
        for holder, index in sorted(items, key=lambda item: -item[1]):  # the last first: positions stay true
            del holder[index]
        try:
            return model.model_validate(data), removed
        except ValidationError as again:
            exc = again
    return None, removed


def _name_item(data: Any, loc: Loc) -> tuple[list[Any], int] | None:
    """The list and position of ``loc`` when it is an item of a list of plain values (``tools: [file_reed, "a: b"]``):
    that item alone is taken out, and the others are still checked (see :func:`kept_places`)."""
    if not loc or not isinstance(loc[-1], int):
        return None
    holder = data
    for part in loc[:-1]:
        try:
            holder = holder[part]
        except (KeyError, IndexError, TypeError):
            return None
    index = loc[-1]
    if not isinstance(holder, list) or not 0 <= index < len(holder):
        return None
    if any(isinstance(other, dict | list) for place, other in enumerate(holder) if place != index):
        return None
    return holder, index


def kept_places(refused: set[Loc], field: str, count: int) -> list[int]:
    """Where in the file the ``count`` items of the list ``field`` a salvaged spec kept stand: :func:`salvage` took
    the refused items (``refused``) out, and the rest moved up."""
    places, place = [], 0
    while len(places) < count:
        if (field, place) not in refused:
            places.append(place)
        place += 1
    return places


def _remove(data: Any, loc: Loc) -> Loc:
    """Delete the deepest mapping key on ``loc`` (list items keep their place so positions stay true); its path."""
    while loc and not isinstance(loc[-1], str):
        loc = loc[:-1]
    holder = data
    for part in loc[:-1]:
        try:
            holder = holder[part]
        except (KeyError, IndexError, TypeError):
            return loc
    if loc and isinstance(holder, dict):
        holder.pop(loc[-1], None)
    return loc


def not_a_mapping(doc: SourceDoc, data: Any) -> Diagnostic:
    """A spec file whose top level is not a mapping (a list, a string, nothing)."""
    got = type(data).__name__ if data is not None else "nothing"
    return Diagnostic.at(doc.path, doc.span(()), "type", f"expected a mapping of keys to values, got {_yaml_type(got)}")


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed at ``loc`` in ``model``'s data, for "did you mean" and completion."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        sub = model_at(current, part) if isinstance(current, type) and issubclass(current, BaseModel) else None
        if sub is None:
            return []
        current = sub
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [info.alias or name for name, info in current.model_fields.items()]
    return []


def model_at(model: type[BaseModel], key: str) -> type[BaseModel] | None:
    """The model nested under ``key`` (through lists, dicts and optionals), if any."""
    info = model.model_fields.get(key)
    if info is None:
        info = next((i for i in model.model_fields.values() if i.alias == key), None)
    if info is None:
        return None
    return _find_model(info.annotation)


def _find_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _find_model(arg)
        if found is not None:
            return found
    return None


def _yaml_type(python_type: str) -> str:
    return {"list": "a list", "str": "a string", "int": "a number", "float": "a number", "bool": "a boolean"}.get(
        python_type, python_type
    )
