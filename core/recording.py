"""The record of agent runs and of every model call they make, kept so a run can be replayed, forked and compared.

Each agent run (on its own, or as a workflow step) gets a row in ``agent_runs`` when it starts and its outcome
when it ends; each model turn gets a row in ``model_calls``: what was sent and what came back, redacted with the
workspace's redactor before it is written. A request is stored as the messages *added* since the previous turn
(the system prompt and the task for the first turn, then the tool results), so a long run costs its transcript
once rather than once per turn; the whole request is the concatenation of the turns' messages and responses. The
tool results a turn's calls produced ride with that turn (``tool_results``), which is what lets a replay answer
tool calls from the record instead of running the tools again.

:mod:`parac.core.replay` reads these tables; nothing else writes them.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .providers import Completion, ToolCallRequest, Usage
from .store import transaction

Redact = Callable[[Any], Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS agent_runs (
    agent_run TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    task TEXT NOT NULL,
    model TEXT NOT NULL,
    status TEXT NOT NULL,
    output TEXT,
    error TEXT,
    cost REAL NOT NULL DEFAULT 0,
    run_id TEXT,
    workflow TEXT,
    step TEXT,
    created_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS agent_runs_by_step ON agent_runs (run_id, workflow, step, created_at);
CREATE INDEX IF NOT EXISTS agent_runs_by_agent ON agent_runs (agent, created_at);
CREATE TABLE IF NOT EXISTS model_calls (
    agent_run TEXT NOT NULL,
    seq INTEGER NOT NULL,
    model TEXT NOT NULL,
    request TEXT NOT NULL,
    response TEXT NOT NULL,
    tool_results TEXT NOT NULL DEFAULT '{}',
    cost REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    PRIMARY KEY (agent_run, seq)
) WITHOUT ROWID;
"""


def ensure_schema(conn: sqlite3.Connection) -> sqlite3.Connection:
    """Create the tables on first use; the lookup names the newest object, so an older database gets it."""
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'agent_runs_by_agent'")
    if found.fetchone() is None:
        conn.executescript(_SCHEMA)
    return conn


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


@dataclass
class AgentRunRecord:
    agent_run: str
    agent: str
    task: str
    model: str
    status: str
    output: str | None
    error: str | None
    cost: float
    run_id: str | None
    workflow: str | None
    step: str | None
    created_at: float
    finished_at: float | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> AgentRunRecord:
        return cls(**dict(row))


@dataclass
class ModelCallRecord:
    seq: int
    model: str
    request: dict[str, Any]
    response: dict[str, Any]
    tool_results: dict[str, str]
    cost: float


@dataclass
class Recording:
    """The record of one agent run being made: :meth:`turn` after each model turn (and its tools), :meth:`end`."""

    conn: sqlite3.Connection
    redact: Redact
    agent_run: str
    sent: int = 0  # messages of the conversation already recorded
    seq: int = 0

    def turn(self, model: str, messages: list[dict[str, Any]], asked: int, params: dict[str, Any],
             response: dict[str, Any], cost: float, tool_results: dict[str, str]) -> None:
        """Record one turn once its tools have run: ``messages[:asked]`` was the conversation the model was sent,
        ``messages`` is the conversation now (the answer and the tool results appended)."""
        body = {**params, "messages": messages[self.sent:asked]}
        self.sent = len(messages)
        self.seq += 1
        self.conn.execute(
            "INSERT INTO model_calls (agent_run, seq, model, request, response, tool_results, cost, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self.agent_run, self.seq, model, _dump(self.redact(body)), _dump(self.redact(response)),
             _dump(self.redact(tool_results)), cost, time.time()),
        )

    def end(self, status: str, output: str, error: str | None, cost: float) -> None:
        self.conn.execute(
            "UPDATE agent_runs SET status = ?, output = ?, error = ?, cost = ?, finished_at = ? WHERE agent_run = ?",
            (status, self.redact(output), self.redact(error) if error else None, cost, time.time(), self.agent_run),
        )


def start(
    conn: sqlite3.Connection, redact: Redact, *, agent: str, task: str, model: str, run_id: str | None,
    workflow: str | None, step: str | None, nested: bool = False,
) -> Recording:
    """Record the start of an agent run. A run of its own is recorded under its run id; a workflow step's agent run,
    and an agent run nested in another by delegation or handoff (it shares its caller's run id), under an id of its
    own (``run_id``, ``workflow`` and ``step`` say where it ran)."""
    ensure_schema(conn)
    agent_run = run_id if workflow is None and run_id and not nested else "a" + uuid.uuid4().hex[:15]
    with transaction(conn):
        conn.execute(
            "INSERT OR REPLACE INTO agent_runs (agent_run, agent, task, model, status, run_id, workflow, step,"
            " created_at) VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?)",
            (agent_run, agent, redact(task), model, run_id, workflow, step, time.time()),
        )
        conn.execute("DELETE FROM model_calls WHERE agent_run = ?", (agent_run,))
    return Recording(conn, redact, agent_run)


def completion_json(completion: Completion) -> dict[str, Any]:
    """A model's answer as it is recorded (and as :func:`completion_from` gives it back)."""
    return {"text": completion.text, "model": completion.model, "finish_reason": completion.finish_reason,
            "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in completion.tool_calls],
            "usage": {"prompt_tokens": completion.usage.prompt_tokens,
                      "completion_tokens": completion.usage.completion_tokens}}


def completion_from(data: dict[str, Any]) -> Completion:
    """The recorded answer as a :class:`Completion` again, at no cost."""
    usage = data.get("usage") or {}
    return Completion(
        text=data.get("text") or "",
        tool_calls=[ToolCallRequest(c["id"], c["name"], c["arguments"]) for c in data.get("tool_calls") or []],
        usage=Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)),
        model=data.get("model") or "", finish_reason=data.get("finish_reason") or "stop", cost_usd=0.0,
    )


def find_agent_run(conn: sqlite3.Connection, agent_run: str) -> AgentRunRecord | None:
    ensure_schema(conn)
    row = conn.execute("SELECT * FROM agent_runs WHERE agent_run = ?", (agent_run,)).fetchone()
    return AgentRunRecord.from_row(row) if row is not None else None


def step_agent_run(conn: sqlite3.Connection, run_id: str, workflow: str, step: str) -> AgentRunRecord | None:
    """The last agent run of a workflow step (a retried step keeps only its last attempt's outcome)."""
    ensure_schema(conn)
    row = conn.execute(
        "SELECT * FROM agent_runs WHERE run_id = ? AND workflow = ? AND step = ? ORDER BY created_at DESC LIMIT 1",
        (run_id, workflow, step),
    ).fetchone()
    return AgentRunRecord.from_row(row) if row is not None else None


def model_calls(conn: sqlite3.Connection, agent_run: str) -> list[ModelCallRecord]:
    ensure_schema(conn)
    rows = conn.execute(
        "SELECT seq, model, request, response, tool_results, cost FROM model_calls WHERE agent_run = ? ORDER BY seq",
        (agent_run,),
    )
    return [ModelCallRecord(row[0], row[1], json.loads(row[2]), json.loads(row[3]), json.loads(row[4]), row[5])
            for row in rows]
