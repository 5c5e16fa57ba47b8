"""Runtime costs: the ledger and budgets per model call, ledger throughput, and ``parac agents run`` cold start.

Measured in one run, each beside its peer:

- ledger rows/s, durable: rows settled through :class:`parac.core.budgets.Accountant` (queued, group-committed by
  the ledger's writer with ``synchronous=FULL``) until :meth:`~parac.core.budgets.Accountant.flush` returns, on a
  database on disk. Target >= 10,000/s (paracle 1.0.2 records about 100/s here). ``costs.record`` (one
  transaction per row, ``synchronous=NORMAL``: the old per-call path's write) is printed beside it.
- per-call overhead of the ledger, and of ledger + budgets (5 limits, far from them), against the same loop of
  ``echo`` calls through :class:`parac.core.llm.ModelClient` without them. The loops take turns in batches so
  drift hits each alike; a batch ends with a durable flush, so it pays for writing its own rows. Printed as wall
  and as process CPU time (the writer thread's included), per call and as a share of the bare ``echo`` call;
  beside it the calling thread's own CPU for reserve + settle. Target <= 5%. Also printed: the same near a limit
  (``CLAIM_SHARE = 0``: every call claims in the database, the slow path), and an ``echo`` agent run in-process,
  which waits for its row to be on disk before it returns (the acknowledgement: one fsync per run).
  Beside them, the floor under any ledger: one row of the same 15 columns inserted by a bare ``executemany``
  into the same table, in transactions of one batch each with ``synchronous=FULL`` (process CPU per row),
  a batch in every round, taking turns with the loops; the ledger's CPU per call (``cpu+``, its writer thread
  included) over that floor is printed as a ratio. Target <= 3x, the miss printed; the load average beside it.
- ``parac agents run NAME --task ...`` (echo) cold wall time beside ``parac --help``. Target <= 2x. Taking turns
  with them: ``parac agents show`` (the same host and workspace loading, no runtime), to tell the runtime's share
  apart, and ``floors/agent_run_deps.py``, the least the fixed dependencies cost (click, a spec read with PyYAML
  and validated by a pydantic model, SQLite, an anyio event loop), to tell parac's share from theirs.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import anyio
from harness import BIN, byte_compile_parac, report, time_commands

from parac.core import costs, ledger, store
from parac.core.budgets import Accountant, CallScope
from parac.core.calls import CallContext
from parac.core.llm import ModelClient
from parac.core.runtime import Runtime
from parac.core.specs import Budget, ProjectSettings
from parac.core.store import connect
from parac.plugins.offline import OfflineProvider
from parac.server.host import Host

BATCH = 250
ROUNDS = 41
ROWS = 20000
ROW_FLOOR_TARGET = 3.0
"""Ledger CPU per model call, budgets included, at most this many times the bare row's (issue 16)."""
MESSAGES = [{"role": "system", "content": "You are careful."}, {"role": "user", "content": "say something short"}]


def rows_per_second(write: Callable[[costs.CostRow], None], done: Callable[[], None]) -> float:
    rows = [
        costs.CostRow(call_id=f"row-{i}", provider="echo", model="echo", cost_usd=1e-6, agent="a", run_id="r")
        for i in range(ROWS)
    ]
    start = time.perf_counter()
    for row in rows:
        write(row)
    done()
    return ROWS / (time.perf_counter() - start)


def ledger_rows_per_second(db: Path) -> tuple[float, float]:
    """(rows/s through the accountant's group commit until flushed, rows/s with one transaction per row)."""
    accountant = Accountant(connect(db))

    def settle(row: costs.CostRow) -> None:
        accountant.settle(accountant.reserve(CallScope(), 0.0), row)

    grouped = rows_per_second(settle, accountant.flush)
    accountant.close()
    conn = costs.ensure_schema(connect(db.with_name("single.db")))
    single = rows_per_second(lambda row: costs.record(conn, row) and None, lambda: None)
    conn.close()
    return grouped, single


class RowFloor:
    """The bare insert under the ledger, one batch at a time: ``executemany`` of the ledger's 15 columns into its
    table, one transaction per batch, ``synchronous=FULL``; no Python around it. Measured in turns with the
    per-call loops (:func:`per_call_seconds`), so the ratio of the two sees the same machine."""

    INSERT = (
        "INSERT INTO llm_calls (call_id, ts, day, run_id, workflow, step, agent, provider, model, prompt_tokens, "
        "completion_tokens, cost_usd, priced, status, error) VALUES (" + ", ".join("?" * 15) + ")"
    )

    def __init__(self, db: Path) -> None:
        self.conn = costs.ensure_schema(connect(db))
        self.conn.execute("PRAGMA synchronous = FULL")
        self.count = 0

    def batch(self, rows: int) -> float:
        """Process CPU per row of one durable batch of ``rows`` rows."""
        now = time.time()
        values = [
            (f"{int(now * 1e6):014x}{self.count + i:018x}", now, "2026-11-23", "r", None, None, "a", "echo", "echo", 9, 4,
             1e-6, 1, "ok", None)
            for i in range(rows)
        ]
        self.count += rows
        start = time.process_time()
        with store.transaction(self.conn):
            self.conn.executemany(self.INSERT, values)
        return (time.process_time() - start) / rows


