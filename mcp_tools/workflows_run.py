"""MCP tools for workflow runs: ``run_workflow``, ``workflow_status``, ``approve_step``, ``reject_step``,
``answer_task``, ``workflow_tasks``, ``resume_run``, ``cancel_run`` and ``plan_workflow``.

All of them go through :class:`parac.core.workflows.runs.WorkflowRunner`, as ``parac workflow …`` does, so a run
started here can be watched, answered, resumed or cancelled from the CLI and the other way round: the state is in
the workspace's database, not in this process.

``run_workflow`` returns the run id at once (the run goes on in a worker thread of the server) or, with
``wait=true``, runs inside the call: each step's end is a progress notification, cancelling the call cancels the
run, and a gate or a human task is put to the person through MCP elicitation when the client offers it (in the
2026-07-28 era as an input-required round). A client that offers no elicitation gets the run back paused at its gate
at once, with how to answer it (``approve_step`` / ``reject_step`` / ``answer_task`` from any client, or the CLI).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from typing_extensions import NotRequired, TypedDict

from parac.core.patterns import phase_line
from parac.core.providers import OFFLINE_MODELS
from parac.server.mcp.call import Call, offer
from parac.server.mcp.channel import can_elicit
from parac.server.mcp.faces import FaceError, Faces

if TYPE_CHECKING:
    from parac.core.calls import CallContext
    from parac.core.workflows.engine import Decision, RunResult
    from parac.core.workflows.runs import WorkflowRunner
    from parac.core.workspace import Workspace
    from parac.server.host import Host

log = logging.getLogger("parac.mcp.workflows")



class StepStatus(TypedDict):
    id: str
    status: str
    output: Any
    error: str | None
    attempts: int
    cost: float
    state: NotRequired[str]
    """A state machine's state this visit is (``triage`` for ``triage#2``)."""
    node: NotRequired[str]
    """A behaviour tree's node path, or an LLM plan's verdict (``plan1``: the plan or why it was refused)."""
    approval: NotRequired[dict[str, Any]]
    task: NotRequired[dict[str, Any]]
    child_run: NotRequired[str]
    reused_from: NotRequired[dict[str, Any]]
    """A fork's step taken over from the run it was forked from: that run, and the step's cost where it was done."""


class RunStatus(TypedDict):
    run_id: str
    workflow: str
    status: str
    steps: list[StepStatus]
    path: NotRequired[list[str]]
    """A state machine's states in the order the run went through them."""
    outputs: Any
    cost: float
    error: str | None
    forked_from: dict[str, Any] | None


class GateDecision(TypedDict):
    run_id: str
    step: str
    status: str
    by: str | None
    comment: str | None
    run_status: str
    resumable: bool
    resumed: bool


class HumanTask(TypedDict):
    run_id: str
    step_id: str
    status: str
    role: str
    message: str | None
    form: dict[str, Any] | None
    escalate: list[dict[str, Any]]
    level: int
    answer: Any
    actor: str | None
    assigned_at: float
    answered_at: float | None


class TaskAnswer(HumanTask):
    run_status: str
    resumable: bool
    resumed: bool


class TaskList(TypedDict):
    tasks: list[HumanTask]


class StepEstimate(TypedDict):
    id: str
    kind: str
    agent: str | None
    model: str | None
    prompt_tokens: int
    max_completion_tokens: int
    usd: float
    priced: bool
    conditional: bool


class BudgetCheck(TypedDict):
    limit: str
    limit_usd: float
    spent_usd: float
    reserved_usd: float
    planned_usd: float
    ok: bool


class PlanResult(TypedDict):
    workflow: str
    steps: list[StepEstimate]
    total_usd: float
    budgets: list[BudgetCheck]
    ok: bool


def run_status(result: RunResult) -> RunStatus:
    """A run as the tools answer it (and the task that follows the run, `parac.server.mcp.tasks`)."""
    data = result.to_json()
    data["steps"] = [{key: step[key] for key in StepStatus.__annotations__ if key in step} for step in data["steps"]]
    path = [step["state"] for step in data["steps"] if "state" in step]
    if path:
        data["path"] = path
    return RunStatus(**data)  # type: ignore[typeddict-item]


def _run_model(model: str | None, dry_run: str | None) -> str | None:
    """The model every agent step runs on: ``model`` as ``run_agent`` takes it, or ``dry_run``'s offline one."""
    if model is not None and dry_run is not None:
        raise FaceError("give model or dry_run, not both: each sets the model of every agent step")
    from parac.mcp_tools.agents_run import confined_model

    return confined_model(model) if model is not None else _dry_run(dry_run)


