"""The DBOS engine: a parac run as a DBOS workflow over Postgres, its steps fanned out to worker processes.

A run is the DBOS workflow ``parac.run``. It drives the same :class:`~parac.core.workflows.scheduler.DagScheduler`
as the embedded engine; each step the scheduler starts is enqueued as a child workflow ``parac.step`` (workflow id
``RUN/STEP``) on the steps queue, so any worker may take it, and the run waits for whichever ends first
(``DBOS.wait_first``, itself checkpointed). Inside ``parac.step``:

- each attempt of an agent, council or tool step is one DBOS step (its outcome checkpointed), with the step's
  ``timeout_s`` around it and the step's ``retry`` as durable sleeps between attempts (``DBOS.sleep``), so a
  worker that dies mid-backoff does not forget how far it got;
- an approval gate publishes its question as the event ``approval`` and waits in ``DBOS.recv`` (topic
  ``approval``), which any process answers with ``DBOS.send`` (:meth:`DbosRuns.decide`);
- a sub-workflow step starts ``parac.run`` for the child run ``RUN.STEP``.

Because DBOS replays a recovered workflow from its checkpoints, a worker killed with SIGKILL loses only the work in
flight: another worker (:class:`Worker` notices its heartbeat stop) re-enqueues its pending workflows, finished
steps return their recorded outcome, and the step in flight runs again with the same idempotency key. A run's
workflow definition is an argument of its workflow, stored at enqueue time, so editing the file changes no run in
flight.

A trace goes with the work: the process that enqueues a run opens ``enqueue_workflow {name}`` and puts its W3C
context in the run's options (``trace``); the worker's ``invoke_workflow`` span continues it, and each step or
sub-run it enqueues carries the run's (or the step's) context in turn, so a run is one trace across processes.

DBOS is one object per process, so this module holds the process's :class:`Worker`, through which the workflows
below find the services of the workspace it serves (one queue serves one project: a run names no path, so hosts
may check the project out anywhere).
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import version as package_version
from typing import Any

import anyio
import psycopg
import sqlalchemy.exc
from dbos import DBOS, DBOSClient, SetWorkflowID
from packaging.version import Version

from .. import telemetry
from ..diagnostics import ParacError
from ..specs import StepSpec, WorkflowSpec
from ..workflows import templates
from ..workflows.checkpoints import NotWaiting, RunFilter, RunNotFound
from ..workflows.engine import RunOptions, Services, StepContext, StepFailed, backoff_delay, definition_of
from ..workflows.graph import step_kind
from ..workflows.inputs import bind_inputs
from ..workflows.scheduler import DagScheduler, Settle, Start
from . import create_schema, pool, redact_url
from .spend import SharedSpend

APP_NAME = "parac"
PARAC_VERSION = package_version("parac")
#: A worker whose heartbeat is older than this is taken for dead and its pending workflows are recovered.
DEAD_AFTER_S = 3.0
HEARTBEAT_S = 0.5
#: How often queues are polled for work, and a run's waits for its steps' ends (DBOS's default is 1 s, which
#: would add up to a second to every step of a chain).
QUEUE_POLL_S = 0.05
#: How long an approval gate with no ``timeout_s`` waits: a year, durably (DBOS needs a finite timeout).
GATE_WAIT_S = 365 * 86400.0

_log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS parac_workers (
    executor_id text PRIMARY KEY, host text NOT NULL, pid integer NOT NULL, queue text NOT NULL,
    concurrency integer NOT NULL, version text NOT NULL, started_at timestamptz NOT NULL DEFAULT now(),
    heartbeat timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS parac_meta (key text PRIMARY KEY, value text NOT NULL);
"""


def steps_queue(queue: str) -> str:
    """Runs and their steps wait on separate queues, so runs waiting for their steps never fill every slot."""
    return f"{queue}.steps"


def check_database(url: str) -> None:
    """Fail early and clearly when the database cannot be reached (naming the URL without its password)."""
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            create_schema(conn, _SCHEMA)
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ParacError(f"cannot reach the workflow database {redact_url(url)}: {reason}") from None


def check_version(url: str, mine: str = PARAC_VERSION) -> None:
    """Refuse a process older than the newest parac that has used this database (it may not know its runs' steps);
    record ``mine`` as the newest otherwise."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SELECT value FROM parac_meta WHERE key = 'version' FOR UPDATE").fetchone()
        if row is not None and Version(row[0]) > Version(mine):
            raise ParacError(
                f"this parac is {mine} but the workflow database {redact_url(url)} is used by parac {row[0]}: "
                "upgrade this host's parac before starting a worker here"
            )
        conn.execute(
            "INSERT INTO parac_meta VALUES ('version', %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (mine,),
        )


# -- the process's worker ---------------------------------------------------------------------------------------


class Worker:
    """This process's DBOS, launched against one database: serves the runs and steps of its queue.

    ``services`` are the :class:`~parac.core.workflows.engine.Services` of the workspace it serves (the face builds
    them: hooks, providers).
    """

    current: Worker | None = None

    def __init__(
        self,
        url: str,
        services: Services,
        *,
        queue: str = "parac",
        concurrency: int = 8,
        executor_id: str | None = None,
        spend: SharedSpend | None = None,
    ) -> None:
        self.url = url
        self.spend = spend
        self.queue = queue
        self.concurrency = concurrency
        self.services = services
        self.executor_id = executor_id
        self._stop = threading.Event()
        self._launched = threading.Event()  # DBOS is up, its queues registered: this worker may recover others' workflows
        self._beat: threading.Thread | None = None
        self.steps: Any = None  # the steps queue, registered at launch

    def launch(self) -> None:
        check_database(self.url)
        check_version(self.url)
        self.executor_id = self._claim_executor_id()
        if self.spend is not None:
            self.spend.executor_id = self.executor_id
        # beat from the claim on: DBOS's launch can take seconds on a loaded host, and a silent worker is dead
        self._beat = threading.Thread(target=self._heartbeat, name="parac-heartbeat", daemon=True)
        self._beat.start()
        DBOS(config={
            "name": APP_NAME,
            "system_database_url": self.url,
            "executor_id": self.executor_id,
            "application_version": PARAC_VERSION,
            "log_level": os.environ.get("PARAC_DBOS_LOG_LEVEL", "WARNING"),
            "notification_listener_polling_interval_sec": 0.1,
        })
        DBOS.listen_queues([self.queue, steps_queue(self.queue)])
        # before the launch: DBOS starts the pending runs of this executor id (a restarted worker's, or a dead one's
        # it took back) during it, and they find their services here; their steps wait for the queue (steps_queue)
        Worker.current = self
        DBOS.launch()
        DBOS.register_queue(self.queue, worker_concurrency=self.concurrency, polling_interval_sec=QUEUE_POLL_S)
        self.steps = DBOS.register_queue(
            steps_queue(self.queue), worker_concurrency=self.concurrency, polling_interval_sec=QUEUE_POLL_S
        )
        self._launched.set()

    async def steps_queue(self) -> Any:
        """The steps queue, once registered (DBOS registers queues only once it is launched)."""
        if not self._launched.is_set():
            await anyio.to_thread.run_sync(self._launched.wait)
        return self.steps

    def _claim_executor_id(self) -> str:
        """Register this worker under ``--id``, or ``HOST:QUEUE:N`` with the lowest N no live worker holds (a worker
        restarted on the same host takes its old id back, and DBOS then recovers its own pending workflows at
        once). The claim is one statement, so workers starting together never share an id."""
        host = socket.gethostname()
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            n = 1
            while True:
                candidate = self.executor_id or f"{host}:{self.queue}:{n}"
                claimed = conn.execute(
                    "INSERT INTO parac_workers (executor_id, host, pid, queue, concurrency, version) "
                    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (executor_id) DO UPDATE SET host = EXCLUDED.host, "
                    "pid = EXCLUDED.pid, queue = EXCLUDED.queue, concurrency = EXCLUDED.concurrency, "
                    "version = EXCLUDED.version, started_at = now(), heartbeat = now() "
                    "WHERE parac_workers.heartbeat < now() - make_interval(secs => %s)",
                    (candidate, host, os.getpid(), self.queue, self.concurrency, PARAC_VERSION, DEAD_AFTER_S),
                ).rowcount
                if claimed:
                    return candidate
                if self.executor_id:
                    raise ParacError(f"a live worker already runs as {candidate!r}: choose another --id")
                n += 1

    def _heartbeat(self) -> None:
        """Beat, and recover the workflows of workers whose beat stopped (one survivor claims each dead worker,
        by deleting its row, so its workflows are re-enqueued once)."""
        conn: psycopg.Connection | None = None
        while not self._stop.wait(HEARTBEAT_S):
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
                conn.execute("UPDATE parac_workers SET heartbeat = now() WHERE executor_id = %s", (self.executor_id,))
                if not self._launched.is_set():
                    continue
                dead = [row[0] for row in conn.execute(
                    "DELETE FROM parac_workers WHERE heartbeat < now() - make_interval(secs => %s) "
                    "AND executor_id <> %s RETURNING executor_id",
                    (DEAD_AFTER_S, self.executor_id),
                )]
                if dead:
                    DBOS._recover_pending_workflows(dead)
            except psycopg.Error:  # the database is away: DBOS retries its own calls; beat again when it is back
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
        with contextlib.suppress(psycopg.Error), psycopg.connect(self.url, connect_timeout=5) as conn:
            conn.execute("DELETE FROM parac_workers WHERE executor_id = %s", (self.executor_id,))
        DBOS.destroy(workflow_completion_timeout_sec=0)
        Worker.current = None


def _worker() -> Worker:
    worker = Worker.current
    if worker is None:
        raise RuntimeError("parac runs execute only inside a parac worker")
    return worker


def _services() -> Services:
    return _worker().services


# -- the workflows ----------------------------------------------------------------------------------------------


TRACE = "trace"
"""The key of a run's or step's options that carries the W3C trace context of whoever enqueued it."""


def _with_trace(options: dict) -> dict:
    """``options`` with the current span's W3C context, for work another process will do (unchanged when off)."""
    carrier = telemetry.inject({})
    return {**options, TRACE: carrier} if carrier else options


@DBOS.workflow(name="parac.run")
async def run_workflow(run_id: str, name: str, definition: dict, inputs: dict, options: dict,
                       queue: str, budget: list | None = None) -> dict:
    """One parac run: the scheduler's decisions, each started step a ``parac.step`` child on the steps queue;
    traced as a child of the span that enqueued it, saying whether the run resumes (see :func:`_resumes`)."""
    resumed = telemetry.tracing.on and await anyio.to_thread.run_sync(_resumes, run_id)
    with telemetry.extracted(options.get(TRACE) or {}), telemetry.workflow_run(name, run_id, resumed=resumed):
        return await _drive(run_id, name, definition, inputs, options, queue, budget)


def _resumes(run_id: str) -> bool:
    """Whether this execution of the run is not its first: DBOS dispatched it again (a dead worker's run, recovered:
    each dispatch counts a recovery attempt) or it has checkpoints already (a cancelled run resumed, whose count
    starts again). Read from DBOS's tables, not through DBOS, which would checkpoint the answer and give a
    recovered run its first execution's; only when traces are on, since only the span says it. A failed read
    says no (logged at debug): an attribute of a span is not worth failing the run for."""
    try:
        with pool.connection(_worker().url) as conn:
            row = conn.execute(
                "SELECT s.recovery_attempts > 1 OR EXISTS (SELECT 1 FROM dbos.operation_outputs o "
                "WHERE o.workflow_uuid = s.workflow_uuid) FROM dbos.workflow_status s WHERE s.workflow_uuid = %s",
                (run_id,),
            ).fetchone()
    except (psycopg.Error, sqlalchemy.exc.SQLAlchemyError) as exc:
        _log.debug("whether run %s resumes is unknown: %s", run_id, exc)
        return False
    return bool(row and row[0])


async def _drive(run_id: str, name: str, definition: dict, inputs: dict, options: dict, queue: str,
                 budget: list | None) -> dict:
    spec = WorkflowSpec.model_validate(definition)
    opts = RunOptions.from_json(options)
    steps = {step.id: step for step in spec.steps}
    kinds = {step.id: step_kind(step) for step in spec.steps}
    context: dict[str, Any] = {"inputs": inputs, "steps": {}, "run": {"id": run_id, "workflow": name}}
    limit = opts.max_concurrency or spec.concurrency
    scheduler = DagScheduler(run_id, spec, kinds, context, limit)
    # (run charged, limit): a sub-workflow spends from its top run's budget, or its own when that has none
    charged = (run_id, spec.budget_usd) if budget is None else (budget[0], budget[1] or spec.budget_usd)
    ends: dict[str, dict] = {}
    handles: dict[str, Any] = {}
    queue_handle = await _worker().steps_queue()

    async def act(moves: list) -> None:
        pending = list(moves)
        while pending:
            move = pending.pop(0)
            if isinstance(move, Settle):
                ends[move.step_id] = {"status": move.status, "output": None, "error": move.error, "attempts": 0,
                                      "cost": 0.0}
                continue
            assert isinstance(move, Start)
            step = steps[move.step_id]
            try:
                payload = _render(step, kinds[step.id], context)
            except ParacError as exc:  # a template error is the step's failure, not worth a worker's time
                ends[step.id] = {"status": "failed", "output": None, "error": str(exc), "attempts": move.attempt,
                                 "cost": 0.0}
                pending += scheduler.finish(step.id, "failed", None, str(exc))
                continue
            with SetWorkflowID(f"{run_id}/{step.id}"):
                handles[step.id] = await queue_handle.enqueue_async(
                    step_workflow, run_id, name, step.model_dump(mode="json", exclude_none=True, by_alias=True),
                    kinds[step.id], payload, move.key, _with_trace(options), list(charged), queue,
                )

    await act(scheduler.restore({}))
    while handles:
        # one wait for the first end, then every step that has ended by now in one read (both checkpointed):
        # a wide fan-out's ends are taken in batches, not one wait and one result per step
        if len(handles) == 1:  # a chain: wait for its result alone
            done = next(iter(handles.values()))
            outputs = {}
        else:
            done = await DBOS.wait_first_async(list(handles.values()), polling_interval_sec=QUEUE_POLL_S)
            finished = await DBOS.list_workflows_async(
                workflow_ids=[handle.get_workflow_id() for handle in handles.values()], status="SUCCESS",
                load_input=False)
            outputs = {wf.workflow_id.rsplit("/", 1)[1]: wf.output for wf in finished}
        first = done.get_workflow_id().rsplit("/", 1)[1]
        if first not in outputs:  # the only one, or it failed as a workflow (its error then ends the run)
            outputs[first] = await done.get_result(polling_interval_sec=QUEUE_POLL_S)
        for step_id in [sid for sid in handles if sid in outputs]:
            del handles[step_id]
            end = ends[step_id] = outputs[step_id]
            scheduler.attempts[step_id] = end["attempts"]
            await act(scheduler.finish(step_id, end["status"], end["output"], end["error"]))
    if scheduler.failed:
        errors = "; ".join(f"step {sid!r}: {ends[sid]['error']}" for sid in scheduler.failed)
        suffix = f" ({scheduler.not_run} dependent steps not run)" if scheduler.not_run else ""
        status, error, outputs = "failed", errors + suffix, None
    else:
        status, error = "completed", None
        if spec.outputs:
            outputs = templates.render_value(dict(spec.outputs), context, where="workflow outputs")
        else:
            outputs = {sid: _plain(scheduler.steps_seen.get(sid, {}).get("output")) for sid in scheduler.sinks()}
    ordered = [{"id": step.id, **ends.get(step.id, {"status": "pending", "output": None, "error": None,
                                                    "attempts": 0, "cost": 0.0})} for step in spec.steps]
    return {"run_id": run_id, "workflow": name, "status": status, "steps": ordered, "outputs": outputs,
            "cost": round(sum(entry["cost"] for entry in ordered), 10), "error": error}


