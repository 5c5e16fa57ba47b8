"""Two tenants on one `parac serve`, each served from its own workspace through the REST routes: another tenant's
run is unknown (404), each sees its own agents, and /mcp (the default workspace) is not a tenant's way in."""

from __future__ import annotations

from pathlib import Path

import sqlite3

import httpx

from support.tenants import two_tenants


def _runs(root: Path) -> list[str]:
    path = root / ".parac" / "state" / "parac.db"
    if not path.exists():
        return []
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("SELECT run_id FROM workflow_runs")]
    except sqlite3.OperationalError:  # no table: no run was ever recorded there
        return []
    finally:
        conn.close()


def test_two_tenants_stay_apart(project: Path, serve, parac, tmp_path: Path):
    both = two_tenants(parac, project, tmp_path, b_template="empty")
    team_a, team_b, tokens = both.team_a, both.team_b, both.tokens
    with serve(project, args=("--tenants", str(both.file))) as served:
        alice = httpx.Client(base_url=served.api, headers={"Authorization": f"Bearer {tokens['alice']}"}, timeout=60)
        bob = httpx.Client(base_url=served.api, headers={"Authorization": f"Bearer {tokens['bob']}"}, timeout=60)
        run = alice.post("/workflows/code-review/runs", json={"inputs": {"change": "x"}, "dry_run": "echo"})
        run_id = run.json()["run_id"]
        own = alice.get(f"/runs/{run_id}")
        other = bob.get(f"/runs/{run_id}")
        other_events = bob.get(f"/runs/{run_id}/events")
        agents_a = {row["name"] for row in alice.get("/agents").json()["agents"]}
        agents_b = {row["name"] for row in bob.get("/agents").json()["agents"]}
        mcp = httpx.post(served.mcp, json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                         headers={"Authorization": f"Bearer {tokens['alice']}",
                                  "Accept": "application/json, text/event-stream"})
        tenant_scrape = alice.get(served.url + "/metrics")
        bob_scrape = bob.get(served.url + "/metrics")
    assert run.status_code == 202, run.text
    assert own.status_code == 200
    assert other.status_code == 404 and other_events.status_code == 404
    assert "coder" in agents_a and "coder" not in agents_b
    assert _runs(team_a) == [run_id] and _runs(team_b) == [] and _runs(project) == []
    assert mcp.status_code == 403 and "tenant" in mcp.json()["detail"]
    # each tenant scrapes its own registry: its workspace's calls and budgets, nothing of the other's
    assert tenant_scrape.status_code == 200 and bob_scrape.status_code == 200, tenant_scrape.text
    assert 'parac_tool_calls_total{outcome="allowed",tool="run_workflow"} 1.0' in tenant_scrape.text
    assert 'parac_audit_entries{workspace="team-a"}' in tenant_scrape.text and "team-b" not in tenant_scrape.text
    assert "run_workflow" not in bob_scrape.text and "team-a" not in bob_scrape.text
    assert 'parac_audit_entries{workspace="team-b"}' in bob_scrape.text
