"""`parac.client` against a live `parac serve` with credentials on: agents listed page by page, a chat streamed
with its thinking, a workflow started, watched, resumed after leaving, approved and finished; problems as
`ApiError`; HMAC-signed calls accepted and a wrong key refused; sync and async alike."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from parac.client import ApiError, AsyncClient, Client
from parac.client.routes import Route, Routes
from support.cut_proxy import cut_proxy
from support.sdk_server import HMAC_KEY, HMAC_SECRET, sdk_server


def test_sync_client(project: Path, tmp_path: Path, parac):
    with sdk_server(project, tmp_path, parac) as server, \
            Client(server.served.url, token=server.token) as client:
        page = client.list_agents(limit=1)
        every = [row["name"] for row in client.iter_agents(limit=1)]
        whole = [row["name"] for row in client.list_agents()["agents"]]
        chat = list(client.chat("think about it", model=server.thinking_model, show_thinking=True,
                                files={"a.txt": "AAA"}))
        started = client.run_workflow("ship", {"topic": "the flag"}, dry_run="echo")
        with client.run_events(started["run_id"]) as events:
            seen = []
            for event in events:
                seen.append(event)
                if event.event == "workflow.approval.requested":
                    break
            left_at = events.last_event_id
        waiting = client.get_run(started["run_id"])
        with pytest.raises(ApiError) as early:
            client.approve_step(started["run_id"], "draft")
        decided = client.approve_step(started["run_id"], "gate", "ship it")
        rest = list(client.run_events(started["run_id"], last_event_id=left_at))
        finished = client.get_run(started["run_id"])
        with pytest.raises(ApiError) as unknown:
            client.get_agent("codr")
        with pytest.raises(ApiError) as invalid:
            client.list_agents(limit=0)
        with pytest.raises(ApiError) as forbidden:
            client.set_budget("daily", 5)
        with pytest.raises(ApiError) as unknown_stream:
            list(client.run_events("no-such-run"))
    assert page["next_cursor"] and len(page["agents"]) == 1
    assert every == whole and len(every) > 1
    names = [e.event for e in chat]
    assert [e.json() for e in chat if e.event == "thinking"] == [{"text": "let me think"}]
    assert names[-2:] == ["complete", "done"] and chat[-2].json()["agent"] == "base"
    assert "".join(e.json()["text"] for e in chat if e.event == "content") == "an answer"
    assert started["status"] in ("pending", "running") and seen[0].event == "workflow.run.start"
    assert waiting["status"] == "waiting_approval"
    assert early.value.status == 409 and early.value.title == "Conflict" and early.value.detail
    assert decided["status"] == "approved" and decided["by"] == "token:sdk"
    assert [e.event for e in rest][0] == "workflow.approval.decided" and rest[-1].event == "done"
    assert all(int(e.id) > int(left_at) for e in rest if e.event != "done")
    assert rest[-1].json()["status"] == "completed" and finished["status"] == "completed"
    assert unknown.value.status == 404 and '"codr"' in unknown.value.detail
    assert unknown.value.problem["instance"] == "/api/v1/agents/codr"
    assert invalid.value.status == 422 and invalid.value.errors[0]["loc"] == ["query", "limit"]
    assert forbidden.value.status == 403 and "admin" in forbidden.value.detail
    assert unknown_stream.value.status == 404


async def test_async_client(project: Path, tmp_path: Path, parac):
    with sdk_server(project, tmp_path, parac) as server:
        async with AsyncClient(server.served.url, token=server.token) as client:
            every = [row["name"] async for row in client.iter_agents(limit=2)]
            whole = [row["name"] for row in (await client.list_agents())["agents"]]
            run = [e async for e in client.stream_agent_run("coder", "think", model=server.thinking_model)]
            started = await client.run_workflow("ship", {"topic": "t"}, dry_run="echo")
            run_id = started["run_id"]
            async with client.run_events(run_id) as events:
                async for event in events:
                    if event.event == "workflow.approval.requested":
                        break
            await client.approve_step(run_id, "gate")
            ended = [e.event async for e in client.run_events(run_id, last_event_id=events.last_event_id)]
            finished = await client.get_run(run_id)
            with pytest.raises(ApiError) as unknown:
                await client.run_agent("nobody", "x")
        async with AsyncClient(server.served.url, token="not-a-token") as stranger:
            with pytest.raises(ApiError) as refused:
                await stranger.list_agents()
    assert every == whole
    assert "thinking" in [e.event for e in run] and [e.event for e in run][-2:] == ["complete", "done"]
    assert run[-2].json()["output"] == "an answer"
    assert ended[0] == "workflow.approval.decided" and ended[-2:] == ["workflow.run.end", "done"]
    assert finished["status"] == "completed"
    assert unknown.value.status == 404 and refused.value.status == 401


def test_run_events_go_on_across_a_dropped_connection(project: Path, tmp_path: Path, parac):
    """The link breaks while a run waits at its gate: the stream reconnects after its last event by itself and
    delivers every event once, in order, to the end."""
    with sdk_server(project, tmp_path, parac) as server, cut_proxy(server.served.port, server.proxy_port) as proxy, \
            Client(server.served.url, token=server.token) as direct, Client(proxy.url, token=server.token) as through:
        run_id = direct.run_workflow("ship", {"topic": "t"}, dry_run="echo")["run_id"]
        seen = []
        with through.run_events(run_id) as events:
            for event in events:
                seen.append(event)
                if event.event == "workflow.approval.requested":
                    proxy.cut()
                    direct.approve_step(run_id, "gate")
        replay = [event.id for event in direct.run_events(run_id) if event.event != "done"]
    assert proxy.cuts == 1 and events.reconnects >= 1
    assert [event.id for event in seen if event.event != "done"] == replay
    assert seen[-1].event == "done" and seen[-1].json()["status"] == "completed"


def test_hmac_signed_calls(project: Path, tmp_path: Path, parac):
    with sdk_server(project, tmp_path, parac) as server:
        with Client(server.served.url, hmac=(HMAC_KEY, HMAC_SECRET)) as signed:
            agents = signed.list_agents(limit=2)
            again = signed.list_agents(limit=2)  # the same request, signed anew (a signature is good once)
            run = signed.run_workflow("ship", {"topic": "signed"}, dry_run="echo")  # a body, covered too
            source = signed.agent_source("coder")
        with Client(server.served.url, hmac=(HMAC_KEY, "not-the-secret")) as forged:
            with pytest.raises(ApiError) as refused:
                forged.run_workflow("ship", {"topic": "forged"}, dry_run="echo")
        with Client(server.served.url, token=server.token) as reader:
            runs = [row["run_id"] for row in reader.iter_runs()]
            actors = {entry["actor"] for entry in reader.iter_audit_entries(limit=50)}
    assert agents == again and run["run_id"] in runs and len(runs) == 1  # the forged call started nothing
    assert source == (project / ".parac/agents/coder.yaml").read_text()
    assert refused.value.status == 401 and "does not match" in refused.value.detail
    assert f"hmac:{HMAC_KEY}" in actors


#: The method serving each operation of /openapi.json (a route added to the server fails here until it has one).
METHODS = {
    "list_agents": "list_agents", "get_agent": "get_agent", "agent_source": "agent_source", "run_agent": "run_agent",
    "chat_stream": "chat", "chat_models": "chat_models", "list_workflows": "list_workflows",
    "get_workflow": "get_workflow", "plan_workflow": "plan_workflow", "run_workflow": "run_workflow",
    "runs": "list_runs", "workflow_status": "get_run", "run_events": "run_events", "approve_step": "approve_step",
    "reject_step": "reject_step", "cancel_run": "cancel_run", "resume_run": "resume_run",
    "workflow_tasks": "workflow_tasks", "answer_task": "answer_task",
    "cost_report": "cost_report", "budget_status": "budget_status", "set_budget": "set_budget",
    "list_audit_entries": "list_audit_entries", "audit_verify": "verify_audit", "policy_check": "policy_check",
    "list_tools": "list_tools", "call_tool": "call_tool", "list_plugins": "list_plugins", "list_skills": "list_skills",
    "memory_add": "memory_add", "memory_search": "memory_search", "memory_forget": "memory_forget",
    "memory_namespaces": "memory_namespaces", "memory_namespace": "memory_namespace", "memory_entry": "memory_entry",
    "replay_run": "replay_run", "fork_run": "fork_run", "diff_runs": "diff_runs", "replay_agent_run": "replay_agent_run",
}


def test_a_method_for_every_route(project: Path, serve):
    with serve(project) as served:
        document = httpx.get(served.url + "/openapi.json", timeout=30).json()
    operations = {op["operationId"] for path, methods in document["paths"].items() for op in methods.values()
                  if path.startswith("/api/v1")}  # beside it, /metrics is for scrapers
    assert document["paths"]["/metrics"]["get"]["operationId"] == "metrics"
    routes = {name for name, value in vars(Routes).items() if isinstance(value, Route)}
    assert operations == set(METHODS) and set(METHODS.values()) <= routes


def test_import_loads_nothing_of_the_server():
    """The client is for scripts and other services: importing it must not load the server, the core or MCP."""
    code = "import sys, parac.client; print(__import__('json').dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                       check=True).stdout)
    parac = [name for name in loaded if name.startswith("parac.") and not name.startswith("parac.client")]
    assert parac == [] and not {"mcp", "starlette", "pydantic", "litellm"} & set(loaded)
