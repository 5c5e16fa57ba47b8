"""Budgets: spending limits checked before every LLM call, held when many calls run at once.

The protocol is *reserve, then settle*. Before a call, :meth:`Accountant.reserve` adds the call's worst-case
cost (prompt tokens counted, completion bounded by ``max_tokens``) to the ``reserved`` column of every running
total the call touches, in one ``BEGIN IMMEDIATE`` transaction, after checking that spent + reserved + this
estimate stays within every limit. After the call, :meth:`Accountant.settle` removes the reservation and writes
the ledger row with the real cost in one transaction. Because reservations count against the limit while calls
are in flight, 200 concurrent calls against a budget for 50 cannot overspend, in one process or several.

Limits come from ``parac.yaml`` (``budgets:``), from the agent's ``budget:``, from a workflow's ``budget_usd``
(passed by the caller as ``run_limit_usd``) and from ``parac budget set`` (stored in the database, winning over
the files so a person can tighten a limit without editing YAML). Crossing 80% and 95% of a limit emits a
``budget.threshold`` event exactly once, from the settle that crossed it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import costs
from .calls import CallDenied
from .specs import Budget
from .store import process_alive, transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS budget_reservations (
    id INTEGER PRIMARY KEY,
    keys TEXT NOT NULL,
    usd REAL NOT NULL,
    created REAL NOT NULL,
    pid INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS budget_limits (
    scope TEXT NOT NULL,
    kind TEXT NOT NULL,
    usd REAL NOT NULL,
    PRIMARY KEY (scope, kind)
);
"""

KINDS = ("per_run", "per_workflow", "per_agent", "daily", "monthly", "total")
"""Names of the limits, as ``parac budget set KIND`` takes them (``Budget`` fields without ``_usd``)."""

STORED_LIMITS_TTL_S = 1.0
"""How stale a long-running process's view of ``parac budget set`` limits may be."""

THRESHOLDS = (0.8, 0.95)
"""Fractions of a limit at which an event is emitted."""

EventSink = Callable[[str, dict[str, Any]], None]


class BudgetExceeded(CallDenied):
    """A call would pass a limit; it was refused before it was made."""


@dataclass(frozen=True)
class Limit:
    """One limit that applies to a call: the running total it watches, the cap, and where it was set."""

    key: str
    usd: float
    kind: str
    scope: str  # "workspace", "agent NAME", "workflow NAME", "run"
    source: str  # "parac.yaml", "agent NAME", "workflow", "parac budget set"

    @property
    def label(self) -> str:
        return f"{self.kind}_usd ({self.scope}, set in {self.source})"


@dataclass(frozen=True)
class CallScope:
    """Who a call is for: the context its limits and totals are keyed by."""

    agent: str | None = None
    run_id: str | None = None
    workflow: str | None = None
    step: str | None = None


@dataclass
class Reservation:
    id: int | None  # the row in budget_reservations; None when no limit applied
    usd: float
    keys: list[str]
    limits: list[Limit]
    scope: CallScope
    settled: bool = False


def ensure_schema(conn: sqlite3.Connection) -> sqlite3.Connection:
    costs.ensure_schema(conn)
    conn.executescript(SCHEMA)
    return conn


def _limit_key(kind: str, scope: CallScope, ts: float, *, agent_level: bool) -> str | None:
    """The running total a limit of ``kind`` watches, or None when the call has no such scope."""
    day, month = costs.day_of(ts), costs.month_of(ts)
    prefix = f"agent:{scope.agent}:" if agent_level else ""
    if agent_level and not scope.agent:
        return None
    if kind == "total":
        return f"agent:{scope.agent}" if agent_level else "total"
    if kind == "per_agent":
        return f"agent:{scope.agent}" if scope.agent else None
    if kind == "daily":
        return f"{prefix}day:{day}"
    if kind == "monthly":
        return f"{prefix}month:{month}"
    if kind == "per_run":
        return f"{prefix}run:{scope.run_id}" if scope.run_id else None
    if kind == "per_workflow":
        return f"{prefix}workflow:{scope.workflow}" if scope.workflow else None
    raise ValueError(f"unknown budget kind {kind!r}")


