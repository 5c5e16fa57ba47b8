"""Two tenants on one `parac serve`, each served from its own workspace through the REST routes and /mcp: another
tenant's run is unknown (404), each sees its own agents, over REST and through the official MCP client alike."""

from __future__ import annotations

from pathlib import Path

import sqlite3

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

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
        tenant_scrape = alice.get(served.url + "/metrics")
        bob_scrape = bob.get(served.url + "/metrics")
    assert run.status_code == 202, run.text
    assert own.status_code == 200
    assert other.status_code == 404 and other_events.status_code == 404
    assert "coder" in agents_a and "coder" not in agents_b
    assert _runs(team_a) == [run_id] and _runs(team_b) == [] and _runs(project) == []
    # each tenant scrapes its own registry: its workspace's calls and budgets, nothing of the other's
    assert tenant_scrape.status_code == 200 and bob_scrape.status_code == 200, tenant_scrape.text
    assert 'parac_tool_calls_total{outcome="allowed",tool="run_workflow"} 1.0' in tenant_scrape.text
    assert 'parac_audit_entries{workspace="team-a"}' in tenant_scrape.text and "team-b" not in tenant_scrape.text
    assert "run_workflow" not in bob_scrape.text and "team-a" not in bob_scrape.text
    assert 'parac_audit_entries{workspace="team-b"}' in bob_scrape.text


async def _over_mcp(url: str, token: str, run_id: str) -> tuple[set[str], bool, bool, str | None]:
    """Through the official MCP client with `token`: the agents listed, whether `get_agent coder` and
    `workflow_status run_id` fail, and the session id the server gave."""
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        async with Client(streamable_http_client(url, http_client=http), mode="legacy") as session:
            listed = await session.call_tool("list_agents", {})
            coder = await session.call_tool("get_agent", {"name": "coder"})
            status = await session.call_tool("workflow_status", {"run_id": run_id})
            agents = {row["name"] for row in listed.structured_content["agents"]}
            return agents, coder.is_error, status.is_error, str(status.content)


async def test_each_tenant_has_its_own_mcp_endpoint(project: Path, serve, parac, tmp_path: Path):
    both = two_tenants(parac, project, tmp_path, b_template="empty")
    tokens = both.tokens
    with serve(project, args=("--tenants", str(both.file))) as served:
        alice = httpx.Client(base_url=served.api, headers={"Authorization": f"Bearer {tokens['alice']}"}, timeout=60)
        run_id = alice.post("/workflows/code-review/runs", json={"inputs": {"change": "x"}, "dry_run": "echo"}).json()["run_id"]
        agents_a, coder_missing_a, run_missing_a, _ = await _over_mcp(served.mcp, tokens["alice"], run_id)
        agents_b, coder_missing_b, run_missing_b, run_answer_b = await _over_mcp(served.mcp, tokens["bob"], run_id)
        opened = httpx.post(served.mcp, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
            headers={"Authorization": f"Bearer {tokens['alice']}", "Accept": "application/json, text/event-stream"})
        session = opened.headers.get("mcp-session-id")
        borrowed = httpx.post(served.mcp, json={"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "list_agents", "arguments": {}}}, headers={
            "Authorization": f"Bearer {tokens['bob']}", "Accept": "application/json, text/event-stream",
            "Mcp-Session-Id": session or "", "Mcp-Protocol-Version": "2025-11-25"})
        agents_rest_a = {row["name"] for row in alice.get("/agents").json()["agents"]}
    assert agents_a == agents_rest_a and "coder" in agents_a and not coder_missing_a and not run_missing_a
    assert "coder" not in agents_b and coder_missing_b  # team-b has no agents: nothing of team-a's shows
    assert run_missing_b and run_id in run_answer_b and "code-review" not in run_answer_b
    assert _runs(both.team_b) == [] and _runs(project) == []
    # alice's session is unknown at bob's endpoint: his credential cannot ride it into her workspace
    assert session and borrowed.status_code == 404 and "coder" not in borrowed.text


SHARED = "postgresql://{user}:s3cret-pw@127.0.0.1:1/shared"  # nothing listens there: the refusal comes first


def test_two_workspaces_on_one_dbos_database_are_refused(parac, tmp_path: Path):
    """PARAC_DATABASE_URL puts every served workspace on one database, where runs, budgets and the audit chain
    are not kept apart by project: serve does not start, names both, and shows no password."""
    a, b = tmp_path / "a", tmp_path / "b"
    assert parac("init", str(a)).code == 0 and parac("init", str(b)).code == 0
    result = parac("serve", "--port", "0", "-w", str(a), "-w", str(b), env={"PARAC_DATABASE_URL": SHARED.format(user="u")})
    output = result.out + result.err
    assert result.code == 1, result
    assert str(a) in output and str(b) in output and "same dbos database" in output
    assert "s3cret-pw" not in output and "u:***@127.0.0.1:1/shared" in output


def test_tenants_on_one_dbos_database_are_refused_whoever_logs_in(project: Path, parac, tmp_path: Path):
    """Each tenant's parac.yaml names the same database as another user: still one database, still refused."""
    both = two_tenants(parac, project, tmp_path)
    for root, user in ((both.team_a, "alice"), (both.team_b, "bob")):
        with (root / ".parac" / "parac.yaml").open("a") as settings:
            settings.write(f"engine: {{kind: dbos, database_url: '{SHARED.format(user=user)}'}}\n")
    result = parac("serve", "--port", "0", "--tenants", str(both.file), cwd=project)
    output = result.out + result.err
    assert result.code == 1, result
    assert str(both.team_a.resolve()) in output and str(both.team_b.resolve()) in output
    assert "s3cret-pw" not in output

