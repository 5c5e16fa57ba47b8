"""The cost ledger: one row per LLM call in the workspace database, and what it cost.

Every call is a row (time, run, workflow, step, agent, provider, model, tokens, dollars, outcome), written once:
the row's ``call_id`` is unique, so a retried write never charges twice. Error text is redacted before it is
stored (a provider's error may quote a key). Beside the rows the ledger keeps running totals per *scope key*
(``total``, ``day:2026-11-23``, ``agent:coder`` …) that budgets read instead of summing the ledger, so checking a
limit costs the same on the millionth call as on the first. A total exists only once a budget has asked for it
(:func:`spent` with ``materialize=True`` sums the ledger once and stores the result); from then on every batch of
rows adds to it in the batch's own transaction.

``spend_claims`` holds, per total and per process, the dollars that process has set aside against that total
(its calls in flight and the headroom it may spend without asking the database again); ``spend_unsettled`` the
claims of processes that died, which count as spent for good (see :mod:`parac.core.ledger`, also for
``spend_needs`` and ``spend_answers``). What the database says is left under a limit is the limit minus spent
minus every claim and every unsettled dollar.

Rows are written in batches by :func:`write_rows` (the ledger's writer thread groups the rows of many calls into
one transaction); :func:`record` writes one row in its own transaction.

Prices: a price set in ``parac.yaml`` (``prices:``) wins; otherwise the provider's own (litellm's bundled price
map, see :meth:`parac.core.providers.Provider.price`), so dry runs and plans are priced too.
"""

from __future__ import annotations

