"""Human tasks (``type: human``): a step or state that waits for a person's answer to a form.

A task is assigned to a role (``assign:``) when its step starts, and kept in the workspace's database beside the
run, so it can be listed (``parac workflow tasks --role R``) and answered (``parac workflow answer``, the MCP tool
``answer_task``, MCP elicitation, or any face that calls :func:`answer`) from any process. The answer must satisfy
the step's ``form:`` (a JSON Schema, checked with ``jsonschema``); an answer that does not is refused with the
reasons and the task stays open. The answer is the step's output.

Escalation is a pure function of time: ``escalate: [{after_s, to}]`` says which role holds the task
``after_s`` seconds after it was assigned. :func:`escalate_due` moves every open task to the role its age says,
and is called wherever tasks are looked at (the waiting run, the listing, an answer), with the caller's clock,
so tests inject one and no timer process is needed. Each assignment, escalation, answer and refused answer is
reported as an event, which governance writes to the audit trail.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from ..diagnostics import ParacError
from ..errors import NotFound
from ..store import transaction
from .checkpoints import resumed_op, waiting_ops

Clock = Callable[[], float]
#: How often the engine's answerer (MCP elicitation) is asked again after a refused answer before the task waits.
ASKS = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS workflow_tasks (
    run_id TEXT NOT NULL,
    step_id TEXT NOT NULL,
    status TEXT NOT NULL,
    role TEXT NOT NULL,
    message TEXT,
    form TEXT,
    escalate TEXT NOT NULL,
    level INTEGER NOT NULL DEFAULT 0,
    answer TEXT,
    actor TEXT,
    assigned_at REAL NOT NULL,
    answered_at REAL,
    PRIMARY KEY (run_id, step_id)
) WITHOUT ROWID;
"""


class TaskRefused(ParacError):
    """An answer that does not satisfy the task's form, or a task that cannot be answered (not open, unknown)."""


class NoSuchTask(TaskRefused, NotFound):
    """The run has no human task of that name (a face answers: not found)."""


class TaskAnswered(TaskRefused):
    """The task was answered already (a face answers: conflict)."""