def per_call_seconds(
    clients: dict[str, ModelClient], context: CallContext, floor: RowFloor
) -> dict[str, dict[str, float]]:
    """Per client and clock (``wall``; ``cpu``: the process's CPU time, the writer thread's included): the median
    over rounds of the mean time per call, and (``wall+``, ``cpu+``) the median of its difference from the first
    client's batch of the same round; ``floor`` holds ``cpu`` (the bare row's CPU, a batch per round) and, per
    client, ``ratio:NAME``: the median over rounds of that client's ``cpu+`` over the floor of the same round.
    The clients and the floor take turns batch by batch, so drift hits each alike; CPU time is what a loaded
    shared machine disturbs least. A batch ends when its rows are on disk (one durable flush per batch), so each
    loop pays for its own writing."""

    async def batch(client: ModelClient, calls: int) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            await client.complete("echo", MESSAGES, context=context)
        if client.accountant is not None:  # the batch's rows on disk: the writer's work is the batch's, not the next's
            client.accountant.flush()
        return (time.perf_counter() - wall) / calls, (time.process_time() - cpu) / calls

    floors: list[float] = []

    async def main() -> dict[str, list[tuple[float, float]]]:
        for client in clients.values():
            await batch(client, 200)  # warm-up
        floor.batch(BATCH)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in clients}
        for _ in range(ROUNDS):
            for name, client in clients.items():
                times[name].append(await batch(client, BATCH))
            floors.append(floor.batch(BATCH))
        return times

    times = anyio.run(main)
    base = times[next(iter(clients))]
    out: dict[str, dict[str, float]] = {"floor": {"cpu": statistics.median(floors)}}
    for name, values in times.items():
        out[name] = {}
        for index, clock in enumerate(("wall", "cpu")):
            out[name][clock] = statistics.median(v[index] for v in values)
            out[name][clock + "+"] = statistics.median(v[index] - b[index] for v, b in zip(values, base, strict=True))
        out["floor"]["ratio:" + name] = statistics.median(
            (v[1] - b[1]) / f for v, b, f in zip(values, base, floors, strict=True)
        )
    return out


def accounting_seconds(accountant: Accountant, context: CallContext) -> float:
    """The calling thread's own share: reserve + settle alone, in that thread's CPU time per call (the writer
    thread's share is in the loops)."""
    rows = [costs.CostRow(call_id=f"direct-{i}", provider="echo", model="echo", cost_usd=1e-6) for i in range(ROWS)]
    start = time.thread_time()
    for row in rows:
        accountant.settle(accountant.reserve(context.scope, 1e-6), row)
    elapsed = (time.thread_time() - start) / ROWS
    accountant.flush()
    return elapsed


def echo_run_seconds(root: Path) -> float:
    host = Host(entry_points=False)
    host.open_workspace(root)

    async def main() -> float:
        with Runtime(host.workspace, hooks=host.hooks) as runtime:
            for _ in range(100):
                await runtime.run("bench", "say something short")
            start = time.perf_counter()
            for _ in range(1000):
                await runtime.run("bench", "say something short")
            return (time.perf_counter() - start) / 1000

    return anyio.run(main)


