"""Where a key path leads in the spec models: the field, its documentation, the values it allows.

The language server completes keys and enum values and shows field documentation from here, so editors and
``parac schema`` describe the same format the validator enforces. Paths are the ones :mod:`parac.core.sources`
records (``("steps", 2, "retry", "backoff")``): strings name mapping keys, integers list items.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel
from pydantic.fields import FieldInfo

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class FieldRef:
    """One field of a spec model, reached by a key path."""

    model: type[BaseModel]
    key: str  # as written in files (the alias when there is one)
    info: FieldInfo

    @property
    def doc(self) -> str:
        return self.info.description or ""

    @property
    def required(self) -> bool:
        return self.info.is_required()

    @property
    def annotation(self) -> Any:
        return self.info.annotation

    def choices(self) -> list[str]:
        """The values a scalar field allows (Literal members, booleans), in declaration order."""
        return choices(self.annotation)


def keys(model: type[BaseModel]) -> dict[str, FieldRef]:
    """The keys a mapping of ``model`` may hold, as written in files."""
    return {info.alias or name: FieldRef(model, info.alias or name, info) for name, info in model.model_fields.items()}


def field_at(model: type[BaseModel], loc: Loc) -> FieldRef | None:
    """The field the last key of ``loc`` names (a list item's path names its list), or None off the models."""
    while loc and isinstance(loc[-1], int):
        loc = loc[:-1]
    if not loc:
        return None
    holder = model_at(model, loc[:-1])
    return keys(holder).get(str(loc[-1])) if holder is not None else None


def model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model whose keys a mapping at ``loc`` holds (``()`` is ``model`` itself), or None."""
    target = _walk(model, loc)
    return target if isinstance(target, type) and issubclass(target, BaseModel) else None


def _walk(model: type[BaseModel], loc: Loc) -> Any:
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            if not isinstance(part, str) or part not in keys(current):
                return None
            current = keys(current)[part].annotation
            continue
        container = _container(current)
        args = typing.get_args(current)
        if container is list and isinstance(part, int) and args:
            current = args[0]
        elif container is dict and isinstance(part, str) and len(args) == 2:
            current = args[1]
        else:
            return None
    return _unwrap(current)


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``Optional`` down to the type that describes the data."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            structured = [a for a in options if _container(a) or (isinstance(a, type) and issubclass(a, BaseModel))]
            annotation = (structured or options)[0]
        else:
            return annotation


def _container(annotation: Any) -> type | None:
    origin = typing.get_origin(_unwrap(annotation))
    return origin if origin in (list, dict) else None


def choices(annotation: Any) -> list[str]:
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) is Literal:
        return [str(value) for value in typing.get_args(annotation)]
    if annotation is bool:
        return ["true", "false"]
    return []


def type_name(annotation: Any) -> str:
    """A short, human name for a field's type, for hover."""
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) is Literal:
        return " | ".join(repr(v) for v in typing.get_args(annotation))
    container = _container(annotation)
    args = typing.get_args(annotation)
    if container is list and args:
        return f"list of {type_name(args[0])}"
    if container is dict and len(args) == 2:
        return f"mapping of {type_name(args[1])}"
    if isinstance(annotation, type):
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(
            annotation.__name__, annotation.__name__
        )
    return "any"
