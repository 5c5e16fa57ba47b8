"""Spending shared by every worker of the dbos engine: budget holds and the cost ledger in Postgres.

Each host keeps its own workspace database, so the embedded ledger's claims (:mod:`parac.core.ledger`) hold a
budget only among the processes of one host. :class:`SharedSpend` wraps a worker's call hooks and, around every
model call, holds the call's worst-case cost (its estimate, which bounds the completion by ``max_tokens``) on each
limited total in one Postgres transaction: ``UPDATE … SET held = held + bound WHERE spent + held + bound <=
limit``, which Postgres serialises per total's row, so N hosts cannot together pass a limit. After the call the
hold becomes the real cost and the call's ledger row is written (``parac_ledger``, keyed by call id, so a call is
charged once). A worker killed mid-call leaves its hold in place: the call may have reached its provider, and only
a ledger row could tell, so the hold keeps counting as spent (as the embedded ledger's "unsettled").

Totals: a workflow run's ``budget_usd`` (``run:ID``, the top run for a sub-workflow), and ``parac.yaml``'s
``budgets:`` ``total_usd``, ``daily_usd`` (UTC day), ``monthly_usd`` and ``per_workflow_usd``.
"""

from __future__ import annotations

import threading
import time
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
"""

#: Rounding slack, so a limit of exactly N calls at $x admits N calls.
EPSILON = 1e-9


class SharedSpend:
    """A worker's :class:`~parac.core.calls.CallHooks`, holding model calls against totals in Postgres first."""

    def __init__(self, inner: CallHooks, url: str, budgets: Budget | None, executor_id: str = "") -> None:
        self.inner = inner
        self.url = url
        self.budgets = budgets
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
        budgets = self.budgets
        if budgets is not None:
            now = time.gmtime()
            for key, usd in (("total", budgets.total_usd), (time.strftime("day:%Y-%m-%d", now), budgets.daily_usd),
                             (time.strftime("month:%Y-%m", now), budgets.monthly_usd),
                             (f"workflow:{call.workflow}", budgets.per_workflow_usd if call.workflow else None)):
                if usd is not None:
                    out.append((key, usd))
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
                self._settle(call, hold, error)
        self.inner.after_llm_call(call, response, error)

    def _settle(self, call: LLMCall, hold: tuple[list[str], float] | None, error: BaseException | None) -> None:
        cost = call.cost_usd or 0.0
        status = "ok" if error is None else "error"
        conn = self._connection()
        with conn.transaction():
            charged = conn.execute(
                "INSERT INTO parac_ledger (call_id, executor_id, run_id, workflow, step, agent, model, cost_usd, status) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (call_id) DO NOTHING",
                (call.call_id, self.executor_id, call.run_id, call.workflow, call.step, call.agent, call.model, cost,
                 status),
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