def stored_limits(conn: sqlite3.Connection) -> dict[tuple[str, str], float]:
    """Limits set with ``parac budget set``: ``{(scope, kind): usd}``; scope is ``workspace`` or ``agent:NAME``."""
    return {(r[0], r[1]): r[2] for r in conn.execute("SELECT scope, kind, usd FROM budget_limits")}


def set_limit(conn: sqlite3.Connection, kind: str, usd: float | None, *, agent: str | None = None) -> None:
    """Store (or with ``usd=None`` remove) a limit that overrides the files."""
    if kind not in KINDS:
        raise ValueError(f'unknown budget "{kind}": expected one of {", ".join(KINDS)}')
    if usd is not None and usd < 0:
        raise ValueError(f"a budget must be zero or more dollars, not {usd}")
    scope = f"agent:{agent}" if agent else "workspace"
    ensure_schema(conn)
    with transaction(conn):
        if usd is None:
            conn.execute("DELETE FROM budget_limits WHERE scope = ? AND kind = ?", (scope, kind))
        else:
            conn.execute(
                "INSERT INTO budget_limits (scope, kind, usd) VALUES (?, ?, ?) "
                "ON CONFLICT (scope, kind) DO UPDATE SET usd = excluded.usd",
                (scope, kind, usd),
            )


