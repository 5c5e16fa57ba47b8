"""Workflow runs for the faces: what ``parac workflow …`` and the MCP tools call, and nothing they must repeat.

A :class:`WorkflowRunner` binds the engine to one workspace, its runtime and the host's hooks. Starting a run plans
it first (the same :func:`~parac.core.workflows.planning.plan_workflow` that ``--plan`` prints) and refuses a run
that would break a budget; answering a gate, cancelling and resuming check the run's state in one transaction, so a
wrong request changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..calls import NO_HOOKS, CallContext, CallHooks
from ..diagnostics import ParacError
from . import checkpoints as cp
from .engine import Answerer, Asker, Engine, RunOptions, RunResult, approval_event, summarize
from .planning import Plan, plan_workflow
from .services import EventSink, WorkspaceServices

if TYPE_CHECKING:
    from ..providers import Provider
    from ..workspace import Workspace


class BudgetRefused(ParacError):
    """The plan of a run breaks a budget; nothing was started."""

    def __init__(self, message: str, plan: Plan) -> None:
        super().__init__(message)
        self.plan = plan


class WorkflowRunner:
    """Start, plan, resume, answer, cancel and inspect the workflow runs of one workspace."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        hooks: CallHooks = NO_HOOKS,
        on_event: EventSink | None = None,
        asker: Asker | None = None,
        answerer: Answerer | None = None,
        providers: Sequence[Provider] = (),
        context: CallContext | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``context``: the caller's (its actor starts, answers and cancels runs, and makes their calls).
        ``clock``: the time human tasks are assigned, escalated and answered at (tests inject one)."""
        self.workspace = workspace
        self.context = context or CallContext()
        self.services = WorkspaceServices(
            workspace, hooks=hooks, on_event=on_event, providers=providers, context=self.context
        )
        self.engine = Engine(self.services.conn, self.services, asker=asker, answerer=answerer, clock=clock)

    @property
    def conn(self):
        return self.services.conn

    def close(self) -> None:
        self.services.close()

    def __enter__(self) -> WorkflowRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def names(self) -> list[str]:
        catalog = self.workspace.catalog
        return sorted(set(self.workspace.workflows) | (set(catalog.workflows) if catalog else set()))

    def plan(self, name: str, inputs: dict[str, Any], *, model: str | None = None, text_inputs: bool = False) -> Plan:
        spec = self.services.workflow_spec(name)
        bound = self.engine.prepare(name, spec, inputs, text_inputs=text_inputs)
        return plan_workflow(self.services, name, spec, bound, model=model)

    def create(
        self,
        name: str,
        inputs: dict[str, Any],
        options: RunOptions | None = None,
        *,
        text_inputs: bool = False,
        lease: bool = True,
    ) -> str:
        """Check, plan and record a new run; returns its id. Then :meth:`execute` it here, or, created with
        ``lease=False``, :meth:`resume` it from another runner."""
        options = options or RunOptions()
        run_id, spec, bound = self.admit(name, inputs, options, text_inputs=text_inputs)
        return self.engine.create(name, spec, bound, options, run_id=run_id, lease=lease)

    def admit(
        self, name: str, inputs: dict[str, Any], options: RunOptions, *, text_inputs: bool = False
    ) -> tuple[str, Any, dict[str, Any]]:
        """Check and plan a new run, refusing one whose plan breaks a budget: its id, spec and bound inputs, for
        this engine to record or for the dbos engine to enqueue (:mod:`parac.core.engines.dbos`)."""
        spec = self.services.workflow_spec(name)
        bound = self.engine.prepare(name, spec, inputs, text_inputs=text_inputs)
        run_id = cp.new_run_id()
        plan = plan_workflow(self.services, name, spec, bound, model=options.model, run_id=run_id)
        refusal = plan.refusal()
        if refusal is not None:
            self.services.event("workflow.run.refused", {"workflow": name, "reason": refusal})
            raise BudgetRefused(refusal, plan)
        return run_id, spec, bound

    async def execute(self, run_id: str) -> RunResult:
        return await self.engine.execute(run_id)

    async def run(
        self, name: str, inputs: dict[str, Any], options: RunOptions | None = None, *, text_inputs: bool = False
    ) -> RunResult:
        return await self.execute(self.create(name, inputs, options, text_inputs=text_inputs))

    async def resume(self, run_id: str, options: RunOptions | None = None) -> RunResult:
        return await self.engine.resume(run_id, options)

    def status(self, run_id: str) -> RunResult:
        return summarize(self.conn, run_id)

    def runs(self, *, limit: int = 50, workflow: str | None = None) -> list[dict[str, Any]]:
        return self.runs_page(limit=limit, where=cp.RunFilter(workflow=workflow))[0]

    def runs_page(
        self, *, limit: int = 50, where: cp.RunFilter | None = None, cursor: str | None = None, secret: bytes = b""
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of runs, newest first, and the cursor of the next page (see :func:`checkpoints.runs_page`)."""
        runs, next_cursor = cp.runs_page(self.conn, limit=limit, cursor=cursor, secret=secret, where=where)
        return [run.listed() for run in runs], next_cursor

    def waiting(self, run_id: str | None = None) -> list[dict[str, Any]]:
        return cp.waiting_approvals(self.conn, run_id)

    def decide(self, run_id: str, step: str, *, approved: bool, comment: str | None = None) -> dict[str, Any]:
        """Answer a waiting gate (of the run or of one of its sub-workflow runs)."""
        target = self._gate_owner(run_id, step)
        approval = cp.decide(self.conn, target, step, approved=approved, actor=self.context.actor, comment=comment)
        data = approval_event(target, step, approval)
        self.services.event("workflow.approval.decided", data)
        run = cp.get_run(self.conn, run_id)
        data["run_status"] = run.status
        data["resumable"] = not run.lease_alive()
        return data

    def _gate_owner(self, run_id: str, step: str) -> str:
        """``approve RUN STEP`` also reaches a gate inside a sub-workflow of RUN, when only one such gate exists."""
        cp.get_run(self.conn, run_id)
        if cp.get_approval(self.conn, run_id, step) is not None:
            return run_id
        nested = [row["run_id"] for row in cp.waiting_approvals(self.conn, run_id) if row["step_id"] == step]
        return nested[0] if len(nested) == 1 else run_id

    def tasks(self, role: str | None = None, run_id: str | None = None) -> list[dict[str, Any]]:
        """Open human tasks (of a role, of a run), oldest first, each escalated as far as its age says first."""
        from .human import open_tasks, report_escalations

        report_escalations(self.engine, self.conn, run_id)
        return [task.to_json() for task in open_tasks(self.conn, role=role, run_id=run_id)]

    def answer(self, run_id: str, step: str, data: Any) -> dict[str, Any]:
        """Answer a human task as this runner's actor: checked against its form (a refusal changes nothing, the
        task stays open); then, like :meth:`decide`, says whether the run can be resumed here. The REST and MCP
        faces call this."""
        from .human import NoSuchTask, get_task, report_escalations, respond

        report_escalations(self.engine, self.conn, run_id)
        task = get_task(self.conn, run_id, step)
        if task is None:
            cp.get_run(self.conn, run_id)  # an unknown run says so
            raise NoSuchTask(f"run {run_id} has no human task {step!r}")
        done = respond(self.engine, self.conn, task, data, actor=self.context.actor)
        run = cp.get_run(self.conn, run_id)
        return {**done.to_json(), "run_status": run.status, "resumable": not run.lease_alive()}

    def cancel(self, run_id: str) -> RunResult:
        run = cp.request_cancel(self.conn, run_id)
        self.services.event(
            "workflow.run.cancel_requested", {"run_id": run_id, "by": self.context.actor, "status": run.status}
        )
        return summarize(self.conn, run_id)
