"""Which fields name other things, and what those things are.

A value at ``("steps", 3, "agent")`` of a workflow names an agent; at ``("skills", 0)`` of an agent, a skill. One
table says so for every kind of file, and completion, go-to-definition, references and rename all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from parac.core.specs import SPEC_MODELS

if TYPE_CHECKING:
    from pydantic import BaseModel

    from parac.core.workspace import Workspace

    from .documents import Document
    from .yamltree import Scalar

Target = Literal["agent", "tool", "skill", "workflow", "model", "step", "state"]
OFFLINE_MODELS = ("echo", "fixed:", "random", "scripted:")

# (kind of file, path with list indices left out) -> what the value names
REFERENCES: dict[tuple[str, tuple[str, ...]], Target] = {
    ("agent", ("parent",)): "agent",
    ("agent", ("tools",)): "tool",
    ("agent", ("exclude_tools",)): "tool",
    ("agent", ("skills",)): "skill",
    ("agent", ("model",)): "model",
    ("agent", ("delegates",)): "agent",
    ("agent", ("handoffs",)): "agent",
    ("agent", ("reflect", "critic")): "agent",
    ("workflow", ("steps", "agent")): "agent",
    ("workflow", ("steps", "agents")): "agent",
    ("workflow", ("steps", "judge")): "agent",
    ("workflow", ("steps", "depends_on")): "step",
    ("workflow", ("steps", "tool")): "tool",
    ("workflow", ("steps", "workflow")): "workflow",
    ("workflow", ("steps", "model")): "model",
    ("workflow", ("initial",)): "state",
    ("workflow", ("states", "*", "agent")): "agent",
    ("workflow", ("states", "*", "tool")): "tool",
    ("workflow", ("states", "*", "workflow")): "workflow",
    ("workflow", ("states", "*", "model")): "model",
    ("workflow", ("states", "*", "transitions", "to")): "state",
    ("workflow", ("root", "*", "action", "agent")): "agent",
    ("workflow", ("root", "*", "action", "tool")): "tool",
    ("workflow", ("root", "*", "action", "workflow")): "workflow",
    ("workflow", ("root", "*", "action", "model")): "model",
    ("project", ("default_model",)): "model",
    ("project", ("serve", "a2a", "agents")): "agent",
    ("policy", ("allow", "tools")): "tool",
    ("policy", ("allow", "agents")): "agent",
    ("policy", ("allow", "workflows")): "workflow",
    ("policy", ("deny",)): "tool",
    ("policy", ("require_approval",)): "tool",
    ("skill", ("allowed-tools",)): "tool",
}


def model_for(kind: str) -> type[BaseModel]:
    return SPEC_MODELS[kind]


def target_at(kind: str, path: tuple[str | int, ...]) -> Target | None:
    keys = tuple(p for p in path if isinstance(p, str))
    if kind == "workflow" and keys[:1] == ("states",) and len(keys) > 2:
        keys = ("states", "*", *keys[2:])  # a state's name is the user's: the table reads it as any
    elif kind == "workflow" and keys[:1] == ("root",) and "action" in keys:  # an action at any depth of a tree
        keys = ("root", "*", *keys[len(keys) - keys[::-1].index("action") - 1 :])
    return REFERENCES.get((kind, keys))


@dataclass(frozen=True)
class Name:
    name: str
    detail: str
    path: Path | None = None


def names(core: Workspace, target: Target, doc: Document | None = None) -> list[Name]:
    """Everything a value of kind ``target`` may name, with where it comes from."""
    catalog = core.catalog
    if target == "agent":
        return [Name(n, f"agent ({core.agent_origin(n)})", core.agent_path(n)) for n in core.agent_names()]
    if target == "tool":
        tools = catalog.tools if catalog else {}
        return [Name(n, f"tool ({c.origin}): {c.value.description.splitlines()[0] if c.value.description else ''}", c.path) for n, c in sorted(tools.items())]
    if target == "skill":
        return [Name(n, f"skill ({c.origin}): {c.value.spec.description}", c.path) for n, c in sorted(core.skills.items())]
    if target == "workflow":
        out = [Name(n, "workflow (workspace)", e.path) for n, e in sorted(core.workflows.items())]
        if catalog:
            out += [Name(n, f"workflow ({c.origin})", c.path) for n, c in sorted(catalog.workflows.items()) if n not in core.workflows]
        return out
    if target == "model":
        return _models(core)
    if target == "step" and doc is not None:
        return [Name(str(value), "step", None) for value in step_ids(doc)]
    if target == "state" and doc is not None:
        return [Name(key.name, "state", None) for key in state_keys(doc)]
    return []


def _models(core: Workspace) -> list[Name]:
    seen: dict[str, str] = {m: "offline model" for m in OFFLINE_MODELS}
    for name in core.settings.providers:
        seen.setdefault(f"{name}/", "provider from parac.yaml")
    for entry in core.agents.values():
        if entry.spec is not None and entry.spec.model:
            seen.setdefault(entry.spec.model, "used in this workspace")
    if core.settings.default_model:
        seen.setdefault(core.settings.default_model, "default model (parac.yaml)")
    return [Name(n, d) for n, d in seen.items()]


def step_ids(doc: Document) -> list[str]:
    """The step ids written in a workflow document, read from its tokens so that it works while the file is broken."""
    out = []
    for key in doc.keys:
        if len(key.path) == 3 and key.path[0] == "steps" and key.path[2] == "id":
            value = doc.value_of(key)
            if value is not None and value.text:
                out.append(value.text)
    return out


def state_keys(doc: Document) -> list[Any]:
    """The keys naming a state machine's states (``states: {NAME: ...}``), read from its tokens."""
    return [key for key in doc.keys if len(key.path) == 2 and key.path[0] == "states"]


