"""Runtime costs: the ledger and budgets per model call, ledger throughput, and ``parac agents run`` cold start.

Measured in one run, each beside its peer:

- ledger rows/s: ``costs.record`` (one durable WAL commit per row) on a database on disk. Target >= 10,000/s
  (paracle 1.0.2 records about 100/s here).
- per-call overhead of the ledger and of ledger + budget (reserve before, settle after) against the same loop of
  ``echo`` calls through :class:`parac.core.llm.ModelClient` without them; printed per call and as a share of an
  ``echo`` agent run (``Runtime.run``, in-process) and of a cold ``parac agents run`` with ``echo``. Target <= 5%.
- ``parac agents run NAME --task ...`` (echo) cold wall time beside ``parac --help``. Target <= 2x. ``parac agents
  show`` (the same host and workspace loading, no runtime) is printed too, to tell the runtime's share apart.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import anyio
from harness import BIN, report, time_command

from parac.core import costs
from parac.core.budgets import Accountant
from parac.core.llm import CallContext, ModelClient
from parac.core.runtime import Runtime
from parac.core.specs import Budget, ProjectSettings
from parac.core.store import connect
from parac.plugins.offline import OfflineProvider
from parac.server.host import Host

CALLS = 3000
ROWS = 20000
MESSAGES = [{"role": "system", "content": "You are careful."}, {"role": "user", "content": "say something short"}]


def ledger_rows_per_second(db: Path) -> float:
    conn = costs.ensure_schema(connect(db))
    start = time.perf_counter()
    for i in range(ROWS):
        row = costs.CostRow(call_id=f"row-{i}", provider="echo", model="echo", cost_usd=1e-6, agent="a", run_id="r")
        costs.record(conn, row)
    elapsed = time.perf_counter() - start
    conn.close()
    return ROWS / elapsed


def per_call_seconds(client: ModelClient, context: CallContext) -> float:
    """Median of five batches of the mean time per call."""

    async def batch() -> float:
        start = time.perf_counter()
        for _ in range(CALLS // 5):
            await client.complete("echo", MESSAGES, context=context)
        return (time.perf_counter() - start) / (CALLS // 5)

    async def main() -> list[float]:
        for _ in range(200):  # warm-up
            await client.complete("echo", MESSAGES, context=context)
        return [await batch() for _ in range(5)]

    return statistics.median(anyio.run(main))


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
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        parac_dir = root / ".parac" / "agents"
        parac_dir.mkdir(parents=True)
        (root / ".parac" / "parac.yaml").write_text("default_model: echo\n")
        (parac_dir / "bench.yaml").write_text("description: bench\n")

        rows_per_s = ledger_rows_per_second(root / "ledger.db")

        echo = OfflineProvider("echo")
        settings = ProjectSettings(prices={"echo": {"input_per_mtok": 0.01, "output_per_mtok": 0.01}})
        context = CallContext(agent="bench", run_id="run-1")
        bare = ModelClient(lambda model: echo, settings)
        ledger_only = ModelClient(lambda model: echo, settings, Accountant(connect(root / "a.db")))
        budgeted = ModelClient(
            lambda model: echo,
            settings,
            Accountant(connect(root / "b.db"), Budget(total_usd=1e6, daily_usd=1e6, per_run_usd=1e6)),
        )
        t_bare = per_call_seconds(bare, context)
        t_ledger = per_call_seconds(ledger_only, context)
        t_budget = per_call_seconds(budgeted, context)
        t_run = echo_run_seconds(root)

        parac = str(BIN / "parac")
        env = {"PARAC_LOAD_PLUGINS": ""}
        help_time = time_command([parac, "--help"], env=env, runs=7)
        run_time = time_command([parac, "agents", "run", "bench", "--task", "hello"], cwd=root, env=env, runs=7)
        # the same plugin host and workspace loading without the runtime: what `agents run` adds on its own
        show_time = time_command([parac, "agents", "show", "bench"], cwd=root, env=env, runs=7)

    print("\nLedger throughput")
    print(f"  costs.record, one WAL commit per row: {rows_per_s:,.0f} rows/s (target >= 10,000; paracle 1.0.2 ~100/s)")
    print("\nPer model call (echo through ModelClient, median of 5 batches)")
    print(f"  bare loop (no ledger, no budgets)      {t_bare * 1e6:8.1f} us")
    ledger_overhead = t_ledger - t_bare
    budget_overhead = t_budget - t_bare
    print(f"  + ledger row                           {t_ledger * 1e6:8.1f} us  (+{ledger_overhead * 1e6:.1f} us)")
    print(f"  + ledger + budget reserve/settle       {t_budget * 1e6:8.1f} us  (+{budget_overhead * 1e6:.1f} us)")
    print(f"  echo agent run in-process (Runtime.run, ledger included) {t_run * 1e6:8.1f} us")
    print(
        f"  ledger+budget overhead as share of: bare echo call {budget_overhead / t_bare:6.1%}, "
        f"in-process echo run {budget_overhead / t_run:6.1%}, cold `parac agents run` {budget_overhead / run_time:7.3%}"
        " (target <= 5%)"
    )
    report(
        "parac agents run (echo) cold start (median wall time)",
        [("parac agents run bench --task hello", run_time, "parac --help", help_time, 2.0)],
    )
    print(f"  for reference: parac agents show bench (host + workspace, no runtime) {show_time * 1000:.1f} ms")


if __name__ == "__main__":
    main()