@dataclass
class Accountant:
    """Reserves and settles LLM spending against the limits of one workspace.

    ``workspace_budget`` is ``parac.yaml``'s ``budgets:``; ``agent_budgets`` maps agent names to their resolved
    ``budget:``; ``run_limits`` maps run ids to a workflow's ``budget_usd``. ``on_event`` receives threshold
    events (name, data): the CLI prints them, the MCP server logs them, the host passes them to plugins.
    """

    conn: sqlite3.Connection
    workspace_budget: Budget | None = None
    agent_budgets: Mapping[str, Budget | None] = field(default_factory=dict)
    on_event: EventSink | None = None

    _stored: tuple[float, dict[tuple[str, str], float]] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        ensure_schema(self.conn)

    @property
    def stored(self) -> dict[tuple[str, str], float]:
        """Limits from ``parac budget set``, re-read at most every :data:`STORED_LIMITS_TTL_S`: another process
        may change them while this one serves calls, and a query per call would cost more than the check."""
        now = time.monotonic()
        if self._stored is None or now - self._stored[0] > STORED_LIMITS_TTL_S:
            self._stored = (now, stored_limits(self.conn))
        return self._stored[1]

    # -- which limits apply ---------------------------------------------------------------------------------
    def limits_for(self, scope: CallScope, ts: float, run_limit_usd: float | None = None) -> list[Limit]:
        found: list[Limit] = []

        def add(budget_values: Mapping[str, float | None], *, agent_level: bool, scope_label: str, source: str) -> None:
            for kind in KINDS:
                usd = budget_values.get(kind)
                if usd is None:
                    continue
                key = _limit_key(kind, scope, ts, agent_level=agent_level)
                if key is not None:
                    found.append(Limit(key, usd, kind, scope_label, source))

        stored = self.stored
        workspace_values = _budget_values(self.workspace_budget)
        stored_workspace = {k: v for (s, k), v in stored.items() if s == "workspace"}
        add(
            {k: v for k, v in workspace_values.items() if k not in stored_workspace},
            agent_level=False,
            scope_label="workspace",
            source="parac.yaml",
        )
        add(stored_workspace, agent_level=False, scope_label="workspace", source="parac budget set")
        if scope.agent:
            agent_values = _budget_values(self.agent_budgets.get(scope.agent))
            stored_agent = {k: v for (s, k), v in stored.items() if s == f"agent:{scope.agent}"}
            label = f"agent {scope.agent}"
            add(
                {k: v for k, v in agent_values.items() if k not in stored_agent},
                agent_level=True,
                scope_label=label,
                source=f"agent {scope.agent}",
            )
            add(stored_agent, agent_level=True, scope_label=label, source="parac budget set")
        if run_limit_usd is not None and scope.run_id:
            found.append(Limit(f"run:{scope.run_id}", run_limit_usd, "per_run", "run", "workflow budget_usd"))
        return found

    # -- reserve / settle -----------------------------------------------------------------------------------
    def reserve(self, scope: CallScope, estimate_usd: float, *, run_limit_usd: float | None = None) -> Reservation:
        """Hold ``estimate_usd`` against every limit of the call, or raise :class:`BudgetExceeded` naming one."""
        ts = time.time()
        limits = self.limits_for(scope, ts, run_limit_usd)
        reservation = Reservation(None, max(0.0, estimate_usd), [], limits, scope)
        if not limits:
            return reservation  # nothing to enforce: settling only writes the ledger
        reservation.keys = sorted({limit.key for limit in limits})
        with transaction(self.conn):
            totals = costs.spent(self.conn, reservation.keys, materialize=True)
            breach = _first_breach(limits, totals, reservation.usd)
            if breach is not None and self._reclaim_stale():
                totals = costs.spent(self.conn, reservation.keys, materialize=True)
                breach = _first_breach(limits, totals, reservation.usd)
            if breach is not None:
                limit, spent_usd, reserved_usd = breach
                raise BudgetExceeded(
                    f"budget {limit.label} would be exceeded: spent ${spent_usd:.4f}"
                    + (f" + ${reserved_usd:.4f} reserved by calls in flight" if reserved_usd > 1e-12 else "")
                    + f" + up to ${reservation.usd:.4f} for this call > limit ${limit.usd:.4f}",
                    rule=f"budget:{limit.kind}",
                )
            _add_reserved(self.conn, reservation.keys, reservation.usd)
            reservation.id = self.conn.execute(
                "INSERT INTO budget_reservations (keys, usd, created, pid) VALUES (?, ?, ?, ?)",
                (json.dumps(reservation.keys), reservation.usd, ts, os.getpid()),
            ).lastrowid
        return reservation

    def settle(self, reservation: Reservation, row: costs.CostRow) -> bool:
        """Release the reservation and write the ledger row (real cost, or a failure at $0), atomically.

        Returns False when the row was already recorded (same ``call_id``): nothing is charged twice.
        """
        if reservation.settled:
            return False
        reservation.settled = True
        if not reservation.keys:
            return costs.record(self.conn, row)
        with transaction(self.conn):
            held = self.conn.execute("DELETE FROM budget_reservations WHERE id = ?", (reservation.id,)).rowcount
            after = costs.insert(
                self.conn, row, release_keys=reservation.keys if held else (), release_usd=reservation.usd
            )
            if after is None and held:  # already recorded: only give the reservation back
                _add_reserved(self.conn, reservation.keys, -reservation.usd)
        if after and row.cost_usd > 0:
            charged = set(row.keys())  # a call settled after midnight charges the new day, not the reserved one
            self._emit_thresholds(reservation.limits, {k: v for k, v in after.items() if k in charged}, row.cost_usd)
        return after is not None

    def release(self, reservation: Reservation) -> None:
        """Give a reservation back without recording a call (the call was never made)."""
        if reservation.settled or reservation.id is None:
            reservation.settled = True
            return
        reservation.settled = True
        with transaction(self.conn):
            self._release(reservation)

    def _release(self, reservation: Reservation) -> None:
        if reservation.id is None:
            return
        cursor = self.conn.execute("DELETE FROM budget_reservations WHERE id = ?", (reservation.id,))
        if cursor.rowcount:
            _add_reserved(self.conn, reservation.keys, -reservation.usd)

    def _reclaim_stale(self) -> bool:
        """Drop reservations of processes that died mid-call on this machine; True when any were dropped.

        Only run when a limit is about to refuse a call, so the common path never pays for it.
        """
        stale = [
            (r[0], r[1], r[2])
            for r in self.conn.execute("SELECT id, keys, usd, pid FROM budget_reservations")
            if not process_alive(r[3])
        ]
        for rid, keys, usd in stale:
            self.conn.execute("DELETE FROM budget_reservations WHERE id = ?", (rid,))
            _add_reserved(self.conn, json.loads(keys), -usd)
        return bool(stale)

    def _emit_thresholds(self, limits: list[Limit], after: Mapping[str, float], cost: float) -> None:
        if self.on_event is None:
            return
        for limit in limits:
            if limit.usd <= 0 or limit.key not in after:
                continue
            new = after[limit.key]
            old = new - cost
            crossed = [t for t in THRESHOLDS if old < t * limit.usd <= new]
            if crossed:
                self.on_event(
                    "budget.threshold",
                    {
                        "limit": limit.label,
                        "kind": limit.kind,
                        "scope": limit.scope,
                        "percent": int(max(crossed) * 100),
                        "spent_usd": round(new, 6),
                        "limit_usd": limit.usd,
                    },
                )


