"""The default template's ``feature`` workflow on the dbos engine through MCP (the official SDK client against
parac's server): ``run_workflow`` enqueues it, a ``parac worker`` process runs its agent steps, the sign-off gate is
answered with ``approve_step`` from the MCP process while the run waits on the worker."""

from __future__ import annotations

import anyio
from mcp import Client

from parac.server.mcp.app import ParacApp
from parac.server.mcp.server import build_server


async def _until(session, run_id: str, predicate) -> dict:
    with anyio.fail_after(120):
        while True:
            status = (await session.call_tool("workflow_status", {"run_id": run_id})).structured_content
            if predicate(status):
                return status
            await anyio.sleep(0.1)


async def test_the_default_workflow_runs_on_a_worker_and_its_gate_is_answered_over_mcp(dbos_project):
    dbos_project.start_worker()
    dbos_project.wait_workers(1)
    async with Client(build_server(ParacApp(dbos_project.root)), mode="legacy") as session:
        started = await session.call_tool("run_workflow", {
            "name": "feature", "inputs": {"feature": "payments (risk: high)"}, "dry_run": "echo"})
        assert not started.is_error, started.content
        run_id = started.structured_content["run_id"]
        assert started.structured_content["status"] in ("queued", "running")
        waiting = await _until(session, run_id, lambda s: any(
            step["id"] == "sign-off" and step["status"] == "waiting_approval" for step in s["steps"]))
        assert {s["id"]: s["status"] for s in waiting["steps"]}["review"] == "completed"
        answer = await session.call_tool("approve_step", {"run_id": run_id, "step": "sign-off"})
        assert not answer.is_error, answer.content
        done = await _until(session, run_id, lambda s: s["status"] in ("completed", "failed", "cancelled"))
    assert done["status"] == "completed", done
    assert done["outputs"]["design"] == "Design payments (risk: high)"
    gate = next(step for step in done["steps"] if step["id"] == "sign-off")
    assert gate["output"]["approved"] is True
