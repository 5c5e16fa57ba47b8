"""The cost ledger: one row per LLM call in the workspace database, and what it cost.

Every call is a row (time, run, workflow, step, agent, provider, model, tokens, dollars, outcome), written once:
the row's ``call_id`` is unique, so a retried write never charges twice. Beside the rows the ledger keeps
running totals per *scope key* (``total``, ``day:2026-11-23``, ``agent:coder`` …) that budgets read instead of
summing the ledger, so checking a limit costs the same on the millionth call as on the first. A total exists
only once a budget has asked for it (:func:`spent` with ``materialize=True`` sums the ledger once and stores
the result); from then on every row adds to it in the row's own transaction, with one ``UPDATE``. Keeping
only the totals someone watches is what lets a row cost two statements, not ten.

Prices: a price set in ``parac.yaml`` (``prices:``) wins; otherwise the provider's own (litellm's bundled price
map, see :meth:`parac.core.providers.Provider.price`), so dry runs and plans are priced too.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from .specs import Price
from .store import transaction

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
CREATE TABLE IF NOT EXISTS spend_totals (
    key TEXT PRIMARY KEY,
    spent_usd REAL NOT NULL DEFAULT 0,
    reserved_usd REAL NOT NULL DEFAULT 0
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
    conn.executescript(SCHEMA)
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

    def keys(self) -> list[str]:
        return scope_keys(self.ts, run_id=self.run_id, workflow=self.workflow, agent=self.agent)


_INSERT = (
    "INSERT OR IGNORE INTO llm_calls (call_id, ts, day, run_id, workflow, step, agent, provider, model, "
    "prompt_tokens, completion_tokens, cost_usd, priced, status, error) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def insert(
    conn: sqlite3.Connection, row: CostRow, *, release_keys: Sequence[str] = (), release_usd: float = 0.0
) -> dict[str, float] | None:
    """Write ``row`` and add its cost to the running totals that exist, inside the caller's transaction.

    ``release_keys``/``release_usd`` give back a budget reservation in the same statement (budgets settle a call
    this way: one ``UPDATE`` for both). Returns the new ``spent_usd`` of every total touched, or None (and
    changes nothing) when a row with the same ``call_id`` is already there.
    """
    cursor = conn.execute(
        _INSERT,
        (
            row.call_id,
            row.ts,
            day_of(row.ts),
            row.run_id,
            row.workflow,
            row.step,
            row.agent,
            row.provider,
            row.model,
            row.prompt_tokens,
            row.completion_tokens,
            row.cost_usd,
            int(row.priced),
            row.status,
            row.error,
        ),
    )
    if cursor.rowcount == 0:
        return None
    charged = row.keys() if row.cost_usd else []
    touched = list(dict.fromkeys([*charged, *release_keys]))
    if not touched:
        return {}
    charged_marks, release_marks = ",".join("?" * len(charged)), ",".join("?" * len(release_keys))
    rows = conn.execute(
        f"UPDATE spend_totals SET spent_usd = spent_usd + CASE WHEN key IN ({charged_marks}) THEN ? ELSE 0 END, "
        f"reserved_usd = MAX(0, reserved_usd - CASE WHEN key IN ({release_marks}) THEN ? ELSE 0 END) "
        f"WHERE key IN ({','.join('?' * len(touched))}) RETURNING key, spent_usd",
        [*charged, row.cost_usd, *release_keys, release_usd, *touched],
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def record(conn: sqlite3.Connection, row: CostRow) -> bool:
    """Write one row in its own transaction (see :func:`insert`); False when it was already recorded."""
    with transaction(conn):
        return insert(conn, row) is not None


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
    """``{key: (spent_usd, reserved_usd)}`` for every key.

    A key without a stored total is summed from the ledger; with ``materialize=True`` (inside a write
    transaction) that sum is stored so later rows keep it current.
    """
    keys = list(dict.fromkeys(keys))
    if not keys:
        return {}
    marks = ",".join("?" * len(keys))
    rows = conn.execute(f"SELECT key, spent_usd, reserved_usd FROM spend_totals WHERE key IN ({marks})", keys)
    found = {r[0]: (r[1], r[2]) for r in rows}
    for key in keys:
        if key in found:
            continue
        where, params = _predicate(key)
        total = conn.execute(f"SELECT COALESCE(SUM(cost_usd), 0) FROM llm_calls WHERE {where}", params).fetchone()[0]
        found[key] = (total, 0.0)
        if materialize:
            conn.execute("INSERT INTO spend_totals (key, spent_usd) VALUES (?, ?)", (key, total))
    return found


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


def report(conn: sqlite3.Connection, *, by: str = "model", since: float | None = None) -> dict[str, Any]:
    """Spending grouped by ``by`` (one of :data:`REPORT_GROUPS`), optionally from ``since`` on.

    Returns ``{by, since, rows: [{key, calls, errors, prompt_tokens, completion_tokens, cost_usd,
    unpriced_calls}], total: {...}}``, rows by descending cost.
    """
    if by not in REPORT_GROUPS:
        raise ValueError(f'cannot group costs by "{by}": expected one of {", ".join(REPORT_GROUPS)}')
    where, params = ("WHERE ts >= ?", [since]) if since is not None else ("", [])
    sql = (
        f"SELECT {REPORT_GROUPS[by]} AS key, COUNT(*) AS calls, SUM(status != 'ok') AS errors, "
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
    return {"by": by, "since": since_text, "rows": rows, "total": total}


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