@DBOS.workflow(name="parac.step")
async def step_workflow(run_id: str, workflow: str, step_def: dict, kind: str, payload: Any, key: str,
                        options: dict, charged: list, queue: str) -> dict:
    """One step of a run, on whichever worker took it from the steps queue (see the module docstring); its span
    is a child of the run's, whatever process drives the run."""
    work = _step(run_id, workflow, step_def, kind, payload, key, options, charged, queue)
    if not telemetry.tracing.scoped:
        return await work
    with telemetry.extracted(options.get(TRACE) or {}):
        return await telemetry.step(work, workflow, run_id, step_def["id"], kind)


async def _step(run_id: str, workflow: str, step_def: dict, kind: str, payload: Any, key: str, options: dict,
                charged: list, queue: str) -> dict:
    step = StepSpec.model_validate(step_def)
    opts = RunOptions.from_json(options)
    if kind == "approval":
        default = f"Approve step {step.id!r} of workflow {workflow!r}?"
        decision = await _gate(run_id, step, payload or default, step.timeout_s, opts)
        output = {"approved": decision["approved"], "by": decision["by"], "comment": decision["comment"]}
        if decision["approved"]:
            return _end("completed", 1, output=output)
        return _end("failed", 1, output=output, error=_rejection(decision))
    approved_by = None
    if kind == "workflow":
        return await _sub_workflow(run_id, step, payload, options, charged, queue)
    retry = step.retry
    max_attempts = int(retry.max_attempts or 1) if retry is not None else 1
    spent = 0.0
    attempt = 0
    while True:
        attempt += 1
        ctx = {"run_id": run_id, "workflow": workflow, "step_id": step.id, "attempt": attempt, "idempotency_key": key,
               "model": opts.model, "budget_usd": charged[1], "budget_run_id": charged[0], "approved_by": approved_by}
        # a tool's first attempt asks the policies whether the call needs a person's approval first (in the same
        # checkpointed step: one write less per step when it does not, the usual case)
        ask = kind == "tool" and attempt == 1 and approved_by is None
        result = await DBOS.run_step_async(
            {"name": f"{kind}:{step.id}"}, _attempt, kind, step_def, payload, ctx, step.timeout_s, ask
        )
        if result.get("needs_approval"):
            message = step.message or f"Allow step {step.id!r} to call tool {step.tool!r}?"
            decision = await _gate(run_id, step, message, None, opts)
            if not decision["approved"]:
                return _end("failed", 1, error=f"the call of tool {step.tool!r} was {_rejection(decision)}")
            approved_by = decision["by"]
            attempt = 0
            continue
        spent += result["cost"]
        if result["ok"]:
            return _end("completed", attempt, output=result["output"], cost=spent)
        if attempt >= max_attempts or not result["retryable"]:
            return _end("failed", attempt, error=result["error"], cost=spent)
        await DBOS.sleep_async(backoff_delay(retry, attempt))


def _end(status: str, attempts: int, *, output: Any = None, error: str | None = None, cost: float = 0.0) -> dict:
    return {"status": status, "output": output, "error": error, "attempts": attempts, "cost": cost}


