"""The worker path attacked from outside, judged by effects: a run enqueued straight into Postgres (past every check
the CLI makes) still meets the workspace's policies on the worker, exactly as on the embedded engine; the database
URL's password shows nowhere a person or another process can read; a worker older than the database takes no run.
"""

from __future__ import annotations

import json
import os

import psycopg
import pytest
import yaml

from parac.core.engines.dbos import DbosRuns
from parac.core.specs import WorkflowSpec
from parac.core.workflows import RunOptions

PASSWORD = "pw-canary-7f3a9c"
#: Tool steps a workflow (no agent) is not granted by the default policies: each would leave a canary.
DENIED = """\
steps:
  - {id: fine, tool: record, arguments: {label: fine}}
  - {id: write, tool: file_write, arguments: {path: canary-write.txt, content: pwned}}
  - {id: shell, tool: shell_run, arguments: {command: [touch, ../canary-shell]}}
"""


def test_a_worker_denies_what_the_policies_deny_as_the_embedded_engine_does(dbos_project):
    root = dbos_project.root
    dbos_project.write_workflow("deny", DENIED)
    # the embedded engine first: the same workspace without the engine setting
    settings = root / ".parac" / "parac.yaml"
    text = settings.read_text()
    settings.write_text(text.split("engine:")[0])
    embedded = dbos_project.cli("workflow", "run", "deny", "--json")
    settings.write_text(text)
    embedded_steps = {s["id"]: s for s in json.loads(embedded.stdout)["steps"]}

    dbos_project.start_worker()
    dbos_project.wait_workers(1)
    runs = DbosRuns(dbos_project.url)
    try:  # enqueued straight into the database, as anyone who can write to it could
        spec = WorkflowSpec.model_validate(yaml.safe_load(DENIED))
        result = runs.wait(runs.enqueue("routsider", "deny", spec, {}, RunOptions(auto_approve=True)), timeout=120)
    finally:
        runs.close()
    steps = {s["id"]: s for s in result["steps"]}
    dbos_project.stop_workers()  # each worker commits its last audit entries as it stops
    assert not (root / "canary-write.txt").exists() and not (root.parent / "canary-shell").exists()
    assert {k: v["status"] for k, v in steps.items()} == {k: v["status"] for k, v in embedded_steps.items()} == {
        "fine": "completed", "write": "failed", "shell": "failed"}
    with psycopg.connect(dbos_project.url) as conn:
        outcomes = dict(conn.execute(
            "SELECT data::json->>'step', outcome FROM parac_audit.audit WHERE action = 'tool.call' "
            "AND data::json->>'run_id' = 'routsider'").fetchall())
    assert outcomes == {"fine": "ok", "write": "denied", "shell": "denied"}, (outcomes, steps)


