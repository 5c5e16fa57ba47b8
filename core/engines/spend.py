"""Spending shared by every worker of the dbos engine: budget holds and the cost ledger in Postgres.

Each host keeps its own workspace database, so the embedded ledger's claims (:mod:`parac.core.ledger`) hold a
budget only among the processes of one host. :class:`SharedSpend` wraps a worker's call hooks and, around every
model call, holds the call's worst-case cost (its estimate, which bounds the completion by ``max_tokens``) on each
limited total in one Postgres transaction: ``UPDATE … SET held = held + bound WHERE spent + held + bound <=
limit``, which Postgres serialises per total's row, so N hosts cannot together pass a limit. After the call the
hold becomes the real cost and the call's ledger row is written (``parac_ledger``, keyed by call id, so a call is
charged once). A worker killed mid-call leaves its hold in place: the call may have reached its provider, and only
a ledger row could tell, so the hold keeps counting as spent (as the embedded ledger's "unsettled").

Totals: a workflow run's ``budget_usd`` (``run:ID``, the top run for a sub-workflow), ``parac.yaml``'s
``budgets:`` ``total_usd``, ``daily_usd`` (UTC day), ``monthly_usd`` and ``per_workflow_usd``, and each agent's own
``budget:`` over all its runs (``agent:NAME``: ``per_agent_usd`` and ``total_usd``, ``daily_usd``, ``monthly_usd``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping
from typing import Any

import psycopg

from ..budgets import BudgetExceeded
from ..calls import CallDenied, CallHooks, LLMCall, ToolCall
from ..specs import Budget
from . import create_schema

SCHEMA = """
CREATE TABLE IF NOT EXISTS parac_spend (
    key text PRIMARY KEY, limit_usd double precision NOT NULL,
    spent double precision NOT NULL DEFAULT 0, held double precision NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS parac_ledger (
    call_id text PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), executor_id text, run_id text, workflow text,
    step text, agent text, model text NOT NULL, cost_usd double precision NOT NULL, status text NOT NULL);
ALTER TABLE parac_ledger ADD COLUMN IF NOT EXISTS provider text,
    ADD COLUMN IF NOT EXISTS prompt_tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS completion_tokens bigint NOT NULL DEFAULT 0;
"""
#: ``parac costs report --by`` on the shared ledger: each choice's SQL (as ``costs.REPORT_GROUPS`` in SQLite).
REPORT_GROUPS = {
    "agent": "COALESCE(agent, '-')",
    "model": "model",
    "provider": "COALESCE(provider, '-')",
    "day": "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    "run": "COALESCE(run_id, '-')",
    "workflow": "COALESCE(workflow, '-')",
}

#: Rounding slack, so a limit of exactly N calls at $x admits N calls.
EPSILON = 1e-9


def workspace_totals(budgets: Budget | None, workflow: str | None = None) -> list[tuple[str, float]]:
    """``parac.yaml``'s limited totals now (this UTC day's and month's), and ``workflow``'s when one is named."""
    if budgets is None:
        return []
    now = time.gmtime()
    return [(key, usd) for key, usd in (
        ("total", budgets.total_usd), (time.strftime("day:%Y-%m-%d", now), budgets.daily_usd),
        (time.strftime("month:%Y-%m", now), budgets.monthly_usd),
        (f"workflow:{workflow}", budgets.per_workflow_usd if workflow else None)) if usd is not None]


def agent_totals(budget: Budget | None, agent: str) -> list[tuple[str, float]]:
    """Agent ``agent``'s own limited totals now, over all its runs: its ``budget:`` as the embedded ledger applies
    it at the agent's level (``per_agent_usd`` and ``total_usd`` both bound everything it spends)."""
    if budget is None:
        return []
    now, scope = time.gmtime(), f"agent:{agent}"
    return [(key, usd) for key, usd in (
        (scope, min((v for v in (budget.per_agent_usd, budget.total_usd) if v is not None), default=None)),
        (time.strftime(f"{scope}:day:%Y-%m-%d", now), budget.daily_usd),
        (time.strftime(f"{scope}:month:%Y-%m", now), budget.monthly_usd)) if usd is not None]


