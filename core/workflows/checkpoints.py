"""Durable workflow state in the workspace database: runs, steps, approvals and the lease that guards a run.

Every change the engine makes is one short transaction committed before the engine acts on it: a step is marked
``running`` (with its idempotency key) before its work starts, and its result is committed before any dependent may
see it. A process killed at any point therefore leaves the database describing exactly what finished; resuming
re-runs only what was in flight, with the key it had.

A run is executed by one process at a time. The executor holds a lease (owner token, pid, host, expiry) renewed while
it works; a second process that wants the run is refused with the holder's pid, unless the lease has expired or the
holder's pid is gone on this host (a ``kill -9`` leaves a lease that nobody renews).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from dataclasses import dataclass
from typing import Any

from ..diagnostics import ParacError
from ..errors import NotFound
from ..pages import FilterError, ListingFilter
from ..store import process_alive, transaction

#: Run statuses: pending, running, waiting_approval, then one of these.
FINISHED = frozenset({"completed", "failed", "cancelled"})
RUN_STATUSES = ("pending", "running", "waiting_approval", "completed", "failed", "cancelled")
#: Step statuses; ``skipped`` is a step whose ``when:`` was false (it counts as done for its dependents).
STEP_DONE = frozenset({"completed", "skipped"})
STEP_FINAL = frozenset({"completed", "skipped", "failed", "cancelled"})

LEASE_TTL_S = 30.0
HOST = socket.gethostname()

#: One statement of a checkpoint: SQL and its parameters. :func:`write` commits a list of them as one transaction.
Op = tuple[str, tuple]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS workflow_runs (
    run_id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    definition TEXT NOT NULL,
    inputs TEXT NOT NULL,
    options TEXT NOT NULL,
    status TEXT NOT NULL,
    outputs TEXT,
    error TEXT,
    parent_run TEXT,
    parent_step TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_pid INTEGER,
    lease_host TEXT,
    lease_expires REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS workflow_runs_created ON workflow_runs (created_at);
CREATE INDEX IF NOT EXISTS workflow_runs_top ON workflow_runs (parent_run, created_at, run_id);
CREATE INDEX IF NOT EXISTS workflow_runs_by_status ON workflow_runs (parent_run, status, created_at, run_id);
CREATE INDEX IF NOT EXISTS workflow_runs_by_workflow ON workflow_runs (parent_run, workflow, created_at, run_id);
CREATE TABLE IF NOT EXISTS workflow_steps (
    run_id TEXT NOT NULL,
    step_id TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT,
    output TEXT,
    error TEXT,
    cost REAL NOT NULL DEFAULT 0,
    started_at REAL,
    finished_at REAL,
    PRIMARY KEY (run_id, step_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS workflow_approvals (
    run_id TEXT NOT NULL,
    step_id TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT,
    comment TEXT,
    actor TEXT,
    requested_at REAL NOT NULL,
    decided_at REAL,
    PRIMARY KEY (run_id, step_id)
) WITHOUT ROWID;
"""

class RunNotFound(NotFound):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"no workflow run {run_id!r} in this workspace (see `parac workflow runs`)")


class RunBusy(ParacError):
    """Another live process holds the run's lease."""


class RunFinished(ParacError):
    pass


class NotWaiting(ParacError):
    """An approval or rejection for a step that is not waiting for one."""


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the tables on first use (cheap to call: one lookup in ``sqlite_master`` once they exist). The lookup
    names the newest object, so a database made before it was added gets it (every statement is IF NOT EXISTS)."""
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'workflow_runs_by_workflow'")
    if found.fetchone() is None:
        conn.executescript(_SCHEMA)


def new_run_id() -> str:
    return "r" + uuid.uuid4().hex[:12]


def new_owner() -> str:
    return uuid.uuid4().hex


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


@dataclass
class StepRow:
    step_id: str
    status: str
    attempts: int
    idempotency_key: str | None
    output: Any
    error: str | None
    cost: float
    started_at: float | None
    finished_at: float | None

    def to_json(self) -> dict:
        return {
            "id": self.step_id,
            "status": self.status,
            "output": self.output,
            "error": self.error,
            "attempts": self.attempts,
            "cost": self.cost,
        }


@dataclass
class RunRow:
    run_id: str
    workflow: str
    definition: dict
    inputs: dict
    options: dict
    status: str
    outputs: Any
    error: str | None
    parent_run: str | None
    parent_step: str | None
    cancel_requested: bool
    lease_owner: str | None
    lease_pid: int | None
    lease_host: str | None
    lease_expires: float | None
    created_at: float
    updated_at: float
    finished_at: float | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RunRow:
        data = dict(row)
        for key in ("definition", "inputs", "options", "outputs"):
            data[key] = _load(data[key])
        data["cancel_requested"] = bool(data["cancel_requested"])
        return cls(**data)

    def listed(self) -> dict[str, Any]:
        """The run as a listing shows it (`parac workflow runs --json`, `parac://runs`, `GET /api/v1/runs`)."""
        return {"run_id": self.run_id, "workflow": self.workflow, "status": self.status,
                "created_at": self.created_at, "finished_at": self.finished_at, "error": self.error}

    def lease_alive(self, now: float | None = None) -> bool:
        """Whether a process other than a dead one still holds this run (see the module docstring)."""
        if not self.lease_owner or self.lease_expires is None:
            return False
        if self.lease_expires < (now if now is not None else time.time()):
            return False
        if self.lease_host == HOST and self.lease_pid is not None:
            return process_alive(self.lease_pid)
        return True


def new_run(
    *,
    run_id: str,
    workflow: str,
    definition: dict,
    inputs: dict,
    options: dict,
    owner: str | None,
    parent_run: str | None = None,
    parent_step: str | None = None,
) -> tuple[RunRow, Op]:
    """A new run (holding its lease when ``owner`` is given) and the operation that records it.

    The engine commits that operation together with the run's first step starts, so starting a run costs one
    commit; :func:`create_run` commits it alone.
    """
    now = time.time()
    run = RunRow(
        run_id=run_id, workflow=workflow, definition=definition, inputs=inputs, options=options, status="pending",
        outputs=None, error=None, parent_run=parent_run, parent_step=parent_step, cancel_requested=False,
        lease_owner=owner, lease_pid=os.getpid() if owner else None, lease_host=HOST if owner else None,
        lease_expires=now + LEASE_TTL_S if owner else None, created_at=now, updated_at=now, finished_at=None,
    )
    insert = (
        "INSERT INTO workflow_runs (run_id, workflow, definition, inputs, options, status, parent_run,"
        " parent_step, lease_owner, lease_pid, lease_host, lease_expires, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)",
        (run_id, workflow, _dump(definition), _dump(inputs), _dump(options), parent_run, parent_step,
         run.lease_owner, run.lease_pid, run.lease_host, run.lease_expires, now, now),
    )
    return run, insert


def create_run(conn: sqlite3.Connection, **fields: Any) -> RunRow:
    """Record a new run (see :func:`new_run` for the fields) in a transaction of its own."""
    ensure_schema(conn)
    run, insert = new_run(**fields)
    write(conn, [insert])
    return run


def get_run(conn: sqlite3.Connection, run_id: str) -> RunRow:
    ensure_schema(conn)
    row = conn.execute("SELECT * FROM workflow_runs WHERE run_id = ?", (run_id,)).fetchone()
    if row is None:
        raise RunNotFound(run_id)
    return RunRow.from_row(row)


def run_outcome(conn: sqlite3.Connection, run_id: str) -> tuple[str, Any, str | None]:
    """A run's status, outputs and error: what changes while it runs, without the rest of :func:`get_run`."""
    row = conn.execute("SELECT status, outputs, error FROM workflow_runs WHERE run_id = ?", (run_id,)).fetchone()
    if row is None:
        raise RunNotFound(run_id)
    return row[0], _load(row[1]), row[2]


def find_run(conn: sqlite3.Connection, run_id: str) -> RunRow | None:
    ensure_schema(conn)
    row = conn.execute("SELECT * FROM workflow_runs WHERE run_id = ?", (run_id,)).fetchone()
    return None if row is None else RunRow.from_row(row)


@dataclass(frozen=True)
class RunFilter(ListingFilter):
    """Which top-level runs a listing shows: every condition given must hold (None: any).

    Each has an index that yields its runs newest first (`workflow_runs_by_status`, `_by_workflow`, `_top` for the
    time window alone), so a page of a filtered listing reads about a page of rows however many runs there are.
    ``agent``: runs with a step that agent ran (its `agent_runs` rows, by their own index)."""

    status: str | None = None
    workflow: str | None = None
    agent: str | None = None
    since: float | None = None
    until: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.status is not None and self.status not in RUN_STATUSES:
            raise FilterError(f'unknown run status "{self.status[:50]}"; one of: {", ".join(RUN_STATUSES)}')


def list_runs(
    conn: sqlite3.Connection, *, limit: int = 50, where: RunFilter | None = None, before: tuple[float, str] | None = None
) -> list[RunRow]:
    """The newest top-level runs first (sub-workflow runs are shown inside their parent) that `where` lets through;
    ``before``: only those after the run of that (created_at, run_id) in this order, for the next page of a
    listing. The row-value comparison is what lets SQLite walk the index from the cursor on (an OR of the two
    conditions made it sort every older run: a deep page of 10,000 runs took 30 times as long)."""
    ensure_schema(conn)
    where = where or RunFilter()
    sql = "SELECT * FROM workflow_runs WHERE parent_run IS NULL"
    params: list[Any] = []
    for column in ("status", "workflow"):
        if getattr(where, column) is not None:
            sql += f" AND {column} = ?"
            params.append(getattr(where, column))
    if where.agent is not None:
        from ..recording import ensure_schema as ensure_recording

        ensure_recording(conn)
        sql += " AND run_id IN (SELECT run_id FROM agent_runs WHERE agent = ? AND run_id IS NOT NULL)"
        params.append(where.agent)
    if where.since is not None:
        sql += " AND created_at >= ?"
        params.append(where.since)
    if where.until is not None:
        sql += " AND created_at < ?"
        params.append(where.until)
    if before is not None:
        sql += " AND (created_at, run_id) < (?, ?)"
        params += [before[0], before[1]]
    sql += " ORDER BY created_at DESC, run_id DESC LIMIT ?"
    params.append(limit)
    return [RunRow.from_row(row) for row in conn.execute(sql, params)]


def runs_page(
    conn: sqlite3.Connection, *, limit: int, cursor: str | None, secret: bytes, where: RunFilter | None = None
) -> tuple[list[RunRow], str | None]:
    """A page of :func:`list_runs`, newest first, and the cursor of the next (None after the oldest run).

    The cursor names the page's last run by (created_at, run_id): the next page starts after it even when runs
    were added meanwhile (see :mod:`parac.core.pages`; ``CursorError`` for one ``secret`` did not sign, or one of
    a listing with other conditions: a cursor keeps its filter).
    """
    from ..pages import CursorError, make_cursor, read_cursor

    where = where or RunFilter()
    listing = where.listing("workflow runs")
    before = None
    if cursor is not None:
        created, _, run_id = read_cursor(cursor, listing=listing, secret=secret).partition(" ")
        try:
            before = (float(created), run_id)
        except ValueError:
            raise CursorError(f"invalid cursor for {listing}") from None
    runs = list_runs(conn, limit=limit + 1, where=where, before=before)
    if len(runs) <= limit:
        return runs, None
    last = runs[limit - 1]
    return runs[:limit], make_cursor(f"{last.created_at!r} {last.run_id}", listing=listing, secret=secret)


def interrupted_runs(conn: sqlite3.Connection) -> list[RunRow]:
    """Top-level runs that are not finished and that no live process executes (killed, or paused at a gate)."""
    ensure_schema(conn)
    rows = conn.execute(
        "SELECT * FROM workflow_runs WHERE parent_run IS NULL AND status NOT IN ('completed', 'failed', 'cancelled')"
        " ORDER BY created_at"
    )
    return [run for run in map(RunRow.from_row, rows) if not run.lease_alive()]


def get_steps(conn: sqlite3.Connection, run_id: str) -> dict[str, StepRow]:
    ensure_schema(conn)
    rows = conn.execute(
        "SELECT step_id, status, attempts, idempotency_key, output, error, cost, started_at, finished_at"
        " FROM workflow_steps WHERE run_id = ?",
        (run_id,),
    )
    return {
        row[0]: StepRow(row[0], row[1], row[2], row[3], _load(row[4]), row[5], row[6], row[7], row[8])
        for row in rows
    }


def acquire_lease(conn: sqlite3.Connection, run_id: str, owner: str) -> RunRow:
    """Take the run for this process, or raise :class:`RunBusy` / :class:`RunFinished` saying why not."""
    ensure_schema(conn)
    now = time.time()
    with transaction(conn):
        run = get_run(conn, run_id)
        if run.status in FINISHED:
            raise RunFinished(f"run {run_id} is already {run.status}; there is nothing to resume")
        if run.lease_owner != owner and run.lease_alive(now):
            raise RunBusy(
                f"run {run_id} is being executed by process {run.lease_pid} on {run.lease_host}"
                f" (its lease runs until {time.strftime('%H:%M:%S', time.localtime(run.lease_expires))});"
                " wait for it, or cancel it with `parac workflow cancel`"
            )
        conn.execute(
            "UPDATE workflow_runs SET lease_owner = ?, lease_pid = ?, lease_host = ?, lease_expires = ?,"
            " updated_at = ? WHERE run_id = ?",
            (owner, os.getpid(), HOST, now + LEASE_TTL_S, now, run_id),
        )
    return run


def renew_lease(conn: sqlite3.Connection, run_id: str, owner: str) -> bool:
    """Extend the lease; False when this process no longer holds it (then it must stop)."""
    cursor = conn.execute(
        "UPDATE workflow_runs SET lease_expires = ? WHERE run_id = ? AND lease_owner = ?",
        (time.time() + LEASE_TTL_S, run_id, owner),
    )
    return cursor.rowcount == 1


def release_lease(conn: sqlite3.Connection, run_id: str, owner: str) -> None:
    conn.execute(*release_op(run_id, owner))


def release_op(run_id: str, owner: str) -> Op:
    """Give the run up (a no-op when ``owner`` no longer holds it)."""
    return (
        "UPDATE workflow_runs SET lease_owner = NULL, lease_pid = NULL, lease_host = NULL, lease_expires = NULL"
        " WHERE run_id = ? AND lease_owner = ?",
        (run_id, owner),
    )


def cancel_requested(conn: sqlite3.Connection, run_id: str) -> bool:
    row = conn.execute("SELECT cancel_requested FROM workflow_runs WHERE run_id = ?", (run_id,)).fetchone()
    return bool(row and row[0])


def set_run_status(
    conn: sqlite3.Connection, run_id: str, status: str, *, error: str | None = None, outputs: Any = None
) -> None:
    conn.execute(*run_status_op(run_id, status, error=error, outputs=outputs))


def run_status_op(run_id: str, status: str, *, error: str | None = None, outputs: Any = None) -> Op:
    now = time.time()
    return (
        "UPDATE workflow_runs SET status = ?, error = ?, outputs = COALESCE(?, outputs), updated_at = ?,"
        " finished_at = ? WHERE run_id = ?",
        (status, error, None if outputs is None else _dump(outputs), now, now if status in FINISHED else None, run_id),
    )



def start_op(run_id: str, step_id: str, attempt: int, key: str) -> Op:
    """Mark a step running for its ``attempt``-th time, with the idempotency key its work will be given."""
    return (
        "INSERT INTO workflow_steps (run_id, step_id, status, attempts, idempotency_key, started_at)"
        " VALUES (?, ?, 'running', ?, ?, ?)"
        " ON CONFLICT (run_id, step_id) DO UPDATE SET status = 'running', attempts = excluded.attempts,"
        " idempotency_key = excluded.idempotency_key, error = NULL, started_at = excluded.started_at",
        (run_id, step_id, attempt, key, time.time()),
    )


def finish_op(
    run_id: str, step_id: str, status: str, *, output: Any = None, error: str | None = None, cost: float = 0.0,
    started_at: float | None = None, finished_at: float | None = None,
) -> Op:
    """Record a step's end (completed, failed, skipped, cancelled); a step never started gets a row too.

    ``started_at`` and ``finished_at`` are for a new row that copies a step of another run (a fork or a replay
    reusing it keeps its times, so steps listed in the order they happened stay in the recorded order); a step's
    own end is stamped now and keeps the start its :func:`start_op` wrote.
    """
    return (
        "INSERT INTO workflow_steps (run_id, step_id, status, output, error, cost, started_at, finished_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (run_id, step_id) DO UPDATE SET status = excluded.status, output = excluded.output,"
        " error = excluded.error, cost = workflow_steps.cost + excluded.cost, finished_at = excluded.finished_at",
        (run_id, step_id, status, None if output is None else _dump(output), error, cost, started_at,
         time.time() if finished_at is None else finished_at),
    )


def write(conn: sqlite3.Connection, ops: list[Op]) -> None:
    """Commit checkpoint operations as one transaction: all of them are durable, or none."""
    if len(ops) == 1:
        conn.execute(*ops[0])
        return
    with transaction(conn):
        for sql, params in ops:
            conn.execute(sql, params)


def finish_step(conn: sqlite3.Connection, run_id: str, step_id: str, status: str, **fields: Any) -> None:
    write(conn, [finish_op(run_id, step_id, status, **fields)])


def set_step_status(conn: sqlite3.Connection, run_id: str, step_id: str, status: str, error: str | None = None) -> None:
    conn.execute(
        "UPDATE workflow_steps SET status = ?, error = ? WHERE run_id = ? AND step_id = ?",
        (status, error, run_id, step_id),
    )


# Approvals -------------------------------------------------------------------------------------------------


@dataclass
class Approval:
    status: str  # waiting, approved, rejected
    message: str | None
    comment: str | None
    actor: str | None
    requested_at: float
    decided_at: float | None


def waiting_ops(run_id: str, step_id: str, now: float) -> list[Op]:
    """Mark a running step, and its pending or running run, as waiting for a person: a gate's approval, a human
    task's answer (`.human`). Written in the same transaction as what the person is asked."""
    return [
        ("UPDATE workflow_steps SET status = 'waiting_approval' WHERE run_id = ? AND step_id = ? AND status = 'running'",
         (run_id, step_id)),
        ("UPDATE workflow_runs SET status = 'waiting_approval', updated_at = ? WHERE run_id = ?"
         " AND status IN ('pending', 'running')", (now, run_id)),
    ]


def resumed_op(run_id: str) -> Op:
    """The run goes on once nobody is awaited any more (every gate decided, the task answered)."""
    return "UPDATE workflow_runs SET status = 'running' WHERE run_id = ? AND status = 'waiting_approval'", (run_id,)


def request_approval(conn: sqlite3.Connection, run_id: str, step_id: str, message: str) -> Approval:
    """Record that the step waits for a person (idempotent: a resumed wait keeps its first request time)."""
    now = time.time()
    with transaction(conn):
        conn.execute(
            "INSERT OR IGNORE INTO workflow_approvals (run_id, step_id, status, message, requested_at)"
            " VALUES (?, ?, 'waiting', ?, ?)",
            (run_id, step_id, message, now),
        )
        for sql, params in waiting_ops(run_id, step_id, now):
            conn.execute(sql, params)
    approval = get_approval(conn, run_id, step_id)
    assert approval is not None
    return approval


