"""Budgets: refused before the call, never overspent under concurrency, events at 80% and 95%, charged once."""

from __future__ import annotations

import json
import os
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
from parac.core.calls import CallContext
from parac.core.runtime import Runtime, budget_status, run_agent
from parac.core.specs import Budget
from parac.core.store import connect_workspace
from parac.server.api import hookimpl
from parac.server.host import Host
from support.openai_server import OpenAIServer, Reply
from support.paths import PARAC
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
            caller = CallContext(actor=f"token:caller{i % 2}")
            result = await runtime.run("spender", f"task {i}", model="slow", context=caller)
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


def spend_together(root: Path, processes: int, calls: int, model: str) -> list[dict[str, int]]:
    """``processes`` spenders of ``calls`` concurrent runs each of ``model``, started together; their counts."""
    go = root / "go"
    children = [run_spender(root, "calls", str(calls), "--go", str(go), "--model", model) for _ in range(processes)]
    deadline = time.monotonic() + 120
    while len(list(root.glob("ready-*"))) < processes and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    counts = []
    for child in children:
        out, err = child.communicate(timeout=180)
        assert child.returncode == 0, err
        counts.append({**json.loads(out), "why": err})  # the spender prints why a run did not complete
    return counts


def test_a_dead_process_reservation_stays_counted_as_unsettled(tmp_path):
    """A process killed while its call may be at the provider: what it reserved is never given back as unspent;
    `budget show` names it unsettled after a crash, and it keeps counting against the limit."""
    conn = connect_workspace(tmp_path)
    budgets.set_limit(Accountant(conn).conn, "total", 1.0)
    child = run_spender(tmp_path, "hold", "0.9")
    out, err = child.communicate(timeout=60)
    assert out.strip() == "held" and child.returncode == -signal.SIGKILL, err
    accountant = Accountant(conn)
    accountant.reserve(CallScope(), 0.1)
    with pytest.raises(BudgetExceeded, match=r"\$0\.9000 unsettled after a crash"):
        accountant.reserve(CallScope(), 0.05)
    [total] = budgets.status(accountant)["limits"]
    assert (total["spent_usd"], total["unsettled_usd"]) == (0, 0.9)
    assert total["in_flight_usd"] == pytest.approx(0.1) and total["remaining_usd"] == pytest.approx(0)
    accountant.close()


@pytest.mark.parametrize("boot", ["this boot", "another boot"])
def test_a_busy_process_killed_leaves_unsettled_only_what_it_may_owe(tmp_path, boot):
    """A busy process holds headroom beyond its calls; killed -9 with one call at its provider, that call's bound
    stays unsettled and the headroom is released by the next process to claim. A held file from another boot
    (a power loss) is not trusted: the whole claim stays unsettled."""
    conn = connect_workspace(tmp_path)
    budgets.set_limit(Accountant(conn).conn, "total", 1.0)
    child = run_spender(tmp_path, "busy", "0.05")
    out, err = child.communicate(timeout=60)
    assert out.strip() == "held" and child.returncode == -signal.SIGKILL, err
    claimed = conn.execute("SELECT SUM(usd) FROM spend_claims WHERE pid = ?", (child.pid,)).fetchone()[0]
    assert claimed > 0.1  # headroom beyond the $0.05 at the provider
    [held] = tmp_path.joinpath(".parac/state").glob(f"*.held-{child.pid}")
    if boot == "another boot":
        held.write_bytes(bytes(16) + held.read_bytes()[16:])
    owed = 0.05 if boot == "this boot" else claimed
    accountant = Accountant(conn)
    room = 1.0 - 0.02 - owed
    accountant.reserve(CallScope(), room)
    with pytest.raises(BudgetExceeded, match=rf"\${owed:.4f} unsettled after a crash"):
        accountant.reserve(CallScope(), 0.01)
    [total] = budgets.status(accountant)["limits"]
    assert total["spent_usd"] == pytest.approx(0.02) and total["unsettled_usd"] == pytest.approx(owed)
    assert not held.exists()
    accountant.close()


def test_two_processes_share_one_budget(workspace_dir):
    """Two processes, 100 concurrent calls each, started together against a budget for 50 calls."""
    priced_host(workspace_dir, total_usd=50 * CALL_USD)
    counts = spend_together(workspace_dir, 2, 100, "slow")
    completed = sum(c["completed"] for c in counts)
    calls, dollars = spent(workspace_dir)
    assert completed == 50 and calls == completed  # never more, and no headroom held by the other left unused
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


