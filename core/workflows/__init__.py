"""Workflows: DAGs of agent, tool, approval and sub-workflow steps that run in parallel, wait for people,
survive crashes and plan their cost.

- :mod:`.engine` executes runs; :mod:`.scheduler` decides what runs next (the rules of ``depends_on`` graphs, beside
  which other kinds of workflow plug in); :mod:`.checkpoints` is their durable state in SQLite.
- :mod:`.runs` is what the CLI and the MCP server call (:class:`WorkflowRunner`).
- :mod:`.planning` estimates a run before it starts; :mod:`.builder` defines workflows in Python.
- :mod:`.templates` is the sandboxed Jinja2 of tasks, arguments and ``when:`` conditions.
"""

from .builder import Workflow
from .engine import Engine, RunOptions, RunResult, StepContext, StepFailed, StepOutcome

__all__ = ["Engine", "RunOptions", "RunResult", "StepContext", "StepFailed", "StepOutcome", "Workflow"]