def get_approval(conn: sqlite3.Connection, run_id: str, step_id: str) -> Approval | None:
    ensure_schema(conn)
    row = conn.execute(
        "SELECT status, message, comment, actor, requested_at, decided_at FROM workflow_approvals"
        " WHERE run_id = ? AND step_id = ?",
        (run_id, step_id),
    ).fetchone()
    return None if row is None else Approval(*row)


def waiting_approvals(conn: sqlite3.Connection, run_id: str | None = None) -> list[dict]:
    ensure_schema(conn)
    sql = "SELECT run_id, step_id, message, requested_at FROM workflow_approvals WHERE status = 'waiting'"
    params: tuple = ()
    if run_id:
        sql += " AND (run_id = ? OR run_id LIKE ?)"
        params = (run_id, run_id + ".%")
    return [dict(row) for row in conn.execute(sql, params)]


def decide(
    conn: sqlite3.Connection, run_id: str, step_id: str, *, approved: bool, actor: str, comment: str | None = None
) -> Approval:
    """Answer a waiting gate. Only a gate that is waiting can be answered, and only once."""
    ensure_schema(conn)
    now = time.time()
    with transaction(conn):
        run = get_run(conn, run_id)
        row = conn.execute(
            "SELECT status FROM workflow_approvals WHERE run_id = ? AND step_id = ?", (run_id, step_id)
        ).fetchone()
        if row is None or row[0] != "waiting":
            steps = get_steps(conn, run_id)
            known = [step["id"] for step in run.definition.get("steps", [])]
            if step_id not in known:
                raise NotWaiting(f"run {run_id} has no step {step_id!r} (its steps: {', '.join(known)})")
            state = row[0] if row is not None else (steps[step_id].status if step_id in steps else "pending")
            raise NotWaiting(f"step {step_id!r} of run {run_id} is not waiting for approval (it is {state})")
        if run.status in FINISHED:
            raise RunFinished(f"run {run_id} is already {run.status}")
        conn.execute(
            "UPDATE workflow_approvals SET status = ?, comment = ?, actor = ?, decided_at = ?"
            " WHERE run_id = ? AND step_id = ?",
            ("approved" if approved else "rejected", comment, actor, now, run_id, step_id),
        )
    approval = get_approval(conn, run_id, step_id)
    assert approval is not None
    return approval


def request_cancel(conn: sqlite3.Connection, run_id: str) -> RunRow:
    """Ask for a run to stop. A run that no live process holds is cancelled here and now."""
    ensure_schema(conn)
    with transaction(conn):
        run = get_run(conn, run_id)
        if run.status in FINISHED:
            raise RunFinished(f"run {run_id} is already {run.status}")
        conn.execute("UPDATE workflow_runs SET cancel_requested = 1 WHERE run_id = ?", (run_id,))
        if not run.lease_alive():
            mark_cancelled(conn, run_id, "cancelled while no process was running it")
    return get_run(conn, run_id)


def mark_cancelled(conn: sqlite3.Connection, run_id: str, reason: str) -> None:
    """Cancel the run, its unfinished steps and gates, and its unfinished sub-workflow runs."""
    now = time.time()
    for target in [run_id] + [
        row[0]
        for row in conn.execute(
            "SELECT run_id FROM workflow_runs WHERE run_id LIKE ? AND status NOT IN ('completed','failed','cancelled')",
            (run_id + ".%",),
        )
    ]:
        conn.execute(
            "UPDATE workflow_steps SET status = 'cancelled', error = ?, finished_at = ? WHERE run_id = ?"
            " AND status NOT IN ('completed', 'skipped', 'failed', 'cancelled')",
            (reason, now, target),
        )
        conn.execute(
            "UPDATE workflow_approvals SET status = 'rejected', comment = ?, actor = 'cancel', decided_at = ?"
            " WHERE run_id = ? AND status = 'waiting'",
            (reason, now, target),
        )
        set_run_status(conn, target, "cancelled", error=reason)