class SharedSpend:
    """A worker's :class:`~parac.core.calls.CallHooks`, holding model calls against totals in Postgres first."""

    def __init__(self, inner: CallHooks, url: str, budgets: Budget | None, executor_id: str = "",
                 agent_budgets: Mapping[str, Budget] | None = None) -> None:
        self.inner = inner
        self.url = url
        self.budgets = budgets
        self.agent_budgets = dict(agent_budgets or {})
        self.executor_id = executor_id
        self.run_limits: dict[str, float] = {}  # run charged -> its budget_usd, told by each step attempt
        self.holds: dict[str, tuple[list[str], float]] = {}  # call id -> (totals held on, dollars)
        self.lock = threading.Lock()
        self.conn: psycopg.Connection | None = None
        with psycopg.connect(url, connect_timeout=5) as conn:
            create_schema(conn, SCHEMA)

    def _connection(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed:
            self.conn = psycopg.connect(self.url, connect_timeout=5)
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def limits(self, call: LLMCall) -> list[tuple[str, float]]:
        """The limited totals this call adds to, sorted by key (rows are locked in one order: no deadlock)."""
        out = []
        if call.run_id and call.run_id in self.run_limits:
            out.append((f"run:{call.run_id}", self.run_limits[call.run_id]))
        out += workspace_totals(self.budgets, call.workflow)
        if call.agent:
            out += agent_totals(self.agent_budgets.get(call.agent), call.agent)
        return sorted(out)

    def before_llm_call(self, call: LLMCall) -> None:
        self.inner.before_llm_call(call)
        needs = self.limits(call)
        if not needs:
            return
        bound = call.estimated_usd
        with self.lock:
            conn = self._connection()
            with conn.transaction():
                for key, limit in needs:
                    conn.execute(
                        "INSERT INTO parac_spend (key, limit_usd) VALUES (%s, %s) "
                        "ON CONFLICT (key) DO UPDATE SET limit_usd = EXCLUDED.limit_usd",
                        (key, limit),
                    )
                    row = conn.execute(
                        "UPDATE parac_spend SET held = held + %s WHERE key = %s AND spent + held + %s <= limit_usd + %s "
                        "RETURNING key", (bound, key, bound, EPSILON),
                    ).fetchone()
                    if row is None:
                        spent, held = conn.execute(
                            "SELECT spent, held FROM parac_spend WHERE key = %s", (key,)
                        ).fetchone()
                        raise BudgetExceeded(
                            f"budget {key} (${limit:g}, shared by every worker) would be exceeded: ${spent:.6f} spent, "
                            f"${held:.6f} held by calls in flight, this call may cost ${bound:.6f}"
                        )
            self.holds[call.call_id] = ([key for key, _ in needs], bound)

    def after_llm_call(self, call: LLMCall, response: Any, error: BaseException | None) -> None:
        with self.lock:
            hold = self.holds.pop(call.call_id, None)
            if hold is not None or not isinstance(error, CallDenied):  # a call refused before its hold made none
                self._settle(call, hold, response, error)
        self.inner.after_llm_call(call, response, error)

    def _settle(self, call: LLMCall, hold: tuple[list[str], float] | None, response: Any,
                error: BaseException | None) -> None:
        cost = call.cost_usd or 0.0
        status = "ok" if error is None else "error"
        conn = self._connection()
        with conn.transaction():
            usage = getattr(response, "usage", None)
            charged = conn.execute(
                "INSERT INTO parac_ledger (call_id, executor_id, run_id, workflow, step, agent, model, cost_usd, status, "
                "provider, prompt_tokens, completion_tokens) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (call_id) DO NOTHING",
                (call.call_id, self.executor_id, call.run_id, call.workflow, call.step, call.agent, call.model, cost,
                 status, call.provider, getattr(usage, "prompt_tokens", 0) or 0,
                 getattr(usage, "completion_tokens", 0) or 0),
            ).rowcount
            if hold is not None:
                keys, bound = hold
                for key in keys:
                    conn.execute("UPDATE parac_spend SET held = held - %s, spent = spent + %s WHERE key = %s",
                                 (bound, cost if charged else 0.0, key))

    # the rest of the hooks are the worker's own
    def before_tool_call(self, call: ToolCall) -> None:
        self.inner.before_tool_call(call)

    def after_tool_call(self, call: ToolCall, result: Any, error: BaseException | None) -> None:
        self.inner.after_tool_call(call, result, error)

    def event(self, name: str, data: dict[str, Any]) -> None:
        self.inner.event(name, data)


# -- what every worker spent, read from any process --------------------------------------------------------------


#: Databases this process has made the tables in: ``ALTER TABLE`` takes an exclusive lock, so each read running
#: :data:`SCHEMA` again would wait for (and hold up) every worker's spending transaction.
_schema_made: set[str] = set()


def _reading(url: str) -> contextlib.AbstractContextManager[psycopg.Connection]:
    """A pooled connection to ``url`` (the tables made at this process's first read of it)."""
    from .pool import connection

    if url not in _schema_made:
        with connection(url) as conn:
            create_schema(conn, SCHEMA)
        _schema_made.add(url)
    return connection(url)


def shared_budget_status(url: str, budgets: Budget | None) -> dict[str, Any]:
    """``budget show`` on the dbos engine, shaped as :func:`parac.core.budgets.status`: ``parac.yaml``'s totals
    and the run totals with calls in flight, as every worker holds calls against them. A worker killed mid-call
    leaves its hold in place (it may have spent it), so ``in_flight_usd`` includes what dead workers held."""
    with _reading(url) as conn:
        stored = {row[0]: row[1:] for row in conn.execute("SELECT key, limit_usd, spent, held FROM parac_spend")}
    rows = []
    wanted = dict(workspace_totals(budgets))
    wanted.update({key: row[0] for key, row in stored.items() if key.startswith("run:") and row[2] > 0})
    for key, usd in sorted(wanted.items()):
        _, spent, held = stored.get(key, (usd, 0.0, 0.0))
        rows.append({"limit": key, "kind": key.split(":")[0], "scope": "shared", "key": key, "limit_usd": usd,
                     "spent_usd": round(spent, 6), "in_flight_usd": round(held, 6), "unsettled_usd": 0.0,
                     "reserved_usd": round(held, 6), "remaining_usd": round(max(0.0, usd - spent - held), 6),
                     "percent": round(100 * spent / usd, 1) if usd else None})
    caps = []
    if budgets is not None and budgets.per_workflow_usd is not None:
        caps.append({"kind": "per_workflow", "scope": "workspace", "limit_usd": budgets.per_workflow_usd,
                     "source": "parac.yaml"})
    return {"limits": rows, "per_scope_limits": caps}


def shared_cost_report(url: str, *, by: str = "model", since: float | None = None) -> dict[str, Any]:
    """``costs report`` on the dbos engine, shaped as :func:`parac.core.costs.report`, from the ledger every worker
    writes. A call counts as unpriced when it used tokens and cost nothing (no price was known for its model)."""
    from datetime import UTC, datetime

    if by not in REPORT_GROUPS:
        raise ValueError(f'cannot group costs by "{by}": expected one of {", ".join(REPORT_GROUPS)}')
    where, params = ("WHERE at >= to_timestamp(%s)", [since]) if since is not None else ("", [])
    unpriced = "status = 'ok' AND cost_usd = 0 AND prompt_tokens + completion_tokens > 0"
    with _reading(url) as conn:
        rows = [
            {"key": key, "calls": calls, "errors": errors, "prompt_tokens": int(prompt), "completion_tokens":
             int(completion), "cost_usd": float(cost), "unpriced_calls": free}
            for key, calls, errors, prompt, completion, cost, free in conn.execute(
                f"SELECT {REPORT_GROUPS[by]} AS key, count(*), count(*) FILTER (WHERE status <> 'ok'), "
                "sum(prompt_tokens), sum(completion_tokens), sum(cost_usd), "
                f"count(*) FILTER (WHERE {unpriced}) FROM parac_ledger {where} GROUP BY key "
                "ORDER BY sum(cost_usd) DESC, key", params)]
        models = [row[0] for row in conn.execute(
            f"SELECT DISTINCT model FROM parac_ledger {where} {'AND' if where else 'WHERE'} {unpriced} ORDER BY model",
            params)]
    total: dict[str, Any] = {name: sum(row[name] for row in rows) for name in
                             ("calls", "errors", "prompt_tokens", "completion_tokens", "unpriced_calls")}
    total["cost_usd"] = float(sum(row["cost_usd"] for row in rows))
    since_text = datetime.fromtimestamp(since, UTC).isoformat() if since is not None else None
    return {"by": by, "since": since_text, "rows": rows, "total": total, "unpriced_models": models}