def main() -> None:
    byte_compile_parac()  # the cold starts below must not time the compiler
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        parac_dir = root / ".parac" / "agents"
        parac_dir.mkdir(parents=True)
        (root / ".parac" / "parac.yaml").write_text("default_model: echo\n")
        (parac_dir / "bench.yaml").write_text("description: bench\n")

        grouped_rows, single_rows = ledger_rows_per_second(root / "ledger.db")
        floor = RowFloor(root / "floor.db")

        echo = OfflineProvider("echo")
        settings = ProjectSettings(prices={"echo": {"input_per_mtok": 0.01, "output_per_mtok": 0.01}})
        context = CallContext(agent="bench", run_id="run-1")
        far = Budget(total_usd=1e6, daily_usd=1e6, monthly_usd=1e6, per_run_usd=1e6, per_agent_usd=1e6)
        accountants = {
            "ledger": Accountant(connect(root / "a.db")),
            "budgets": Accountant(connect(root / "b.db"), far),
        }
        clients = {"bare": ModelClient(lambda model: echo, settings)}
        clients |= {name: ModelClient(lambda model: echo, settings, a) for name, a in accountants.items()}
        times = per_call_seconds(clients, context, floor)
        direct = {name: accounting_seconds(a, context) for name, a in accountants.items()}
        ledger.CLAIM_SHARE = 0.0  # every call claims its reservation in the database: the path near a limit
        near = Accountant(connect(root / "c.db"), far)
        near_times = per_call_seconds(
            {"bare": clients["bare"], "near": ModelClient(lambda model: echo, settings, near)}, context, floor
        )
        for accountant in [*accountants.values(), near]:
            accountant.close()
        t_run = echo_run_seconds(root)

        parac = str(BIN / "parac")
        env = {"PARAC_LOAD_PLUGINS": ""}
        floor = [str(BIN / "python"), str(Path(__file__).with_name("floors") / "agent_run_deps.py"), "bench.yaml"]
        help_time, run_time, show_time, floor_time = time_commands(
            [
                ([parac, "--help"], None, env),
                ([parac, "agents", "run", "bench", "--task", "hello"], root, env),
                # the same plugin host and workspace loading without the runtime: what `agents run` adds on its own
                ([parac, "agents", "show", "bench"], root, env),
                (floor, parac_dir, None),
            ],
            runs=11,
        )

    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    bare = times["bare"]
    print(f"\nLoad average (1/5/15 min) when done: {load} on {os.cpu_count()} CPUs")
    print("\nLedger throughput (durable: synchronous=FULL, on disk)")
    print(f"  settled through the accountant, group commit, until flush: {grouped_rows:,.0f} rows/s (target >= 10,000)")
    print(f"  costs.record, one transaction per row (synchronous=NORMAL): {single_rows:,.0f} rows/s")
    print(f"\nPer model call (echo through ModelClient; batches of {BATCH} taking turns, medians of {ROUNDS} rounds)")
    print("  wall: elapsed; cpu: the process's CPU time, the ledger's writer thread included")
    print(f"  bare loop (no ledger, no budgets)       wall {bare['wall'] * 1e6:6.1f} us  cpu {bare['cpu'] * 1e6:6.1f} us")
    for name, label in (("ledger", "+ ledger row"), ("budgets", "+ ledger + budgets (5 limits)")):
        t = times[name]
        print(
            f"  {label:<39} wall +{t['wall+'] * 1e6:4.1f} us = {t['wall+'] / bare['wall']:5.1%}   "
            f"cpu +{t['cpu+'] * 1e6:4.1f} us = {t['cpu+'] / bare['cpu']:5.1%} of an echo call"
        )
        print(
            f"  {'':<39} reserve + settle alone, calling thread's CPU: {direct[name] * 1e6:.1f} us = "
            f"{direct[name] / bare['wall']:.1%}"
        )
    near = near_times["near"]
    print(
        f"  near a limit (a claim per call)         wall +{near['wall+'] * 1e6:.1f} us   cpu +{near['cpu+'] * 1e6:.1f} us"
        f" (beside {near_times['bare']['wall'] * 1e6:.1f} us bare)"
    )
    print(f"  echo agent run in-process (Runtime.run, waits for its row on disk) {t_run * 1e6:8.1f} us")
    print("  target: ledger + budgets <= 5% of an echo call")
    row_floor = times["floor"]["cpu"]
    print(
        f"  floor: a bare executemany of the same row, durable, {row_floor * 1e6:.1f} us CPU per row = "
        f"{row_floor / bare['cpu']:.1%} of an echo call (no ledger that writes a row per call costs less)"
    )
    print(f"\nLedger CPU per model call against the bare-row floor (in turns, median of per-round ratios; load {load})")
    for name, label in (("ledger", "ledger row"), ("budgets", "ledger row + budgets (5 limits)")):
        ratio = times["floor"]["ratio:" + name]
        verdict = "ok" if ratio <= ROW_FLOOR_TARGET else f"MISS (over by {ratio / ROW_FLOOR_TARGET - 1:.0%})"
        print(
            f"  {label:<33} cpu +{times[name]['cpu+'] * 1e6:5.1f} us = {ratio:4.1f}x the floor "
            f"(target <= {ROW_FLOOR_TARGET:g}x) {verdict}"
        )
    report(
        "parac agents run (echo) cold start (median wall time, the commands taking turns)",
        [("parac agents run bench --task hello", run_time, "parac --help", help_time, 2.0)],
    )
    print(f"  for reference: parac agents show bench (host + workspace, no runtime) {show_time * 1000:.1f} ms")
    print(
        f"  floor: the fixed dependencies alone (floors/agent_run_deps.py) {floor_time * 1000:.1f} ms = "
        f"{floor_time / help_time:.2f}x parac --help; parac agents run is {run_time / floor_time:.2f}x that floor"
    )


if __name__ == "__main__":
    main()
