"""Running a workflow: the run's lifecycle, retries, timeouts, approvals, sub-workflows, councils, cancellation
and resume.

One :class:`Engine` drives runs over one database connection, on one asyncio event loop (through anyio). Which steps run next is the
business of the workflow kind's :mod:`.scheduler`; this module runs what it decides and commits every decision
through :mod:`.checkpoints` before acting on it. The order of effects for a step is always: checkpoint the start
(with the idempotency key) → do the work → checkpoint the result → let dependents see it. So a crash can only ever
lose work in flight, and that work is redone with the same key.

What a step *does* is delegated to :class:`Services` (run an agent or a council, call a tool, look a workflow up,
report an event), so the engine itself is the same for the CLI, the MCP server, tests and benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from importlib import import_module
from typing import Any, Protocol

import anyio

from .. import telemetry
from ..diagnostics import ParacError
from ..errors import ParacBaseError
from ..store import transaction
from . import checkpoints as cp
from . import templates
from .graph import reference_problems, step_kind
from .inputs import bind_inputs
from .scheduler import DagScheduler, Move, Scheduler, Start

#: How often a run's lease is renewed and cancel requests are looked for, in seconds.
WATCH_INTERVAL_S = 0.2
LEASE_RENEW_S = 10.0
DEFAULT_CONCURRENCY = 8


@dataclass
class StepContext:
    """What a step's work needs to know about where it runs; tools get the idempotency key from here."""

    run_id: str
    workflow: str
    step_id: str
    attempt: int
    idempotency_key: str
    model: str | None = None  # the --dry-run model, which replaces every agent's
    budget_usd: float | None = None  # the workflow's budget_usd: the limit of the whole run
    budget_run_id: str | None = None  # the run charged: a sub-workflow's spending counts against its top run
    approved_by: str | None = None  # who let a tool that needs approval be called, at this step's gate


@dataclass
class StepOutcome:
    output: Any
    cost: float = 0.0


class Services(Protocol):
    """The outside world, as the engine sees it."""

    async def run_agent(self, ctx: StepContext, step: Any, task: str) -> StepOutcome: ...

    async def call_tool(self, ctx: StepContext, tool: str, args: dict) -> StepOutcome: ...

    async def run_council(self, ctx: StepContext, step: Any, task: str) -> StepOutcome: ...

    def needs_approval(self, tool: str, workflow: str) -> bool: ...

    def workflow_spec(self, name: str) -> Any: ...

    def parse_definition(self, definition: dict) -> Any: ...

    def event(self, name: str, data: dict) -> None: ...


@dataclass
class Decision:
    approved: bool
    actor: str
    comment: str | None = None


#: Asked when a gate starts waiting (e.g. MCP elicitation); None means "no answer here, keep waiting".
Asker = Callable[[str, str, str], Awaitable[Decision | None]]
#: Offered a human task when it is assigned (e.g. MCP elicitation), with why the last answer was refused if it was:
#: (answer, who gave it), or None to let it wait.
Answerer = Callable[[Any, str | None], Awaitable[tuple[Any, str] | None]]


@dataclass
class RunOptions:
    """How a run is executed; stored with the run so that a resume behaves like the start."""

    model: str | None = None  # --dry-run: every agent step uses this (offline) model
    auto_approve: bool = False  # --yes
    max_concurrency: int | None = None
    pause_on_approval: bool = False  # stop (status waiting_approval) instead of waiting in this process
    approval_poll_s: float = 0.25
    forked_from: str | None = None  # `parac workflow fork`: the run whose steps before fork_step this run reuses
    fork_step: str | None = None
    reused: list[str] | None = None  # the steps a fork took over from forked_from (done there, at no cost here)

    @classmethod
    def from_json(cls, data: dict | None) -> RunOptions:
        known = {name for name in cls.__dataclass_fields__}
        return cls(**{key: value for key, value in (data or {}).items() if key in known})


@dataclass
class RunResult:
    run_id: str
    workflow: str
    status: str
    steps: list[dict]
    outputs: Any
    cost: float
    error: str | None = None
    forked_from: dict | None = None  # {"run_id", "step", "reused_cost"} of the run this one was forked from

    def to_json(self) -> dict:
        return asdict(self)


class StepFailed(ParacBaseError):
    """A step's work failed; ``retryable=False`` when trying again cannot help (a refusal, bad arguments)."""

    def __init__(self, message: str, *, retryable: bool = True, cost: float = 0.0) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.cost = cost