# -- exact budgets, real processes against the local OpenAI-compatible server --------------------------------
BOUND_USD = 0.01
"""What a call of ``local/m`` may cost: prompts are free, completions $100 per million tokens, at most 100."""


def served_workspace(root: Path, server: OpenAIServer, total_usd: float) -> None:
    """Agent ``spender`` on model ``local/m`` of ``server``; every answer costs exactly :data:`BOUND_USD`."""
    set_settings(
        root,
        providers={"local": {"api_base": server.base_url, "model_prefix": "openai"}},
        prices={"m": {"input_per_mtok": 0, "output_per_mtok": BOUND_USD / 100 * 1e6}},
        budgets={"total_usd": total_usd},
    )
    (root / ".parac/agents/spender.yaml").write_text("parent: base\ndescription: spends\nmax_tokens: 100\n")
    server.always("m", Reply.message("done", prompt_tokens=10, completion_tokens=100))


def test_processes_whose_demand_fits_are_all_admitted(workspace_dir):
    """4 processes of 6 concurrent calls each against a budget for exactly 24: every call is made."""
    with OpenAIServer() as server:
        served_workspace(workspace_dir, server, total_usd=24 * BOUND_USD)
        counts = spend_together(workspace_dir, 4, 6, "local/m")
        requests = len(server.requests_for("m"))
    assert [c["completed"] for c in counts] == [6] * 4 and requests == 24, counts
    assert spent(workspace_dir) == (24, pytest.approx(24 * BOUND_USD))


def test_processes_whose_demand_does_not_fit_get_exactly_the_budget(workspace_dir):
    """4 processes of 10 concurrent calls each against a budget for 13: exactly 13 requests reach the provider."""
    with OpenAIServer() as server:
        served_workspace(workspace_dir, server, total_usd=13 * BOUND_USD)
        counts = spend_together(workspace_dir, 4, 10, "local/m")
        requests = len(server.requests_for("m"))
    assert requests == 13 and sum(c["completed"] for c in counts) == 13, counts
    assert sum(c["denied"] for c in counts) == 27
    assert spent(workspace_dir) == (13, pytest.approx(13 * BOUND_USD))
    conn = connect_workspace(workspace_dir)
    for table in ("spend_claims", "spend_needs", "spend_unsettled"):
        assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0, table


def agents_run(root: Path, task: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PARAC, "agents", "run", "spender", "--task", task, "--model", "local/m"],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )


def test_a_call_killed_at_the_provider_keeps_its_room(workspace_dir):
    """`parac agents run` killed -9 while its request hangs at the provider: the call may have spent the room,
    so the next call is refused, and `budget show` says the dollars are unsettled after a crash."""
    with OpenAIServer() as server:
        served_workspace(workspace_dir, server, total_usd=1.5 * BOUND_USD)
        server.script("m", Reply.hang(60))
        first = agents_run(workspace_dir, "first")
        deadline = time.monotonic() + 120
        while not server.requests_for("m") and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.01)
        assert len(server.requests_for("m")) == 1, first.communicate()
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
        second = agents_run(workspace_dir, "second")
        out, err = second.communicate(timeout=120)
        requests = len(server.requests_for("m"))
    assert second.returncode == 1 and f"${BOUND_USD:.4f} unsettled after a crash" in err, err
    assert requests == 1
    shown = subprocess.run(
        [PARAC, "budget", "show", "--json"], cwd=workspace_dir, capture_output=True, text=True, timeout=120
    )
    [total] = json.loads(shown.stdout)["limits"]
    assert (total["spent_usd"], total["in_flight_usd"], total["unsettled_usd"]) == (0, 0, BOUND_USD)
    table = subprocess.run(
        [PARAC, "budget", "show"], cwd=workspace_dir, capture_output=True, text=True, timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    header, row = table.stdout.splitlines()[:2]
    assert header.split()[:5] == ["limit", "settled", "in", "flight", "unsettled"] and "(crash)" in header
    assert row.split()[-6:-2] == ["$0.0000", "$0.0000", f"${BOUND_USD:.4f}", "$0.0050"], table.stdout


def test_eight_concurrent_agent_runs_against_room_for_twenty_all_run(workspace_dir):
    with OpenAIServer() as server:
        served_workspace(workspace_dir, server, total_usd=20 * BOUND_USD)
        runs = [agents_run(workspace_dir, f"task {i}") for i in range(8)]
        results = [run.communicate(timeout=180) for run in runs]
        requests = len(server.requests_for("m"))
    assert [run.returncode for run in runs] == [0] * 8, [err for _, err in results]
    assert requests == 8 and spent(workspace_dir) == (8, pytest.approx(8 * BOUND_USD))
