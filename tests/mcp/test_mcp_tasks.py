"""Tasks: long tool calls answered with a handle the client follows, in both protocol eras.

2026-07-28: the official client with a tasks extension built on its public extension API (`ClientExtension`, a
`ResultClaim` for `resultType: "task"` whose resolver polls `tasks/get` and answers input with `tasks/update`), as a
host would write one; in process, over stdio and over HTTP.

Handshake era (2025-11-25): the official client's session carries the requests, sent raw (`send_raw_request`):
the Python SDK 2.3 has no task methods and checks a 2025-11-25 `tools/call` result as `CallToolResult` only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, ClassVar, Literal

import anyio
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.shared.exceptions import MCPError
from pydantic import TypeAdapter

from parac.server.mcp.app import ParacApp
from parac.server.auth.roles import TokenAuthority
from parac.server.mcp.server import build_server

RISKY = {"feature": "payments (risk: high)"}
EXTENSION = "io.modelcontextprotocol/tasks"


class TaskHandle(types.Result):
    """The 2026-07-28 extension's `CreateTaskResult` (flat: Result & Task)."""

    result_type: Literal["task"] = "task"
    task_id: str
    status: str
    created_at: str
    last_updated_at: str
    ttl_ms: int | None = None
    poll_interval_ms: int | None = None


