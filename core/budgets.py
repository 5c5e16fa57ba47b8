"""Budgets: spending limits checked before every LLM call, held when many calls run at once, in one process or many.

The protocol is *reserve, then settle*. Before a call, :meth:`Accountant.reserve` sets the call's worst-case cost
(prompt tokens counted, completion bounded by ``max_tokens``) aside on every limited total the call touches, or
refuses it with :class:`BudgetExceeded` naming the limit. After the call, :meth:`Accountant.settle` turns the
reservation into the real cost and queues the ledger row. Both are in-memory steps against headroom this
process has claimed in the database; the database is asked only when that headroom runs short, in one
``BEGIN IMMEDIATE`` transaction that checks every process's claims (see :mod:`parac.core.ledger`). Because
reservations count against the limit while calls are in flight, 200 concurrent calls against a budget for 50
cannot overspend, in one process or several.

Limits come from ``parac.yaml`` (``budgets:``), from the agent's ``budget:``, from a workflow's ``budget_usd``
(passed by the caller as ``run_limit_usd``) and from ``parac budget set`` (stored in the database, winning over
the files so a person can tighten a limit without editing YAML). Crossing 80% and 95% of a limit emits a
``budget.threshold`` event (its ``message`` is what every face shows) once per process, from the settle that crossed it in the process's view of the total
(its own spending, and others' as of its last claim).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from . import costs, ledger
from .calls import CallDenied
from .specs import Budget
from .store import ensure_tables, transaction

SCHEMA = """
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


@dataclass(slots=True)
class Reservation:
    """Dollars set aside for one call on the limited totals of ``held`` (none when no limit applies)."""

    usd: float
    scope: CallScope
    day: int
    held: _Held | None = None
    settled: bool = False

    @property
    def keys(self) -> tuple[str, ...]:
        """The limited totals the reservation is held on."""
        return tuple(total.key for total in self.held.totals) if self.held is not None else ()


@dataclass(frozen=True, slots=True)
class _Held:
    """A plan's totals as one ledger holds them (see :class:`parac.core.ledger.Total`)."""

    ledger: ledger.Ledger
    needs: tuple[ledger.Need, ...]  # each limited total with its tightest limit
    totals: tuple[ledger.Total, ...]
    watched: tuple[tuple[Limit, int, float], ...]  # each limit, the place of its total and its lowest threshold


@dataclass(slots=True)
class _Plan:
    """The limits of one kind of call on one day, worked out once: what :meth:`Accountant.reserve` checks."""

    limits: tuple[Limit, ...]
    keys: tuple[str, ...]
    needs: tuple[tuple[str, float], ...]  # each limited total's key with its tightest limit
    held: _Held | None = None  # the totals in the ledger last used

    def held_by(self, held_in: ledger.Ledger) -> _Held:
        """The plan's totals in ``held_in`` (looked up once per ledger, not per call), each told the lowest
        threshold a limit of the plan has on it."""
        held = self.held
        if held is None or held.ledger is not held_in:
            total = held_in.total
            watched = tuple(
                (limit, self.keys.index(limit.key), THRESHOLDS[0] * limit.usd) for limit in self.limits if limit.usd > 0
            )
            for limit, _, low in watched:  # the ledger tells a settle that may cross a threshold from one that cannot
                watching = total(limit.key)
                watching.alert = min(watching.alert, low)
            held = self.held = _Held(
                held_in,
                tuple((total(key), limit) for key, limit in self.needs),
                tuple(total(key) for key in self.keys),
                watched,
            )
        return held


