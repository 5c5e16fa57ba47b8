"""Budgets: refused before the call, never overspent under concurrency, events at 80% and 95%, charged once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
import pytest

from parac.core import budgets, costs
from parac.core.budgets import Accountant, BudgetExceeded, CallScope
from parac.core.runtime import Runtime, budget_status, run_agent
from parac.core.specs import Budget
from parac.core.store import connect_workspace
from parac.server.api import hookimpl
from parac.server.host import Host
from support.runtime import set_settings, write_script
from support.spender import SlowEcho

SPENDER = Path(__file__).parent.parent / "support" / "spender.py"

CALL_USD = 0.01


class SlowPlugin:
    @hookimpl
    def parac_register_providers(self, register) -> None:
        register(SlowEcho())


def priced_host(root: Path, **budget: float) -> Host:
    """Each call of model ``slow`` costs exactly CALL_USD: 100 prompt tokens, completions free."""
    set_settings(
        root,
        prices={"slow": {"input_per_mtok": CALL_USD / 100 * 1e6, "output_per_mtok": 0}},
        budgets=budget,
    )
    agent = root / ".parac/agents/spender.yaml"
    if not agent.exists():
        agent.write_text("parent: base\ndescription: spends\n")
    host = Host(entry_points=False, extra_plugins=[("slow", SlowPlugin())])
    host.open_workspace(root)
    return host


def spent(root: Path) -> tuple[int, float]:
    conn = costs.ensure_schema(connect_workspace(root))
    row = conn.execute("SELECT COUNT(*), COALESCE(SUM(cost_usd), 0) FROM llm_calls WHERE status = 'ok'").fetchone()
    return row[0], row[1]


async def test_200_concurrent_calls_against_a_budget_for_50(workspace_dir):
    host = priced_host(workspace_dir, total_usd=50 * CALL_USD)
    events: list[dict] = []
    outcomes: list[str] = []
    with Runtime(host.workspace, hooks=host.hooks, on_event=lambda n, d: events.append(d) if n == "budget.threshold" else None) as runtime:

        async def one(i: int) -> None:
            result = await runtime.run("spender", f"task {i}", model="slow", actor=f"token:caller{i % 2}")
            outcomes.append(result.status)

        async with anyio.create_task_group() as group:
            for i in range(200):
                group.start_soon(one, i)
    assert outcomes.count("completed") == 50 and outcomes.count("denied") == 150
    calls, dollars = spent(workspace_dir)
    assert calls == 50 and dollars == pytest.approx(50 * CALL_USD)
    assert sorted(e["percent"] for e in events) == [80, 95]  # each threshold once
    assert all(e["actor"] in ("token:caller0", "token:caller1") and e["agent"] == "spender" for e in events)
    status = budget_status(host.workspace)
    [total] = [row for row in status["limits"] if row["kind"] == "total"]
    assert total["reserved_usd"] == 0 and total["remaining_usd"] == pytest.approx(0)


def test_threads_with_their_own_connections_never_overspend(workspace_dir):
    """Eight threads, each its own Runtime and SQLite connection, 25 calls each, budget for 50."""
    host = priced_host(workspace_dir, daily_usd=50 * CALL_USD)
    statuses: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        async def main() -> None:
            with Runtime(host.workspace, hooks=host.hooks) as runtime:
                for i in range(25):
                    result = await runtime.run("spender", f"t{n}-{i}", model="slow")
                    with lock:
                        statuses.append(result.status)

        anyio.run(main)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count("completed") == 50 and statuses.count("denied") == 150
    assert spent(workspace_dir)[0] == 50


async def test_the_refusal_names_the_limit_and_nothing_is_called(workspace_dir):
    host = priced_host(workspace_dir, per_run_usd=CALL_USD / 2)
    result = await run_agent(host.workspace, "spender", "x", model="slow")
    assert result.status == "denied"
    assert "per_run_usd (workspace, set in parac.yaml)" in (result.error or "") and "limit $0.0050" in (result.error or "")
    assert spent(workspace_dir)[0] == 0


async def test_agent_budgets_and_stored_limits(workspace_dir):
    (workspace_dir / ".parac/agents/spender.yaml").write_text("parent: base\ndescription: s\nbudget: {total_usd: 0.025}\n")
    host = priced_host(workspace_dir)
    results = [await run_agent(host.workspace, "spender", f"t{i}", model="slow") for i in range(3)]
    assert [r.status for r in results] == ["completed", "completed", "denied"]
    assert "total_usd (agent spender, set in agent spender)" in (results[2].error or "")
    conn = connect_workspace(workspace_dir)
    budgets.set_limit(conn, "total", 1.0, agent="spender")  # `parac budget set total 1 --agent spender`
    assert (await run_agent(host.workspace, "spender", "t3", model="slow")).status == "completed"
    budgets.set_limit(conn, "daily", 0.0)
    denied = await run_agent(host.workspace, "spender", "t4", model="slow")
    assert denied.status == "denied" and "set in parac budget set" in (denied.error or "")


def test_limits_set_later_see_earlier_spending(tmp_path):
    conn = costs.ensure_schema(connect_workspace(tmp_path))
    for i in range(3):
        costs.record(conn, costs.CostRow(call_id=f"c{i}", provider="p", model="m", cost_usd=0.1, agent="a"))
    accountant = Accountant(conn, Budget(total_usd=0.35))
    with pytest.raises(BudgetExceeded, match=r"spent \$0\.3000"):
        accountant.reserve(CallScope(agent="a"), 0.1)
    accountant.reserve(CallScope(agent="a"), 0.05)


def test_settling_twice_charges_once(tmp_path):
    conn = connect_workspace(tmp_path)
    accountant = Accountant(conn, Budget(total_usd=1.0))
    reservation = accountant.reserve(CallScope(), 0.2)
    row = costs.CostRow(call_id="only-once", provider="p", model="m", cost_usd=0.2)
    assert accountant.settle(reservation, row) is True
    assert accountant.settle(reservation, row) is False
    again = accountant.reserve(CallScope(), 0.2)
    assert accountant.settle(again, row) is False  # same call id: not charged again
    accountant.close()  # rows written, headroom given back
    assert costs.spent(conn, ["total"]) == {"total": (pytest.approx(0.2), 0.0)}
    assert conn.execute("SELECT COUNT(*) FROM llm_calls").fetchone()[0] == 1


def test_a_reservation_settled_after_its_accountant_closed_is_recorded(tmp_path):
    """Closing gives the process's headroom back; a call still in flight then settles into a new ledger: its row
    is written and charged, and no headroom is left behind in the database."""
    conn = connect_workspace(tmp_path)
    accountant = Accountant(conn, Budget(total_usd=1.0))
    reservation = accountant.reserve(CallScope(), 0.3)
    accountant.close()
    assert costs.spent(conn, ["total"])["total"][1] == pytest.approx(0.3)  # the call in flight stays reserved
    assert accountant.settle(reservation, costs.CostRow(call_id="late", provider="p", model="m", cost_usd=0.25))
    accountant.close()
    assert costs.spent(conn, ["total"]) == {"total": (pytest.approx(0.25), 0.0)}


def run_spender(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(SPENDER), str(root), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_reservations_of_a_dead_process_are_reclaimed(tmp_path):
    conn = connect_workspace(tmp_path)
    set_limits = Accountant(conn)
    budgets.set_limit(set_limits.conn, "total", 1.0)
    child = run_spender(tmp_path, "hold", "0.9")
    out, err = child.communicate(timeout=60)
    assert out.strip() == "held" and child.returncode == -signal.SIGKILL, err
    assert costs.spent(conn, ["total"])["total"][1] >= 0.9  # the dead child's claim is still in the database
    accountant = Accountant(conn)
    accountant.reserve(CallScope(), 0.5)  # only possible once the dead reservation is given back
    with pytest.raises(BudgetExceeded, match="reserved by calls in flight"):
        accountant.reserve(CallScope(), 0.6)


def test_two_processes_share_one_budget(workspace_dir):
    """Two processes, 100 concurrent calls each, started together against a budget for 50 calls."""
    priced_host(workspace_dir, total_usd=50 * CALL_USD)
    go = workspace_dir / "go"
    children = [run_spender(workspace_dir, "calls", "100", "--go", str(go)) for _ in range(2)]
    deadline = time.monotonic() + 60
    while len(list(workspace_dir.glob("ready-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    counts = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        counts.append(json.loads(out))
    completed = sum(c["completed"] for c in counts)
    calls, dollars = spent(workspace_dir)
    assert 45 <= completed <= 50 and calls == completed  # never more; held headroom may strand a call or two
    assert dollars <= 50 * CALL_USD + 1e-9
    assert all(c["completed"] + c["denied"] == 100 and c["denied"] >= 50 for c in counts)
    conn = connect_workspace(workspace_dir)
    assert conn.execute("SELECT COUNT(*) FROM spend_claims").fetchone()[0] == 0  # both gave their headroom back


def test_acknowledged_rows_survive_a_killed_process(workspace_dir):
    """A run's rows are on disk when the run returns: the process is killed right after, before exit handlers."""
    priced_host(workspace_dir)
    child = run_spender(workspace_dir, "acked", "20")
    out, err = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL, err
    acked = out.split()
    assert len(acked) == 20
    conn = connect_workspace(workspace_dir)
    recorded = {r[0] for r in conn.execute("SELECT run_id FROM llm_calls")}
    assert set(acked) <= recorded