def _add_reserved(conn: sqlite3.Connection, keys: list[str], usd: float) -> None:
    """Add ``usd`` (negative to release) to the reserved column of totals that :func:`costs.spent` created."""
    conn.execute(
        f"UPDATE spend_totals SET reserved_usd = MAX(0, reserved_usd + ?) WHERE key IN ({','.join('?' * len(keys))})",
        [usd, *keys],
    )


def _budget_values(budget: Budget | None) -> dict[str, float | None]:
    if budget is None:
        return {}
    return {kind: getattr(budget, f"{kind}_usd") for kind in KINDS}


def _first_breach(
    limits: list[Limit], totals: Mapping[str, tuple[float, float]], estimate: float
) -> tuple[Limit, float, float] | None:
    for limit in limits:
        spent_usd, reserved_usd = totals.get(limit.key, (0.0, 0.0))
        if spent_usd + reserved_usd + estimate > limit.usd + 1e-12:
            return limit, spent_usd, reserved_usd
    return None


def status(accountant: Accountant, agents: list[str] | None = None) -> dict[str, Any]:
    """Every configured limit with what has been spent and reserved against it now (for ``budget show``)."""
    now = time.time()
    rows: list[dict[str, Any]] = []
    scopes = [CallScope()] + [CallScope(agent=a) for a in agents or []]
    seen: set[str] = set()
    for scope in scopes:
        for limit in accountant.limits_for(scope, now):
            if limit.key in seen:
                continue
            seen.add(limit.key)
            rows.append(_status_row(accountant.conn, limit))
    return {"limits": rows, "per_scope_limits": _open_scoped_limits(accountant)}


def _status_row(conn: sqlite3.Connection, limit: Limit) -> dict[str, Any]:
    spent_usd, reserved_usd = costs.spent(conn, [limit.key]).get(limit.key, (0.0, 0.0))
    return {
        "limit": limit.label,
        "kind": limit.kind,
        "scope": limit.scope,
        "key": limit.key,
        "limit_usd": limit.usd,
        "spent_usd": round(spent_usd, 6),
        "reserved_usd": round(reserved_usd, 6),
        "remaining_usd": round(max(0.0, limit.usd - spent_usd - reserved_usd), 6),
        "percent": round(100 * spent_usd / limit.usd, 1) if limit.usd else None,
    }


def _open_scoped_limits(accountant: Accountant) -> list[dict[str, Any]]:
    """Limits that apply to each run or each workflow separately: shown as caps, since no single total is theirs."""
    out = []
    stored = accountant.stored
    scopes: list[tuple[str, Budget | None, str]] = [("workspace", accountant.workspace_budget, "parac.yaml")]
    scopes += [(f"agent:{name}", budget, f"agent {name}") for name, budget in sorted(accountant.agent_budgets.items())]
    for scope, budget, source in scopes:
        values = _budget_values(budget)
        for kind in ("per_run", "per_workflow"):
            if (scope, kind) in stored:
                usd, where = stored[(scope, kind)], "parac budget set"
            elif values.get(kind) is not None:
                usd, where = values[kind], source
            else:
                continue
            out.append({"scope": scope, "kind": kind, "limit_usd": usd, "source": where})
    return out
