"""Agents as tools (``delegates:``) and handoffs (``handoffs:``).

A delegate is offered to the model as a tool ``ask_NAME`` taking a ``task``: calling it runs that agent to its
answer (a run of its own, in the same run id, so its spending counts against the caller's run budget) and gives the
answer back as the tool's result. A handoff is a tool ``handoff_to_NAME``: calling it ends this agent's turn and the
other agent carries on with the whole conversation (its own system prompt, the same messages).

Both nest: a delegate may delegate. :data:`MAX_DEPTH` bounds the nesting, so two agents that name each other cannot
recurse without end; at the bound the tools are no longer offered.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_DEPTH = 3
"""How deep delegations and handoffs nest: the agent a person runs is at depth 0."""

DELEGATE_PREFIX = "ask_"
HANDOFF_PREFIX = "handoff_to_"
_WIRE_NAME = re.compile(r"[^A-Za-z0-9_-]")


@dataclass
class Routes:
    """The delegate and handoff tools offered to one run: wire name -> agent name, and their definitions."""

    delegates: dict[str, str] = field(default_factory=dict)
    handoffs: dict[str, str] = field(default_factory=dict)
    definitions: list[dict[str, Any]] = field(default_factory=list)


def wire_name(name: str) -> str:
    """A tool name as the model sees it (OpenAI names allow only letters, digits, ``_`` and ``-``)."""
    return _WIRE_NAME.sub("_", name)


def routes(fields: Mapping[str, Any], depth: int, describe: Callable[[str], str]) -> Routes:
    """The tools for the agent's ``delegates`` and ``handoffs`` (none at :data:`MAX_DEPTH`); ``describe`` gives an
    agent's description for the tool's."""
    out = Routes()
    if depth >= MAX_DEPTH:
        return out
    for name in fields.get("delegates") or []:
        wire = DELEGATE_PREFIX + wire_name(name)
        out.delegates[wire] = name
        out.definitions.append(_definition(
            wire, f"Ask agent {name} to do a task and return its answer. {describe(name)}".strip(),
            {"task": {"type": "string", "description": "What the agent should do, with everything it needs."}},
            ["task"],
        ))
    for name in fields.get("handoffs") or []:
        wire = HANDOFF_PREFIX + wire_name(name)
        out.handoffs[wire] = name
        out.definitions.append(_definition(
            wire, f"Hand the conversation over to agent {name}, who answers from here on. {describe(name)}".strip(),
            {"reason": {"type": "string", "description": "Why the other agent should take over."}},
            [],
        ))
    return out


def _definition(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }
