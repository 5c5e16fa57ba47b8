"""Time travel over recorded runs: replay (re-execute from the record, $0), fork (a new run from a step on) and diff.

**Replay** re-executes a run with the model answers taken from its record (:mod:`parac.core.recording`) and the
tools answered from it too, so nothing outside is touched and nothing is spent. The agent loop, the prompts
(system prompt, skills, recalled memory), the templates and the scheduling all run for real, in a scratch database
that is thrown away; each request the loop builds is compared with the recorded one, and each step's result with
the recorded result. A human step gets the recorded answer of its task, as the person who gave it (nobody is asked,
nothing waits); one the record holds no answer to stops the replay there, and the report says so. A report names
every step that differs and why: an agent, skill or workflow file changed since, or the recorded run did something
the code no longer does.

**Fork** starts a new, real run of a finished workflow run that reuses the recorded outputs of every step that does
not depend on ``STEP`` (no model call for them) and runs ``STEP`` and everything downstream of it, with inputs and
the model optionally replaced. A state machine, a behaviour tree or an LLM plan has no dependencies to follow: its
steps are what happened, in order (an FSM's visits ``triage``, ``triage#2``...), so a fork reuses every row that
ended before ``STEP`` began and runs the rest, as the run's own rules decide again from there. The reuse is the
engine's own resume: the new run is created with those steps already checkpointed as done (with their recorded
times, so they keep their order). The new run names its parent in its options (``workflow status`` shows it) and a
``workflow.run.fork`` event puts the link in the audit trail.

**Diff** compares two workflow runs step by step: status, output, cost, and the inputs of the runs.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import recording
from .calls import CallContext
from .diagnostics import ParacError, suggestion
from .errors import NotFound
from .providers import CompletionRequest, ProviderError, TextSink, ToolCallRequest
from .runtime import Runtime, Turns
from .store import connect

if TYPE_CHECKING:
    from .workflows.runs import WorkflowRunner
    from .workspace import Workspace

#: The model id a replayed agent runs on: answers come from the record, never from a provider.
REPLAY_MODEL = "replay"


class ReplayError(ParacError):
    """A run that cannot be replayed or forked as asked (in flight, recorded before this feature, unknown step)."""


class AgentRunNotFound(ReplayError, NotFound):
    """No agent run of that id was ever made in this workspace (a face answers: not found)."""


class RunInFlight(ReplayError):
    """The run has not finished: what it did is not all recorded yet (a conflict with its state, not bad input)."""


@dataclass
class StepReport:
    id: str
    same: bool
    recorded: dict[str, Any]
    replayed: dict[str, Any]
    differences: list[str] = field(default_factory=list)


@dataclass
class ReplayReport:
    """What a replay found: ``identical`` when every step (or turn) reproduced the record."""

    run_id: str
    kind: str  # "workflow" or "agent"
    identical: bool
    steps: list[StepReport]
    model_calls: int
    cost_usd: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# -- answering from the record --------------------------------------------------------------------------------------
class _Recorded:
    """A provider that answers each turn with the recorded response and notes where the request differs."""

    name = "replay"

    def __init__(self, calls: list[recording.ModelCallRecord], redact: Any) -> None:
        self.calls = calls
        self.redact = redact
        self.index = 0
        self.sent = 0
        self.differences: list[str] = []

    def accepts(self, model: str) -> bool:
        return model == REPLAY_MODEL

    @property
    def current(self) -> recording.ModelCallRecord:
        return self.calls[self.index - 1]

    async def complete(self, request: CompletionRequest, on_text: TextSink | None = None) -> recording.Completion:
        if self.index >= len(self.calls):
            self.differences.append(f"turn {self.index + 1}: the recorded run made no model call here")
            raise ProviderError(f"the record has no model call {self.index + 1}", retryable=False)
        record = self.calls[self.index]
        self.index += 1
        messages = request.messages[self.sent:] if len(request.messages) >= self.sent else request.messages
        asked = self.redact({"messages": messages, "tools": [t["function"]["name"] for t in request.tools or []]})
        for key in ("messages", "tools"):
            if asked[key] != record.request.get(key):
                self.differences.append(f"turn {self.index}: {_what_differs(key, asked[key], record.request.get(key))}")
        answer = recording.completion_from(record.response)
        self.sent = len(request.messages) + 1 + len(answer.tool_calls)
        if on_text is not None and answer.text:
            on_text(answer.text)
        return answer


def _what_differs(key: str, now: Any, then: Any) -> str:
    if key == "tools":
        return f"the tools offered differ (now {now}, recorded {then})"
    then = then or []
    for index, (a, b) in enumerate(zip(now, then)):
        if a != b:
            return f"message {index + 1} ({a.get('role')}) differs from the record"
    return f"{len(now)} messages sent where the record has {len(then)}"


class _ReplayRuntime(Runtime):
    """The runtime with tools answered from the record and memory read from the workspace, written nowhere."""

    def __init__(self, workspace: Workspace, scratch: Any, memory_conn: Any, provider: _Recorded) -> None:
        super().__init__(workspace, connection=scratch, providers=[provider])
        self.provider = provider
        self.memory_conn = memory_conn

    def recalled(self, resolved: Any, task: str, conn: Any = None) -> str:
        return super().recalled(resolved, task, conn or self.memory_conn)

    def _remember(self, resolved: Any, task: str, result: Any) -> None:
        return None  # a replay leaves no episode

    async def _run_tool(self, request: ToolCallRequest, turns: Turns) -> str:
        results = self.provider.current.tool_results
        if request.id not in results:
            self.provider.differences.append(f"turn {self.provider.index}: no recorded result for tool call "
                                             f"{request.name} ({request.id})")
            return json.dumps({"error": "no recorded result", "tool": request.name})
        return results[request.id]


class _Scratch:
    """A throw-away database for a replay's bookkeeping (ledger rows, checkpoints, records)."""

    def __enter__(self) -> Any:
        self.folder = tempfile.TemporaryDirectory(prefix="parac-replay-")
        self.conn = connect(Path(self.folder.name) / "replay.db")
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.close()
        self.folder.cleanup()


async def _replay_agent_run(
    workspace: Workspace, conn: Any, scratch: Any, record: recording.AgentRunRecord, task: str | None = None
) -> tuple[Any, _Recorded]:
    calls = recording.model_calls(conn, record.agent_run)
    provider = _Recorded(calls, workspace.current_policies().redactor().value)
    with _ReplayRuntime(workspace, scratch, conn, provider) as runtime:
        result = await runtime.run(record.agent, task if task is not None else record.task, model=REPLAY_MODEL,
                                   context=CallContext(actor="replay"))
    if provider.index < len(calls):
        provider.differences.append(f"the replay stopped after {provider.index} of {len(calls)} recorded model calls")
    return result, provider


def _made_before_recording(conn: Any, agent_run: str) -> bool:
    """Whether the cost ledger knows ``agent_run`` (every model call of a run is there, recorded or not)."""
    import sqlite3

    try:
        return conn.execute("SELECT 1 FROM llm_calls WHERE run_id = ? LIMIT 1", (agent_run,)).fetchone() is not None
    except sqlite3.OperationalError:  # no ledger yet: no call was ever made here
        return False


def _agent_view(status: str, output: Any) -> dict[str, Any]:
    return {"status": status, "output": output}


async def replay_agent(workspace: Workspace, agent_run: str) -> ReplayReport:
    """Re-execute a recorded agent run from its record; each turn compared (no model call, no tool run, $0)."""
    from .store import connect_workspace

    conn = recording.ensure_schema(connect_workspace(workspace.root))
    try:
        record = recording.find_agent_run(conn, agent_run)
        if record is None:
            if _made_before_recording(conn, agent_run):
                raise ReplayError(f"agent run {agent_run} was made before parac recorded model calls: its calls are in "
                                  "the cost ledger but not what was sent and answered, so it cannot be replayed")
            raise AgentRunNotFound(f"no agent run {agent_run!r} in this workspace (see `parac agents runs` for the "
                                   "recorded ones)")
        if record.status == "running":
            raise RunInFlight(f"agent run {agent_run} is still running; replay it once it has finished")
        with _Scratch() as scratch:
            result, provider = await _replay_agent_run(workspace, conn, scratch, record)
    finally:
        conn.close()
    recorded = _agent_view(record.status, record.output)
    replayed = _agent_view(result.status, workspace.current_policies().redactor().text(result.output))
    differences = list(provider.differences)
    if recorded != replayed:
        differences.append(f"the outcome differs: recorded {record.status}, replayed {result.status}")
    report = StepReport(record.agent, not differences, recorded, replayed, differences)
    return ReplayReport(agent_run, "agent", report.same, [report], provider.index)


def agent_runs(workspace: Workspace, *, limit: int = 50, agent: str | None = None) -> list[dict[str, Any]]:
    """Recorded agent runs (of one agent: by its index), newest first (what ``parac agents replay`` takes)."""
    from .store import connect_workspace

    conn = recording.ensure_schema(connect_workspace(workspace.root))
    try:
        rows = conn.execute(
            "SELECT agent_run, agent, model, status, cost, run_id, workflow, step, created_at FROM agent_runs"
            + (" WHERE agent = ?" if agent is not None else "") + " ORDER BY created_at DESC LIMIT ?",
            (agent, limit) if agent is not None else (limit,))
        return [dict(row) for row in rows]
    finally:
        conn.close()


# -- workflows -------------------------------------------------------------------------------------------------------
class _ReplayServices:
    """The engine's services for a replay: agent steps from their records, tool steps from their recorded outputs."""

    def __init__(self, workspace: Workspace, conn: Any, scratch: Any, top_run: str) -> None:
        from .workflows import checkpoints as cp

        self.workspace = workspace
        self.conn = conn
        self.scratch = scratch
        self.top_run = top_run
        self.cp = cp
        self.model_calls = 0
        self.differences: dict[tuple[str, str], list[str]] = {}

    async def run_agent(self, ctx: Any, step: Any, task: str) -> Any:
        from .workflows.engine import StepFailed, StepOutcome

        record = recording.step_agent_run(self.conn, ctx.budget_run_id or ctx.run_id, ctx.workflow, ctx.step_id)
        if record is None:
            raise StepFailed("no recorded agent run for this step", retryable=False)
        result, provider = await _replay_agent_run(self.workspace, self.conn, self.scratch, record, task)
        self.model_calls += provider.index
        self.differences[(ctx.run_id, ctx.step_id)] = provider.differences
        if not result.ok:
            raise StepFailed(f'agent "{record.agent}" {result.status}: {result.error}', retryable=False)
        return StepOutcome(result.output, 0.0)

    async def call_tool(self, ctx: Any, tool: str, args: dict) -> Any:
        from .workflows.engine import StepFailed, StepOutcome

        row = self.cp.get_steps(self.conn, ctx.run_id).get(ctx.step_id)
        if row is None or row.status != "completed":
            raise StepFailed(f"the recorded run has no result of tool {tool!r} here", retryable=False)
        return StepOutcome(row.output, 0.0)

    def needs_approval(self, tool: str, workflow: str) -> bool:
        return False  # the tool is not called: its recorded result is used

    async def answer(self, task: Any, problem: str | None) -> tuple[Any, str] | None:
        """The engine's answerer: a human step is answered with the recorded answer of its task, as the person who
        gave it; a task the record holds no answer to is reported, and the replay stops there rather than waits."""
        from .workflows.human import get_task

        recorded = get_task(self.conn, task.run_id, task.step_id)
        if recorded is None or recorded.status != "answered" or problem is not None:
            why = f"the recorded answer no longer fits the form: {problem}" if problem else (
                "the record holds no answer to it (the run ended before anyone answered)")
            self.differences.setdefault((task.run_id, task.step_id), []).append(
                f"human step {task.step_id!r} cannot be replayed: {why}")
            return None
        return recorded.answer, recorded.actor or "replay"

    def workflow_spec(self, name: str) -> Any:
        row = self.conn.execute(
            "SELECT definition FROM workflow_runs WHERE run_id LIKE ? AND workflow = ? LIMIT 1",
            (self.top_run + ".%", name)).fetchone()
        if row is None:
            raise ParacError(f"the recorded run has no run of sub-workflow {name!r}")
        return self.parse_definition(json.loads(row[0]))

    def parse_definition(self, definition: dict) -> Any:
        from .specs import WorkflowSpec

        return WorkflowSpec.model_validate(definition)

    def event(self, name: str, data: dict) -> None:
        return None


def _finished_run(conn: Any, run_id: str, doing: str) -> Any:
    from .workflows import checkpoints as cp

    run = cp.get_run(conn, run_id)
    if run.status not in cp.FINISHED:
        raise RunInFlight(f"run {run_id} is {run.status}; {doing} it once it has finished (or cancel it first)")
    return run


def _reused(conn: Any, run: Any) -> list[str]:
    """The steps a forked run took over from its parent rather than ran (none for a run that is not a fork)."""
    from .workflows import checkpoints as cp

    parent, step = run.options.get("forked_from"), run.options.get("fork_step")
    if not parent or not step:
        return []
    if run.options.get("reused") is not None:
        return list(run.options["reused"])
    if _is_dag(run.definition):
        return [s["id"] for s in run.definition.get("steps", []) if s["id"] not in downstream(run.definition, step)]
    return _ended_before(cp.get_steps(conn, parent), step)


def _is_dag(definition: dict) -> bool:
    return (definition.get("kind") or "dag") == "dag"


def _ended_before(rows: Mapping[str, Any], step: str) -> list[str]:
    """Of another kind's rows, those that ended before ``step`` began, in the order they happened: what came
    before it on the run's own path (an FSM's earlier visits, a tree's actions and nodes that had ended). None when
    the parent never began ``step`` (a fork recorded before forks listed what they reused)."""
    began = rows[step].started_at if step in rows else None
    if began is None:
        return []
    return [row.step_id for row in sorted(rows.values(), key=lambda row: row.started_at or row.finished_at or 0.0)
            if row.finished_at is not None and row.finished_at <= began and row.step_id != step]


def _copied(run_id: str, rows: Mapping[str, Any], ids: list[str]) -> list[Any]:
    """Checkpoint operations that give run ``run_id`` the rows ``ids`` as they were recorded, times included, so a
    kind that lists its steps in the order they happened lists them in the recorded order."""
    from .workflows import checkpoints as cp

    return [cp.finish_op(run_id, sid, rows[sid].status, output=rows[sid].output, error=rows[sid].error,
                         started_at=rows[sid].started_at, finished_at=rows[sid].finished_at) for sid in ids]


def _check_recorded(conn: Any, run: Any) -> None:
    """Refuse a run whose agent steps finished before model calls were recorded: it cannot be re-executed."""
    from .workflows import checkpoints as cp
    from .workflows.engine import shown_steps
    from .workflows.graph import step_kind

    rows = cp.get_steps(conn, run.run_id)
    reused = set(_reused(conn, run))
    for step in shown_steps(run.definition, rows):
        row = rows.get(step["id"])
        if (step_kind(step) != "agent" or step.get("final") or "node" in step  # a final state, a node: no agent
                or row is None or row.status != "completed" or step["id"] in reused):
            continue
        if recording.step_agent_run(conn, run.run_id, run.workflow, step["id"]) is None:
            raise ReplayError(
                f"run {run.run_id} was recorded before parac kept model calls (step {step['id']!r} has no record), "
                f"so it cannot be replayed; `parac workflow fork {run.run_id} --from {step['id']}` runs it again"
            )


def _view(step: Mapping[str, Any], kind: str) -> dict[str, Any]:
    output = step.get("output")
    if kind == "approval" and isinstance(output, dict):
        output = {"approved": output.get("approved")}
    return {"status": step["status"], "output": output}


async def replay_workflow(workspace: Workspace, run_id: str) -> ReplayReport:
    """Re-execute a finished workflow run from its record and report every step whose result differs."""
    from .store import connect_workspace
    from .workflows import checkpoints as cp
    from .workflows.engine import Engine, shown_steps, summarize
    from .workflows.graph import step_kind

    conn = connect_workspace(workspace.root)
    try:
        cp.ensure_schema(conn)
        recording.ensure_schema(conn)
        run = _finished_run(conn, run_id, "replay")
        if run.parent_run:
            raise ReplayError(f"run {run_id} is a sub-workflow of run {run.parent_run}; replay that run")
        _check_recorded(conn, run)
        original = summarize(conn, run_id)
        with _Scratch() as scratch:
            services = _ReplayServices(workspace, conn, scratch, run_id)
            engine = Engine(scratch, services, answerer=services.answer)
            rows = cp.get_steps(conn, run_id)
            kinds = {step["id"]: step_kind(step) for step in shown_steps(run.definition, rows)}
            taken = _copied(run_id, rows, [sid for sid in _reused(conn, run) if sid in rows])  # as the fork did
            # a person's answer comes from the record (services.answer); without one the replay stops, never waits
            options = {**run.options, "auto_approve": True, "model": None, "pause_on_approval": True}
            _, insert = cp.new_run(run_id=run_id, workflow=run.workflow, definition=run.definition,
                                   inputs=run.inputs, options=options, owner=engine.owner)
            cp.write(scratch, [insert, *taken])
            replayed = await engine.execute(run_id)
    finally:
        conn.close()
    redact = workspace.current_policies().redactor().value
    reports = []
    done = {step["id"]: step for step in replayed.steps}
    for before in original.steps:
        kind = kinds.get(before["id"], "agent")
        then = _view(before, kind)
        after = done.pop(before["id"], None)
        now = redact(_view(after, kind)) if after is not None else {}
        differences = list(services.differences.get((run_id, before["id"]), []))
        if after is None:
            differences.append("the replay did not reach this step")
        elif then != now:
            what = "status" if then["status"] != now["status"] else "output"
            differences.append(f"the {what} differs: recorded {then[what]!r}, replayed {now[what]!r}"[:500])
        reports.append(StepReport(before["id"], not differences, then, now, differences))
    for extra in done.values():  # the replay took a path the recorded run did not
        reports.append(StepReport(extra["id"], False, {}, redact(_view(extra, kinds.get(extra["id"], "agent"))),
                                  ["the recorded run has no such step: the replay took another path"]))
    return ReplayReport(run_id, "workflow", all(r.same for r in reports), reports, services.model_calls)


def downstream(definition: dict, step: str) -> set[str]:
    """``step`` and every step that depends on it, directly or not."""
    steps = definition.get("steps", [])
    found = {step}
    changed = True
    while changed:
        changed = False
        for other in steps:
            if other["id"] not in found and found & set(other.get("depends_on") or []):
                found.add(other["id"])
                changed = True
    return found


async def fork_workflow(
    runner: WorkflowRunner, run_id: str, step: str, *, inputs: Mapping[str, Any] | None = None,
    model: str | None = None, text_inputs: bool = False,
) -> Any:
    """Start a new run of a finished run's workflow from ``step`` (see the module docstring); return its result."""
    from .workflows import checkpoints as cp
    from .workflows.engine import RunOptions
    from .workflows.inputs import bind_inputs

    conn = runner.conn
    parent = _finished_run(conn, run_id, "fork")
    if parent.parent_run:
        raise ReplayError(f"run {run_id} is a sub-workflow of run {parent.parent_run}; fork that run")
    rows = cp.get_steps(conn, run_id)
    reused = _fork_reuses(parent, rows, step)
    spec = runner.services.parse_definition(parent.definition)
    given = {key: value for key, value in parent.inputs.items() if value is not None}
    bound = bind_inputs(spec.inputs or {}, {**given, **(inputs or {})}, workflow=parent.workflow, text=text_inputs)
    options = RunOptions(model=model, forked_from=run_id, fork_step=step, reused=reused)
    new_id = cp.new_run_id()
    _, insert = cp.new_run(run_id=new_id, workflow=parent.workflow, definition=parent.definition, inputs=bound,
                           options=vars(options).copy(), owner=runner.engine.owner)
    cp.write(conn, [insert, *_copied(new_id, rows, reused)])
    runner.services.event("workflow.run.fork", {"run_id": new_id, "workflow": parent.workflow, "parent_run": run_id,
                                                "from_step": step, "reused": reused, "model": model})
    return await runner.execute(new_id)


def _fork_reuses(parent: Any, rows: Mapping[str, Any], step: str) -> list[str]:
    """The steps of ``parent`` a fork from ``step`` takes over, or why ``step`` is no place to fork from."""
    from .workflows import checkpoints as cp

    if _is_dag(parent.definition):
        ids = [s["id"] for s in parent.definition.get("steps", [])]
        if step not in ids:
            raise ReplayError(f"run {parent.run_id} has no step {step!r}{suggestion(step, ids)} (steps: {', '.join(ids)})")
        rerun = downstream(parent.definition, step)
        return [sid for sid in ids if sid not in rerun and rows.get(sid) and rows[sid].status in cp.STEP_DONE]
    worked = [row.step_id for row in sorted(rows.values(), key=lambda row: row.started_at or row.finished_at or 0.0)
              if row.started_at is not None]  # a final state or a node's end did no work of its own
    if step not in worked:
        what = "a step that did no work of its own (a final state or a node's end)" if step in rows else "no step"
        raise ReplayError(f"run {parent.run_id} has {what} {step!r}{suggestion(step, worked)}; fork from one that"
                          f" did work: {', '.join(worked)}")
    # a failure that came before is history too (a selector went on to its next child after it)
    return [sid for sid in _ended_before(rows, step) if rows[sid].status in (*cp.STEP_DONE, "failed")]


def _diffed(step: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What a diff shows of a step: status, output, cost, and the run it was reused from (with its cost there)."""
    if step is None:
        return None
    shown = {key: step[key] for key in ("status", "output", "cost")}
    if "reused_from" in step:
        shown["reused_from"] = step["reused_from"]
    return shown


def _compared(step: Mapping[str, Any] | None, key: str) -> Any:
    """A step's ``key`` as a diff compares it: a reused step's cost is what its work cost where it was done, so a
    fork's reuse does not read as a change of cost (the $0 it cost the fork is shown beside)."""
    if step is None:
        return None
    if key == "cost" and "reused_from" in step and step["reused_from"]["cost"] is not None:
        return step["reused_from"]["cost"]
    return step[key]


def diff_runs(conn: Any, run_a: str, run_b: str) -> dict[str, Any]:
    """Step by step, what differs between two workflow runs: status, output and cost; and their inputs. A step a
    fork reused says from which run, with its cost there; ``reused_cost`` is each run's total of those (spent by
    the run it was reused from, not by this one)."""
    from .workflows import checkpoints as cp
    from .workflows.engine import summarize

    first, second = cp.get_run(conn, run_a), cp.get_run(conn, run_b)
    a, b = summarize(conn, run_a), summarize(conn, run_b)
    steps_a = {s["id"]: s for s in a.steps}
    steps_b = {s["id"]: s for s in b.steps}
    order = list(steps_a) + [sid for sid in steps_b if sid not in steps_a]
    steps = []
    for sid in order:
        left, right = _diffed(steps_a.get(sid)), _diffed(steps_b.get(sid))
        changed = [key for key in ("status", "output", "cost")
                   if _compared(left, key) != _compared(right, key)]
        steps.append({"id": sid, "changed": changed, "a": left, "b": right})
    inputs = {key: {"a": first.inputs.get(key), "b": second.inputs.get(key)}
              for key in sorted(set(first.inputs) | set(second.inputs))
              if first.inputs.get(key) != second.inputs.get(key)}
    reused = {side: (run.forked_from or {}).get("reused_cost", 0.0) for side, run in (("a", a), ("b", b))}
    return {"a": run_a, "b": run_b, "workflows": [first.workflow, second.workflow], "inputs": inputs,
            "status": {"a": a.status, "b": b.status}, "cost": {"a": a.cost, "b": b.cost}, "reused_cost": reused,
            "same": not inputs and all(not s["changed"] for s in steps), "steps": steps}
