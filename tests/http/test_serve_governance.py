"""Tools, plugins, skills, costs, budgets, policy and the audit trail over REST: the same governance as every face,
the caller named in the trail, roles from `parac token` tokens (the MCP endpoint's), pages by cursor."""

from __future__ import annotations

from pathlib import Path

import httpx


def _token(parac, project: Path, role: str, name: str) -> str:
    result = parac("token", "create", "--role", role, "--name", name, "--json", cwd=project)
    assert result.code == 0, result
    return result.json()["token"]


def test_governed_routes_and_the_trail_names_the_caller(project: Path, serve, parac):
    (project / "NOTES.md").write_text("notes\n")
    viewer = _token(parac, project, "viewer", "dashboard")
    operator = _token(parac, project, "operator", "ci")
    admin = _token(parac, project, "admin", "ops")
    with serve(project) as served:
        def client(token: str | None) -> httpx.Client:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return httpx.Client(base_url=served.api, headers=headers, timeout=30)

        anonymous, as_viewer, as_operator, as_admin = client(None), client(viewer), client(operator), client(admin)
        no_token = anonymous.get("/agents")
        forged = client("not-a-token").get("/agents")
        tools = as_viewer.get("/tools").json()["tools"]
        viewer_call = as_viewer.post("/tools/file_read/call", json={"path": "NOTES.md"})
        called = as_operator.post("/tools/file_read/call", json={"path": "NOTES.md"})
        escape = as_operator.post("/tools/file_read/call", json={"path": "../outside.txt"})
        unknown_tool = as_operator.post("/tools/file_raed/call", json={})
        decision = as_viewer.post("/policy/check", json={"tool": "shell_run", "agent": "reviewer"}).json()
        plugins = as_viewer.get("/plugins").json()["plugins"]
        skills = as_viewer.get("/skills").json()
        costs = as_viewer.get("/costs", params={"by": "agent", "since": "7d"})
        bad_since = as_viewer.get("/costs", params={"since": "last tuesday"})
        operator_budget = as_operator.put("/budgets/daily", json={"usd": 3})
        budget = as_admin.put("/budgets/daily", json={"usd": 3})
        bad_budget = as_admin.put("/budgets/weekly", json={"usd": 3})
        negative = as_admin.put("/budgets/daily", json={"usd": -1})
        budgets = as_viewer.get("/budgets").json()
        verify = as_viewer.get("/audit/verify").json()
        first = as_viewer.get("/audit", params={"limit": 3}).json()
        second = as_viewer.get("/audit", params={"limit": 3, "cursor": first["next_cursor"]}).json()
        everything = as_viewer.get("/audit", params={"limit": 1000}).json()["entries"]
    assert no_token.status_code == 401 and forged.status_code == 401
    assert no_token.headers["content-type"] == "application/problem+json"
    assert "file_read" in {tool["name"] for tool in tools}
    assert viewer_call.status_code == 200  # a read-only tool is the viewer's
    assert called.status_code == 200 and "notes" in called.text
    assert escape.status_code == 422 and ".." in escape.json()["detail"]
    assert unknown_tool.status_code == 404 and "file_read" in unknown_tool.json()["detail"]
    assert decision["allowed"] is False and decision["tool"] == "shell_run"
    assert "governance" in {p["name"] for p in plugins}
    assert "skills" in skills
    assert costs.status_code == 200 and costs.json()["by"] == "agent"
    assert bad_since.status_code == 422
    assert operator_budget.status_code == 403 and "admin" in operator_budget.json()["detail"]
    assert budget.status_code == 200
    assert any(row["kind"] == "daily" and row["limit_usd"] == 3 for row in budgets["limits"])
    assert bad_budget.status_code == 422 and "weekly" in bad_budget.json()["detail"]
    assert negative.status_code == 422 and negative.json()["errors"][0]["loc"] == ["body", "usd"]
    assert verify["ok"] is True and verify["problems"] == []
    assert [e["seq"] for e in first["entries"]] == sorted((e["seq"] for e in first["entries"]), reverse=True)
    assert second["entries"][0]["seq"] == first["entries"][-1]["seq"] - 1
    calls = {(e["actor"], e["subject"], e["outcome"]) for e in everything if e["action"] == "tool.call"}
    assert ("token:ci", "file_read", "ok") in calls
    assert ("token:ci", "file_read", "denied") in calls or ("token:ci", "file_read", "error") in calls
    assert ("token:ops", "set_budget", "ok") in calls
