"""What `/health`, `/health/ready` and `/metrics` tell an outsider and one tenant about another, judged by what
the responses contain: tenant B's workspace has a canary agent that B runs; neither a bare caller nor tenant A
may find its name, its tenant's name, its folder or its run in anything they are answered."""

from __future__ import annotations

from pathlib import Path

import httpx

from support.tenants import two_tenants

CANARY = "zebracanary"


def test_probes_show_details_only_to_a_known_caller_and_only_its_own(project: Path, serve, parac, tmp_path: Path):
    both = two_tenants(parac, project, tmp_path)
    (both.team_b / ".parac" / "agents" / f"{CANARY}.yaml").write_text("parent: base\ndescription: the canary\n")
    both.file.write_text(f"tenants:\n  acme:\n    workspace: {both.team_a}\n    tokens: [alice]\n"
                         f"  yonderco:\n    workspace: {both.team_b}\n    tokens: [bob]\n")
    secrets = (CANARY, "yonderco", str(both.team_b), "team-b")
    with serve(project, args=("--tenants", str(both.file))) as served:
        alice = httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {both.tokens['alice']}"},
                             timeout=60)
        bob = httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {both.tokens['bob']}"}, timeout=60)
        run = bob.post(f"/api/v1/agents/{CANARY}/runs", json={"task": "hello", "model": "echo"})
        bob_metrics = bob.get("/metrics")
        bare = {path: httpx.get(served.url + path) for path in ("/health", "/health/ready", "/metrics")}
        seen_by_alice = {path: alice.get(path) for path in ("/health", "/health/ready", "/metrics")}
        bob_health = bob.get("/health").json()
        forged = httpx.get(served.url + "/health", headers={"Authorization": "Bearer not-a-token"})
    assert run.status_code == 200, run.text
    assert CANARY in bob_metrics.text  # the canary is there to be found: B's own scrape shows its run
    # a bare caller: the overall status for probes, nothing about any workspace; /metrics wants a credential
    assert bare["/health"].status_code == 200 and bare["/health"].json() == {"status": "ok", "ready": True}
    assert bare["/health/ready"].json() == {"status": "ok"}
    assert bare["/metrics"].status_code == 401
    # tenant A: its own workspace's details, and nothing of B's anywhere
    assert set(seen_by_alice["/health"].json()["workspaces"]) == {"acme"}
    assert seen_by_alice["/metrics"].status_code == 200 and "team-a" in seen_by_alice["/metrics"].text
    assert set(bob_health["workspaces"]) == {"yonderco"}
    for response in (*bare.values(), *seen_by_alice.values()):
        assert not any(secret in response.text for secret in secrets), (response.url, response.text[:500])
    assert "project" not in seen_by_alice["/health"].text  # nor the default workspace, which is no tenant's
    # a credential presented on a probe must be a real one
    assert forged.status_code == 401 and "workspaces" not in forged.text