def _dry_run(value: str | None) -> str | None:
    """Offline models only: a client must not point a dry run at a paid model, nor at a file by path."""
    if value is None or value in OFFLINE_MODELS or value.startswith("fixed:"):
        return value
    if value == "fixed":
        return "fixed:dry run"
    raise FaceError(f"dry_run must be echo, random, fixed or fixed:TEXT, not {value!r}")


GATE_FORM = {
    "type": "object",
    "properties": {
        "approve": {"type": "boolean", "title": "Approve", "description": "Let the workflow go on?"},
        "comment": {"type": "string", "title": "Comment", "description": "Why (kept with the decision)"},
    },
    "required": ["approve"],
}


def gate_request(run_id: str, step: str, message: str) -> Any:
    """A gate put to the person at the client: an elicitation form (approve, comment)."""
    import mcp_types as types

    return types.ElicitRequest(
        params=types.ElicitRequestFormParams(
            message=f"{message}\n(workflow run {run_id}, step {step})", requested_schema=GATE_FORM
        )
    )


def _decision(call: Call, answer: Any) -> Decision | None:
    """The person's answer to a gate form; None when they dismissed it (the gate goes on waiting)."""
    from parac.core.workflows.engine import Decision

    actor = f"{call.actor} (elicitation)"
    if answer.action == "accept" and answer.content is not None:
        comment = answer.content.get("comment")
        return Decision(bool(answer.content.get("approve")), actor, str(comment) if comment else None)
    if answer.action == "decline":
        return Decision(False, actor, "declined in the client")
    return None


def _asker(call: Call) -> Any:
    """Ask the person at the client to answer a gate (MCP elicitation; in the 2026-07-28 era through an
    input-required round). Called only for clients that can be asked (see `can_elicit`)."""

    async def ask(run_id: str, step: str, message: str) -> Decision | None:
        try:
            answer = await call.ask(gate_request(run_id, step, message))
        except Exception as error:  # the client could not ask: the gate waits for approve_step instead
            log.info("elicitation for %s/%s failed (%s); waiting for approve_step", run_id, step, error)
            return None
        return _decision(call, answer)

    return ask


#: JSON Schema types an elicitation form may hold (MCP elicitation asks flat forms of primitives only).
_ELICITABLE = frozenset({"string", "number", "integer", "boolean"})


def _answerer(call: Call) -> Any:
    """Put a human task to the person at the client (MCP elicitation) when its form is one elicitation can show;
    None lets the task wait for answer_task or the CLI. The engine checks the answer against the form."""

    import mcp_types as types

    async def ask(task: Any, problem: str | None) -> tuple[Any, str] | None:
        form = task.form or {"type": "object", "properties": {}}
        properties = form.get("properties") or {}
        flat = form.get("type") == "object" and all(
            isinstance(p, dict) and p.get("type") in _ELICITABLE for p in properties.values())
        if not can_elicit(call) or not flat:
            return None
        schema = {"type": "object", "properties": properties, "required": list(form.get("required") or [])}
        message = (f"{problem}\n" if problem else "") + f"{task.message}\n(workflow run {task.run_id}, task {task.step_id}, for {task.role})"
        try:
            answer = await call.ask(
                types.ElicitRequest(params=types.ElicitRequestFormParams(message=message, requested_schema=schema))
            )
        except Exception as error:  # the client could not ask: the task waits for answer_task instead
            log.info("elicitation for %s/%s failed (%s); waiting for answer_task", task.run_id, task.step_id, error)
            return None
        if answer.action == "accept" and answer.content is not None:
            return dict(answer.content), f"{call.actor} (elicitation)"
        return None

    return ask


def _people(call: Call, asks: bool) -> dict[str, Any]:
    """How a run driven inside the call asks people (elicitation, when the client offers it); a run in the
    background, or one whose client cannot be asked, asks nobody here."""
    return {"asker": _asker(call), "answerer": _answerer(call)} if asks else {}


async def decide_gate(call: Call, run_id: str, step: str, answer: Any) -> None:
    """A task's answer to the gate its run waits at: recorded as the person's decision, and the run goes on in the
    background (a dismissed form changes nothing)."""
    decision = _decision(call, answer)
    if decision is None:
        return
    runner = await _runner(call)
    try:
        data = runner.decide(run_id, step, approved=decision.approved, comment=decision.comment)
    finally:
        runner.close()
    if data["resumable"]:
        await _resume_in_background(call, run_id)


