"""What the CLI reads on the dbos engine is the shared store, not its host's SQLite: runs done by a worker on
another checkout (another host) show in ``workflow runs``, ``costs report`` and ``budget show`` from this one, and a
cancelled run is resumed by ``workflow resume`` on the workers, no finished step run again."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import psycopg

from tests.engines.test_dbos_serve import _lock_waits
from tests.support.runtime import set_settings

CALL_USD = 0.01


def test_runs_costs_and_budgets_read_what_workers_did_on_another_host(dbos_project, tmp_path):
    root = dbos_project.root
    set_settings(root, prices={"slow": {"input_per_mtok": CALL_USD / 100 * 1e6, "output_per_mtok": 0}},
                 budgets={"total_usd": 1.0})
    (root / ".parac" / "agents" / "spender.yaml").write_text("parent: base\ndescription: spends\nmodel: slow\n")
    dbos_project.write_workflow("spend", "budget_usd: 0.5\nsteps:\n" + "".join(
        f"  - {{id: c{i}, agent: spender, task: spend {i}}}\n" for i in range(3)))
    other = dbos_project.hosts(2, tmp_path)[1]
    dbos_project.start_workers_on([other])
    runs = [json.loads(dbos_project.cli("workflow", "run", "spend", "--json").stdout) for _ in range(2)]
    assert [run["status"] for run in runs] == ["completed"] * 2, runs

    listed = json.loads(dbos_project.cli("workflow", "runs", "--json").stdout)
    assert [(row["run_id"], row["status"]) for row in listed] == [(run["run_id"], "completed") for run in reversed(runs)]
    page = json.loads(dbos_project.cli("workflow", "runs", "--json", "--limit", "1").stdout)
    rest = json.loads(dbos_project.cli("workflow", "runs", "--json", "--cursor", page["next_cursor"]).stdout)
    assert [row["run_id"] for row in page["runs"] + rest["runs"]] == [row["run_id"] for row in listed]
    assert rest["next_cursor"] is None

    report = json.loads(dbos_project.cli("costs", "report", "--by", "run", "--json").stdout)
    by_run = {row["key"]: row for row in report["rows"]}
    assert {run["run_id"] for run in runs} <= set(by_run), report
    for run in runs:
        assert by_run[run["run_id"]]["calls"] == 3
        assert abs(by_run[run["run_id"]]["cost_usd"] - run["cost"]) < 1e-9
        assert by_run[run["run_id"]]["prompt_tokens"] > 0
    assert abs(report["total"]["cost_usd"] - 6 * CALL_USD) < 1e-9 and report["total"]["unpriced_calls"] == 0

    budget = json.loads(dbos_project.cli("budget", "show", "--json").stdout)
    total = next(row for row in budget["limits"] if row["limit"] == "total")
    assert abs(total["spent_usd"] - 6 * CALL_USD) < 1e-9 and total["in_flight_usd"] == 0
    assert abs(total["remaining_usd"] - (1.0 - 6 * CALL_USD)) < 1e-9
    local = root / ".parac" / "state" / "parac.db"  # this host ran nothing: its own ledger has no call
    if local.exists():
        import sqlite3

        with sqlite3.connect(local) as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            assert "llm_calls" not in tables or not conn.execute("SELECT count(*) FROM llm_calls").fetchone()[0]


def test_a_cancelled_run_is_resumed_on_the_workers_with_no_step_run_twice(dbos_project):
    release = dbos_project.root / "release-b"  # b's call ends when the test says (after the cancel)
    dbos_project.write_workflow("three", f"""\
steps:
  - {{id: a, tool: record, arguments: {{label: a}}}}
  - {{id: b, tool: record, arguments: {{label: b, hold: "{release}"}}, depends_on: [a]}}
  - {{id: c, tool: record, arguments: {{label: c}}, depends_on: [b]}}
""")
    dbos_project.start_worker()
    dbos_project.wait_workers(1)
    proc = dbos_project.spawn("workflow", "run", "three", "--json")
    run_id = dbos_project.wait_for("b", "start")
    assert dbos_project.cli("workflow", "cancel", run_id).returncode == 0
    proc.communicate(timeout=120)
    release.touch()
    dbos_project.wait_for("b", "applied")  # b's attempt, cancelled at its next checkpoint, has ended
    dbos_project.wait_status(f"{run_id}", "cancelled")
    status = json.loads(dbos_project.cli("workflow", "status", run_id, "--json").stdout)
    assert status["status"] == "cancelled", status
    assert not any(line["step"] == "c" for line in dbos_project.log_lines())
    resumed = dbos_project.cli("workflow", "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["status"] == "completed", result
    applied = [line["step"] for line in dbos_project.log_lines() if line["event"] == "applied"]
    assert sorted(applied) == ["a", "b", "c"]
    again = dbos_project.cli("workflow", "resume", run_id)
    assert again.returncode == 1 and "only a cancelled run" in again.stderr


def test_reports_do_not_wait_for_a_transaction_reading_the_ledger(dbos_project):
    """A worker's transaction on the spending tables holds a shared lock; ``costs report`` and ``budget show`` read
    beside it. (Making the tables again at every read took an exclusive lock, so each read waited for it.)"""
    from parac.core.engines.spend import shared_budget_status, shared_cost_report

    assert shared_cost_report(dbos_project.url)["total"]["calls"] == 0  # this process's first read makes the tables
    with ThreadPoolExecutor(1) as pool, psycopg.connect(dbos_project.url) as holder, \
            psycopg.connect(dbos_project.url, autocommit=True) as watcher:  # a failure frees the reads, then waits
        holder.execute("SELECT count(*) FROM parac_ledger, parac_spend")  # locked until its transaction ends
        reads = [pool.submit(shared_cost_report, dbos_project.url), pool.submit(shared_budget_status, dbos_project.url,
                                                                                 None)]
        while not all(read.done() for read in reads):
            assert not _lock_waits(watcher), "a report waited for the worker's transaction"
        holder.rollback()
    assert reads[0].result()["total"]["calls"] == 0 and reads[1].result()["limits"] == []
