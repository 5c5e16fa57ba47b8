"""Agent patterns built on the one agent loop (:mod:`parac.core.runtime`) and the one call path (:mod:`..llm`).

- :mod:`.delegation`: agents offered to an agent as tools (``delegates:``) and handoffs (``handoffs:``).
- :mod:`.reflection`: the evaluator loop (``reflect:``): answer, critique, revise.
- :mod:`.upee`: the understand → plan → execute → evaluate loop (``loop: upee``).
- :mod:`.council`: a workflow step of several agents that answer in parallel and a strategy that decides.
- :mod:`.compaction`: shrinking a long conversation past ``memory.context_tokens``.
- :mod:`.cache`: the response cache (``cache: {ttl_s}``) in the workspace database.

Every model call a pattern makes goes through :class:`~parac.core.llm.ModelClient` with the run's
:class:`~parac.core.calls.CallContext`, so governance, budgets, the ledger and the audit trail see it as any other;
every phase is an event through the runtime's event sink (``agent.phase``, ``agent.delegate``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def section(fields: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A resolved agent's mapping field (``reflect``, ``memory``, ...) as a dict: a field set in one file is its
    model, one merged over a parent chain a dict; unset is ``{}``."""
    value = fields.get(key)
    if value is None:
        return {}
    return value if isinstance(value, dict) else value.model_dump()


def phase_line(data: dict[str, Any]) -> str:
    """One ``agent.phase`` event as a line for people (``--show-thinking``, MCP progress):
    ``[agent] phase (details): text``."""
    details = ", ".join(
        f"{key} {value}" for key, value in data.items()
        if key not in ("run_id", "agent", "actor", "phase", "text") and value is not None
    )
    head = f"[{data.get('agent')}] {data.get('phase')}" + (f" ({details})" if details else "")
    text = data.get("text")
    return f"{head}: {text}" if text else head
