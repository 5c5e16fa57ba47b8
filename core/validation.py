"""Schema errors as diagnostics: what pydantic says about a spec file, said at the key it is about.

pydantic reports an error by its key path in the data; :class:`~parac.core.sources.SourceDoc` knows where each key
path is in the file. This module joins the two, words the message for someone editing YAML (an unknown key gets a
"did you mean" and the keys allowed there, which code actions and completion offer), and leaves checks across files
to the workspace.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from .diagnostics import Diagnostic, suggestion
from .sources import SourceDoc


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
            out.append(Diagnostic.at(doc.path, doc.span(loc), "type", f"{prefix}{error['msg']}"))
    return out


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