async def cancel_run_now(call: Call, run_id: str) -> None:
    """Cancel a run a task follows (its process stops its steps; a run nobody runs is cancelled at once)."""
    runner = await _runner(call)
    try:
        runner.cancel(run_id)
    finally:
        runner.close()


def _waiting_note(status: RunStatus) -> RunStatus:
    """A run paused at a gate its client cannot answer says how to answer it elsewhere."""
    if status["status"] != "waiting_approval":
        return status
    gates = [s["id"] for s in status["steps"] if s["status"] == "waiting_approval"] or ["STEP"]
    run_id = status["run_id"]
    status["error"] = (
        f"waiting at gate {gates[0]!r}: this client cannot answer it (it offers no elicitation); approve with "
        f"the approve_step tool (run_id {run_id!r}, step {gates[0]!r}) or `parac workflow approve {run_id} "
        f"{gates[0]}`, and the run goes on in the background"
    )
    return status


async def _runner(call: Call, **options: Any) -> WorkflowRunner:
    from parac.core.workflows.runs import WorkflowRunner

    workspace = await call.workspace()
    host = await call.host()
    return WorkflowRunner(workspace, hooks=host.hooks, context=call.context, **options)


def _result(data: dict[str, Any]) -> RunResult:
    from parac.core.workflows.engine import RunResult

    return RunResult(**data)


async def _dbos_runs(call: Call) -> Any:
    """The dbos engine's client when the workspace runs on it, else None (see :func:`parac.core.engines.dbos_runs`).
    Its calls block on Postgres: they run in a thread (``call.to_thread``), so the server answers others meanwhile."""
    from parac.core.engines import dbos_runs

    return await call.to_thread(dbos_runs, await call.workspace())


async def _resume_in_background(call: Call, run_id: str) -> None:
    resume_in_background((await call.workspace()), (await call.host()), run_id, call.context)


def resume_in_background(workspace: Workspace, host: Host, run_id: str, context: CallContext) -> None:
    """Drive a run in a worker thread with its own event loop and database connection: it outlives the call."""
    import anyio

    from parac.core.workflows.runs import WorkflowRunner

    from parac.core import telemetry

    caller = telemetry.carried()  # the run's spans are children of the request that started it

    def work() -> None:
        runner = WorkflowRunner(workspace, hooks=host.hooks, context=context)
        try:
            with telemetry.resumed(caller):
                anyio.run(runner.resume, run_id)
        except Exception:
            log.exception("workflow run %s stopped with an error", run_id)
        finally:
            runner.close()

    threading.Thread(target=work, name=f"workflow {run_id}", daemon=True).start()


def resume_interrupted(workspace: Workspace, host: Host, actor: str = "mcp:start") -> list[str]:
    """Resume, in the background, every run that no live process executes; for a server's start (opt-in)."""
    from parac.core.calls import CallContext
    from parac.core.store import connect_workspace
    from parac.core.workflows import checkpoints as cp

    conn = connect_workspace(workspace.root)
    try:
        run_ids = [run.run_id for run in cp.interrupted_runs(conn)]
    finally:
        conn.close()
    for run_id in run_ids:
        resume_in_background(workspace, host, run_id, CallContext(actor=actor))
    return run_ids


async def _drive_here(call: Call, runner: WorkflowRunner, run: Any) -> RunResult:
    """Run inside the call, turning step ends, gates, council answers and agents' phases into progress
    notifications."""
    import anyio

    send, receive = anyio.create_memory_object_stream[tuple[str, dict[str, Any]]](1000)
    runner.services.on_event = runner.services.runtime.on_event = lambda name, data: offer(send, (name, data))

    def describe(name: str, data: dict[str, Any]) -> str | None:
        step = data.get("step")
        if name in ("workflow.step.end", "workflow.step.skip"):
            return f"{step}: {data.get('status')}"
        if name == "workflow.approval.requested":
            return f"{step}: waiting for approval"
        if name == "workflow.task.assigned":
            return f"{step}: waiting for {data.get('role')}"
        if name == "workflow.council.answer":
            return f"{step}: {data.get('agent')} answered"
        if name == "workflow.council.decision":
            return f"{step}: the council decided ({data.get('strategy')})"
        if name == "agent.phase":
            return phase_line(data)
        return None

    async def forward() -> None:
        sent = 0  # MCP progress must grow with every notification: one count per message
        async with receive:
            async for name, data in receive:
                message = describe(name, data)
                if message is not None:
                    sent += 1
                    await call.progress(sent, None, message)

    async with anyio.create_task_group() as group:
        group.start_soon(forward)
        try:
            return await run(runner)
        finally:
            send.close()



