"""The engine's view of a workspace: agents run through the runtime, tools through the governance hooks.

The engine knows steps and checkpoints; this adapter knows where agents, tools and workflows come from. Every
agent step is an ordinary :meth:`parac.core.runtime.Runtime.run` tied to the workflow run (ledger rows, budgets
and audit entries carry the run id and the step), and every tool step goes through
:func:`parac.core.tools.invoke_tool` with the step's idempotency key in the call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..calls import NO_HOOKS, CallContext, CallDenied, CallHooks
from ..diagnostics import ParacError, suggestion
from ..specs import WorkflowSpec
from ..tools import ToolError, invoke_tool
from .engine import StepContext, StepFailed, StepOutcome

if TYPE_CHECKING:
    from ..providers import Provider
    from ..runtime import Runtime
    from ..workspace import Workspace

EventSink = Callable[[str, dict[str, Any]], None]

A2A_TOOL = "a2a_send"
"""The tool a step's remote agent (``agent: a2a:URL``) is called through."""

#: Agent run statuses that a retry cannot change: a refusal by a policy or budget, a model that never stops.
_FINAL_AGENT_STATUSES = frozenset({"denied", "max_iterations"})


def workflow_spec(workspace: Workspace, name: str) -> WorkflowSpec:
    """A workflow of the workspace (or of a plugin), refusing one whose file has errors."""
    entry = workspace.workflows.get(name)
    if entry is not None:
        errors = [d for d in workspace.diagnostics_for(entry.path) if d.severity == "error"] if entry.path else []
        if entry.spec is None or errors:
            problems = errors or entry.problems
            first = problems[0].format() if problems else "it does not load"
            # the first problem is in the message (all an MCP client sees); the CLI prints the others below it
            raise ParacError(f'workflow "{name}" has errors; fix them first ({first})', problems[1:])
        return entry.spec
    catalog = workspace.catalog
    if catalog is not None and name in catalog.workflows:
        return catalog.workflows[name].value
    known = sorted(set(workspace.workflows) | (set(catalog.workflows) if catalog else set()))
    raise ParacError(f'unknown workflow "{name}"{suggestion(name, known)} (workflows: {", ".join(known) or "none"})')


