"""A client that cancels, and a server stopped mid-run: the work stops, the run says what became of it, the audit
records a cancel (not a failure), and nothing is printed as a crash. Over stdio, with the server's stderr kept."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from support.openai_server import OpenAIServer, Reply
from support.raw_mcp import RawServer
from support.runtime import set_settings
from support.serving import free_port, wait_until_listening

from parac.core.store import connect_workspace

GATED = {"name": "feature", "inputs": {"feature": "payments (risk: high)"}, "wait": True, "dry_run": "echo"}
"""The template's feature workflow, with its sign-off gate (high risk), run inside the call."""


def query(project: Path, sql: str) -> list[tuple]:
    conn = connect_workspace(project)
    try:
        return [tuple(row) for row in conn.execute(sql).fetchall()]
    except Exception:  # the database or its tables are not there yet
        return []
    finally:
        conn.close()


def run_status(project: Path) -> tuple[str, str] | None:
    rows = query(project, "SELECT run_id, status FROM workflow_runs")
    return rows[0] if rows else None


async def until(check, timeout: float = 60):
    with anyio.fail_after(timeout):
        while not (found := check()):
            await anyio.sleep(0.05)
    return found


def serve(command: list[str], project: Path) -> StdioServerParameters:
    env = {**os.environ, "PARAC_LOAD_PLUGINS": ""}
    return StdioServerParameters(command=command[0], args=[*command[1:], "--workspace", str(project)], env=env)


async def cancel_when(session: Client, tool: str, arguments: dict, started) -> None:
    """Call `tool` and cancel the call (the client sends notifications/cancelled) once `started()` holds."""
    async with anyio.create_task_group() as group:
        group.start_soon(session.call_tool, tool, arguments)
        await until(started)
        group.cancel_scope.cancel()


async def never_answered(context, params):
    """A person who never answers the gate: the call waits at it until the client cancels."""
    await anyio.sleep_forever()


async def test_cancelling_run_workflow_at_a_gate_cancels_the_run(
    project: Path, serve_command: list[str], tmp_path: Path
):
    """Handshake era: the call holds while the gate is put to the person (a client without elicitation gets the
    paused run back at once instead). In 2026-07-28 no request is open while the person answers: a client that
    gives up sends nothing, and the waiting call is cancelled after `rounds.TTL_S` (or with tasks/cancel)."""
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as errlog:
        client = stdio_client(serve(serve_command, project), errlog=errlog)
        async with Client(client, mode="legacy", elicitation_callback=never_answered) as session:
            waiting = lambda: (s := run_status(project)) and s[1] == "waiting_approval"  # noqa: E731
            await cancel_when(session, "run_workflow", GATED, waiting)
            run_id, status = await until(lambda: (s := run_status(project)) and s[1] != "waiting_approval" and s)
            assert not (await session.call_tool("list_agents", {})).is_error  # the server serves on
    assert status == "cancelled"
    steps = dict(query(project, f"SELECT step_id, status FROM workflow_steps WHERE run_id = '{run_id}'"))
    assert steps["sign-off"] == "cancelled" and steps["design"] == "completed"
    calls = query(project, "SELECT subject, outcome FROM audit WHERE action = 'tool.call'")
    assert ("run_workflow", "cancelled") in calls and ("run_workflow", "error") not in calls
    text = stderr.read_text()
    assert "Traceback" not in text and "failed" not in text, text


