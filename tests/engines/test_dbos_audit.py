"""The audit trail of a workspace on the dbos engine is one hash chain in Postgres: three worker processes (each on
its own checkout, as on three hosts) and CLI commands append to it at once, ``parac audit verify`` checks every
entry of every process, and a row changed in Postgres is named as the first bad entry."""

from __future__ import annotations

import json
import sqlite3

import time

import psycopg
import pytest

from tests.engines.test_dbos_engine import _chain_and_fan, _run_json

CLI_CALLS = 6


def _audit_rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT seq, action, outcome, data FROM parac_audit.audit ORDER BY seq").fetchall()


def test_workers_and_the_cli_append_to_one_chain_that_verify_covers(dbos_project, tmp_path):
    dbos_project.write_workflow("wide", _chain_and_fan(4, 4, 0.02))  # 17 steps
    hosts = dbos_project.hosts(3, tmp_path)
    dbos_project.start_workers_on(hosts, "--concurrency", "4")
    run = dbos_project.spawn("workflow", "run", "wide", "--json")
    calls = [dbos_project.spawn("tools", "call", "record", "--args", json.dumps({"label": f"cli{i}"}))
             for i in range(CLI_CALLS)]
    result = _run_json(run)
    assert result["status"] == "completed", result
    for call in calls:
        out, err = call.communicate(timeout=120)
        assert call.returncode == 0, err
    dbos_project.stop_workers()  # each worker commits what it queued as it stops

    rows = _audit_rows(dbos_project.url)
    tool_calls = [json.loads(data) for _, action, outcome, data in rows if action == "tool.call" and outcome == "ok"]
    by_step = sorted(data["step"] for data in tool_calls if data.get("run_id") == result["run_id"])
    assert by_step == sorted(step["id"] for step in result["steps"])
    applied = {line["pid"] for line in dbos_project.log_lines() if line["event"] == "applied"}
    assert len(applied) >= 3, "the steps and the CLI calls did not come from several processes"
    assert sum("run_id" not in data for data in tool_calls) == CLI_CALLS
    for host in hosts:  # nothing went to a host's own trail
        db = host / ".parac" / "state" / "parac.db"
        if db.exists():
            with sqlite3.connect(db) as conn:
                tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                assert "audit" not in tables or not conn.execute("SELECT count(*) FROM audit").fetchone()[0]

    verify = dbos_project.cli("audit", "verify", "--json")
    report = json.loads(verify.stdout)
    assert verify.returncode == 0 and report["ok"], report
    assert report["entries"] == len(rows) == rows[-1][0]
    shown = dbos_project.cli("audit", "show", str(rows[-1][0]), "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["seq"] == rows[-1][0]

    bad = rows[len(rows) // 2][0]
    with psycopg.connect(dbos_project.url, autocommit=True) as conn:
        refused = None
        try:
            conn.execute("UPDATE parac_audit.audit SET outcome = 'denied' WHERE seq = %s", (bad,))
        except psycopg.Error as exc:
            refused = exc
        assert refused is not None, "the table let a row be changed"
        conn.execute("ALTER TABLE parac_audit.audit DISABLE TRIGGER audit_append_only")
        conn.execute("UPDATE parac_audit.audit SET outcome = 'denied' WHERE seq = %s", (bad,))
    verify = dbos_project.cli("audit", "verify", "--json")
    report = json.loads(verify.stdout)
    assert verify.returncode == 1 and not report["ok"]
    assert report["problems"][0]["seq"] == bad and report["problems"][0]["kind"] == "changed"
    assert report["entries"] == bad - 1


def test_a_schema_that_cannot_be_made_closes_the_connection(cluster):
    """A role that may connect but not create the audit schema: the log is refused, and its connection is not left
    open on the server (each failed open would hold one of its few slots until the process ends)."""
    from parac.core.audit import AuditError
    from parac.core.audit.postgres import PostgresAuditLog

    url = cluster.create_database("audit_noschema")
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("DROP ROLE IF EXISTS reader")
        admin.execute("CREATE ROLE reader LOGIN")
        admin.execute(f"REVOKE CREATE ON DATABASE {url.rsplit('/', 1)[1]} FROM PUBLIC")
        reader = url.replace(f"//{cluster.user}@", "//reader@", 1)
        try:
            with pytest.raises(AuditError):
                PostgresAuditLog(reader)
            deadline = time.monotonic() + 30  # a closed connection's backend exits just after
            while (left := admin.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = 'reader'")
                   .fetchone()[0]) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            admin.execute("DROP ROLE reader")
    assert left == 0