async def _attempt(kind: str, step_def: dict, payload: Any, ctx: dict, timeout: float | None,
                   ask: bool = False) -> dict:
    """One attempt of a step's work, as a DBOS step: its outcome (never an exception) is what gets checkpointed.
    With ``ask``, a tool the policies put behind an approval is not called: the outcome says it needs one."""
    worker = _worker()
    services = worker.services
    step = StepSpec.model_validate(step_def)
    if ask and services.needs_approval(step.tool or "", ctx["workflow"]):
        return {"needs_approval": True}
    context = StepContext(**ctx)
    if worker.spend is not None and context.budget_usd is not None:
        worker.spend.run_limits[context.budget_run_id or context.run_id] = context.budget_usd
    services.event("workflow.step.start", {"run_id": context.run_id, "step": step.id, "kind": kind,
                                           "attempt": context.attempt, "idempotency_key": context.idempotency_key})
    try:
        with anyio.fail_after(timeout) if timeout else contextlib.nullcontext():
            if kind == "agent":
                outcome = await services.run_agent(context, step, payload)
            elif kind == "council":
                outcome = await services.run_council(context, step, payload)
            else:
                outcome = await services.call_tool(context, step.tool or "", payload)
    except Exception as exc:  # noqa: BLE001 - any failure of the work is the attempt's failure
        if isinstance(exc, TimeoutError) and timeout:
            error = f"timed out after {timeout}s"
        elif isinstance(exc, ParacError | StepFailed):
            error = str(exc)
        else:
            error = f"{type(exc).__name__}: {exc}"
        retryable = not isinstance(exc, ParacError) and getattr(exc, "retryable", True)
        services.event("workflow.step.end", {"run_id": context.run_id, "step": step.id, "status": "failed",
                                             "error": error, "attempt": context.attempt})
        return {"ok": False, "error": error, "retryable": retryable, "cost": getattr(exc, "cost", 0.0),
                "output": None}
    services.event("workflow.step.end", {"run_id": context.run_id, "step": step.id, "status": "completed",
                                         "error": None, "attempt": context.attempt, "cost": outcome.cost})
    return {"ok": True, "output": outcome.output, "cost": outcome.cost, "error": None, "retryable": False}


async def _gate(run_id: str, step: StepSpec, template: str, limit: float | None, opts: RunOptions) -> dict:
    """Wait durably for a person's decision: the question is the event ``approval``, the answer a message."""
    if opts.auto_approve:
        decision = {"approved": True, "by": "auto-approve (--yes)", "comment": None}
    else:
        await DBOS.set_event_async("approval", {"status": "waiting", "message": template, "run_id": run_id,
                                                "step": step.id})
        decision = await DBOS.recv_async("approval", timeout_seconds=limit or GATE_WAIT_S)
        if decision is None:
            on_timeout = step.timeout_action or "reject"
            verdict = "approved" if on_timeout == "approve" else "rejected"
            decision = {"approved": on_timeout == "approve", "by": "timeout policy",
                        "comment": f"no answer within {limit}s; {verdict} by policy"}
    await DBOS.set_event_async("approval", {"status": "approved" if decision["approved"] else "rejected",
                                            "message": template, "run_id": run_id, "step": step.id, **decision})
    return decision


async def _sub_workflow(run_id: str, step: StepSpec, inputs: dict, options: dict, charged: list,
                        queue: str) -> dict:
    child = await DBOS.run_step_async({"name": "child_definition"}, _child_definition, step.workflow or "",
                                      inputs)
    if "error" in child:
        return _end("failed", 1, error=child["error"])
    child_id = f"{run_id}.{step.id}"
    with SetWorkflowID(child_id):
        handle = await DBOS.start_workflow_async(run_workflow, child_id, step.workflow or "",
                                                 child["definition"], child["inputs"], _with_trace(options), queue,
                                                 charged)
    result = await handle.get_result(polling_interval_sec=QUEUE_POLL_S)
    if result["status"] != "completed":
        return _end("failed", 1, error=f"sub-workflow {step.workflow!r} (run {child_id}) {result['status']}: "
                                       f"{result['error']}", cost=result["cost"])
    return _end("completed", 1, output=result["outputs"], cost=result["cost"])


def _child_definition(name: str, inputs: dict) -> dict:
    """The child workflow's definition and bound inputs as they are now, checkpointed for every replay."""
    try:
        spec = _services().workflow_spec(name)
        return {"definition": definition_of(spec), "inputs": bind_inputs(spec.inputs or {}, inputs, workflow=name)}
    except ParacError as exc:
        return {"error": str(exc)}


def _render(step: StepSpec, kind: str, context: dict) -> Any:
    where = f"step {step.id!r}"
    if kind in ("agent", "council"):
        return templates.render(step.task or "", context, where=f"{where} task")
    if kind == "tool":
        return templates.render_value(dict(step.arguments or {}), context, where=f"{where} arguments")
    if kind == "workflow":
        return templates.render_value(dict(step.inputs or {}), context, where=f"{where} inputs")
    return templates.render(step.message, context, where=f"{where} message") if step.message else None


def _rejection(decision: dict) -> str:
    return f"rejected by {decision['by']}" + (f": {decision['comment']}" if decision.get("comment") else "")


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, templates.JsonText) else value


# -- the faces' side: enqueue, wait, answer, cancel, list ---------------------------------------------------------


#: How long an enqueue trusts this process's last version check: a newer parac that migrated the database since
#: refuses this one's enqueues from then on (a long-running ``parac serve`` would otherwise go on for ever).
VERSION_RECHECK_S = 30.0
_checked: dict[str, float] = {}  # database URL → time.monotonic() of its last check_version
_checking = threading.Lock()


def _check_current(url: str) -> None:
    """Check the database once per process (reachable, not newer than this parac); the version again once
    :data:`VERSION_RECHECK_S` has passed."""
    with _checking:
        last = _checked.get(url)
        if last is not None and time.monotonic() - last < VERSION_RECHECK_S:
            return
        if last is None:
            check_database(url)
        check_version(url)
        _checked[url] = time.monotonic()