def run_link(result: RunStatus | GateDecision) -> list[str]:
    """The run a result is about, as the resource a client can read and subscribe to."""
    return [f"parac://runs/{result['run_id']}"]


def register(faces: Faces) -> None:
    @faces.tool(
        role="operator",
        read_only=False,
        destructive=True,  # its steps may use any tool
        idempotent=False,
        open_world=True,  # its agents call model providers
        long_running=True,
        output=RunStatus,
        title="Run a workflow",
        links=run_link,
    )
    async def run_workflow(
        call: Call,
        name: str,
        inputs: dict[str, Any] | None = None,
        wait: bool = False,
        model: str | None = None,
        dry_run: str | None = None,
        auto_approve: bool = False,
    ) -> RunStatus:
        """Start a workflow of the workspace. Returns the run id at once (then use workflow_status), or with
        wait=true runs it to the end with a progress notification per step, asking for approvals through
        elicitation when the client supports it. model runs every agent step on that model (as run_agent's
        model does); dry_run on an offline one (echo, random, fixed:TEXT), like the CLI's --dry-run; auto_approve
        answers every gate with yes. A run whose plan breaks a budget is refused."""
        from parac.core.workflows import RunOptions

        # A client that cannot be asked does not wait at a gate: the run pauses there and the answer says how to
        # approve it elsewhere (waiting would hold the call until the client gives up).
        asks = wait and can_elicit(call)
        options = RunOptions(
            model=_run_model(model, dry_run), auto_approve=auto_approve, pause_on_approval=wait and not asks
        )
        runs = await _dbos_runs(call)
        if runs is not None:  # the dbos engine: enqueue for the workers (gates are answered with approve_step)
            try:
                runner = await _runner(call)
                try:
                    run_id, spec, bound = await call.to_thread(runner.admit, name, inputs or {}, options)
                finally:
                    runner.close()
                await call.to_thread(runs.enqueue, run_id, name, spec, bound, options)
                data = await call.to_thread(runs.wait if wait else runs.status, run_id)
            finally:
                runs.close()
            return run_status(_result(data))
        runner = await _runner(call, **_people(call, asks))
        try:
            run_id = runner.create(name, inputs or {}, options, lease=wait)
            call.started(run_id)
            if wait:
                return _waiting_note(run_status(await _drive_here(call, runner, lambda r: r.execute(run_id))))
            status = run_status(runner.status(run_id))
        finally:
            runner.close()
        await _resume_in_background(call, run_id)
        return status

    @faces.tool(output=RunStatus, title="Workflow run status", links=run_link)
    async def workflow_status(call: Call, run_id: str) -> RunStatus:
        """A run's status, and each step's status, output, error, attempts and cost."""
        runs = await _dbos_runs(call)
        if runs is not None:
            try:
                return run_status(_result(await call.to_thread(runs.status, run_id)))
            finally:
                runs.close()
        runner = await _runner(call)
        try:
            return run_status(runner.status(run_id))
        finally:
            runner.close()

    async def decide(
        call: Call, run_id: str, step: str, approved: bool, comment: str | None, resume: bool = False
    ) -> GateDecision:
        runs = await _dbos_runs(call)
        if runs is not None:  # the gate's worker goes on by itself
            try:
                data = await call.to_thread(runs.decide, run_id, step, approved=approved, actor=call.context.actor,
                                            comment=comment)
            finally:
                runs.close()
            return GateDecision(**data, run_status="running", resumable=False, resumed=False)  # type: ignore[typeddict-item]
        runner = await _runner(call)
        try:
            data = runner.decide(run_id, step, approved=approved, comment=comment)
        finally:
            runner.close()
        resumed = resume and data["resumable"]  # a process running the run goes on by itself
        if resumed:
            await _resume_in_background(call, run_id)
        return GateDecision(**data, resumed=resumed)  # type: ignore[typeddict-item]

    # A gate is decided once: asking again changes nothing.
    gate = dict(role="operator", read_only=False, destructive=False, idempotent=True, output=GateDecision, links=run_link)

    @faces.tool(**gate, title="Approve a workflow step")
    async def approve_step(
        call: Call, run_id: str, step: str, comment: str | None = None, resume: bool = True
    ) -> GateDecision:
        """Approve a gate (an approval step) a run waits at; the run goes on, in the background when no process
        runs it (resumed). resume=false only records the decision (then resume_run continues)."""
        return await decide(call, run_id, step, True, comment, resume)

    @faces.tool(**gate, title="Reject a workflow step")
    async def reject_step(call: Call, run_id: str, step: str, comment: str | None = None) -> GateDecision:
        """Reject a gate a run waits at: the step fails, and so do the steps that depend on it."""
        return await decide(call, run_id, step, False, comment)

    @faces.tool(role="operator", read_only=False, destructive=False, idempotent=False, output=TaskAnswer,
                title="Answer a human task", links=run_link)
    async def answer_task(call: Call, run_id: str, step: str, data: dict[str, Any], resume: bool = True) -> TaskAnswer:
        """Answer a human task (a step of type human) a run waits at, with data that satisfies the task's form
        (see workflow_tasks). A refused answer changes nothing and the task stays open; an accepted one is the
        step's output, and the run goes on (in the background when no process runs it; resume=false only
        records the answer)."""
        runner = await _runner(call)
        try:
            done = runner.answer(run_id, step, data)
        finally:
            runner.close()
        resumed = resume and done["resumable"]
        if resumed:
            await _resume_in_background(call, run_id)
        return TaskAnswer(**done, resumed=resumed)  # type: ignore[typeddict-item]

    @faces.tool(output=TaskList, title="Open human tasks")
    async def workflow_tasks(call: Call, role: str | None = None, run_id: str | None = None) -> TaskList:
        """Open human tasks, oldest first, with the role that holds each (after any escalation now due), its
        message and the form (JSON Schema) its answer must satisfy; role or run_id narrow the list."""
        runner = await _runner(call)
        try:
            return TaskList(tasks=runner.tasks(role, run_id))  # type: ignore[typeddict-item]
        finally:
            runner.close()

    @faces.tool(
        role="operator",
        read_only=False,
        destructive=True,
        idempotent=False,
        open_world=True,
        long_running=True,
        output=RunStatus,
        title="Resume a run",
        links=run_link,
    )
    async def resume_run(call: Call, run_id: str, wait: bool = False) -> RunStatus:
        """Continue a stopped run (its process died, or it paused at a gate); finished steps are not run again.
        Returns at once unless wait=true."""
        from parac.core.workflows import checkpoints as cp

        runs = await _dbos_runs(call)
        if runs is not None:  # a cancelled run, resumed on the workers (they recover interrupted ones themselves)
            try:
                await call.to_thread(runs.resume, run_id)
                return run_status(_result(await call.to_thread(runs.wait if wait else runs.status, run_id)))
            finally:
                runs.close()
        runner = await _runner(call, **_people(call, wait and can_elicit(call)))
        try:
            if wait:
                return run_status(await _drive_here(call, runner, lambda r: r.resume(run_id)))
            run = cp.acquire_lease(runner.conn, run_id, runner.engine.owner)  # refuses a busy or finished run now
            cp.release_lease(runner.conn, run_id, runner.engine.owner)
            status = run_status(runner.status(run.run_id))
        finally:
            runner.close()
        await _resume_in_background(call, run_id)
        return status

    @faces.tool(
        role="operator",
        read_only=False,
        destructive=True,  # the steps it stops are not run again
        idempotent=True,
        output=RunStatus,
        title="Cancel a run",
        links=run_link,
    )
    async def cancel_run(call: Call, run_id: str) -> RunStatus:
        """Stop a run: the process running it stops its steps cleanly; a run nobody runs is cancelled at once."""
        runs = await _dbos_runs(call)
        if runs is not None:
            try:
                await call.to_thread(runs.cancel, run_id)
                return run_status(_result(await call.to_thread(runs.status, run_id)))
            finally:
                runs.close()
        runner = await _runner(call)
        try:
            return run_status(runner.cancel(run_id))
        finally:
            runner.close()

    @faces.tool(output=PlanResult, title="Plan a workflow run")
    async def plan_workflow(
        call: Call, name: str, inputs: dict[str, Any] | None = None, model: str | None = None,
        dry_run: str | None = None,
    ) -> PlanResult:
        """Estimate each step's tokens and dollars and check the total against every budget, calling no model."""
        runner = await _runner(call)
        try:
            plan = runner.plan(name, inputs or {}, model=_run_model(model, dry_run))
        finally:
            runner.close()
        return PlanResult(**plan.to_json())  # type: ignore[typeddict-item]