def test_the_database_password_shows_nowhere(dbos_project, cluster):
    """The cluster trusts local connections, so a URL with any password connects: the password is a canary."""
    secret_url = dbos_project.url.replace(f"://{cluster.user}@", f"://{cluster.user}:{PASSWORD}@", 1)
    assert PASSWORD in secret_url
    settings = dbos_project.root / ".parac" / "parac.yaml"
    settings.write_text(settings.read_text().replace(dbos_project.url, secret_url))
    dbos_project.write_workflow("mixed", """\
steps:
  - {id: fine, tool: record, arguments: {label: fine}}
  - {id: bad, tool: broken, arguments: {label: bad}}
""")
    os.environ["PARAC_DBOS_LOG_LEVEL"] = "INFO"  # DBOS says where it connects
    try:
        worker = dbos_project.start_worker()
    finally:
        del os.environ["PARAC_DBOS_LOG_LEVEL"]
    dbos_project.wait_workers(1)
    seen = [dbos_project.cli("workflow", "run", "mixed", "--json"), dbos_project.cli("workers"),
            dbos_project.cli("workers", "--json"), dbos_project.cli("audit", "tail", "-n", "1000", "--json")]
    run_id = json.loads(seen[0].stdout)["run_id"]
    seen += [dbos_project.cli("workflow", "status", run_id), dbos_project.cli("workflow", "approve", run_id, "bad"),
             dbos_project.cli("workflow", "status", "nope")]
    dbos_project.stop_workers()
    texts = [result.stdout + result.stderr for result in seen] + list(worker.communicate())
    assert json.loads(seen[0].stdout)["status"] == "failed"
    assert all(PASSWORD not in text for text in texts)
    assert any(text.strip() for text in texts[-2:]), "the worker logged nothing to check"
    with psycopg.connect(dbos_project.url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('public', 'dbos', 'parac_audit') AND table_type = 'BASE TABLE'").fetchall()
        assert ("parac_audit", "audit") in tables and ("dbos", "workflow_status") in tables
        for schema, table in tables:
            rows = conn.execute(f'SELECT t::text FROM "{schema}"."{table}" t').fetchall()
            assert not [row for row in rows if PASSWORD in row[0]], (schema, table)
    for path in dbos_project.root.rglob("*"):
        if path.is_file() and path.name != "parac.yaml":
            assert PASSWORD.encode() not in path.read_bytes(), path


def test_a_worker_older_than_the_database_takes_no_run(dbos_project):
    dbos_project.write_workflow("one", "steps:\n  - {id: only, tool: record, arguments: {label: only}}\n")
    dbos_project.start_worker()  # a current worker sets the database up (a run it finished says it has), and goes
    dbos_project.wait_workers(1)
    assert json.loads(dbos_project.cli("workflow", "run", "one", "--json").stdout)["status"] == "completed"
    dbos_project.stop_workers()
    dbos_project.log.unlink()
    runs = DbosRuns(dbos_project.url)
    try:
        spec = WorkflowSpec.model_validate(yaml.safe_load((dbos_project.root / ".parac" / "workflows" /
                                                           "one.yaml").read_text()))
        runs.enqueue("rwaiting", "one", spec, {}, RunOptions())
    finally:
        runs.close()
    with psycopg.connect(dbos_project.url) as conn:
        conn.execute("UPDATE parac_meta SET value = '999.0' WHERE key = 'version'")
    old = dbos_project.start_worker()
    assert old.wait(timeout=120) == 1
    assert "999.0" in old.communicate()[1]
    with psycopg.connect(dbos_project.url) as conn:
        assert conn.execute("SELECT count(*) FROM parac_workers").fetchone()[0] == 0
        status = conn.execute("SELECT status FROM dbos.workflow_status WHERE workflow_uuid = 'rwaiting'").fetchone()
    assert status == ("ENQUEUED",)
    assert dbos_project.log_lines() == []


def test_a_long_running_client_stops_enqueueing_once_a_newer_parac_used_the_database(dbos_project, monkeypatch):
    """A ``parac serve`` started before a newer parac migrated the database: its next enqueue (once the version
    check's window passed, here at once) is refused, and no run is queued for workers that may not know it."""
    from parac.core.diagnostics import ParacError
    from parac.core.engines import dbos

    spec = WorkflowSpec.model_validate(yaml.safe_load("steps:\n  - {id: only, tool: record, arguments: {label: x}}\n"))
    runs = dbos.DbosRuns(dbos_project.url)
    try:
        runs.enqueue("rbefore", "one", spec, {}, RunOptions())
        with psycopg.connect(dbos_project.url) as conn:
            conn.execute("UPDATE parac_meta SET value = '999.0' WHERE key = 'version'")
        monkeypatch.setattr(dbos, "VERSION_RECHECK_S", 0.0)
        with pytest.raises(ParacError, match="999.0"):
            runs.enqueue("rafter", "one", spec, {}, RunOptions())
    finally:
        runs.close()
    with psycopg.connect(dbos_project.url) as conn:
        queued = conn.execute("SELECT workflow_uuid FROM dbos.workflow_status ORDER BY workflow_uuid").fetchall()
    assert queued == [("rbefore",)]