@pytest.mark.parametrize("era", ["legacy", "2026-07-28"])
async def test_cancelling_run_agent_stops_the_model_call_quietly(
    project: Path, serve_command: list[str], tmp_path: Path, era: str
):
    """In 2026-07-28 the call is served as input-required rounds (run_agent may ask the client's model): a round
    cancelled while it is open (on stdio: notifications/cancelled naming its id) cancels the work it waits on.
    Between rounds no request is open, and the revision has no message to abandon one (its HTTP transport drops
    posted notifications); such a call ends at `rounds.TTL_S` or with tasks/cancel."""
    stderr = tmp_path / "stderr.txt"
    with OpenAIServer() as model, stderr.open("w") as errlog:
        set_settings(project, providers={"local": {"api_base": model.base_url, "timeout_s": 60, "max_retries": 0}})
        model.script("slow", Reply.hang(60))
        async with Client(stdio_client(serve(serve_command, project), errlog=errlog), mode=era) as session:
            arguments = {"agent": "coder", "task": "x", "model": "local/slow"}
            await cancel_when(session, "run_agent", arguments, lambda: model.requests_for("slow"))
            await until(lambda: query(project, "SELECT status FROM llm_calls"))
            await until(lambda: query(project, "SELECT status FROM agent_runs WHERE status != 'running'"))
            assert not (await session.call_tool("list_agents", {})).is_error  # the server serves on
    assert query(project, "SELECT status FROM llm_calls") == [("cancelled",)]
    assert query(project, "SELECT status FROM agent_runs") == [("cancelled",)]
    text = stderr.read_text()
    assert "Traceback" not in text and "failed" not in text, text


def start_gated_run(command: list[str], project: Path) -> tuple[RawServer, str]:
    """A server driving the gated run inside a call (handshake era), once the run waits at its gate (put to the
    person by elicitation, which this client never answers)."""
    server = RawServer(command, project)
    server.request({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {"elicitation": {}}, "clientInfo": {"name": "raw", "version": "1"}}})
    assert "result" in server.reply_to(0)
    server.request({"jsonrpc": "2.0", "method": "notifications/initialized"})
    server.request({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "run_workflow", "arguments": GATED}})
    return server, wait_for_gate(project)


def wait_for_gate(project: Path) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = run_status(project)
        if status and status[1] == "waiting_approval":
            return status[0]
        time.sleep(0.05)
    raise AssertionError(f"the run never reached its gate: {run_status(project)}")


def test_stdin_closed_mid_run_cancels_the_call_and_its_run(project: Path, serve_command: list[str]):
    """The client is gone: the requests it sent are given their drain time (stdio.DRAIN_S), then cancelled."""
    server, run_id = start_gated_run(serve_command, project)
    assert server.close(timeout=90) == 0
    err = server.proc.stderr.read().decode()
    assert "Traceback" not in err, err
    assert run_status(project) == (run_id, "cancelled")


def test_sigterm_mid_run_leaves_it_resumable(project: Path, serve_command: list[str], parac):
    server, run_id = start_gated_run(serve_command, project)
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=30) == -signal.SIGTERM
    err = server.proc.stderr.read().decode()
    assert "Traceback" not in err, err
    assert run_status(project) == (run_id, "waiting_approval")
    resumed = parac("workflow", "approve", run_id, "sign-off", "--json", cwd=project, timeout=120)  # it goes on
    assert resumed.code == 0 and resumed.json()["status"] == "completed", resumed


async def test_sigterm_to_the_http_server_cancels_the_run_it_drives(project: Path, serve_command: list[str]):
    """uvicorn shuts down gracefully: the calls in flight are cancelled, and with them the run driven inside one."""
    port = free_port()
    proc = subprocess.Popen(
        [*serve_command, "--transport", "http", "--port", str(port), "--workspace", str(project)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PARAC_LOAD_PLUGINS": ""},
    )
    try:
        wait_until_listening(proc, port)
        async with anyio.create_task_group() as group:

            async def call() -> None:
                with contextlib.suppress(Exception):  # the server goes away under the client
                    url = f"http://127.0.0.1:{port}/mcp"
                    async with Client(url, mode="legacy", elicitation_callback=never_answered) as session:
                        await session.call_tool("run_workflow", GATED)

            group.start_soon(call)
            run_id = await anyio.to_thread.run_sync(wait_for_gate, project)
            proc.send_signal(signal.SIGTERM)
            await anyio.to_thread.run_sync(lambda: proc.wait(timeout=60))
            group.cancel_scope.cancel()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert "Traceback" not in err, err
    assert run_status(project) == (run_id, "cancelled")