class _Paused(Exception):
    """A gate (or a sub-workflow's gate) is waiting and the run was asked to pause rather than wait."""


def backoff_delay(retry: Any, attempt: int) -> float:
    """Delay before the next attempt: doubling (or fixed), capped, then jittered to between half and all of it,
    so that steps failing together (one provider down) do not all retry in the same instant."""
    base = float(getattr(retry, "initial_delay_s", 1.0) or 0.0)
    cap = float(getattr(retry, "max_delay_s", 60.0) or 0.0)
    strategy = getattr(retry, "backoff", "exponential")
    if strategy == "none" or base <= 0:
        return 0.0
    delay = base if strategy == "fixed" else base * (2 ** (attempt - 1))
    if cap:
        delay = min(delay, cap)
    return random.uniform(delay / 2, delay)


def approval_event(run_id: str, step_id: str, approval: cp.Approval) -> dict:
    """The data of a ``workflow.approval.decided`` event, whoever decided (a person, --yes, a timeout policy)."""
    return {"run_id": run_id, "step": step_id, "status": approval.status, "by": approval.actor,
            "comment": approval.comment}


def summarize(conn: sqlite3.Connection, run_id: str, run: cp.RunRow | None = None) -> RunResult:
    """The run as ``status --json`` shows it: steps in file order, each with status, output, error, cost.

    ``run`` is the run's row as the caller read or created it: its definition never changes, so only what does is
    read again.
    """
    if run is None:
        run = cp.get_run(conn, run_id)
        status, outputs, error = run.status, run.outputs, run.error
    else:
        status, outputs, error = cp.run_outcome(conn, run_id)
    rows = cp.get_steps(conn, run_id)
    parent = run.options.get("forked_from")
    reused = set(run.options.get("reused") or ())
    steps = []
    has_children = False
    for step in shown_steps(run.definition, rows):
        kind = step_kind(step)
        row = rows.get(step["id"])
        if row is not None:
            entry = row.to_json()
        else:  # never reached: still to come, or never to come when the run was cancelled
            entry = {"id": step["id"], "status": "cancelled" if status == "cancelled" else "pending", "output": None, "error": None, "attempts": 0, "cost": 0.0}
        for key in ("state", "node"):
            if key in step:
                entry[key] = step[key]
        if step["id"] in reused:  # its cost was spent by the parent: say so, or a costs report reads it as free
            entry["reused_from"] = {"run_id": parent, "cost": _work_cost(conn, parent, step["id"])}
        if kind == "approval":
            approval = cp.get_approval(conn, run_id, step["id"])
            if approval is not None:
                entry["approval"] = {"status": approval.status, "by": approval.actor, "comment": approval.comment}
        elif kind == "workflow":
            entry["child_run"] = f"{run_id}.{step['id']}"
            has_children = True
        elif kind == "human":
            from .human import get_task

            task = get_task(conn, run_id, step["id"])
            if task is not None:
                entry["task"] = {"status": task.status, "role": task.role, "by": task.actor, "message": task.message}
        steps.append(entry)
    cost = sum(entry["cost"] for entry in steps)
    if has_children:
        for child in conn.execute("SELECT run_id FROM workflow_runs WHERE parent_run = ?", (run_id,)):
            cost += summarize(conn, child[0]).cost
    fork = {"run_id": parent, "step": run.options.get("fork_step")} if parent else None
    if fork is not None:
        fork["reused_cost"] = round(sum(e["reused_from"]["cost"] or 0.0 for e in steps if "reused_from" in e), 10)
    return RunResult(run.run_id, run.workflow, status, steps, outputs, round(cost, 10), error, fork)


def _work_cost(conn: sqlite3.Connection, run_id: str, step_id: str) -> float | None:
    """What step ``step_id`` cost where it was really done: in run ``run_id``, or, when that run is a fork that
    reused it too, in the run it came from (None when the record is gone)."""
    seen = set()
    while run_id not in seen:
        seen.add(run_id)
        row = cp.get_steps(conn, run_id).get(step_id)
        if row is None:
            return None
        options = cp.get_run(conn, run_id).options
        if step_id not in (options.get("reused") or ()) or not options.get("forked_from"):
            return row.cost
        run_id = options["forked_from"]
    return None