def ensure_schema(conn: sqlite3.Connection) -> sqlite3.Connection:
    costs.ensure_schema(conn)
    ensure_tables(conn, SCHEMA)
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
    ``budget:``; a workflow's ``budget_usd`` comes with each call as ``run_limit_usd``. ``on_event`` receives
    threshold events (name, data): the CLI prints them, the MCP server logs them, the host passes them to plugins.
    Every accountant of a process shares that process's :class:`parac.core.ledger.Ledger` for the database;
    :meth:`close` when done (the runtime does), so the last one gives the process's headroom back.
    """

    conn: sqlite3.Connection
    workspace_budget: Budget | None = None
    agent_budgets: Mapping[str, Budget | None] = field(default_factory=dict)
    on_event: EventSink | None = None

    _stored: tuple[float, dict[tuple[str, str], float]] | None = field(default=None, init=False, repr=False)
    _plans: dict[tuple[Any, ...], _Plan] = field(default_factory=dict, init=False, repr=False)
    _last_plan: tuple[CallScope, float | None, int, _Plan] | None = field(default=None, init=False, repr=False)
    _ledger: ledger.Ledger | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        ensure_schema(self.conn)

    @property
    def stored(self) -> dict[tuple[str, str], float]:
        """Limits from ``parac budget set`` (see :meth:`refresh_stored`)."""
        return self.refresh_stored()

    def refresh_stored(self) -> dict[tuple[str, str], float]:
        """Re-read the limits from ``parac budget set`` when the last read is older than
        :data:`STORED_LIMITS_TTL_S`: another process may change them while this one serves calls, and a query
        per call would cost more than the check. A change drops the plans worked out under the old limits."""
        now = time.monotonic()
        if self._stored is None or now - self._stored[0] > STORED_LIMITS_TTL_S:
            fresh = stored_limits(self.conn)
            if self._stored is not None and fresh != self._stored[1]:
                self._plans.clear()
                self._last_plan = None
            self._stored = (now, fresh)
        return self._stored[1]

    @property
    def ledger(self) -> ledger.Ledger:
        """This process's ledger for the database (started on first use: ``budget show`` never needs it)."""
        if self._ledger is None:
            self._ledger = ledger.acquire(self.conn)
        return self._ledger

    def flush(self) -> None:
        """Wait until every row settled so far is on disk (acknowledged; see :mod:`parac.core.ledger`)."""
        if self._ledger is not None:
            self._ledger.flush()

    async def flushed(self) -> None:
        """:meth:`flush` without blocking the event loop."""
        if self._ledger is not None:
            await self._ledger.flushed()

    def close(self) -> None:
        """Flush; when this was the process's last user of the database, give its budget headroom back."""
        if self._ledger is not None:
            held, self._ledger = self._ledger, None
            held.flush()
            ledger.release_user(held)

    # -- which limits apply ---------------------------------------------------------------------------------
    def limits_for(self, scope: CallScope, ts: float, run_limit_usd: float | None = None) -> list[Limit]:
        found: list[Limit] = []

        def add(budget_values: Mapping[str, float | None], *, agent_level: bool, scope_label: str, source: str) -> None:
            for kind in KINDS:
                usd = budget_values.get(kind)
                if usd is None:
                    continue
                key = _limit_key(kind, scope, ts, agent_level=agent_level)
                if key is None:
                    continue
                # a workspace's per_agent limit is one total per agent: the label says whose
                label = f"{scope_label}, agent {scope.agent}" if kind == "per_agent" and not agent_level else scope_label
                found.append(Limit(key, usd, kind, label, source))

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

    def _plan(self, scope: CallScope, ts: float, day: int, run_limit_usd: float | None) -> _Plan:
        stored = self._stored
        if stored is None or time.monotonic() - stored[0] > STORED_LIMITS_TTL_S:
            self.refresh_stored()
        last = self._last_plan  # a run's calls come with one scope object: no hashing of it per call
        if last is not None and last[0] is scope and last[1] == run_limit_usd and last[2] == day:
            return last[3]
        plan = self._plans.get((scope, run_limit_usd, day))
        if plan is None:
            if len(self._plans) > 1024:
                self._plans.clear()
            limits = tuple(self.limits_for(scope, ts, run_limit_usd))
            tightest: dict[str, float] = {}
            for limit in limits:
                tightest[limit.key] = min(limit.usd, tightest.get(limit.key, limit.usd))
            plan = self._plans[(scope, run_limit_usd, day)] = _Plan(limits, tuple(tightest), tuple(tightest.items()))
        self._last_plan = (scope, run_limit_usd, day, plan)
        return plan

    # -- reserve / settle -----------------------------------------------------------------------------------
    def reserve(self, scope: CallScope, estimate_usd: float, *, run_limit_usd: float | None = None) -> Reservation:
        """Hold ``estimate_usd`` against every limit of the call, or raise :class:`BudgetExceeded` naming one.

        Blocks while other processes are asked for unused headroom (see :mod:`parac.core.ledger`); async code
        uses :meth:`reserve_async`."""
        asked = None
        while (reservation := self.try_reserve(scope, estimate_usd, run_limit_usd=run_limit_usd, asked=asked)) is None:
            asked = asked or time.monotonic()
            time.sleep(ledger.NEED_POLL_S)
        return reservation

    async def reserve_async(
        self, scope: CallScope, estimate_usd: float, *, run_limit_usd: float | None = None
    ) -> Reservation:
        """:meth:`reserve` without blocking the event loop while other processes are asked for headroom."""
        asked = None
        while (reservation := self.try_reserve(scope, estimate_usd, run_limit_usd=run_limit_usd, asked=asked)) is None:
            asked = asked or time.monotonic()
            await anyio.sleep(ledger.NEED_POLL_S)
        return reservation

    def try_reserve(
        self, scope: CallScope, estimate_usd: float, *, run_limit_usd: float | None = None, asked: float | None = None
    ) -> Reservation | None:
        """One attempt of :meth:`reserve`: the reservation, or None while other processes are being asked for
        headroom (since the monotonic time ``asked``). The common case, without a coroutine to make."""
        ts = time.time()
        day = int(ts // 86400)
        plan = self._plan(scope, ts, day, run_limit_usd)
        reservation = Reservation(max(0.0, estimate_usd), scope, day)
        if not plan.needs:
            return reservation
        held = reservation.held = plan.held_by(self._ledger or self.ledger)
        if held.ledger.take(held.needs, reservation.usd):
            return reservation
        last_try = asked is not None and time.monotonic() - asked > ledger.NEED_WAIT_S
        outcome = held.ledger.claim(self.conn, held.needs, reservation.usd, last_try=last_try)
        if outcome is None:
            return reservation
        if outcome == ledger.ASKED:
            return None
        key, spent_usd, _ = outcome
        limit = min((limit for limit in plan.limits if limit.key == key), key=lambda limit: limit.usd)
        in_flight, unsettled = costs.held(self.conn, key)
        raise BudgetExceeded(
            f"budget {limit.label} would be exceeded: spent ${spent_usd:.4f}"
            + (f" + ${in_flight:.4f} reserved by calls in flight" if in_flight > 1e-12 else "")
            + (f" + ${unsettled:.4f} unsettled after a crash" if unsettled > 1e-12 else "")
            + f" + up to ${reservation.usd:.4f} for this call > limit ${limit.usd:.4f}",
            rule=f"budget:{limit.kind}",
        )

    def settle(self, reservation: Reservation, row: costs.CostRow, *, actor: str = "local") -> bool:
        """Turn the reservation into the call's real cost (or a failure at $0) and queue its ledger row.

        ``actor`` is who made the call (``local``, an MCP client, ``token:NAME``): a threshold event this call
        crosses names them, so the audit trail says whose spending reached the limit. Returns False when the reservation was settled before or this process settled the call id already:
        nothing is charged twice (the ledger's unique ``call_id`` refuses a row another process wrote). The row
        is durable once :meth:`flush` returns.
        """
        if reservation.settled:
            return False
        reservation.settled = True
        held = reservation.held
        # a reservation outliving its ledger (closed meanwhile) was given back with the ledger's claims
        if held is None or held.ledger is not self._ledger:
            return (self._ledger or self.ledger).settle(row, (), reservation.usd, ()) is not None
        totals = held.totals
        if int(row.ts // 86400) == reservation.day:
            charged = totals
        else:  # the day turned during the call
            keys = set(row.keys())
            charged = tuple(total for total in totals if total.key in keys)
        after = held.ledger.settle(row, totals, reservation.usd, charged)
        if after is None:
            return False
        if after and self.on_event is not None:
            if charged is not totals:  # the day turned: what the row added to, by the place of each total
                views = dict(zip(charged, after))
                after = [views.get(total, -1.0) for total in totals]
            _emit_thresholds(self.on_event, held.watched, after, row, actor)
        return True

    def release(self, reservation: Reservation) -> None:
        """Give a reservation back without recording a call (the call was never made)."""
        if reservation.settled:
            return
        reservation.settled = True
        held = reservation.held
        if held is not None and held.ledger is self._ledger:
            held.ledger.release(held.totals, reservation.usd)


def _emit_thresholds(
    on_event: EventSink,
    watched: tuple[tuple[Limit, int, float], ...],
    after: Sequence[float],
    row: costs.CostRow,
    actor: str,
) -> None:
    """Emit the threshold events ``row`` crossed: ``after`` is the new spent of each total of the reservation
    (-1 for one it did not add to), in this process's view."""
    high, cost = THRESHOLDS[-1], row.cost_usd
    for limit, place, low in watched:
        new = after[place]
        if new < low or new - cost >= high * limit.usd:
            continue  # below every threshold, or past them all before this call: the common case, decided quickly
        old = new - cost
        crossed = [t for t in THRESHOLDS if old < t * limit.usd <= new]
        if crossed:
            percent = int(max(crossed) * 100)
            on_event(
                "budget.threshold",
                {
                    "message": f"{percent}% of budget {limit.label} spent (${new:.4f} of ${limit.usd:.4f})",
                    "limit": limit.label,
                    "kind": limit.kind,
                    "scope": limit.scope,
                    "percent": percent,
                    "spent_usd": round(new, 6),
                    "limit_usd": limit.usd,
                    "actor": actor,
                    "agent": row.agent,
                    "run_id": row.run_id,
                },
            )


def _budget_values(budget: Budget | None) -> dict[str, float | None]:
    if budget is None:
        return {}
    return {kind: getattr(budget, f"{kind}_usd") for kind in KINDS}


def status(accountant: Accountant, agents: list[str] | None = None) -> dict[str, Any]:
    """Every configured limit with what has been spent and reserved against it now (for ``budget show``). Two
    limits may watch one total (the workspace's ``per_agent`` and an agent's own): both are shown, and the
    tighter one is what calls are held to. Each limit's dollars are settled, in flight, or unsettled after a
    crash (see :func:`_status_row`)."""
    now = time.time()
    rows: list[dict[str, Any]] = []
    scopes = [CallScope()] + [CallScope(agent=a) for a in agents or []]
    seen: set[tuple[str, str]] = set()
    for scope in scopes:
        for limit in accountant.limits_for(scope, now):
            if (limit.key, limit.label) in seen:  # the workspace's limits come again with every agent
                continue
            seen.add((limit.key, limit.label))
            rows.append(_status_row(accountant.conn, limit))
    return {"limits": rows, "per_scope_limits": _open_scoped_limits(accountant)}


def _status_row(conn: sqlite3.Connection, limit: Limit) -> dict[str, Any]:
    """``spent_usd`` is settled (ledger rows); ``in_flight_usd`` what live processes hold (calls at a provider
    and their unused headroom); ``unsettled_usd`` what processes that died may have spent (a call of theirs
    may have reached its provider): it counts as spent. ``reserved_usd`` is the two together."""
    spent_usd = costs.spent(conn, [limit.key])[limit.key][0]
    in_flight, unsettled = costs.held(conn, limit.key)
    reserved_usd = in_flight + unsettled
    return {
        "limit": limit.label,
        "kind": limit.kind,
        "scope": limit.scope,
        "key": limit.key,
        "limit_usd": limit.usd,
        "spent_usd": round(spent_usd, 6),
        "in_flight_usd": round(in_flight, 6),
        "unsettled_usd": round(unsettled, 6),
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
