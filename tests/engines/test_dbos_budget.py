"""A budget holds across hosts: three workers, each on its own checkout of the project (its own workspace
database, as on three machines), run 300 model calls at once, 100 per worker, against a budget for 50 calls: the
run's ``budget_usd``, or the agent's own ``budget:``. Each host's own ledger would let 50 through on each; only the
holds in Postgres keep the three to 50."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
import yaml

from parac.core.engines.dbos import DbosRuns
from parac.core.specs import WorkflowSpec
from parac.core.workflows import RunOptions
from tests.support.runtime import set_settings

CALL_USD = 0.01  # the base agent allows $0.50 a run: 50 calls
CALLS = 300


@pytest.mark.parametrize("where", ["run", "agent"])
def test_three_workers_never_spend_past_a_shared_budget(dbos_project, tmp_path, where):
    root = dbos_project.root
    set_settings(root, prices={"slow": {"input_per_mtok": CALL_USD / 100 * 1e6, "output_per_mtok": 0}})
    agent_budget = f"budget: {{per_agent_usd: {50 * CALL_USD}}}\n" if where == "agent" else ""
    (root / ".parac" / "agents" / "spender.yaml").write_text(
        "parent: base\ndescription: spends\nmodel: slow\n" + agent_budget)
    run_budget = f"budget_usd: {50 * CALL_USD}\n" if where == "run" else ""
    key = "run:rbudget" if where == "run" else "agent:spender"
    text = f"concurrency: 256\n{run_budget}steps:\n" + "".join(
        f"  - {{id: c{i}, agent: spender, task: spend {i}}}\n" for i in range(CALLS))
    hosts = dbos_project.hosts(3, tmp_path)
    dbos_project.start_workers_on(hosts, "--concurrency", "100")
    runs = DbosRuns(dbos_project.url)
    try:
        # enqueued as a client would after its plan: the plan is an estimate, the holds at each call are the guard
        spec = WorkflowSpec.model_validate(yaml.safe_load(text))
        result = runs.wait(runs.enqueue("rbudget", "spend", spec, {}, RunOptions()), timeout=300)
    finally:
        runs.close()
    completed = [s for s in result["steps"] if s["status"] == "completed"]
    denied = [s for s in result["steps"] if s["status"] == "failed"]
    assert len(completed) + len(denied) == CALLS
    assert all("budget" in s["error"] for s in denied), denied[:3]
    with psycopg.connect(dbos_project.url) as conn:
        calls, dollars = conn.execute(
            "SELECT count(*), coalesce(sum(cost_usd), 0) FROM parac_ledger WHERE status = 'ok'").fetchone()
        # the spread is over every call tried, not the ~50 let through: one worker can win all the holds fairly
        executors = conn.execute(
            "SELECT count(DISTINCT executor_id) FROM dbos.workflow_status WHERE workflow_uuid LIKE 'rbudget/%'"
        ).fetchone()[0]
        spent, held = conn.execute("SELECT spent, held FROM parac_spend WHERE key = %s", (key,)).fetchone()
    assert dollars <= 50 * CALL_USD + 1e-9 and calls == len(completed) <= 50
    assert calls >= 40, "the budget refused far more than it had to"
    assert executors >= 2, "the calls did not spread over the workers"
    assert abs(spent - dollars) < 1e-9 and abs(held) < 1e-9
    local = 0.0  # what each host's own ledger recorded: together, no more than the budget
    for host in hosts:
        db = host / ".parac" / "state" / "parac.db"
        if db.exists():
            with sqlite3.connect(db) as conn:
                local += conn.execute(
                    "SELECT coalesce(sum(cost_usd), 0) FROM llm_calls WHERE status = 'ok' AND run_id = 'rbudget'"
                ).fetchone()[0]
    assert local <= 50 * CALL_USD + 1e-9 and abs(local - dollars) < 1e-9