def shown_steps(definition: dict, rows: dict[str, cp.StepRow]) -> list[dict]:
    """The steps ``summarize`` lists, as stored step dicts with their ids: a DAG's in file order; another kind's
    as its module shows them (the order they happened, with the state or node each row is)."""
    kind = definition.get("kind") or "dag"
    if kind == "dag":
        return definition.get("steps", [])
    module = {"fsm": ".fsm", "behavior_tree": ".behavior_tree", "llm_plan": ".llm_plan"}[kind]
    return import_module(module, __package__).shown_steps(definition, rows)


def definition_of(spec: Any) -> dict:
    """The JSON a run stores of its workflow, so a resume runs exactly what was started."""
    return spec.model_dump(mode="json", exclude_none=True, by_alias=True)


class Engine:
    """Starts, resumes and drives workflow runs (see the module docstring)."""

    def __init__(
        self, conn: sqlite3.Connection, services: Services, *, asker: Asker | None = None,
        answerer: Answerer | None = None, clock: Callable[[], float] = time.time,
    ) -> None:
        cp.ensure_schema(conn)
        self.conn = conn
        self.services = services
        self.asker = asker
        self.answerer = answerer
        self.clock = clock  # human tasks' assignment and escalation times (tests inject one)
        self.owner = cp.new_owner()

    # Entry points -----------------------------------------------------------------------------------------

    def prepare(self, name: str, spec: Any, inputs: dict, *, text_inputs: bool = False) -> dict:
        """Check a run before it starts: inputs against their declarations, templates against the graph."""
        problems = reference_problems(spec.steps)
        if problems:
            raise ParacError(
                f"workflow {name!r}: " + "; ".join(f"step {sid!r} {fld}: {msg}" for sid, fld, msg in problems)
            )
        return bind_inputs(spec.inputs or {}, inputs, workflow=name, text=text_inputs)

    def create(
        self, name: str, spec: Any, inputs: dict, options: RunOptions, *, run_id: str | None = None, lease: bool = True
    ) -> str:
        """Record a new run and return its id; :meth:`execute` then drives it. ``lease=False`` leaves the run for
        another engine to :meth:`resume` (a worker that outlives the request that started the run)."""
        run = cp.create_run(self.conn, **self._new_run(name, spec, inputs, options, run_id, lease))
        return run.run_id

    def _new_run(self, name: str, spec: Any, inputs: dict, options: RunOptions, run_id: str | None, lease: bool) -> dict:
        return {"run_id": run_id or cp.new_run_id(), "workflow": name, "definition": definition_of(spec),
                "inputs": inputs, "options": vars(options).copy(), "owner": self.owner if lease else None}

    async def start(
        self, name: str, spec: Any, inputs: dict, options: RunOptions | None = None, *, text_inputs: bool = False
    ) -> RunResult:
        """Check, record and drive a new run. Its record is committed with its first step starts (one commit)."""
        options = options or RunOptions()
        bound = self.prepare(name, spec, inputs, text_inputs=text_inputs)
        run, insert = cp.new_run(**self._new_run(name, spec, bound, options, None, True))
        await _Execution(self, run, spec, options, held=[insert]).run_to_end()
        return summarize(self.conn, run.run_id, run)

    async def resume(self, run_id: str, options: RunOptions | None = None) -> RunResult:
        """Continue a run that stopped (crash, pause for approval): finished steps stay finished."""
        run = cp.acquire_lease(self.conn, run_id, self.owner)
        if run.parent_run:
            raise ParacError(f"run {run_id} is a sub-workflow of run {run.parent_run}; resume that run instead")
        if options is not None:
            self.conn.execute(
                "UPDATE workflow_runs SET options = ? WHERE run_id = ?", (cp._dump(asdict(options)), run_id)
            )
        return await self.execute(run_id)

    async def execute(self, run_id: str) -> RunResult:
        """Drive a run whose lease this engine holds until it completes, fails, pauses or is cancelled."""
        run = cp.get_run(self.conn, run_id)
        spec = self.services.parse_definition(run.definition)
        await _Execution(self, run, spec, RunOptions.from_json(run.options)).run_to_end()
        return summarize(self.conn, run_id, run)

    def event(self, name: str, data: dict) -> None:
        telemetry.event(name, data)
        self.services.event(name, data)


@dataclass
class _Outcome:
    status: str
    output: Any = None
    error: str | None = None
    cost: float = 0.0
    seconds: float = 0.0  # the step's work, every attempt and wait included (its end event reports it)