class WorkspaceServices:
    """:class:`~parac.core.workflows.engine.Services` over a workspace, its runtime and the host's hooks."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        hooks: CallHooks = NO_HOOKS,
        on_event: EventSink | None = None,
        providers: Sequence[Provider] = (),
        runtime: Runtime | None = None,
        context: CallContext | None = None,
    ) -> None:
        from ..runtime import Runtime  # the runtime pulls in providers and costs; only runs need it

        self.workspace = workspace
        self.hooks = hooks
        self.on_event = on_event
        self.context = context or CallContext()  # the caller's, from the face that started or resumed the run
        self.runtime = runtime or Runtime(workspace, hooks=hooks, on_event=on_event, providers=providers)

    @property
    def conn(self):
        return self.runtime.conn

    def close(self) -> None:
        self.runtime.close()

    def _at(self, ctx: StepContext, run_id: str) -> CallContext:
        """The caller's context at one step of a run (an agent step's model calls count against ``run_id``'s
        budget: the parent run's, for a sub-workflow)."""
        return replace(self.context, workflow=ctx.workflow, run_id=run_id, step=ctx.step_id)

    async def run_agent(self, ctx: StepContext, step: Any, task: str) -> StepOutcome:
        if step.remote_agent is not None:
            return await self.send_remote(ctx, step.remote_agent, task)
        name = step.agent_name
        result = await self.runtime.run(
            name,
            task,
            model=ctx.model or step.model,
            context=self._at(ctx, ctx.budget_run_id or ctx.run_id),
            run_limit_usd=ctx.budget_usd,
        )
        if not result.ok:
            raise StepFailed(
                f'agent "{name}" {result.status}: {result.error}',
                retryable=result.status not in _FINAL_AGENT_STATUSES,
                cost=result.cost_usd,
            )
        return StepOutcome(result.output, result.cost_usd)

    async def run_council(self, ctx: StepContext, step: Any, task: str) -> StepOutcome:
        """A council step (:mod:`parac.core.patterns.council`): its outcome, every answer and the decision, is the
        step's output, checkpointed like any other."""
        from ..patterns.council import Council, CouncilFailed, decide

        council = Council(step.agents, step.strategy, task, step.rounds, step.judge, ctx.model or step.model,
                          ctx.budget_usd)

        def event(name: str, data: dict[str, Any]) -> None:
            self.event(f"workflow.{name}", {"run_id": ctx.run_id, "step": ctx.step_id, **data})

        try:
            outcome, cost = await decide(self.runtime, council, self._at(ctx, ctx.budget_run_id or ctx.run_id), event)
        except CouncilFailed as exc:
            raise StepFailed(str(exc), retryable=exc.retryable, cost=exc.cost) from exc
        return StepOutcome(outcome, cost)

    async def send_remote(self, ctx: StepContext, url: str, task: str) -> StepOutcome:
        """``agent: a2a:URL``: the task goes to the remote agent as a call of the tool :data:`A2A_TOOL`, which a
        plugin provides (the core speaks no A2A), so the policies decide and the audit records it as any tool call."""
        catalog = self.workspace.catalog
        if catalog is None or A2A_TOOL not in catalog.tools:
            raise StepFailed(f'agent "a2a:{url}" needs the tool "{A2A_TOOL}", which no plugin provides (install parac[a2a])',
                             retryable=False)
        outcome = await self.call_tool(ctx, A2A_TOOL, {"url": url, "message": task})
        return StepOutcome(outcome.output["output"] if isinstance(outcome.output, dict) else outcome.output)

    async def call_tool(self, ctx: StepContext, tool: str, args: dict) -> StepOutcome:
        catalog = self.workspace.catalog
        tools = catalog.tools if catalog is not None else {}
        if tool not in tools:
            raise StepFailed(f'unknown tool "{tool}"{suggestion(tool, tools)}', retryable=False)
        call = self._at(ctx, ctx.run_id).tool_call(
            tool, args, idempotency_key=ctx.idempotency_key, approved_by=ctx.approved_by
        )
        target = tools[tool].value
        try:
            target.check_arguments(args)
        except ToolError as exc:  # arguments that fail the schema would fail every attempt
            raise StepFailed(str(exc), retryable=False) from exc
        try:
            value = await invoke_tool(target, call, self.hooks, workspace=self.workspace)
        except ToolError as exc:
            raise StepFailed(str(exc)) from exc
        except CallDenied as exc:  # a policy said no: asking again gets the same answer
            raise StepFailed(str(exc), retryable=False) from exc
        return StepOutcome(value)

    def needs_approval(self, tool: str, workflow: str) -> bool:
        """Whether each call of the tool needs a person: the tool says so, or a policy's ``require_approval``."""
        from ..policy import load_policies

        catalog = self.workspace.catalog
        contribution = catalog.tools.get(tool) if catalog is not None else None
        if contribution is not None and contribution.value.needs_approval:
            return True
        return load_policies(self.workspace.root).decide(tool, workflow=workflow).approval_required

    def workflow_spec(self, name: str) -> WorkflowSpec:
        return workflow_spec(self.workspace, name)

    def parse_definition(self, definition: dict) -> WorkflowSpec:
        return WorkflowSpec.model_validate(definition)

    def event(self, name: str, data: dict) -> None:
        if "actor" not in data and "by" not in data:  # the trail names who started the run, not the process owner
            data = {**data, "actor": self.context.actor}
        self.hooks.event(name, data)
        if self.on_event is not None:
            self.on_event(name, data)
        if name == "workflow.run.end":
            self._remember(data["run_id"])

    def _remember(self, run_id: str) -> None:
        """Leave the finished run's episode in memory (``workflow:NAME``) unless ``parac.yaml`` says not to."""
        if not self.workspace.settings.memory.episodes:
            return
        from ..memory import open_memory
        from ..memory.episodes import workflow_episode
        from . import checkpoints as cp
        from .engine import summarize

        run = cp.get_run(self.conn, run_id)
        workflow_episode(open_memory(self.workspace, self.conn, sync=False), summarize(self.conn, run_id).to_json(),
                         run.inputs)
