"""Workflows: DAGs, state machines, behaviour trees and LLM-written plans of agent, tool, approval, human-task and
sub-workflow steps that run in parallel, wait for people, survive crashes and plan their cost.

- :mod:`.engine` executes runs; :mod:`.scheduler` decides what runs next (the rules of ``depends_on`` graphs, beside
  which :mod:`.fsm`, :mod:`.behavior_tree` and :mod:`.llm_plan` plug in); :mod:`.checkpoints` is their durable
  state in SQLite; :mod:`.human` holds human tasks (forms, escalation, answers).
- :mod:`.runs` is what the CLI and the MCP server call (:class:`WorkflowRunner`).
- :mod:`.planning` estimates a run before it starts; :mod:`.builder` defines workflows in Python.
- :mod:`.templates` is the sandboxed Jinja2 of tasks, arguments and ``when:`` conditions.
- :mod:`.graph` is the step graph: order, and the checks the workspace reports.

The names below load on first use: the workspace checks workflows through :mod:`.graph` on every ``parac validate``,
and importing this package should not start the engine for it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .builder import Workflow
    from .engine import Engine, RunOptions, RunResult, StepContext, StepFailed, StepOutcome

_HOMES = {"Workflow": ".builder"} | dict.fromkeys(
    ("Engine", "RunOptions", "RunResult", "StepContext", "StepFailed", "StepOutcome"), ".engine"
)
__all__ = ["Engine", "RunOptions", "RunResult", "StepContext", "StepFailed", "StepOutcome", "Workflow"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(home, __name__), name)