class _Batch:
    """Checkpoint operations that will be committed together, and the event their writers wait on."""

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.error: BaseException | None = None


class _Execution:
    """One run being driven by this process: its scheduler, its running steps and its commits.

    Three things keep the cost low without weakening durability. A step's end and the starts of the steps it
    releases are one transaction (a chain costs one commit per step). When several steps end in the same turn of
    the event loop, their checkpoints share one commit (group commit), so a wide fan-out does not pay a disk write
    per step. And the run's own records ride with its steps': a new run is recorded in the commit that starts its
    first steps, and the last step's end is committed with the run's end and the lease's release (``held``: ops
    that wait for the next commit, which nothing acts on before). A run of N steps in a chain costs N + 1 commits.
    Nothing is acted on before the commit that records it has returned.
    """

    def __init__(
        self,
        engine: Engine,
        run: cp.RunRow,
        spec: Any,
        options: RunOptions,
        budget: tuple[str, Any] | None = None,
        *,
        held: list[cp.Op] | None = None,
    ) -> None:
        self.engine = engine
        self.held = held or []
        self.new = bool(held)  # recorded by the first commit: no checkpoints to read back
        self.released = False
        # (run charged, limit): a sub-workflow spends from its top run's budget_usd, or its own when that has none
        own = getattr(spec, "budget_usd", None)
        self.budget = (run.run_id, own) if budget is None else (budget[0], own if budget[1] is None else budget[1])
        self.conn = engine.conn
        self.run = run
        self.run_id = run.run_id
        self.spec = spec
        self.options = options
        self.steps = {step.id: step for step in spec.steps}
        self.kinds = {step.id: step_kind(step) for step in spec.steps}
        self.context = {"inputs": run.inputs, "steps": {}, "run": {"id": run.run_id, "workflow": run.workflow}}
        limit = options.max_concurrency or getattr(spec, "concurrency", None) or DEFAULT_CONCURRENCY
        self.scheduler = self._scheduler(limit)
        self.waiting = 0
        self.stop_reason: str | None = None
        self.batch: _Batch | None = None
        self.batch_ops: list[cp.Op] = []
        self.after_commit: list[tuple[str, dict]] = []
        self.tg: Any = None
        self.deadline: float | None = None
        self.watch: asyncio.TimerHandle  # armed by drive()
        self.watch_error: Exception | None = None

    def _scheduler(self, limit: int) -> Scheduler:
        """The rules of the workflow's kind; another kind's module loads only for a run of that kind."""
        flow = getattr(self.spec, "flow", "dag")
        if flow == "fsm":
            from .fsm import FsmScheduler

            return FsmScheduler(self.run_id, self.spec, self.steps, self.kinds, self.context)
        if flow == "behavior_tree":
            from .behavior_tree import TreeScheduler

            return TreeScheduler(self.run_id, self.spec, self.steps, self.kinds, self.context)
        if flow == "llm_plan":
            from .llm_plan import PlanScheduler, judge_for

            judge = judge_for(self.engine.services, self.run_id, self.run.workflow, self.spec, self.run.inputs,
                              self.options.model)
            return PlanScheduler(self.run_id, self.spec, self.steps, self.kinds, self.context, judge, limit)
        return DagScheduler(self.run_id, self.spec, self.kinds, self.context, limit)

    async def run_to_end(self) -> None:
        """Drive the run; whatever happens, its held checkpoints are written and its lease is given up."""
        try:
            with telemetry.workflow_run(self.run.workflow, self.run_id, resumed=not self.new):
                await self.drive()
        finally:
            if not self.released:
                cp.write(self.conn, [*self.held, cp.release_op(self.run_id, self.engine.owner)])

    async def drive(self) -> None:
        rows = {} if self.new else cp.get_steps(self.conn, self.run_id)
        ops, self.held = [*self.held, cp.run_status_op(self.run_id, "running")], []
        to_start = self._decided(self.scheduler.restore(rows), ops)
        cp.write(self.conn, ops)
        self.engine.event(
            "workflow.run.resume" if rows else "workflow.run.start",
            {"run_id": self.run_id, "workflow": self.run.workflow, "inputs": self.run.inputs},
        )
        self._announce()
        timeout = getattr(self.spec, "timeout_s", None)
        self.deadline = time.monotonic() + timeout if timeout else None
        try:
            with anyio.CancelScope() as self.steps_scope:
                self._arm_watch(time.monotonic())
                try:
                    async with anyio.create_task_group() as self.tg:
                        for step_id in to_start[1:]:
                            self.tg.start_soon(self._worker, step_id, name=f"step {step_id}")
                        if to_start:  # the first runs in this task: a chain never spawns one
                            await self._worker(to_start[0])
                finally:
                    self.watch.cancel()
            if self.watch_error is not None:
                raise self.watch_error
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                self._finish("cancelled", "the run was cancelled")
            raise
        self._conclude()

    # Scheduling -------------------------------------------------------------------------------------------

    def _decided(self, moves: list[Move], ops: list[cp.Op]) -> list[str]:
        """Add the checkpoints of the scheduler's moves to ``ops`` (their events wait for the commit); return the
        steps to start once ``ops`` are committed."""
        to_start = []
        for move in moves:
            if isinstance(move, Start):
                ops.append(cp.start_op(self.run_id, move.step_id, move.attempt, move.key))
                to_start.append(move.step_id)
                continue
            ops.append(cp.finish_op(self.run_id, move.step_id, move.status, output=move.output, error=move.error))
            self.after_commit.append(
                ("workflow.step.skip" if move.status == "skipped" else "workflow.step.end",
                 {"run_id": self.run_id, "step": move.step_id, "status": move.status, "error": move.error})
            )
        return to_start

    async def _commit(self, ops: list[cp.Op], *, starting: int = 0) -> None:
        """Make ``ops`` durable; writers that come in the same turn of the event loop share one commit.

        ``starting`` counts the steps these ops start: they are active already but cannot write yet, so when
        no other step is active nobody could join the commit and it is made at once, without yielding.
        """
        if not ops:
            self._announce()
            return
        if self.scheduler.active <= starting and self.batch is None:
            cp.write(self.conn, ops)
            self._announce()
            return
        self.batch_ops.extend(ops)
        batch = self.batch
        if batch is not None:
            await batch.done.wait()
            if batch.error is not None:
                raise batch.error
            return
        batch = self.batch = _Batch()
        with anyio.CancelScope(shield=True):
            await anyio.sleep(0)
            ops, self.batch_ops, self.batch = self.batch_ops, [], None
            try:
                cp.write(self.conn, ops)
            except BaseException as exc:
                batch.error = exc
                raise
            finally:
                batch.done.set()
            self._announce()

    def _announce(self) -> None:
        """Report the step ends that the last commit made durable (events follow the checkpoint, never lead)."""
        events, self.after_commit = self.after_commit, []
        for name, data in events:
            self.engine.event(name, data)

    async def _worker(self, step_id: str | None) -> None:
        """Run a step, then the first step it released (a chain stays in one task), until none is left."""
        while step_id is not None:
            step_id = await self._run_one(step_id)

    async def _run_one(self, step_id: str) -> str | None:
        step = self.steps[step_id]
        began = time.monotonic()
        try:
            work = self._step(step)
            if telemetry.tracing.scoped:  # a span, or JSON logs' fields; off, the step is awaited as it is
                outcome = await telemetry.step(work, self.run.workflow, self.run_id, step_id, self.kinds[step_id],
                                               pause=(_Paused,))
            else:
                outcome = await work
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                self.scheduler.cancelled(step_id)
                reason = self.stop_reason or "cancelled"
                status = "failed" if reason.startswith("timeout") else "cancelled"
                cp.finish_step(self.conn, self.run_id, step_id, status, error=reason)
                self.engine.event(
                    "workflow.step.end", {"run_id": self.run_id, "step": step_id, "status": status, "error": reason}
                )
            raise
        except _Paused:
            ops: list[cp.Op] = []
            to_start = self._decided(self.scheduler.pause(step_id), ops)
            await self._commit(ops, starting=len(to_start))
            for other in to_start:
                self.tg.start_soon(self._worker, other, name=f"step {other}")
            return None
        outcome.seconds = time.monotonic() - began
        return await self._complete(step_id, outcome)

    async def _complete(self, step_id: str, outcome: _Outcome) -> str | None:
        """Checkpoint a step's end together with the starts it allows; return a step for this task to run."""
        ops = [cp.finish_op(self.run_id, step_id, outcome.status, output=outcome.output, error=outcome.error,
                            cost=outcome.cost)]
        self.after_commit.append(
            ("workflow.step.end",
             {"run_id": self.run_id, "step": step_id, "status": outcome.status, "error": outcome.error,
              "attempt": self.scheduler.attempts.get(step_id, 0), "cost": outcome.cost,
              "workflow": self.run.workflow, "duration_s": round(outcome.seconds, 6)})
        )
        moves = self.scheduler.finish(step_id, outcome.status, outcome.output, outcome.error)
        to_start = self._decided(moves, ops)
        if not to_start and self.scheduler.active == 0 and self.batch is None:
            self.held += ops  # the run ends here: this checkpoint is committed with the run's end
            return None
        await self._commit(ops, starting=len(to_start))
        if not to_start:
            return None
        for other in to_start[1:]:
            self.tg.start_soon(self._worker, other, name=f"step {other}")
        return to_start[0]

    def _conclude(self) -> None:
        scheduler = self.scheduler
        if self.stop_reason is not None:
            status = "failed" if self.stop_reason.startswith("timeout") else "cancelled"
            self._finish(status, self.stop_reason)
        elif scheduler.failed:
            errors = "; ".join(f"step {sid!r}: {scheduler.steps_seen[sid]['error']}" for sid in scheduler.failed)
            suffix = f" ({scheduler.not_run} dependent steps not run)" if scheduler.not_run else ""
            self._finish("failed", errors + suffix)
        elif scheduler.paused:
            self._end("waiting_approval", None)
            self.engine.event("workflow.run.paused", {"run_id": self.run_id, "waiting": list(scheduler.paused)})
        else:
            self._finish("completed", None, self._outputs())

    def _outputs(self) -> Any:
        declared = getattr(self.spec, "outputs", None)
        if declared:
            return templates.render_value(dict(declared), self.context, where="workflow outputs")
        seen = self.scheduler.steps_seen
        return {step_id: _plain(seen.get(step_id, {}).get("output")) for step_id in self.scheduler.sinks()}

    def _end(self, status: str, error: str | None, outputs: Any = None) -> None:
        """Commit the held checkpoints, the run's new status and the lease's release as one transaction."""
        with transaction(self.conn):
            for sql, params in self.held:
                self.conn.execute(sql, params)
            if status == "cancelled":
                cp.mark_cancelled(self.conn, self.run_id, error or "cancelled")
            else:
                self.conn.execute(*cp.run_status_op(self.run_id, status, error=error, outputs=outputs))
            self.conn.execute(*cp.release_op(self.run_id, self.engine.owner))
        self.held, self.released = [], True
        self._announce()

    def _finish(self, status: str, error: str | None, outputs: Any = None) -> None:
        self._end(status, error, outputs)
        if status == "cancelled":
            self.engine.event("workflow.run.cancelled", {"run_id": self.run_id, "reason": error})
        self.engine.event(
            "workflow.run.end", {"run_id": self.run_id, "workflow": self.run.workflow, "status": status, "error": error}
        )

    def _arm_watch(self, last_renew: float) -> None:
        """Schedule the next look at the lease, cancel requests and the timeout, :data:`WATCH_INTERVAL_S` from now.

        A timer, not a task: most runs end before it is first due, and a timer costs a fraction of a task and its
        task group. It fires between steps of the loop like a task would, so it sees the same database state.
        """
        self.watch = asyncio.get_running_loop().call_later(WATCH_INTERVAL_S, self._watch, last_renew)

    def _watch(self, last_renew: float) -> None:
        """Renew the lease, honour `parac workflow cancel` from other processes, and enforce the run's timeout."""
        try:
            now = time.monotonic()
            if self.deadline is not None and now >= self.deadline:
                self._stop(f"timeout: the run took longer than its timeout_s ({self.spec.timeout_s}s)")
                return
            if cp.cancel_requested(self.conn, self.run_id):
                self._stop("cancelled on request")
                return
            if now - last_renew >= LEASE_RENEW_S:
                last_renew = now
                if not cp.renew_lease(self.conn, self.run_id, self.engine.owner):
                    self._stop("cancelled: another process took over the run")
                    return
        except Exception as exc:  # a timer's error would go to the loop's log: stop the run and raise it there
            self.watch_error = exc
            self.steps_scope.cancel()
            return
        self._arm_watch(last_renew)

    def _stop(self, reason: str) -> None:
        self.stop_reason = reason
        self.steps_scope.cancel()

    # Steps ------------------------------------------------------------------------------------------------

    async def _step(self, step: Any) -> _Outcome:
        """Do a step's work (its start is already committed), retrying as its ``retry`` allows."""
        kind = self.kinds[step.id]
        if kind == "approval":
            return await self._approval(step)
        if kind == "human":
            from .human import wait_for_answer

            return await wait_for_answer(self, step)
        try:
            work = self._prepare_work(step, kind)
        except ParacError as exc:
            return _Outcome("failed", error=str(exc))
        approved_by = None
        if kind == "tool" and self.engine.services.needs_approval(step.tool, self.run.workflow):
            approval = await self._gate(
                step, getattr(step, "message", None) or f"Allow step {step.id!r} to call tool {step.tool!r}?", None
            )
            if isinstance(approval, _Outcome):
                return approval
            if approval.status != "approved":
                return _Outcome("failed", error=f"the call of tool {step.tool!r} was {_rejection(approval)}")
            cp.set_step_status(self.conn, self.run_id, step.id, "running")
            approved_by = approval.actor
        retry = getattr(step, "retry", None)
        max_attempts = int(getattr(retry, "max_attempts", 1) or 1) if retry is not None else 1
        timeout = getattr(step, "timeout_s", None)
        spent = 0.0
        while True:
            attempt = self.scheduler.attempts[step.id]
            key = self.scheduler.keys[step.id]
            ctx = StepContext(self.run_id, self.run.workflow, step.id, attempt, key, self.options.model,
                              self.budget[1], self.budget[0], approved_by)
            self.engine.event(
                "workflow.step.start",
                {"run_id": self.run_id, "step": step.id, "kind": kind, "attempt": attempt, "idempotency_key": key},
            )
            try:
                with anyio.fail_after(timeout) if timeout else contextlib.nullcontext():
                    outcome = await work(ctx)
            except _Paused:
                cp.set_step_status(self.conn, self.run_id, step.id, "waiting_approval")
                raise
            except Exception as exc:  # noqa: BLE001 - any failure of the work is the step's failure
                error = _describe(exc, timeout)
                spent += getattr(exc, "cost", 0.0)
                if attempt >= max_attempts or isinstance(exc, ParacError) or not getattr(exc, "retryable", True):
                    return _Outcome("failed", error=error, cost=spent)
                delay = backoff_delay(retry, attempt)
                cp.set_step_status(self.conn, self.run_id, step.id, "retrying", error)
                self.engine.event(
                    "workflow.step.retry",
                    {"run_id": self.run_id, "step": step.id, "attempt": attempt, "delay_s": delay, "error": error},
                )
                await anyio.sleep(delay)
                again = self.scheduler.retry(step.id)
                await self._commit([cp.start_op(self.run_id, step.id, again.attempt, again.key)])
                continue
            return _Outcome("completed", outcome.output, cost=spent + outcome.cost)

    def _prepare_work(self, step: Any, kind: str) -> Callable[[StepContext], Awaitable[StepOutcome]]:
        """Render the step's templates now (a template error is not worth retrying) and bind its work."""
        services = self.engine.services
        where = f"step {step.id!r}"
        if kind == "agent":
            task = templates.render(step.task or "", self.context, where=f"{where} task")
            return lambda ctx: services.run_agent(ctx, step, task)
        if kind == "council":
            task = templates.render(step.task or "", self.context, where=f"{where} task")
            return lambda ctx: services.run_council(ctx, step, task)
        if kind == "tool":
            args = templates.render_value(dict(step.arguments or {}), self.context, where=f"{where} arguments")
            return lambda ctx: services.call_tool(ctx, step.tool, args)
        if kind == "workflow":
            inputs = templates.render_value(dict(step.inputs or {}), self.context, where=f"{where} inputs")
            return lambda ctx: self._sub_workflow(step, inputs)
        raise ParacError(f"{where}: unknown step type {kind!r}")

    async def _sub_workflow(self, step: Any, inputs: dict) -> StepOutcome:
        """Run (or, after a crash, resume) the child run ``RUN.STEP`` in this process, under this lease."""
        engine = self.engine
        child_id = f"{self.run_id}.{step.id}"
        child = cp.find_run(self.conn, child_id)
        if child is None:
            spec = engine.services.workflow_spec(step.workflow)
            bound = engine.prepare(step.workflow, spec, inputs)
            child, insert = cp.new_run(
                run_id=child_id,
                workflow=step.workflow,
                definition=definition_of(spec),
                inputs=bound,
                options=vars(self.options).copy(),
                owner=engine.owner,
                parent_run=self.run_id,
                parent_step=step.id,
            )
            await _Execution(engine, child, spec, self.options, self.budget, held=[insert]).run_to_end()
        elif child.status not in cp.FINISHED:
            child = cp.acquire_lease(self.conn, child_id, engine.owner)
            spec = engine.services.parse_definition(child.definition)
            await _Execution(engine, child, spec, self.options, self.budget).run_to_end()
        result = summarize(self.conn, child_id)
        if result.status == "waiting_approval":
            raise _Paused(child_id)
        if result.status != "completed":
            raise StepFailed(f"sub-workflow {step.workflow!r} (run {child_id}) {result.status}: {result.error}",
                             retryable=False)
        return StepOutcome(result.outputs, 0.0)

    async def _approval(self, step: Any) -> _Outcome:
        default = f"Approve step {step.id!r} of workflow {self.run.workflow!r}?"
        approval = await self._gate(step, getattr(step, "message", None) or default, getattr(step, "timeout_s", None))
        if isinstance(approval, _Outcome):
            return approval
        output = {"approved": approval.status == "approved", "by": approval.actor, "comment": approval.comment}
        if approval.status == "approved":
            return _Outcome("completed", output)
        return _Outcome("failed", output, _rejection(approval))

    async def _gate(self, step: Any, template: str, limit: float | None) -> cp.Approval | _Outcome:
        """Wait for a person's decision on the step (persisted; a decision already taken stands)."""
        try:
            message = templates.render(template, self.context, where=f"step {step.id!r} message")
        except ParacError as exc:
            return _Outcome("failed", error=str(exc))
        approval = cp.get_approval(self.conn, self.run_id, step.id)
        if approval is None or approval.status == "waiting":
            approval = cp.request_approval(self.conn, self.run_id, step.id, message)
            self.engine.event(
                "workflow.approval.requested", {"run_id": self.run_id, "step": step.id, "message": message}
            )
            self.waiting += 1
            try:
                approval = await self._await_decision(step, message, limit)
            finally:
                self.waiting -= 1
            if self.waiting == 0:
                self.conn.execute(*cp.resumed_op(self.run_id))
        return approval

    async def _await_decision(self, step: Any, message: str, limit: float | None) -> cp.Approval:
        if self.options.auto_approve:
            return self._decide_once(step.id, Decision(True, "auto-approve (--yes)"))
        if self.engine.asker is not None:
            decision = await self.engine.asker(self.run_id, step.id, message)
            if decision is not None:
                return self._decide_once(step.id, decision)
        while True:
            current = cp.get_approval(self.conn, self.run_id, step.id)
            assert current is not None
            if current.status != "waiting":
                return current
            if limit and time.time() >= current.requested_at + limit:
                on_timeout = getattr(step, "timeout_action", None) or "reject"
                comment = f"no answer within {limit}s; {'approved' if on_timeout == 'approve' else 'rejected'} by policy"
                return self._decide_once(step.id, Decision(on_timeout == "approve", "timeout policy", comment))
            if self.options.pause_on_approval:
                raise _Paused(step.id)
            await anyio.sleep(self.options.approval_poll_s)

    def _decide_once(self, step_id: str, decision: Decision) -> cp.Approval:
        """Record a decision unless someone else answered first; either way return what stands."""
        try:
            approval = cp.decide(self.conn, self.run_id, step_id, approved=decision.approved, actor=decision.actor,
                                 comment=decision.comment)
        except cp.NotWaiting:
            approval = cp.get_approval(self.conn, self.run_id, step_id)
            assert approval is not None
            return approval
        self.engine.event("workflow.approval.decided", approval_event(self.run_id, step_id, approval))
        return approval


def _rejection(approval: cp.Approval) -> str:
    return f"rejected by {approval.actor}" + (f": {approval.comment}" if approval.comment else "")


def _describe(exc: BaseException, timeout: float | None) -> str:
    if isinstance(exc, TimeoutError) and timeout:
        return f"timed out after {timeout}s"
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, ParacError | StepFailed) else f"{type(exc).__name__}: {text}"


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, templates.JsonText) else value
