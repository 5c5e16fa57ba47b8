"""`parac memory …`, `parac workflow replay|fork|diff` and `parac agents replay|runs` as a user runs them."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def test_memory_commands(project: Path, parac):
    added = parac("memory", "add", "The staging database is db-stg-2", "-t", "staging", "-n", "ops",
                  "--meta", "by=ana", "--json", cwd=project)
    assert added.code == 0, added
    entry = added.json()
    assert entry["namespace"] == "ops" and entry["metadata"] == {"by": "ana"}
    found = parac("memory", "search", "which database is used in staging", "--json", cwd=project).json()
    assert found[0]["id"] == entry["id"]
    assert parac("memory", "list", "-n", "ops", "--json", cwd=project).json()[0]["id"] == entry["id"]
    assert {"namespace": "ops", "entries": 1} in [
        {k: row[k] for k in ("namespace", "entries")} for row in parac("memory", "list", "--namespaces", "--json",
                                                                         cwd=project).json()]
    bad = parac("memory", "search", "staging AND", "--fts", cwd=project)
    assert bad.code == 1 and "invalid search 'staging AND'" in bad.err and "Traceback" not in bad.err
    big = parac("memory", "add", "x" * 20_001, cwd=project)
    assert big.code == 1 and "the limit is 20000" in big.err
    gone = parac("memory", "forget", str(entry["id"]), "--json", cwd=project)
    assert gone.json() == {"forgotten": 1}
    assert parac("memory", "search", "staging", "--json", cwd=project).json() == []


def test_workflow_replay_fork_diff_and_agent_replay(project: Path, parac):
    run = parac("workflow", "run", "code-review", "-i", "change=add a flag", "--dry-run", "echo", "--json",
                cwd=project)
    assert run.code == 0, run
    run_id = run.json()["run_id"]
    replay = parac("workflow", "replay", run_id, cwd=project)
    assert replay.code == 0 and "reproduced every step (3 recorded model call(s) answered, $0)" in replay.out

    fork = parac("workflow", "fork", run_id, "--from", "tests", "-i", "change=add two flags", "--json", cwd=project)
    assert fork.code == 0, fork
    forked = fork.json()
    assert forked["forked_from"] == {"run_id": run_id, "step": "tests", "reused_cost": 0.0}
    status = parac("workflow", "status", forked["run_id"], cwd=project)
    assert f"forked from run {run_id} at step tests" in status.out
    assert f"review: completed reused from run {run_id} ($0.000000 there)" in status.out  # the dry run's echo is free

    diff = parac("workflow", "diff", run_id, forked["run_id"], "--json", cwd=project).json()
    changed = {s["id"]: s["changed"] for s in diff["steps"]}
    assert "output" not in changed["review"] and "output" in changed["tests"] and "output" in changed["summary"]

    refused = parac("workflow", "fork", run_id, "--from", "nope", cwd=project)
    assert refused.code == 1 and "has no step 'nope'" in refused.err

    runs = parac("agents", "runs", "--json", cwd=project).json()
    assert {r["step"] for r in runs if r["run_id"] == run_id} == {"review", "tests", "summary"}
    solo = parac("agents", "run", "coder", "--task", "ship it", "--json", cwd=project).json()
    again = parac("agents", "replay", solo["run_id"], "--json", cwd=project)
    assert again.code == 0 and again.json()["identical"] is True
    (project / ".parac" / "agents" / "coder.yaml").write_text("parent: base\nsystem_prompt: Something else.\n")
    changed_agent = parac("agents", "replay", solo["run_id"], cwd=project)
    assert changed_agent.code == 1 and "DIFFERS" in changed_agent.out and "message 1 (system)" in changed_agent.out

    nobody = parac("agents", "replay", "a0nope", cwd=project)
    assert nobody.code == 4 and "no agent run 'a0nope' in this workspace" in nobody.err and "Traceback" not in nobody.err
    with sqlite3.connect(project / ".parac" / "state" / "parac.db") as db:  # as a run made before the feature
        db.execute("DELETE FROM agent_runs WHERE agent_run = ?", (solo["run_id"],))
    old = parac("agents", "replay", solo["run_id"], cwd=project)
    assert old.code == 1 and f"agent run {solo['run_id']} was made before parac recorded model calls" in old.err