async def test_a_lowered_limit_stops_headroom_claimed_under_the_old_one(workspace_dir):
    """A long-lived runtime holds headroom claimed under total $1; `parac budget set total` to what is spent must
    refuse its next call (after the stored limits are re-read), not let it spend the headroom."""
    host = priced_host(workspace_dir, total_usd=1.0)
    with Runtime(host.workspace, hooks=host.hooks) as runtime:
        assert (await runtime.run("spender", "a", model="slow")).status == "completed"
        budgets.set_limit(connect_workspace(workspace_dir), "total", CALL_USD)
        await anyio.sleep(budgets.STORED_LIMITS_TTL_S + 0.1)
        denied = await runtime.run("spender", "b", model="slow")
    assert denied.status == "denied" and "set in parac budget set" in (denied.error or "")


async def test_provider_errors_are_redacted_in_the_ledger(workspace_dir, tmp_path):
    secret = "sk-proj-" + "A1b2C3d4E5f6G7h8J9k0" * 2
    model = write_script(tmp_path / "leak.yaml", [{"error": f"401: invalid key {secret} for this project"}])
    host = priced_host(workspace_dir)
    result = await run_agent(host.workspace, "spender", "x", model=model)
    assert result.status == "failed"
    [error] = [r[0] for r in connect_workspace(workspace_dir).execute("SELECT error FROM llm_calls")]
    assert secret not in error and "[REDACTED:openai-key]" in error and "invalid key" in error


async def test_hooks_see_every_model_call_including_refusals(workspace_dir):
    seen: list[tuple[str, str | None]] = []

    class Observer:
        @hookimpl
        def parac_after_llm_call(self, call, response, error) -> None:
            seen.append((call.model, type(error).__name__ if error else None))

    set_settings(workspace_dir, prices={"slow": {"input_per_mtok": CALL_USD / 100 * 1e6, "output_per_mtok": 0}})
    (workspace_dir / ".parac/agents/spender.yaml").write_text("parent: base\ndescription: s\nbudget: {total_usd: 0.015}\n")
    host = Host(entry_points=False, extra_plugins=[("slow", SlowPlugin()), ("observer", Observer())])
    host.open_workspace(workspace_dir)
    first = await run_agent(host.workspace, "spender", "a", model="slow", hooks=host.hooks)
    second = await run_agent(host.workspace, "spender", "b", model="slow", hooks=host.hooks)
    assert (first.status, second.status) == ("completed", "denied")
    assert seen == [("slow", None), ("slow", "BudgetExceeded")]