class GetTask(types.Request[dict[str, Any], Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    params: dict[str, Any]
    name_param: ClassVar[str | None] = "taskId"  # the task is its Mcp-Name header over HTTP (SEP-2663)


class UpdateTask(types.Request[dict[str, Any], Literal["tasks/update"]]):
    method: Literal["tasks/update"] = "tasks/update"
    params: dict[str, Any]
    name_param: ClassVar[str | None] = "taskId"  # the task is its Mcp-Name header over HTTP (SEP-2663)


class Tasks(ClientExtension):
    """What a host does with a task: poll it, answer its gates (approving), and hand back its result."""

    identifier = EXTENSION

    def __init__(self) -> None:
        self.handles: list[TaskHandle] = []
        self.seen: list[str] = []  # every status polled, in order
        self.answered: list[str] = []

    def claims(self) -> list[ResultClaim[Any]]:
        return [ResultClaim(result_type="task", model=TaskHandle, resolve=self.follow)]

    async def follow(self, handle: TaskHandle, ctx: ClaimContext) -> types.CallToolResult:
        self.handles.append(handle)
        adapter = TypeAdapter(dict[str, Any])  # tasks/get answers a DetailedTask: read as its wire fields
        with anyio.fail_after(60):
            while True:
                task = await ctx.session.send_request(GetTask(params={"taskId": handle.task_id}), adapter)
                data = task
                status = data["status"]
                self.seen.append(status)
                if status == "completed":
                    return types.CallToolResult.model_validate(data["result"])
                if status in ("failed", "cancelled"):
                    raise RuntimeError(f"task {status}: {data}")
                if status == "input_required":
                    answers = {}
                    for key, request in data["inputRequests"].items():
                        if request["method"] == "sampling/createMessage":  # the client's model, for an agent
                            self.answered.append(request["params"]["messages"][-1]["content"]["text"])
                            text = {"type": "text", "text": "the host's model answers"}
                            answers[key] = {"role": "assistant", "content": text, "model": "host-m"}
                            continue
                        assert request["method"] == "elicitation/create"
                        self.answered.append(request["params"]["message"])
                        answers[key] = {"action": "accept", "content": {"approve": True, "comment": "via the task"}}
                    await ctx.session.send_request(
                        UpdateTask(params={"taskId": handle.task_id, "inputResponses": answers}), adapter
                    )
                await anyio.sleep((data.get("pollIntervalMs") or 100) / 5000)


def stdio(project: Path) -> StdioServerParameters:
    return StdioServerParameters(
        command=str(Path(sys.executable).with_name("parac")),
        args=["mcp", "serve", "--workspace", str(project)],
        env={**os.environ, "PARAC_LOAD_PLUGINS": ""},
    )


async def _follow_agent_and_gate(session: Client, tasks: Tasks) -> None:
    ran = await session.call_tool("run_agent", {"agent": "coder", "task": "hello there", "model": "echo"})
    assert not ran.is_error and ran.structured_content["output"] == "hello there"
    [handle] = tasks.handles
    assert ran.structured_content["run_id"] == handle.task_id  # the task is the agent's run
    flow = await session.call_tool("run_workflow", {"name": "feature", "inputs": RISKY, "wait": True, "dry_run": "echo"})
    assert not flow.is_error and flow.structured_content["status"] == "completed", flow
    assert "input_required" in tasks.seen and tasks.answered[0].startswith("Approve step 'sign-off'")
    assert flow.structured_content["steps"][-1]["output"]["comment"] == "via the task"


async def test_2026_in_process_a_task_followed_and_its_gate_answered(project: Path):
    tasks = Tasks()
    async with Client(build_server(ParacApp(project)), mode="2026-07-28", extensions=[tasks]) as session:
        await _follow_agent_and_gate(session, tasks)


async def test_2026_an_agent_task_on_the_clients_model_is_answered_through_tasks_update(project: Path):
    """The agent's turn is the task's input request (sampling); tasks/update answers it and the run goes on."""

    async def never(context: Any, params: Any) -> Any:  # declares sampling; the task's requests carry it instead
        raise AssertionError("no sampling request is sent on a 2026-07-28 connection")

    tasks = Tasks()
    project_client = Client(
        build_server(ParacApp(project)), mode="2026-07-28", extensions=[tasks], sampling_callback=never
    )
    async with project_client as session:
        ran = await session.call_tool("run_agent", {"agent": "coder", "task": "use my model", "model": "client"})
    assert not ran.is_error, ran.content
    assert ran.structured_content["output"] == "the host's model answers"
    assert "input_required" in tasks.seen and tasks.answered == ["use my model"]


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_2026_over_real_transports(project: Path, transport: str, http_server: Any):
    tasks = Tasks()
    if transport == "stdio":
        async with Client(stdio(project), mode="2026-07-28", extensions=[tasks]) as session:
            await _follow_agent_and_gate(session, tasks)
    else:
        with http_server(project) as url:
            async with Client(url, mode="2026-07-28", extensions=[tasks]) as session:
                await _follow_agent_and_gate(session, tasks)


async def _until(raw: Any, task_id: str, *statuses: str) -> dict[str, Any]:
    with anyio.fail_after(60):
        while True:
            task = await raw("tasks/get", {"taskId": task_id}, None)
            if task["status"] in statuses:
                return task
            await anyio.sleep(0.05)


async def _waiting_at_its_gate(raw: Any) -> str:
    """A task-augmented run_workflow (handshake era) of a gated run, once it waits at the gate: its task id."""
    made = await raw(
        "tools/call",
        {"name": "run_workflow", "arguments": {"name": "feature", "inputs": RISKY, "wait": True, "dry_run": "echo"},
         "task": {}},
        None,
    )
    await _until(raw, made["task"]["taskId"], "input_required")
    return made["task"]["taskId"]


async def test_handshake_era_tasks_polled_listed_cancelled_and_refused(project: Path):
    async with Client(build_server(ParacApp(project)), mode="legacy") as session:
        raw = session.session._dispatcher.send_raw_request
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert tools["run_agent"].execution.task_support == "optional" and tools["list_agents"].execution is None
        made = await raw(
            "tools/call",
            {"name": "run_workflow", "arguments": {"name": "feature", "inputs": {"feature": "docs"}, "wait": True,
                                                    "dry_run": "echo"}, "task": {"ttl": 60_000}},
            None,
        )
        first = made["task"]["taskId"]
        assert made["task"]["status"] == "working" and made["task"]["ttl"] == 60_000
        result = await raw("tasks/result", {"taskId": first}, None)
        assert result["structuredContent"]["status"] == "completed"
        assert result["_meta"]["io.modelcontextprotocol/related-task"] == {"taskId": first}

        gated = await raw(
            "tools/call",
            {"name": "run_workflow", "arguments": {"name": "feature", "inputs": RISKY, "wait": True, "dry_run": "echo"},
             "task": {}},
            None,
        )
        second = gated["task"]["taskId"]
        waiting = await _until(raw, second, "input_required")
        assert "sign-off" in waiting["statusMessage"]
        listed = await raw("tasks/list", {}, None)
        assert [t["taskId"] for t in listed["tasks"]] == [second, first]
        cancelled = await raw("tasks/cancel", {"taskId": second}, None)
        assert cancelled["status"] == "cancelled"
        assert (await raw("tasks/get", {"taskId": second}, None))["status"] == "cancelled"
        with pytest.raises(MCPError) as again:
            await raw("tasks/cancel", {"taskId": second}, None)
        assert again.value.error.code == types.INVALID_PARAMS and "already cancelled" in again.value.error.message
        with pytest.raises(MCPError) as unknown:
            await raw("tasks/get", {"taskId": "0" * 32}, None)
        assert unknown.value.error.code == types.INVALID_PARAMS
        runs = await session.call_tool("workflow_status", {"run_id": waiting["statusMessage"].split("run ")[1].split()[0]})
        assert runs.structured_content["status"] == "cancelled"  # the task is its run

    # Another caller (another role) of the same workspace does not see those tasks.
    other = ParacApp(project, tokens=TokenAuthority(local_role="operator"))
    async with Client(build_server(other), mode="legacy") as session:
        raw = session.session._dispatcher.send_raw_request
        with pytest.raises(MCPError) as foreign:
            await raw("tasks/get", {"taskId": first}, None)
        assert foreign.value.error.code == types.INVALID_PARAMS
        assert (await raw("tasks/list", {}, None))["tasks"] == []


async def test_run_agent_wait_false_answers_at_once_with_its_task(project: Path):
    """No task support asked for: the call answers `running` with the run's id, a task of that id follows it."""
    async with Client(build_server(ParacApp(project)), mode="legacy") as session:
        raw = session.session._dispatcher.send_raw_request
        started = await session.call_tool("run_agent", {"agent": "coder", "task": "later", "model": "echo", "wait": False})
        assert not started.is_error and started.structured_content["status"] == "running"
        run_id = started.structured_content["run_id"]
        result = await raw("tasks/result", {"taskId": run_id}, None)
    assert result["structuredContent"]["output"] == "later" and result["structuredContent"]["run_id"] == run_id


async def test_a_task_survives_a_restart_of_the_server(project: Path):
    """A task-augmented run_workflow waits at its gate; the server process ends; a new one still knows the task
    (its run is in the database), and once the gate is approved the task completes."""
    async with Client(stdio(project), mode="legacy") as session:
        raw = session.session._dispatcher.send_raw_request
        task_id = await _waiting_at_its_gate(raw)
        agent = await raw(
            "tools/call", {"name": "run_agent", "arguments": {"agent": "coder", "task": "x", "model": "echo"}, "task": {}},
            None,
        )
    async with Client(stdio(project), mode="legacy") as session:
        raw = session.session._dispatcher.send_raw_request
        waiting = await raw("tasks/get", {"taskId": task_id}, None)
        assert waiting["status"] == "input_required"
        run_id = waiting["statusMessage"].split("run ")[1].split()[0]
        await session.call_tool("approve_step", {"run_id": run_id, "step": "sign-off"})
        done = await raw("tasks/result", {"taskId": task_id}, None)
        assert done["structuredContent"]["status"] == "completed"
        finished_agent = await raw("tasks/get", {"taskId": agent["task"]["taskId"]}, None)
    # The agent task either finished before the first server ended or is reported as lost with it, never "working".
    assert finished_agent["status"] in ("completed", "failed")



async def test_handshake_era_tasks_result_puts_a_followed_runs_gate_to_the_person_tagged_with_its_task(project: Path):
    """2025-11-25: a task whose gated run another server process started (its work is not in this process, the
    database follows it): `tasks/result` puts the gate to this client's person as `elicitation/create` naming the
    task in `_meta`; the approval is the gate's, and the task completes with it."""
    asked: list[Any] = []

    async def elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append((params.message, params.meta))
        return types.ElicitResult(action="accept", content={"approve": True, "comment": "by the person"})

    async with Client(stdio(project), mode="legacy") as session:  # no elicitation: the gate waits
        raw = session.session._dispatcher.send_raw_request
        task_id = await _waiting_at_its_gate(raw)
    async with Client(stdio(project), mode="legacy", elicitation_callback=elicit) as session:
        raw = session.session._dispatcher.send_raw_request
        with anyio.fail_after(60):
            done = await raw("tasks/result", {"taskId": task_id}, None)
    assert done["structuredContent"]["status"] == "completed"
    assert done["structuredContent"]["steps"][-1]["output"]["comment"] == "by the person"
    [(message, meta)] = asked
    assert "sign-off" in message and meta == {"io.modelcontextprotocol/related-task": {"taskId": task_id}}