class AnswerInvalid(TaskRefused):
    """The answer does not fit the task's form; ``errors`` holds each problem as ``{"loc": [...], "msg": ...}``
    (``loc`` the path inside the answer) so a face can show every one at its place."""

    def __init__(self, message: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.errors = errors


@dataclass
class Task:
    run_id: str
    step_id: str
    status: str  # open or answered
    role: str  # who holds it now
    message: str | None
    form: dict | None
    escalate: list[dict]  # [{after_s, to}] as the step declared them
    level: int  # how many escalations have happened
    answer: Any
    actor: str | None
    assigned_at: float
    answered_at: float | None

    def to_json(self) -> dict:
        return asdict(self)


def ensure_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(_SCHEMA)


def _task(row: sqlite3.Row | tuple) -> Task:
    (run_id, step_id, status, role, message, form, escalate, level, answer, actor, assigned_at, answered_at) = row
    return Task(run_id, step_id, status, role, message, json.loads(form) if form else None, json.loads(escalate),
                level, json.loads(answer) if answer is not None else None, actor, assigned_at, answered_at)


_COLUMNS = "run_id, step_id, status, role, message, form, escalate, level, answer, actor, assigned_at, answered_at"


def get_task(conn: sqlite3.Connection, run_id: str, step_id: str) -> Task | None:
    ensure_schema(conn)
    row = conn.execute(f"SELECT {_COLUMNS} FROM workflow_tasks WHERE run_id = ? AND step_id = ?", (run_id, step_id)).fetchone()
    return _task(row) if row else None


def assign(conn: sqlite3.Connection, run_id: str, step: Any, message: str, now: float) -> tuple[Task, bool]:
    """The step's task, created (and assigned to ``step.assign``) unless it exists: (task, whether it is new).

    A resumed run finds its task as it was left: an answer given while no process ran the run stands.
    """
    found = get_task(conn, run_id, step.id)
    if found is not None:
        return found, False
    escalate = [{"after_s": rule.after_s, "to": rule.to} for rule in step.escalate or ()]
    with transaction(conn):  # the run waits for a person, as at a gate: faces show it and say how to answer
        conn.execute(
            f"INSERT INTO workflow_tasks ({_COLUMNS}) VALUES (?, ?, 'open', ?, ?, ?, ?, 0, NULL, NULL, ?, NULL)",
            (run_id, step.id, step.assign, message, json.dumps(step.form) if step.form is not None else None,
             json.dumps(escalate), now),
        )
        for sql, params in waiting_ops(run_id, step.id, now):
            conn.execute(sql, params)
    task = get_task(conn, run_id, step.id)
    assert task is not None
    return task, True


def holder(task: Task, now: float) -> tuple[int, str]:
    """(escalation level, role) that hold ``task`` at ``now``: the last rule whose ``after_s`` has passed."""
    level, role = 0, None
    for index, rule in enumerate(task.escalate, 1):
        if now >= task.assigned_at + float(rule["after_s"]):
            level, role = index, rule["to"]
    return (level, role) if role is not None else (task.level, task.role)


def escalate_due(conn: sqlite3.Connection, now: float, run_id: str | None = None) -> list[tuple[Task, str]]:
    """Move each open task (of ``run_id``, or all) to the role its age says; (task as moved, role it left) each."""
    moved = []
    for task in open_tasks(conn, run_id=run_id):
        level, role = holder(task, now)
        if level > task.level:
            with transaction(conn):
                changed = conn.execute(
                    "UPDATE workflow_tasks SET role = ?, level = ? WHERE run_id = ? AND step_id = ? AND level = ?"
                    " AND status = 'open'", (role, level, task.run_id, task.step_id, task.level),
                ).rowcount
            if changed:  # another process may have moved it first: it reports that move, not this one
                moved.append((Task(**{**asdict(task), "role": role, "level": level}), task.role))
    return moved


def open_tasks(conn: sqlite3.Connection, *, role: str | None = None, run_id: str | None = None) -> list[Task]:
    """Open tasks, oldest first (of one role or run when given), as last escalated (see :func:`report_escalations`)."""
    ensure_schema(conn)
    sql = f"SELECT {_COLUMNS} FROM workflow_tasks WHERE status = 'open'"
    params: list[Any] = []
    if role is not None:
        sql += " AND role = ?"
        params.append(role)
    if run_id is not None:
        sql += " AND run_id = ?"
        params.append(run_id)
    return [_task(row) for row in conn.execute(sql + " ORDER BY assigned_at, run_id, step_id", params)]


def form_errors(form: dict | None, data: Any) -> list[dict[str, Any]]:
    """Why ``data`` does not satisfy ``form`` (empty when it does), each at its path inside the answer; without a
    form, any JSON object will do."""
    if form is None:
        return [] if isinstance(data, dict) else [
            {"loc": [], "msg": f"the answer must be a JSON object, not {type(data).__name__}"}]
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(form).iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    return [{"loc": list(e.absolute_path), "msg": e.message} for e in errors]


def answer(conn: sqlite3.Connection, run_id: str, step_id: str, data: Any, *, actor: str, now: float) -> Task:
    """Record ``actor``'s answer to an open task, or raise :class:`TaskRefused` and change nothing."""
    task = get_task(conn, run_id, step_id)
    if task is None:
        raise NoSuchTask(f"run {run_id} has no human task {step_id!r}")
    if task.status != "open":
        raise TaskAnswered(f"task {step_id!r} of run {run_id} was already answered by {task.actor}")
    problems = form_errors(task.form, data)
    if problems:
        shown = "; ".join((f"{'.'.join(map(str, p['loc']))}: " if p["loc"] else "") + p["msg"] for p in problems)
        raise AnswerInvalid(f"the answer to task {step_id!r} does not fit its form: {shown}", problems)
    changed = conn.execute(
        "UPDATE workflow_tasks SET status = 'answered', answer = ?, actor = ?, answered_at = ?"
        " WHERE run_id = ? AND step_id = ? AND status = 'open'",
        (json.dumps(data), actor, now, run_id, step_id),
    ).rowcount
    if not changed:
        raise TaskAnswered(f"task {step_id!r} of run {run_id} was answered by someone else just now")
    found = get_task(conn, run_id, step_id)
    assert found is not None
    return found


def event_data(task: Task, **extra: Any) -> dict:
    """The data of a ``workflow.task.*`` event (the answer itself is not in it: the trail says who, not what)."""
    return {"run_id": task.run_id, "step": task.step_id, "role": task.role, "level": task.level, **extra}


async def wait_for_answer(execution: Any, step: Any) -> Any:
    """Run a human step of ``execution`` (an engine's run in progress): assign its task, offer it to the engine's
    ``answerer`` (MCP elicitation), then wait for an answer from anywhere, escalating as time passes; or, when the
    run pauses rather than waits, stop here until ``answer`` resumes it."""
    import anyio

    from . import templates
    from .engine import _Outcome, _Paused

    engine, conn, run_id = execution.engine, execution.conn, execution.run_id
    try:
        message = templates.render(step.message or f"Answer task {step.id!r} of run {run_id}", execution.context,
                                   where=f"step {step.id!r} message")
    except ParacError as exc:
        return _Outcome("failed", error=str(exc))
    task, new = assign(conn, run_id, step, message, engine.clock())
    if new:
        engine.event("workflow.task.assigned", event_data(task, message=message, status="open"))
    problem = None
    for _ in range(ASKS if task.status == "open" and engine.answerer is not None else 0):
        given = await engine.answerer(task, problem)
        if given is None:
            break
        try:
            respond(engine, conn, task, given[0], actor=given[1])
            break
        except TaskRefused as exc:  # asked again with the reasons; after that the task waits, open
            problem = str(exc)
    while True:
        report_escalations(engine, conn, run_id)
        task = get_task(conn, run_id, step.id) or task
        if task.status == "answered":
            conn.execute(*resumed_op(run_id))
            return _Outcome("completed", task.answer)
        if execution.options.pause_on_approval:
            raise _Paused(step.id)
        await anyio.sleep(execution.options.approval_poll_s)


def report_escalations(faces: Any, conn: sqlite3.Connection, run_id: str | None = None) -> None:
    """Escalate what is due at ``faces.clock()``, each move reported (``faces.event``) by the process that made it."""
    for moved, left in escalate_due(conn, faces.clock(), run_id):
        faces.event("workflow.task.escalated", event_data(moved, status="open", **{"from": left, "to": moved.role}))


def respond(faces: Any, conn: sqlite3.Connection, task: Task, data: Any, *, actor: str) -> Task:
    """Answer ``task`` as ``actor`` and report it (``faces.event``, ``faces.clock``); a refusal is reported too,
    then raised."""
    try:
        done = answer(conn, task.run_id, task.step_id, data, actor=actor, now=faces.clock())
    except TaskRefused as exc:
        faces.event("workflow.task.refused", event_data(task, by=actor, status="refused", error=str(exc)))
        raise
    faces.event("workflow.task.answered", event_data(done, by=actor, status="answered"))
    return done