import functools
import itertools
import json
import operator
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from .redact import default_redactor
from .specs import Price
from .store import ensure_tables, process_alive, transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_calls (
    seq INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL UNIQUE,
    ts REAL NOT NULL,
    day TEXT NOT NULL,
    run_id TEXT,
    workflow TEXT,
    step TEXT,
    agent TEXT,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    priced INTEGER NOT NULL DEFAULT 1,
    status TEXT NOT NULL DEFAULT 'ok',
    error TEXT
);
CREATE INDEX IF NOT EXISTS llm_calls_by_step ON llm_calls (run_id, step);
CREATE TABLE IF NOT EXISTS spend_totals (
    key TEXT PRIMARY KEY,
    spent_usd REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS spend_claims (
    key TEXT NOT NULL,
    pid INTEGER NOT NULL,
    usd REAL NOT NULL,
    PRIMARY KEY (key, pid)
);
CREATE TABLE IF NOT EXISTS spend_unsettled (
    key TEXT NOT NULL,
    pid INTEGER NOT NULL,
    usd REAL NOT NULL,
    since REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS spend_needs (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    pid INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS spend_answers (
    pid INTEGER PRIMARY KEY,
    need INTEGER NOT NULL
);
"""

REPORT_GROUPS = {
    "agent": "COALESCE(agent, '-')",
    "model": "model",
    "provider": "provider",
    "day": "day",
    "run": "COALESCE(run_id, '-')",
    "workflow": "COALESCE(workflow, '-')",
}
"""``parac costs report --by`` choices, each the SQL expression it groups by."""


def ensure_schema(conn: sqlite3.Connection) -> sqlite3.Connection:
    """Create the ledger's tables if they are missing; returns ``conn`` for chaining."""
    ensure_tables(conn, SCHEMA)
    return conn


# -- scope keys -----------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _calendar(day_number: int) -> str:
    """``YYYY-MM-DD`` of a UTC day number; cached because ``strftime`` costs more than the ledger insert."""
    return datetime.fromtimestamp(day_number * 86400, UTC).strftime("%Y-%m-%d")


def day_of(ts: float) -> str:
    """The UTC calendar day of a Unix time, as ``YYYY-MM-DD``."""
    return _calendar(int(ts // 86400))


def month_of(ts: float) -> str:
    """The UTC calendar month of a Unix time, as ``YYYY-MM``."""
    return day_of(ts)[:7]


def scope_keys(
    ts: float, *, run_id: str | None = None, workflow: str | None = None, agent: str | None = None
) -> list[str]:
    """Every running total a call at ``ts`` in this context adds to.

    Totals are kept whether or not a limit is set today, so a limit set tomorrow sees today's spending.
    """
    day = day_of(ts)
    month = day[:7]
    keys = ["total", f"day:{day}", f"month:{month}"]
    if run_id:
        keys.append(f"run:{run_id}")
    if workflow:
        keys.append(f"workflow:{workflow}")
    if agent:
        keys += [f"agent:{agent}", f"agent:{agent}:day:{day}", f"agent:{agent}:month:{month}"]
        if run_id:
            keys.append(f"agent:{agent}:run:{run_id}")
        if workflow:
            keys.append(f"agent:{agent}:workflow:{workflow}")
    return keys


# -- rows -----------------------------------------------------------------------------------------------------
@dataclass
class CostRow:
    """One LLM call as the ledger records it."""

    call_id: str
    provider: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    priced: bool = True
    status: str = "ok"
    error: str | None = None
    run_id: str | None = None
    workflow: str | None = None
    step: str | None = None
    agent: str | None = None
    ts: float = field(default_factory=time.time)

    @property
    def day(self) -> str:
        """The UTC calendar day of the call, as the ledger stores it."""
        return day_of(self.ts)

    def keys(self) -> list[str]:
        return scope_keys(self.ts, run_id=self.run_id, workflow=self.workflow, agent=self.agent)


_FIELDS = operator.attrgetter(
    "call_id", "ts", "day", "run_id", "workflow", "step", "agent", "provider", "model", "prompt_tokens",
    "completion_tokens", "cost_usd", "priced", "status", "error",
)
_ERROR = operator.attrgetter("error")
_CHUNKS = (256, 64, 16, 4, 1)
"""Rows per ``INSERT`` statement: a few fixed sizes, so SQLite's statement cache keeps each prepared (256 rows
insert fastest here; much longer statements cost more to prepare than they save)."""
_INSERTS = {
    count: "INSERT OR IGNORE INTO llm_calls (call_id, ts, day, run_id, workflow, step, agent, provider, model, "
    "prompt_tokens, completion_tokens, cost_usd, priced, status, error) VALUES "
    + ", ".join(["(" + ", ".join("?" * 15) + ")"] * count)
    for count in _CHUNKS
}


def _insert(conn: sqlite3.Connection, rows: Sequence[CostRow]) -> None:
    """Insert rows many to a statement. SQLite runs a statement in one step, and a writer thread gives up the
    GIL once per step: one step per row (``executemany``) would hand the GIL back and forth with the calling
    thread, and each hand-over costs that thread more than the row's insert."""
    values = list(map(_FIELDS, rows))
    if any(map(_ERROR, rows)):  # provider errors may quote a key: none reaches the database
        redact = default_redactor().text
        values = [(*v[:14], redact(v[14])) if v[14] else v for v in values]
    start = 0
    for count in _CHUNKS:
        while len(values) - start >= count:
            conn.execute(_INSERTS[count], list(itertools.chain.from_iterable(values[start : start + count])))
            start += count


def write_rows(
    conn: sqlite3.Connection, rows: Sequence[CostRow], *, claims_used: Mapping[str, float] | None = None, pid: int = 0
) -> int:
    """Write a batch of rows inside the caller's transaction; returns how many were new (a row whose
    ``call_id`` is already there is not written or charged again). Error text is redacted.

    The running totals grow by what was inserted, summed by SQLite per day, run, workflow and agent, so the
    Python work per row is one ``attrgetter``. ``claims_used`` are the dollars of these rows that process
    ``pid`` had claimed per total (see :mod:`parac.core.ledger`): the claims shrink as the costs move into
    ``spent_usd`` in the same transaction, so spent plus claimed stays what the budgets saw.
    """
    if not rows:
        return 0
    last = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM llm_calls").fetchone()[0]
    before = conn.total_changes
    _insert(conn, rows)
    inserted = conn.total_changes - before
    charged: dict[str, float] = {}
    groups = conn.execute(
        "SELECT MIN(ts), run_id, workflow, agent, SUM(cost_usd) FROM llm_calls WHERE seq > ? AND cost_usd != 0 "
        "GROUP BY day, run_id, workflow, agent",
        (last,),
    )
    for ts, run_id, workflow, agent, cost in groups.fetchall():
        for key in scope_keys(ts, run_id=run_id, workflow=workflow, agent=agent):
            charged[key] = charged.get(key, 0.0) + cost
    if charged:
        conn.execute(
            "UPDATE spend_totals SET spent_usd = spent_usd + j.value FROM json_each(?) AS j "
            "WHERE spend_totals.key = j.key",
            (json.dumps(charged),),
        )
    if claims_used:
        conn.execute(
            "UPDATE spend_claims SET usd = usd - j.value FROM json_each(?) AS j "
            "WHERE spend_claims.key = j.key AND spend_claims.pid = ?",
            (json.dumps(claims_used), pid),
        )
    return inserted


def record(conn: sqlite3.Connection, row: CostRow) -> bool:
    """Write one row in its own transaction (see :func:`write_rows`); False when it was already recorded."""
    with transaction(conn):
        return write_rows(conn, [row]) == 1


_DIMENSIONS = {"day": "day = ?", "month": "substr(day, 1, 7) = ?", "run": "run_id = ?", "workflow": "workflow = ?"}


def _predicate(key: str) -> tuple[str, list[str]]:
    """The ledger rows a scope key totals, as a SQL condition (the inverse of :func:`scope_keys`)."""
    if key == "total":
        return "1", []
    clauses, params = [], []
    rest = key
    if rest.startswith("agent:"):
        agent, _, rest = rest[len("agent:") :].partition(":")
        clauses.append("agent = ?")
        params.append(agent)
    if rest:
        dimension, _, value = rest.partition(":")
        if dimension not in _DIMENSIONS:
            raise ValueError(f"not a spending scope: {key!r}")
        clauses.append(_DIMENSIONS[dimension])
        params.append(value)
    return " AND ".join(clauses), params


def spent(
    conn: sqlite3.Connection, keys: Iterable[str], *, materialize: bool = False
) -> dict[str, tuple[float, float]]:
    """``{key: (spent_usd, claimed_usd)}`` for every key: dollars recorded, and dollars held against the total
    (live processes' calls in flight and headroom, and what crashed processes left unsettled; see :func:`held`).

    A key without a stored total is summed from the ledger; with ``materialize=True`` (inside a write
    transaction) that sum is stored so later rows keep it current.
    """
    keys = list(dict.fromkeys(keys))
    if not keys:
        return {}
    marks = ",".join("?" * len(keys))
    rows = conn.execute(f"SELECT key, spent_usd FROM spend_totals WHERE key IN ({marks})", keys)
    totals = {r[0]: r[1] for r in rows}
    claims = dict(
        conn.execute(
            f"SELECT key, SUM(usd) FROM (SELECT key, usd FROM spend_claims WHERE key IN ({marks}) UNION ALL "
            f"SELECT key, usd FROM spend_unsettled WHERE key IN ({marks})) GROUP BY key",
            keys + keys,
        ).fetchall()
    )
    found: dict[str, tuple[float, float]] = {}
    for key in keys:
        if key not in totals:
            where, params = _predicate(key)
            total = conn.execute(f"SELECT COALESCE(SUM(cost_usd), 0) FROM llm_calls WHERE {where}", params)
            totals[key] = total.fetchone()[0]
            if materialize:
                conn.execute("INSERT INTO spend_totals (key, spent_usd) VALUES (?, ?)", (key, totals[key]))
        found[key] = (totals[key], max(0.0, claims.get(key) or 0.0))
    return found


def held(conn: sqlite3.Connection, key: str) -> tuple[float, float]:
    """``(in_flight_usd, unsettled_usd)`` held against ``key``: claims of live processes (their calls in flight and
    unused headroom), and what processes that died may have spent (their claims, moved or not yet moved to
    ``spend_unsettled``): for ``budget show``, which reads without writing."""
    in_flight = unsettled = 0.0
    for pid, usd in conn.execute("SELECT pid, SUM(usd) FROM spend_claims WHERE key = ? GROUP BY pid", (key,)):
        if process_alive(pid):
            in_flight += max(0.0, usd)
        else:
            unsettled += max(0.0, usd)
    unsettled += conn.execute("SELECT COALESCE(SUM(usd), 0) FROM spend_unsettled WHERE key = ?", (key,)).fetchone()[0]
    return in_flight, unsettled


# -- reports --------------------------------------------------------------------------------------------------
def parse_since(text: str, now: float | None = None) -> float:
    """Turn ``7d``, ``12h``, ``30m`` or an ISO date/time (UTC when no zone) into a Unix time.

    Raises ValueError with the accepted forms, for the CLI to show.
    """
    now = time.time() if now is None else now
    units = {"d": 86400, "h": 3600, "m": 60}
    stripped = text.strip()
    if stripped[:-1].isdigit() and stripped[-1:] in units:
        return now - int(stripped[:-1]) * units[stripped[-1]]
    try:
        parsed = datetime.fromisoformat(stripped)
    except ValueError:
        raise ValueError(
            f'cannot read --since "{text}": expected a duration like 7d, 12h or 30m, or a date like 2026-11-01'
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def step_usage(conn: sqlite3.Connection, run_id: str) -> dict[str, dict[str, Any]]:
    """A workflow run's model calls summed per step (by `llm_calls_by_step`): ``{step: {calls, input_tokens,
    output_tokens, cost_usd}}``, for the steps that made any."""
    rows = conn.execute(
        "SELECT step, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM(cost_usd) FROM llm_calls"
        " WHERE run_id = ? AND step IS NOT NULL GROUP BY step", (run_id,))
    return {step: {"calls": calls, "input_tokens": prompt, "output_tokens": completion, "cost_usd": cost}
            for step, calls, prompt, completion, cost in rows}


def report(conn: sqlite3.Connection, *, by: str = "model", since: float | None = None) -> dict[str, Any]:
    """Spending grouped by ``by`` (one of :data:`REPORT_GROUPS`), optionally from ``since`` on.

    Returns ``{by, since, rows: [{key, calls, errors, prompt_tokens, completion_tokens, cost_usd,
    unpriced_calls}], total: {...}, unpriced_models: [...]}``, rows by descending cost; ``unpriced_models`` are
    those whose calls cost nothing for want of a price (``prices:`` in ``parac.yaml`` can set one).
    """
    if by not in REPORT_GROUPS:
        raise ValueError(f'cannot group costs by "{by}": expected one of {", ".join(REPORT_GROUPS)}')
    where, params = ("WHERE ts >= ?", [since]) if since is not None else ("", [])
    sql = (
        f"SELECT {REPORT_GROUPS[by]} AS key, COUNT(*) AS calls, SUM(status NOT IN ('ok', 'cached')) AS errors, "
        "SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens, "
        "SUM(cost_usd) AS cost_usd, SUM(priced = 0 AND status = 'ok') AS unpriced_calls "
        f"FROM llm_calls {where} GROUP BY key ORDER BY cost_usd DESC, key"
    )
    rows = [dict(r) for r in conn.execute(sql, params)]
    total: dict[str, Any] = {
        name: sum(r[name] or 0 for r in rows)
        for name in ("calls", "errors", "prompt_tokens", "completion_tokens", "unpriced_calls")
    }
    total["cost_usd"] = float(sum(r["cost_usd"] or 0.0 for r in rows))
    since_text = datetime.fromtimestamp(since, UTC).isoformat() if since is not None else None
    unpriced = conn.execute(
        f"SELECT DISTINCT model FROM llm_calls {where} {'AND' if where else 'WHERE'} priced = 0 AND status = 'ok' "
        "ORDER BY model",
        params,
    )
    return {"by": by, "since": since_text, "rows": rows, "total": total, "unpriced_models": [r[0] for r in unpriced]}


def recent(conn: sqlite3.Connection, limit: int = 50) -> list[dict[str, Any]]:
    """The latest ledger rows, newest first."""
    return [dict(r) for r in conn.execute("SELECT * FROM llm_calls ORDER BY seq DESC LIMIT ?", (limit,))]


# -- prices ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelPrice:
    """Dollars per token, prompt and completion."""

    input_per_token: float
    output_per_token: float
    source: str  # "parac.yaml" or "litellm"

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return prompt_tokens * self.input_per_token + completion_tokens * self.output_per_token

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def price_for(model: str, overrides: Mapping[str, Price] | None = None) -> ModelPrice | None:
    """The price ``parac.yaml`` sets for ``model`` (also matched as ``model`` without its ``provider/`` prefix,
    and as ``fixed``/``scripted`` for ``fixed:TEXT``/``scripted:PATH``); None when it sets none."""
    if not overrides:
        return None
    candidates = [model]
    if "/" in model:
        candidates.append(model.split("/", 1)[1])
    if ":" in model:
        candidates.append(model.split(":", 1)[0])
    for candidate in candidates:
        price = overrides.get(candidate)
        if price is not None:
            return ModelPrice(price.input_per_mtok / 1e6, price.output_per_mtok / 1e6, "parac.yaml")
    return None