@dataclass
class DbosRuns:
    """What ``parac workflow …``, the MCP tools and ``parac workers`` do with the dbos engine: they only enqueue and
    read (a :class:`DBOSClient`), the workers execute.

    Cheap to make per request: the client runs on the process's pool for the database (:mod:`.pool`), and the
    database is checked (reachable, not used by a newer parac) at the first client, and its version again at an
    enqueue once :data:`VERSION_RECHECK_S` has passed. Every method
    blocks on the database: async callers run them in a thread."""

    url: str
    queue: str = "parac"

    def __post_init__(self) -> None:
        _check_current(self.url)
        self.client = DBOSClient(system_database_engine=pool.engine(self.url), application_name=APP_NAME, lazy=True)

    def close(self) -> None:
        self.client.destroy()

    def enqueue(self, run_id: str, name: str, spec: Any, inputs: dict, options: RunOptions) -> str:
        """Enqueue a new run; the definition travels with it, so the file may change while it runs, and so does the
        trace context of ``enqueue_workflow {name}``, which the worker's spans continue."""
        _check_current(self.url)
        with telemetry.span(f"enqueue_workflow {name}", {"parac.workflow": name, "parac.run_id": run_id,
                                                         "parac.queue": self.queue}):
            self.client.enqueue(
                {"queue_name": self.queue, "workflow_name": "parac.run", "workflow_id": run_id,
                 "app_version": PARAC_VERSION},
                run_id, name, definition_of(spec), inputs, _with_trace(vars(options).copy()), self.queue,
            )
        return run_id

    def wait(self, run_id: str, timeout: float | None = None) -> dict:
        handle = self.client.retrieve_workflow(run_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        while handle.get_status().status in ("ENQUEUED", "PENDING", "DELAYED"):
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} did not end within {timeout}s")
            time.sleep(QUEUE_POLL_S)
        return self.status(run_id)

    def _run(self, run_id: str, *, load_output: bool = False) -> Any:
        """The run's DBOS workflow, when it is a run of this project (its queue's: a project's runs are those it
        enqueued, whoever shares the database); else :class:`RunNotFound`, as for no such run."""
        found = self.client.list_workflows(workflow_ids=[run_id], name="parac.run", load_output=load_output)
        if not found or _queue_of(found[0], 5) != self.queue:
            raise RunNotFound(run_id)
        return found[0]

    def status(self, run_id: str) -> dict:
        """The run as ``status --json`` shows it; a run still going lists its steps as their workflows stand."""
        run = self._run(run_id, load_output=True)
        if run.status == "SUCCESS" and isinstance(run.output, dict):
            return run.output
        steps = []
        for child in self.client.list_workflows(workflow_id_prefix=f"{run_id}/", load_output=True):
            entry = child.output if child.status == "SUCCESS" and isinstance(child.output, dict) else {
                "status": _STATUS.get(child.status, child.status.lower()), "output": None, "error": None,
                "attempts": 0, "cost": 0.0}
            if child.status == "PENDING" and self._gate_waiting(child.workflow_id):
                entry["status"] = "waiting_approval"
            steps.append({"id": child.workflow_id.rsplit("/", 1)[1], **entry})
        status = _STATUS.get(run.status, run.status.lower())
        if status == "running" and any(step["status"] == "waiting_approval" for step in steps):
            status = "waiting_approval"  # as the embedded engine says of a run stopped at a gate
        args = (run.input or {}).get("args") or [None] * 2
        return {"run_id": run_id, "workflow": args[1], "status": status, "steps": steps, "outputs": None, "cost": 0.0,
                "error": str(run.error) if run.error else None}

    def _gate_waiting(self, workflow_id: str) -> dict | None:
        event = self.client.get_event(workflow_id, "approval", timeout_seconds=0)
        return event if event and event.get("status") == "waiting" else None

    def waiting(self, run_id: str | None = None) -> list[dict]:
        """Gates waiting for a person (of one run and its sub-runs, or of every run)."""
        return self._gates([run_id] if run_id else None)

    def _gates(self, run_ids: list[str] | None) -> list[dict]:
        """The waiting gates of these runs and their sub-runs (or of every run of the project): one question to DBOS
        for the steps pending on the project's steps queue, then each one's ``approval`` event."""
        prefixes = {"workflow_id_prefix": [f"{run}{sep}" for run in run_ids for sep in "/."]} if run_ids else {}
        out = []
        for wf in self.client.list_workflows(status="PENDING", name="parac.step", queue_name=steps_queue(self.queue),
                                             load_input=False, load_output=False, **prefixes):
            event = self._gate_waiting(wf.workflow_id)
            if event is not None:
                out.append({"run_id": event["run_id"], "step_id": event["step"], "message": event["message"]})
        return out

    def decide(self, run_id: str, step: str, *, approved: bool, actor: str, comment: str | None = None) -> dict:
        """Answer a waiting gate from any process; refuses a gate that is not waiting (nothing is sent)."""
        target = f"{run_id}/{step}"
        self._run(run_id)
        if self._gate_waiting(target) is None:
            raise NotWaiting(f"step {step!r} of run {run_id} is not waiting for approval")
        self.client.send(target, {"approved": approved, "by": actor, "comment": comment}, topic="approval",
                         idempotency_key=f"{target}:decision")
        return {"run_id": run_id, "step": step, "status": "approved" if approved else "rejected", "by": actor,
                "comment": comment}

    def cancel(self, run_id: str) -> None:
        self._run(run_id)
        self.client.cancel_workflow(run_id)
        for child in self.client.list_workflows(workflow_id_prefix=f"{run_id}/", status="PENDING"):
            self.client.cancel_workflow(child.workflow_id)
        for child in self.client.list_workflows(workflow_id_prefix=f"{run_id}/", status="ENQUEUED"):
            self.client.cancel_workflow(child.workflow_id)

    def resume(self, run_id: str) -> None:
        """Resume a cancelled run: its cancelled steps first (the run waits for them), then the run itself; finished
        steps keep their checkpointed outcome. A run that is running or ended is refused (a worker's death needs
        no resume: another worker recovers it)."""
        run = self._run(run_id)
        if run.status != "CANCELLED":
            raise NotWaiting(f"run {run_id} is {_STATUS.get(run.status, run.status.lower())}: only a "
                             "cancelled run is resumed on the dbos engine (workers recover interrupted ones)")
        for child in self.client.list_workflows(workflow_id_prefix=f"{run_id}/", status="CANCELLED",
                                                load_input=False, load_output=False):
            self.client.resume_workflow(child.workflow_id, queue_name=steps_queue(self.queue))
        self.client.resume_workflow(run_id, queue_name=self.queue)

    def runs(self, *, limit: int, where: RunFilter | None = None, cursor: str | None = None
             ) -> tuple[list[dict], str | None]:
        """This project's top-level runs newest first, as ``workflow runs`` lists them, that ``where`` lets through
        as the embedded engine's listing does: a page of ``limit`` and the cursor of the next one. DBOS is asked for
        the project's runs, the time window and the workflow statuses a ``status`` can be, in two streams merged
        by age (:meth:`_scan`); the rest is checked here: the workflow, the status as the run reports it (a run
        that ended with a failed step is a DBOS success; one stopped at a gate, asked of DBOS for the page's running
        runs at once), ``agent`` (a step of that agent, or a council it sits on, that started: the run's definition
        says which agent a step is, DBOS which started). ``pending`` is this engine's ``queued``: enqueued, not yet
        taken by a worker."""
        where = where or RunFilter()
        try:
            offsets = [int(part) for part in (cursor or "0.0").split(".")]
            if len(offsets) != 2 or min(offsets) < 0:
                raise ValueError(cursor)
        except ValueError:
            raise ParacError(f"not a cursor of this database's runs: {cursor!r}") from None
        asked: dict[str, Any] = {"name": "parac.run", "has_parent": False, "sort_desc": True}
        if where.since is not None:
            asked["start_time"] = _iso(where.since)
        if where.until is not None:
            asked["end_time"] = _iso(where.until)
        statuses = [name for name, status in _STATUS.items()
                    if where.status is None or status in _MAY_BE[where.status]]
        # asked for running runs or those at a gate, the gates decide which are listed: the project's, asked once
        gated = {gate["run_id"] for gate in self._gates(None)} if where.status in _GATED else None
        page_of = self._gated if gated is None else list
        rows: list[dict] = []
        for stream, wf in self._scan(asked, statuses, offsets, page=min(200, limit + 1)):
            offsets[stream] += 1
            row = self._listed(wf, where)
            if row is not None and gated is not None and _at_gate(row["run_id"], gated):
                row["status"] = "waiting_approval"
            if row is None or (gated is not None and row["status"] != where.status):
                continue
            if len(rows) == limit:
                offsets[stream] -= 1  # this run starts the next page
                return page_of(rows), ".".join(map(str, offsets))
            rows.append(row)
        return page_of(rows), None

    def _scan(self, asked: dict[str, Any], statuses: list[str], offsets: list[int], *, page: int) -> Any:
        """``(stream, run)`` newest first from two DBOS listings, each from its offset: stream 0 the runs on the
        project's queue (DBOS filters them); stream 1 the cancelled and dead-lettered ones, whose queue DBOS forgets,
        so their project is read from their arguments here."""

        def listing(stream: int, statuses: list[str], **more: Any) -> Any:
            offset = offsets[stream]
            while statuses:
                found = self.client.list_workflows(status=statuses, limit=page, offset=offset, **asked, **more)
                for wf in found:
                    if stream == 0 or _queue_of(wf, 5) == self.queue:
                        yield stream, wf
                    else:
                        offsets[stream] += 1  # another project's: passed over, as if listed and filtered out
                offset += len(found)
                if len(found) < page:
                    return

        queued = [status for status in statuses if status not in _UNQUEUED]
        return heapq.merge(listing(0, queued, queue_name=self.queue),
                           listing(1, [status for status in statuses if status in _UNQUEUED]),
                           key=lambda item: -(item[1].created_at or 0))

    def _listed(self, wf: Any, where: RunFilter) -> dict | None:
        """The listing's row of the project's run ``wf`` (a running one not yet told apart from one at a gate: see
        :meth:`_gated`), or None when ``where`` leaves it out."""
        args = (wf.input or {}).get("args") or []
        created = (wf.created_at or 0) / 1000
        if where.workflow is not None and args[1] != where.workflow:
            return None
        if (where.since is not None and created < where.since) or (where.until is not None and created >= where.until):
            return None
        ended = wf.output if wf.status == "SUCCESS" and isinstance(wf.output, dict) else None
        status = ended["status"] if ended else _STATUS.get(wf.status, wf.status.lower())
        asked = _LISTED_AS.get(where.status, where.status) if where.status not in _GATED else None
        if asked is not None and status != asked:
            return None
        if where.agent is not None and not self._started_agent(wf.workflow_id, args[2], ended, where.agent):
            return None
        error = ended["error"] if ended else str(wf.error) if wf.error else None
        return {"run_id": wf.workflow_id, "workflow": args[1], "status": status, "created_at": created, "error": error}

    def _gated(self, rows: list[dict]) -> list[dict]:
        """``rows`` with each running run that waits at a gate (its own or a sub-run's) said to be
        ``waiting_approval``, as the embedded engine says of it; the gates of all of them asked of DBOS at once."""
        running = [row for row in rows if row["status"] == "running"]
        if running:
            gated = {gate["run_id"] for gate in self._gates([row["run_id"] for row in running])}
            for row in running:
                if _at_gate(row["run_id"], gated):
                    row["status"] = "waiting_approval"
        return rows

    def _started_agent(self, run_id: str, definition: dict, ended: dict | None, agent: str) -> bool:
        """Whether a step of ``agent`` (its agent step, or a council with it as member or judge) started."""
        spec = WorkflowSpec.model_validate(definition)
        steps = {step.id for step in spec.steps
                 if agent in (step.agent_name, *(step.agents or ()), step.judge if step.type == "council" else None)}
        if not steps:
            return False
        if ended is not None:
            return any(entry["id"] in steps and entry["status"] not in ("pending", "skipped") for entry in ended["steps"])
        children = self.client.list_workflows(workflow_id_prefix=f"{run_id}/", load_input=False, load_output=False)
        return any(child.workflow_id.rsplit("/", 1)[1] in steps for child in children)

    def workers(self) -> list[dict]:
        """Live workers, each with its load: the runs and steps it is executing now."""
        with pool.connection(self.url) as conn:
            rows = conn.execute(
                "SELECT w.executor_id, w.host, w.pid, w.queue, w.concurrency, w.version, "
                "extract(epoch FROM now() - w.heartbeat), "
                "(SELECT count(*) FROM dbos.workflow_status s WHERE s.executor_id = w.executor_id "
                " AND s.status = 'PENDING' AND s.queue_name IS NOT NULL) "
                "FROM parac_workers w ORDER BY w.executor_id"
            ).fetchall()
        return [{"executor_id": r[0], "host": r[1], "pid": r[2], "queue": r[3], "concurrency": r[4], "version": r[5],
                 "heartbeat_age_s": round(float(r[6]), 2), "alive": float(r[6]) < DEAD_AFTER_S, "load": int(r[7])}
                for r in rows]


