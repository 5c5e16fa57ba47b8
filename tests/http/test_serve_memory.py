"""Memory and time travel over REST (`/api/v1/memory`, replay, fork and diff of runs) against a real `parac serve`:
the same tools as MCP (`memory_*`, `replay_run`, `fork_run`, `diff_runs`, `replay_agent_run`), governed and audited
the same way, and refusals as problem+json; offline models only."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from support.runtime import write_script

MEMORY_GRANT = "description: memory over REST\nallow:\n  - tools: [memory_add, memory_search, memory_forget]\n"

CHAIN = """\
description: Three reads in a row
steps:
  - {id: a, tool: file_read, arguments: {path: NOTES.md}}
  - {id: b, tool: file_read, arguments: {path: NOTES.md}, depends_on: [a]}
  - {id: c, tool: file_read, arguments: {path: NOTES.md}, depends_on: [b]}
"""

GATED = """\
description: Waits for a person
steps:
  - {id: gate, type: approval, description: a person says yes}
  - {id: after, tool: file_read, arguments: {path: NOTES.md}, depends_on: [gate]}
"""


def _finished(http: httpx.Client, run_id: str, status: str = "completed") -> dict:
    deadline = time.monotonic() + 60
    while True:
        run = http.get(f"/runs/{run_id}").json()
        if run["status"] == status:
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.1)


def test_memory_add_search_list_forget(project: Path, serve):
    with serve(project) as served, httpx.Client(base_url=served.api, timeout=60) as http:
        denied = http.post("/memory", json={"content": "no grant yet"})
        (project / ".parac" / "policies" / "memory.yaml").write_text(MEMORY_GRANT)
        deadline = time.monotonic() + 30
        while (added := http.post("/memory", json={"content": "Standups are at 9:30 in the Atlas room",
                                                   "namespace": "team", "metadata": {"by": "ana"}})).status_code == 403:
            assert time.monotonic() < deadline, added.text  # the policy files are re-read when they change
            time.sleep(0.2)
        other = http.post("/memory", json={"content": "Deploys happen on Thursdays", "namespace": "team"})
        found = http.post("/memory/search", json={"query": "when is standup"})
        scoped = http.post("/memory/search", json={"query": "thursdays", "namespaces": ["elsewhere"]})
        bad_fts = http.post("/memory/search", json={"query": "standup AND", "fts": True})
        too_big = http.post("/memory", json={"content": "x" * 20_001})
        bad_type = http.post("/memory/search", json={"query": "x", "limit": "many"})
        listed = http.get("/memory/namespaces/team")
        spaces = http.get("/memory/namespaces")
        entry = http.get(f"/memory/entries/{added.json()['id']}")
        forgot = http.post("/memory/forget", json={"ids": [added.json()["id"]]})
        after = http.post("/memory/search", json={"query": "atlas standup"})
        audit = http.get("/audit", params={"limit": 50}).json()
        spec = http.get(served.url + "/openapi.json").json()
    assert denied.status_code == 403 and denied.headers["content-type"] == "application/problem+json"
    assert "memory_add" in denied.json()["detail"]
    assert added.status_code == 201, added.text
    assert added.json()["namespace"] == "team" and added.json()["metadata"] == {"by": "ana"}
    assert found.status_code == 200 and found.json()["entries"][0]["id"] == added.json()["id"]
    assert scoped.json() == {"entries": []}
    assert bad_fts.status_code == 422 and "invalid search 'standup AND'" in bad_fts.json()["detail"]
    assert too_big.status_code == 422 and "the limit is 20000" in too_big.json()["detail"]
    assert bad_type.status_code == 422 and "limit" in bad_type.json()["detail"], bad_type.text
    assert [e["id"] for e in listed.json()] == [other.json()["id"], added.json()["id"]]  # newest first
    assert {"team": 2}.items() <= {row["namespace"]: row["entries"] for row in spaces.json()}.items()
    assert entry.json()["content"] == "Standups are at 9:30 in the Atlas room"
    assert forgot.status_code == 200 and forgot.json() == {"forgotten": 1}
    assert added.json()["id"] not in [e["id"] for e in after.json()["entries"]]
    tools = [e["subject"] for e in audit["entries"] if e["actor"] == "http:admin" and e["action"] == "tool.call"]
    assert {"memory_add", "memory_search", "memory_forget"} <= set(tools)
    add = spec["paths"]["/api/v1/memory"]["post"]
    assert add["operationId"] == "memory_add" and add["x-parac-role"] == "operator"
    assert "content" in add["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert spec["paths"]["/api/v1/memory/search"]["post"]["x-parac-role"] == "viewer"


def test_replay_fork_and_diff_runs(project: Path, serve):
    (project / "NOTES.md").write_text("hello from the notes\n")
    (project / ".parac" / "workflows" / "chain.yaml").write_text(CHAIN)
    (project / ".parac" / "workflows" / "gated.yaml").write_text(GATED)
    model = "scripted:script.yaml"  # a client names a script inside the workspace
    write_script(project / "script.yaml", [
        {"tool_calls": [{"name": "file_read", "arguments": {"path": "NOTES.md"}}]},
        {"text": "the notes say hello"},
    ])
    with serve(project) as served, httpx.Client(base_url=served.api, timeout=60) as http:
        run_id = http.post("/workflows/chain/runs", json={}).json()["run_id"]
        _finished(http, run_id)
        replayed = http.post(f"/runs/{run_id}/replay")
        forked = http.post(f"/runs/{run_id}/fork", json={"step": "b"})
        diff = http.get(f"/runs/{run_id}/diff/{forked.json()['run_id']}")
        no_step = http.post(f"/runs/{run_id}/fork", json={"step": "z"})
        no_run = http.post("/runs/nope/replay")
        waiting = http.post("/workflows/gated/runs", json={}).json()["run_id"]
        _finished(http, waiting, "waiting_approval")
        in_flight = http.post(f"/runs/{waiting}/fork", json={"step": "after"})
        agent = http.post("/agents/coder/runs", json={"task": "read the notes", "model": model}).json()
        agent_replay = http.post(f"/agent-runs/{agent['run_id']}/replay")
        no_agent_run = http.post("/agent-runs/a0nope/replay")
        spec = http.get(served.url + "/openapi.json").json()
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["identical"] is True and [s["id"] for s in replayed.json()["steps"]] == ["a", "b", "c"]
    assert replayed.json()["model_calls"] == 0 and replayed.json()["cost_usd"] == 0
    assert forked.status_code == 201, forked.text
    assert forked.json()["status"] == "completed" and forked.json()["run_id"] != run_id
    assert diff.status_code == 200 and diff.json()["a"] == run_id and diff.json()["b"] == forked.json()["run_id"]
    assert [s["id"] for s in diff.json()["steps"]] == ["a", "b", "c"]
    assert no_step.status_code == 422 and "has no step 'z'" in no_step.json()["detail"]
    assert no_run.status_code == 404
    assert in_flight.status_code == 409, in_flight.text
    assert "waiting_approval; fork it once it has finished" in in_flight.json()["detail"]
    assert agent_replay.status_code == 200 and agent_replay.json()["identical"] is True
    assert no_agent_run.status_code == 404 and no_agent_run.headers["content-type"] == "application/problem+json"
    assert "no agent run 'a0nope' in this workspace" in no_agent_run.json()["detail"]
    assert agent_replay.json()["model_calls"] == 2 and agent_replay.json()["cost_usd"] == 0  # both from the record
    fork = spec["paths"]["/api/v1/runs/{run_id}/fork"]["post"]
    assert fork["operationId"] == "fork_run" and fork["x-parac-role"] == "operator"
    assert "step" in fork["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert "run_id" not in fork["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert "/api/v1/runs/{run_a}/diff/{run_b}" in spec["paths"]
    assert "/api/v1/agent-runs/{agent_run}/replay" in spec["paths"]
