"""Binding a run's inputs to the workflow's declared inputs: defaults, required ones, types.

Values come typed from Python and MCP, and as text from ``--input KEY=VALUE``; text is converted to the declared
type (``integer``, ``number``, ``boolean``, ``object``/``array`` as JSON), so a CLI user can pass anything an MCP
client can. Every problem is reported at once, naming the input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..diagnostics import ParacError, suggestion

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def _from_text(kind: str, text: str) -> Any:
    if kind == "integer":
        return int(text)
    if kind == "number":
        return float(text)
    if kind == "boolean":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(text)
    if kind in ("object", "array"):
        return json.loads(text)
    return text


def bind_inputs(declared: Mapping[str, Any], given: Mapping[str, Any], *, workflow: str, text: bool = False) -> dict:
    """The inputs a run sees: given values checked and converted, defaults filled in.

    ``declared`` maps names to input specs (``type``, ``required``, ``default``); ``text=True`` converts strings.
    """
    problems = []
    bound: dict[str, Any] = {}
    for name in given:
        if name not in declared:
            known = ", ".join(declared) or "none"
            problems.append(f"unknown input {name!r}{suggestion(name, declared)} (declared: {known})")
    for name, spec in declared.items():
        kind = getattr(spec, "type", "string") or "string"
        if name not in given:
            default = getattr(spec, "default", None)
            if default is not None:
                bound[name] = default
            elif getattr(spec, "required", False):
                problems.append(f"input {name!r} is required ({kind})")
            else:
                bound[name] = None
            continue
        value = given[name]
        if text and isinstance(value, str) and kind != "string":
            try:
                value = _from_text(kind, value)
            except ValueError:
                problems.append(f"input {name!r} must be {_article(kind)}, got {value!r}")
                continue
        allowed = _PY_TYPES.get(kind, (object,))
        if not isinstance(value, allowed) or (kind in ("integer", "number") and isinstance(value, bool)):
            problems.append(f"input {name!r} must be {_article(kind)}, got {type(value).__name__} {value!r}")
            continue
        bound[name] = value
    if problems:
        raise ParacError(f"workflow {workflow!r}: " + "; ".join(problems))
    return bound


def _article(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind
