"""Spans reach a real OTLP/HTTP receiver from the real CLI and MCP server, with the GenAI conventions' names and
attributes and their parents intact (agent run, model and tool calls, a workflow's parallel steps, an MCP request
with a caller's traceparent)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client



def _one(spans, name):
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, (name, [s.name for s in spans])
    return found[0]


def _has(*names):
    return lambda spans: all(any(s.name == n for s in spans) for n in names)


def test_agent_run_is_one_trace_with_model_and_tool_calls(project, receiver):
    done = project.cli("agents", "run", "reader", "-t", "Read the notes", env=receiver.env())
    assert done.returncode == 0, done.stderr
    spans = receiver.wait_for(_has("invoke_agent reader", "execute_tool file_read"))
    run = _one(spans, "invoke_agent reader")
    chats = [s for s in spans if s.name == f"chat {project.model}"]
    tool = _one(spans, "execute_tool file_read")
    assert run.parent_id == "" and run.service == "parac"
    assert {s.trace_id for s in [run, tool, *chats]} == {run.trace_id}
    assert [c.parent_id for c in chats] == [run.span_id, run.span_id] and tool.parent_id == run.span_id
    assert run.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert run.attributes["gen_ai.agent.name"] == "reader"
    assert run.attributes["parac.run.status"] == "completed"
    assert (run.attributes["gen_ai.usage.input_tokens"], run.attributes["gen_ai.usage.output_tokens"]) == (24, 10)
    assert run.attributes["parac.cost_usd"] == pytest.approx(0.044)
    first, second = sorted(chats, key=lambda s: s.start_ns)
    assert first.attributes["gen_ai.operation.name"] == "chat"
    assert first.attributes["gen_ai.provider.name"] == "scripted"
    assert first.attributes["gen_ai.request.model"] == project.model
    assert first.attributes["gen_ai.response.model"]
    assert (first.attributes["gen_ai.usage.input_tokens"], first.attributes["gen_ai.usage.output_tokens"]) == (11, 7)
    assert (second.attributes["gen_ai.usage.input_tokens"], second.attributes["gen_ai.usage.output_tokens"]) == (13, 3)
    assert first.attributes["parac.cost_usd"] == pytest.approx(0.025)
    assert first.start_ns < tool.start_ns < second.start_ns  # the tool ran between the two turns
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.name"] == "file_read"
    assert tool.attributes["parac.policy.decision"] == "allowed"
    assert tool.attributes["parac.run_id"] == run.attributes["parac.run_id"]
    # content is not recorded unless telemetry.capture_content says so
    assert not any(k.startswith(("gen_ai.input", "gen_ai.output", "gen_ai.tool.call.arg", "gen_ai.tool.call.res"))
                   for s in spans for k in s.attributes)


def test_denied_tool_call_carries_the_rule(project, receiver):
    done = project.cli("agents", "run", "writer", "-t", "x", env=receiver.env())
    assert done.returncode == 0, done.stderr  # the model hears of the refusal and answers
    spans = receiver.wait_for(_has("execute_tool file_write", "invoke_agent writer"))
    tool = _one(spans, "execute_tool file_write")
    assert tool.attributes["parac.policy.decision"] == "denied"
    assert tool.attributes["error.type"] == "denied"
    assert tool.status == 2  # STATUS_CODE_ERROR
    assert tool.parent_id == _one(spans, "invoke_agent writer").span_id


def test_captured_content_is_redacted(project, receiver):
    settings = project.root / ".parac" / "parac.yaml"
    settings.write_text(settings.read_text() + "telemetry: {capture_content: true}\n")
    (project.root / "notes.txt").write_text("key AKIAIOSFODNN7EXAMPLE here\n")
    done = project.cli("agents", "run", "reader", "-t", "Read the notes", env=receiver.env())
    assert done.returncode == 0, done.stderr
    spans = receiver.wait_for(_has("invoke_agent reader", "execute_tool file_read"))
    tool = _one(spans, "execute_tool file_read")
    assert json.loads(tool.attributes["gen_ai.tool.call.arguments"]) == {"path": "notes.txt"}
    result = tool.attributes["gen_ai.tool.call.result"]
    assert "AKIAIOSFODNN7EXAMPLE" not in result and "[REDACTED" in result
    chat = sorted((s for s in spans if s.name.startswith("chat ")), key=lambda s: s.start_ns)[-1]
    assert "Read the notes" in chat.attributes["gen_ai.input.messages"]
    assert "The notes say hello." in chat.attributes["gen_ai.output.messages"]
    assert all("AKIAIOSFODNN7EXAMPLE" not in str(v) for s in spans for v in s.attributes.values())


def test_workflow_with_parallel_steps_is_one_trace(project, receiver):
    done = project.cli("--log-format", "json", "workflow", "run", "fan", env=receiver.env())
    assert done.returncode == 0, done.stderr
    spans = receiver.wait_for(_has("invoke_workflow fan", "step summary", "invoke_agent reader"))
    run = _one(spans, "invoke_workflow fan")
    assert run.parent_id == "" and run.attributes["gen_ai.operation.name"] == "invoke_workflow"
    steps = {s.attributes["parac.step"]: s for s in spans if s.name.startswith("step ")}
    assert set(steps) == {"a", "b", "c", "summary"}
    assert all(s.parent_id == run.span_id and s.trace_id == run.trace_id for s in steps.values())
    assert all(s.attributes["parac.step.status"] == "completed" for s in steps.values())
    reads = [s for s in spans if s.name == "execute_tool file_read"]
    # one read per parallel step, each under its own step's span; the agent's read under the agent
    agent = _one(spans, "invoke_agent reader")
    assert agent.parent_id == steps["summary"].span_id
    assert sorted(s.parent_id for s in reads) == sorted([steps[k].span_id for k in "abc"] + [agent.span_id])
    assert all(s.attributes["parac.workflow"] == "fan" for s in reads)
    # the join starts after every branch ended
    assert steps["summary"].start_ns >= max(steps[k].end_ns for k in "abc")
    # every line on stderr is a JSON object; those of the run name it, and inside it the run's trace
    logs = [json.loads(line) for line in done.stderr.splitlines()]
    assert logs and all(isinstance(line, dict) for line in logs)
    run_id = run.attributes["parac.run_id"]
    mine = [line for line in logs if line.get("run_id") == run_id]
    assert {line["trace_id"] for line in mine if "trace_id" in line} == {run.trace_id}
    assert {line.get("step") for line in mine} >= {"a", "b", "c", "summary"}
    # the progress is events: each step's start and end, with the run id, the step and its status
    progress = [line for line in logs if line["logger"] == "parac.cli.progress"]
    assert progress[0]["event"] == "workflow.run.start" and progress[0]["workflow"] == "fan"
    ends = {line["step"]: line for line in progress if line["event"] == "workflow.step.end"}
    starts = {line["step"] for line in progress if line["event"] == "workflow.step.start"}
    assert set(ends) == starts == {"a", "b", "c", "summary"}
    assert all(line["run_id"] == run_id and line["status"] == "completed" and line["seconds"] >= 0
               for line in ends.values())
    # stdout is the result as without JSON logs
    plain = project.cli("workflow", "run", "fan")
    assert plain.returncode == 0, plain.stderr
    plain_id = next(line for line in plain.stderr.splitlines() if line.startswith("run ")).split()[1]
    assert done.stdout.replace(run_id, "RUN") == plain.stdout.replace(plain_id, "RUN")


@asynccontextmanager
async def _mcp_session(project, receiver) -> AsyncIterator[ClientSession]:
    """An MCP client session with `parac mcp serve` over stdio, its traces sent to the receiver."""
    params = StdioServerParameters(
        command=sys.executable, args=["-P", "-m", "parac.server.cli", "mcp", "serve", "-w", str(project.root)],
        env={**os.environ, **receiver.env()}, cwd=str(project.root),
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def test_mcp_tool_call_continues_the_callers_trace(project, receiver):
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"

    async def go():
        async with _mcp_session(project, receiver) as session:
            result = await session.call_tool(
                "run_agent", {"agent": "reader", "task": "Read the notes"},
                meta={"traceparent": f"00-{trace_id}-{parent}-01"},
            )
            assert not result.is_error, result

    anyio.run(go)
    spans = receiver.wait_for(_has("tools/call run_agent", "invoke_agent reader", "execute_tool file_read"))
    request = _one(spans, "tools/call run_agent")
    assert request.trace_id == trace_id and request.parent_id == parent and request.kind == 2  # SERVER
    agent = _one(spans, "invoke_agent reader")
    assert agent.trace_id == trace_id and agent.parent_id == request.span_id
    assert agent.attributes["parac.actor"].startswith("mcp:stdio")
    tool = _one(spans, "execute_tool file_read")
    assert tool.parent_id == agent.span_id


def test_external_mcp_server_continues_the_trace(project, receiver, tmp_path):
    """parac calls another MCP server (here a second parac, itself tracing): its request span is a child of the
    call's, through the traceparent the SDK's client puts in the request's ``_meta``."""
    inner = tmp_path / "inner"
    (inner / ".parac").mkdir(parents=True)
    (inner / ".parac" / "parac.yaml").write_text("name: inner\n")
    server = {"command": sys.executable, "args": ["-P", "-m", "parac.server.cli", "mcp", "serve", "-w", str(inner)],
              "env": {**receiver.env(), "OTEL_SERVICE_NAME": "inner"}, "connect_timeout_s": 60}
    settings = project.root / ".parac" / "parac.yaml"
    settings.write_text(settings.read_text() + "mcp_servers: " + json.dumps({"inner": server}) + "\n")
    (project.root / ".parac" / "policies" / "inner.yaml").write_text("allow:\n  - tools: ['inner.*']\n")
    done = project.cli("tools", "call", "inner.list_agents", env=receiver.env())
    assert done.returncode == 0, done.stderr
    spans = receiver.wait_for(_has("execute_tool inner.list_agents", "tools/call list_agents"))
    call = _one(spans, "execute_tool inner.list_agents")
    remote = _one(spans, "tools/call list_agents")
    assert call.service == "parac" and remote.service == "inner"
    assert remote.trace_id == call.trace_id
    sent = next(s for s in spans if s.span_id == remote.parent_id)  # the SDK client's span of the request
    assert sent.name == "MCP send tools/call list_agents" and sent.parent_id == call.span_id


def test_budget_refusal_and_approval_are_on_their_spans(project, receiver):
    (project.root / ".parac" / "agents" / "frugal.yaml").write_text(
        f"description: cannot afford a call\nmodel: '{project.model}'\nbudget: {{per_run_usd: 0.000001}}\n")
    (project.root / ".parac" / "workflows" / "gated.yaml").write_text(
        "steps:\n  - {id: a, tool: file_read, arguments: {path: notes.txt}}\n"
        "  - {id: gate, type: approval, depends_on: [a], message: Ship it?}\n")
    refused = project.cli("agents", "run", "frugal", "-t", "x", env=receiver.env())
    assert refused.returncode == 1
    gated = project.cli("workflow", "run", "gated", "--yes", env=receiver.env())
    assert gated.returncode == 0, gated.stderr
    spans = receiver.wait_for(_has("invoke_agent frugal", "step gate"))
    chat = next(s for s in spans if s.name.startswith("chat ") and s.parent_id == _one(spans, "invoke_agent frugal").span_id)
    assert chat.attributes["parac.budget.refused"] is True
    assert chat.attributes["parac.policy.rule"].startswith("budget:")
    assert chat.attributes["error.type"] == "denied" and chat.status == 2
    assert [name for name, _ in chat.events] == ["parac.budget.refused"]
    gate = _one(spans, "step gate")
    events = dict(gate.events)
    assert list(events) == ["workflow.approval.requested", "workflow.approval.decided"]
    assert events["workflow.approval.decided"]["parac.step"] == "gate"
    assert gate.attributes["parac.step.status"] == "completed"


def test_background_workflow_run_is_a_child_of_the_request_that_started_it(project, receiver):
    """run_workflow without wait drives the run in a thread of its own that outlives the request."""

    async def go():
        async with _mcp_session(project, receiver) as session:
            started = await session.call_tool("run_workflow", {"name": "fan"})
            assert not started.is_error, started
            await anyio.to_thread.run_sync(lambda: receiver.wait_for(_has("invoke_workflow fan", "step summary")))

    anyio.run(go)
    spans = receiver.wait_for(_has("tools/call run_workflow", "invoke_workflow fan", "invoke_agent reader"))
    request = _one(spans, "tools/call run_workflow")
    run = _one(spans, "invoke_workflow fan")
    assert run.parent_id == request.span_id and run.trace_id == request.trace_id
    assert _one(spans, "invoke_agent reader").trace_id == request.trace_id