@dataclass(frozen=True)
class Reference:
    """A value under the cursor that names something: what kind of thing, its name, and where the value is."""

    target: Target
    name: str
    scalar: Scalar
    path: tuple[str | int, ...]


def reference_at(doc: Document, kind: str, row: int, column: int) -> Reference | None:
    scalar = doc.scalar_at(row, column)
    if scalar is None or scalar.is_key or not scalar.text:
        return None
    context = doc.context_at(row, min(column, scalar.end_column))
    if context is None or context.kind != "value":
        return None
    target = target_at(kind, context.path)
    if target is None and kind == "workflow" and implicit_agent_step(doc, context.path):
        target = "agent"
    return Reference(target, scalar.text, scalar, context.path) if target is not None else None


def implicit_agent_step(doc: Document, path: tuple[str | int, ...]) -> bool:
    """Whether ``path`` is the ``id`` of a step with no ``agent`` (nor another ``type``): the id names the agent."""
    if len(path) != 3 or path[0] != "steps" or path[2] != "id":
        return False
    siblings = {k.name for k in doc.keys if k.path[:2] == path[:2] and len(k.path) == 3}
    return "agent" not in siblings and "type" not in siblings


def agent_references(core: Workspace, name: str) -> list[tuple[Path, tuple[str | int, ...]]]:
    """Every place in the workspace that names agent ``name``: children's ``parent``, workflow steps, policy grants,
    the agents ``parac serve`` publishes over A2A.

    A step without ``agent`` names its agent by its ``id``; that place is reported as the id.
    """
    out: list[tuple[Path, tuple[str | int, ...]]] = []
    for entry in core.agents.values():
        if entry.path is not None and entry.spec is not None and entry.spec.parent == name:
            out.append((entry.path, ("parent",)))
    for entry in core.workflows.values():
        if entry.path is None or entry.spec is None:
            continue
        for index, step in enumerate(entry.spec.steps):
            if step.agent_name == name:
                out.append((entry.path, ("steps", index, "agent" if step.agent else "id")))
    for entry in core.policies:
        if entry.path is None or entry.spec is None:
            continue
        for index, grant in enumerate(entry.spec.allow):
            for position, agent in enumerate(grant.agents or []):
                if agent == name:
                    out.append((entry.path, ("allow", index, "agents", position)))
    settings = core.settings_entry
    if settings is not None and settings.path is not None and settings.spec is not None:
        published = settings.spec.serve.a2a.agents or []
        out.extend((settings.path, ("serve", "a2a", "agents", position)) for position, agent in enumerate(published)
                   if agent == name)
    return out