_STATUS = {"ENQUEUED": "queued", "PENDING": "running", "SUCCESS": "completed", "ERROR": "failed",
           "CANCELLED": "cancelled", "MAX_RECOVERY_ATTEMPTS_EXCEEDED": "failed"}
#: The statuses of workflows DBOS takes off their queue (``queue_name`` cleared): the listing finds their project
#: from their arguments.
_UNQUEUED = ("CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED")
#: The run statuses asked for (``RunFilter.status``) that only a run's gates tell apart (both a pending workflow).
_GATED = ("running", "waiting_approval")
#: A run status asked for (``RunFilter.status``) as this engine lists it.
_LISTED_AS = {"pending": "queued"}
#: The statuses (of :data:`_STATUS`) of the DBOS workflows a run of each status may be: a run that ended with a failed
#: step is a DBOS success; one stopped at a gate is a pending workflow.
_MAY_BE = {"pending": {"queued"}, "running": {"running"}, "waiting_approval": {"running"},
           "completed": {"completed"}, "failed": {"completed", "failed"}, "cancelled": {"cancelled"}}


def _queue_of(wf: Any, position: int) -> str | None:
    """The queue a ``parac.run`` (argument 5) or ``parac.step`` (argument 8) was enqueued for: its project's."""
    args = (wf.input or {}).get("args") or []
    return args[position] if len(args) > position else None


def _at_gate(run_id: str, gated: set[str]) -> bool:
    """Whether the run, or one of its sub-runs (``RUN.STEP``), is among the runs with a waiting gate."""
    return any(run == run_id or run.startswith(run_id + ".") for run in gated)


def _iso(moment: float) -> str:
    """A Unix time as DBOS's listing takes a time bound (ISO 8601)."""
    return datetime.fromtimestamp(moment, timezone.utc).isoformat()
