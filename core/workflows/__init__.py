"""Workflows: DAGs of agent, tool, approval and sub-workflow steps that run in parallel, wait for people,
survive crashes and plan their cost.

- :mod:`.engine` schedules and executes runs; :mod:`.checkpoints` is their durable state in SQLite.
- :mod:`.runs` is what the CLI and the MCP server call (:class:`WorkflowRunner`).
- :mod:`.planning` estimates a run before it starts; :mod:`.builder` defines workflows in Python.
- :mod:`.templates` is the sandboxed Jinja2 of tasks, arguments and ``when:`` conditions.
"""

from .builder import Workflow
from .engine import Engine, RunOptions, RunResult, StepContext, StepFailed, StepOutcome

__all__ = ["Engine", "RunOptions", "RunResult", "StepContext", "StepFailed", "StepOutcome", "Workflow"]
