"""Agent inheritance: walking the ``parent`` chain and merging it, remembering who gave what.

The rules (design.md): the chain is merged root first; a scalar a child sets overrides, even when it equals the
default; ``tools`` and ``skills`` are unions in order (the parent's first, no duplicates); ``exclude_tools`` takes
inherited tools away; mappings merge deeply. Only fields an agent *sets* take part, which pydantic tells us through
``model_fields_set``.

This module is pure: it knows nothing of files. The workspace turns :class:`InheritanceError` into positioned
diagnostics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ParacBaseError
from .specs import AgentSpec

LIST_FIELDS = ("tools", "skills")
MAPPING_FIELDS = ("budget", "metadata")
NOT_INHERITED = ("name", "parent", "exclude_tools")
DEFAULT = "(default)"


class InheritanceError(ParacBaseError):
    """An agent cannot be resolved: ``kind`` is ``unknown-parent`` or ``cycle``; ``agents`` names everyone involved."""

    def __init__(self, kind: str, agents: list[str], message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.agents = agents


@dataclass
class ResolvedAgent:
    """An agent with its chain merged: every field, the chain, and where each value came from."""

    name: str
    fields: dict[str, Any]
    chain: list[str]
    provenance: dict[str, str]
    item_provenance: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def spec(self) -> AgentSpec:
        """The merged values as a typed spec (no validation: every part was validated when it was loaded)."""
        return AgentSpec.model_construct(name=self.name, **self.fields)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            **self.fields,
            "chain": self.chain,
            "provenance": self.provenance,
            "item_provenance": self.item_provenance,
        }


def chain_of(name: str, agents: Mapping[str, AgentSpec]) -> list[str]:
    """The agent, its parent, ... the root; raises :class:`InheritanceError` on an unknown parent or a cycle."""
    if name not in agents:
        raise InheritanceError("unknown-agent", [name], f'unknown agent "{name}"')
    chain = [name]
    seen = {name: 0}
    current = agents[name]
    while current.parent is not None:
        parent = current.parent
        if parent in seen:
            cycle = chain[seen[parent] :]
            raise InheritanceError("cycle", cycle, "inheritance cycle: " + " -> ".join([*cycle, parent]))
        if parent not in agents:
            raise InheritanceError(
                "unknown-parent", [chain[-1], parent], f'agent "{chain[-1]}" names unknown parent "{parent}"'
            )
        seen[parent] = len(chain)
        chain.append(parent)
        current = agents[parent]
    return chain


def resolve(name: str, agents: Mapping[str, AgentSpec], defaults: Mapping[str, Any] | None = None) -> ResolvedAgent:
    """Merge ``name``'s chain. ``defaults`` (e.g. the project's default model) fill fields nobody set."""
    chain = chain_of(name, agents)
    fields: dict[str, Any] = {}
    provenance: dict[str, str] = {}
    items: dict[str, dict[str, str]] = {key: {} for key in LIST_FIELDS}
    for agent_name in reversed(chain):
        spec = agents[agent_name]
        for key in spec.model_fields_set:
            if key in NOT_INHERITED:
                continue
            value = getattr(spec, key)
            if key in LIST_FIELDS:
                merged = fields.setdefault(key, [])
                for item in value:
                    if item not in items[key]:
                        merged.append(item)
                        items[key][item] = agent_name
            elif key in MAPPING_FIELDS and value is not None:
                data = value.model_dump(exclude_unset=True) if hasattr(value, "model_dump") else value
                fields[key] = deep_merge(fields.get(key) or {}, data)
            else:
                fields[key] = value
            provenance[key] = agent_name
        for excluded in spec.exclude_tools:
            if excluded in items["tools"]:
                fields["tools"].remove(excluded)
                del items["tools"][excluded]
                provenance["tools"] = agent_name
    for key, info in AgentSpec.model_fields.items():
        if key in NOT_INHERITED or key in fields:
            continue
        if defaults and defaults.get(key) is not None:
            fields[key] = defaults[key]
            provenance[key] = "parac.yaml"
        else:
            fields[key] = info.get_default(call_default_factory=True)  # a copy: defaults are shared
            provenance[key] = DEFAULT
    order = [key for key in AgentSpec.model_fields if key in fields]
    return ResolvedAgent(
        name,
        {key: fields[key] for key in order},
        chain,
        {key: provenance[key] for key in order},
        {key: value for key, value in items.items() if value},
    )


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` merged into a copy of ``base``: nested mappings merge, anything else replaces."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out
