"""A plugin tool that asks first and then goes on as a task (`Tool.asks_first`, `ToolContext.continue_as_task`): the
conformance plugin's `test_tool_with_task`, with the official client over real stdio and Streamable HTTP.

2026-07-28 (SEP-2663's composition with SEP-2322's rounds): the tool's first question is an input-required round
of the call itself; the round in which it continues as a task answers the task handle (no `requestState`), which the
client polls with `tasks/get`, answering the task's own question with `tasks/update`.

2025-11-25 has no such composition: a task is the client's choice up front, answered with its handle at once. There
the call is a task from the start and `continue_as_task` lets it go on; its questions are server requests tagged with
the task (`io.modelcontextprotocol/related-task`), which reads `input_required` until they are answered.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, ClassVar, Literal

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from pydantic import ConfigDict, TypeAdapter

from parac.server.api import Tool, hookimpl

CONFORMANCE = Path(__file__).with_name("conformance_plugin")
PLUGIN = {"PYTHONPATH": str(CONFORMANCE), "PARAC_LOAD_PLUGINS": "conformance"}
TOOL = "test_tool_with_task"
WIRE = TypeAdapter(dict[str, Any])


@pytest.fixture
def granted(project: Path) -> Path:
    (project / ".parac" / "policies" / "conformance.yaml").write_text((CONFORMANCE / "policy.yaml").read_text())
    return project


class Handle(types.Result):
    """The tasks extension's `CreateTaskResult`, its other fields kept as sent (to see what it must not carry)."""

    model_config = ConfigDict(extra="allow")
    result_type: Literal["task"] = "task"
    task_id: str
    status: str


class TaskRequest(types.Request[dict[str, Any], str]):
    """`tasks/get`, `tasks/update` or `tasks/cancel`; over HTTP the task is its `Mcp-Name` header (SEP-2663)."""

    method: str
    params: dict[str, Any]
    name_param: ClassVar[str | None] = "taskId"


async def task_call(session: Any, method: str, task_id: str, **params: Any) -> dict[str, Any]:
    return await session.send_request(TaskRequest(method=method, params={"taskId": task_id, **params}), WIRE)


class Follower(ClientExtension):
    """A host following the tasks a call turns into: polls, answers the task's confirmation, returns the result."""

    identifier = "io.modelcontextprotocol/tasks"

    def __init__(self, confirm: bool = True) -> None:
        self.confirm = confirm
        self.handles: list[Handle] = []
        self.seen: list[str] = []
        self.asked: list[str] = []

    def claims(self) -> list[ResultClaim[Any]]:
        return [ResultClaim(result_type="task", model=Handle, resolve=self.follow)]

    async def follow(self, handle: Handle, ctx: ClaimContext) -> types.CallToolResult:
        self.handles.append(handle)
        with anyio.fail_after(60):
            while True:
                task = await task_call(ctx.session, "tasks/get", handle.task_id)
                self.seen.append(task["status"])
                if task["status"] == "completed":
                    return types.CallToolResult.model_validate(task["result"])
                if task["status"] in ("failed", "cancelled"):
                    raise RuntimeError(f"task {task['status']}: {task}")
                if task["status"] == "input_required":
                    for key, request in task["inputRequests"].items():
                        self.asked.append(request["params"]["message"])
                        answer = {"action": "accept", "content": {"ok": self.confirm}}
                        await task_call(ctx.session, "tasks/update", handle.task_id, inputResponses={key: answer})
                await anyio.sleep(0.02)


class Person:
    """The client's person, answering the forms put to it as server requests or input-required rounds."""

    def __init__(self) -> None:
        self.asked: list[types.ElicitRequestParams] = []

    async def elicit(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.asked.append(params)
        return types.ElicitResult(action="accept", content={"name": "Ada"})


def stdio(project: Path) -> StdioServerParameters:
    return StdioServerParameters(
        command=str(Path(sys.executable).with_name("parac")),
        args=["mcp", "serve", "--workspace", str(project)],
        env={**os.environ, **PLUGIN},
    )


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_2026_the_call_asks_then_becomes_a_task_followed_to_completion(
    granted: Path, transport: str, http_server: Any
):
    person, follower = Person(), Follower()

    async def run(target: Any) -> types.CallToolResult:
        async with Client(target, mode="2026-07-28", extensions=[follower], elicitation_callback=person.elicit) as c:
            result = await c.call_tool(TOOL, {"confirm": True})
            assert not (await c.call_tool("test_simple_text", {})).is_error
            return result

    with anyio.fail_after(90):
        if transport == "stdio":
            result = await run(stdio(granted))
        else:
            with http_server(granted, env=PLUGIN) as url:
                result = await run(url)
    assert not result.is_error and result.content[0].text == "Hello, Ada!"
    assert [p.message for p in person.asked] == ["What is your name?"]  # the round's question, before the task
    assert len(follower.handles) == 1 and follower.asked == ["Greet them now?"]  # the task's own, by tasks/update
    assert follower.seen[-1] == "completed" and "input_required" in follower.seen


async def test_2026_the_composition_on_the_wire_and_bad_answers(granted: Path, http_server: Any, parac: Any):
    """Two callers of one HTTP server. A garbage answer, another caller's `requestState`, a finished round's
    `requestState`, another caller's task, a garbage `tasks/update`, an answer to a cancelled task: each a -32602
    naming what is wrong, nothing changed by it, and the server goes on serving."""
    tokens = {}
    for name in ("alice", "bob"):
        made = parac("token", "create", "--role", "operator", "--name", name, "--json", cwd=granted)
        assert made.code == 0, made
        tokens[name] = made.json()["token"]
    ada = types.ElicitResult(action="accept", content={"name": "Ada"})
    modern: dict[str, Any] = {"mode": "2026-07-28", "extensions": [Follower()], "elicitation_callback": Person().elicit}

    with http_server(granted, env=PLUGIN) as url, anyio.fail_after(90):
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {tokens['alice']}"}, timeout=60) as alice_http,
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {tokens['bob']}"}, timeout=60) as bob_http,
            Client(streamable_http_client(url, http_client=alice_http), **modern) as alice_client,
            Client(streamable_http_client(url, http_client=bob_http), **modern) as bob_client,
        ):
            alice, bob = alice_client.session, bob_client.session
            args = {"confirm": True}

            async def call(session: Any, **retry: Any) -> Any:
                return await session.call_tool(TOOL, args, allow_input_required=True, allow_claimed=True, **retry)

            first = await call(alice)
            assert isinstance(first, types.InputRequiredResult)
            assert list(first.input_requests) == ["user_name"]
            state = first.request_state

            model_answer = types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text="?"),
                                                     model="m")  # a well-formed answer, but not to a form
            with pytest.raises(MCPError) as garbage:
                await call(alice, request_state=state, input_responses={"user_name": model_answer})
            assert garbage.value.error.code == types.INVALID_PARAMS and "user_name" in garbage.value.error.message
            with pytest.raises(MCPError) as foreign_state:
                await call(bob, request_state=state, input_responses={"user_name": ada})
            assert foreign_state.value.error.code == types.INVALID_PARAMS

            handle = await call(alice, request_state=state, input_responses={"user_name": ada})  # still waiting
            assert isinstance(handle, Handle) and handle.status == "working"
            assert not {"requestState", "inputRequests", "request_state", "input_requests"} & set(handle.model_extra)
            task_id = handle.task_id
            with pytest.raises(MCPError) as over:  # the rounds ended with the handle
                await call(alice, request_state=state, input_responses={"user_name": ada})
            assert over.value.error.code == types.INVALID_PARAMS and "is over" in over.value.error.message

            with pytest.raises(MCPError) as foreign_task:
                await task_call(bob, "tasks/get", task_id)
            assert foreign_task.value.error.code == types.INVALID_PARAMS and "unknown task" in foreign_task.value.error.message
            with pytest.raises(MCPError) as foreign_update:
                await task_call(bob, "tasks/update", task_id, inputResponses={"confirm": {"action": "decline"}})
            assert foreign_update.value.error.code == types.INVALID_PARAMS

            while (task := await task_call(alice, "tasks/get", task_id))["status"] != "input_required":
                await anyio.sleep(0.02)
            assert list(task["inputRequests"]) == ["confirm"]  # the task's own key
            with pytest.raises(MCPError) as bad_update:
                await task_call(alice, "tasks/update", task_id, inputResponses={"confirm": {"content": 3}})
            assert bad_update.value.error.code == types.INVALID_PARAMS and "confirm" in bad_update.value.error.message
            assert (await task_call(alice, "tasks/get", task_id))["status"] == "input_required"  # unchanged

            await task_call(alice, "tasks/cancel", task_id)
            yes = {"confirm": {"action": "accept", "content": {"ok": True}}}
            with pytest.raises(MCPError) as late:
                await task_call(alice, "tasks/update", task_id, inputResponses=yes)
            assert late.value.error.code == types.INVALID_PARAMS and "cancelled" in late.value.error.message
            done = await task_call(alice, "tasks/get", task_id)
            assert done["status"] == "cancelled" and "result" not in done

            again = await alice_client.call_tool("test_simple_text", {})
            assert not again.is_error and not (await bob_client.call_tool("test_simple_text", {})).is_error


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_handshake_era_the_call_is_a_task_from_the_start_and_its_question_is_tagged(
    granted: Path, transport: str, http_server: Any
):
    """2025-11-25: a plain call of the task-only tool is refused (-32601); asked as a task, the handle comes at once,
    the tool's question reaches the client as `elicitation/create` tagged with the task while the task reads
    `input_required`, and `tasks/result` answers the greeting."""
    statuses: list[str] = []
    tagged: list[Any] = []

    async def run(target: Any) -> dict[str, Any]:
        task_id = ""

        async def elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
            tagged.append(params.meta)
            with anyio.fail_after(30):  # answered only once the task has been seen waiting for it
                while "input_required" not in statuses:
                    await anyio.sleep(0.02)
            return types.ElicitResult(action="accept", content={"name": "Ada"})

        async with Client(target, mode="legacy", elicitation_callback=elicit) as session:
            raw = session.session._dispatcher.send_raw_request
            with pytest.raises(MCPError) as plain:
                await session.call_tool(TOOL, {})
            assert plain.value.error.code == types.METHOD_NOT_FOUND
            made = await raw("tools/call", {"name": TOOL, "arguments": {}, "task": {}}, None)
            task_id = made["task"]["taskId"]
            assert made["task"]["status"] == "working"
            while (task := await raw("tasks/get", {"taskId": task_id}, None))["status"] not in ("completed", "failed"):
                statuses.append(task["status"])
                await anyio.sleep(0.02)
            result = await raw("tasks/result", {"taskId": task_id}, None)
            return {"task_id": task_id, "result": result}

    with anyio.fail_after(90):
        if transport == "stdio":
            outcome = await run(stdio(granted))
        else:
            with http_server(granted, env=PLUGIN) as url:
                outcome = await run(url)
    assert outcome["result"]["content"][0]["text"] == "Hello, Ada!"
    assert tagged == [{"io.modelcontextprotocol/related-task": {"taskId": outcome["task_id"]}}]
    assert "input_required" in statuses


async def test_2026_a_retry_whose_client_follows_no_tasks_is_refused_and_changes_nothing(
    granted: Path, monkeypatch: pytest.MonkeyPatch
):
    """The client declared the tasks extension on the first round but not on a retry (SEP-2663: a task is only for
    a request that declares it): the task-only tool's retry gets -32021 naming the extension, the call still waits
    for its answer, and a retry that declares it gets the task."""
    from parac.server.mcp.app import ParacApp
    from parac.server.mcp.server import build_server

    monkeypatch.syspath_prepend(str(CONFORMANCE))
    monkeypatch.setenv("PARAC_LOAD_PLUGINS", "conformance")
    server = build_server(ParacApp(granted))  # one server, two clients (in process: one caller, one sealing key)
    person, follower = Person(), Follower()
    ada = types.ElicitResult(action="accept", content={"name": "Ada"})
    with anyio.fail_after(60):
        async with (
            Client(server, mode="2026-07-28", extensions=[follower], elicitation_callback=person.elicit) as follows,
            Client(server, mode="2026-07-28", elicitation_callback=person.elicit) as does_not,
        ):
            first = await follows.session.call_tool(TOOL, {}, allow_input_required=True)
            assert isinstance(first, types.InputRequiredResult)
            retry = {"request_state": first.request_state, "input_responses": {"user_name": ada}}
            with pytest.raises(MCPError) as refused:
                await does_not.session.call_tool(TOOL, {}, allow_input_required=True, **retry)
            assert refused.value.error.code == types.MISSING_REQUIRED_CLIENT_CAPABILITY
            assert refused.value.error.data == {"requiredCapabilities": {"extensions": {Follower.identifier: {}}}}
            done = await follows.call_tool(TOOL, {}, **retry)
    assert done.content[0].text == "Hello, Ada!" and len(follower.handles) == 1


NAME_FORM = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


async def ask_then_work(ctx: Any, again: bool = False) -> str:
    """Ask a name in the call, go on as a task where the caller follows one, then (`again`) ask once more."""
    name = (await ctx.elicit("What is your name?", NAME_FORM, key="user_name")).content.get("name")
    await ctx.continue_as_task()
    if again:
        name = f"{name}, {(await ctx.elicit('Still there?', NAME_FORM, key='still')).content.get('name')}"
    return f"Hello, {name}!"


class DirectTool:
    """A plugin that makes its `Tool` itself (not through `tool_from_function`), marked `asks_first` only."""

    @hookimpl
    def parac_register_tools(self, register: Any) -> None:
        schema = {"type": "object", "properties": {"again": {"type": "boolean"}}, "additionalProperties": False}
        register(Tool(name="ask_then_work", description="Ask, then work as a task.", input_schema=schema,
                      fn=ask_then_work, read_only=True, asks_first=True))


def direct_server(project: Path) -> Any:
    from parac.server.host import Host
    from parac.server.mcp.app import ParacApp
    from parac.server.mcp.server import build_server

    (project / ".parac" / "policies" / "direct.yaml").write_text(
        "description: the directly made tool of these tests\nallow:\n  - tools: [ask_then_work]\n")
    host = Host.for_workspace(project, entry_points=False, extra_plugins=[("direct", DirectTool())])
    return build_server(ParacApp(project, host=host))


async def test_2026_a_directly_made_asks_first_tool_becomes_a_task_with_the_ttl_asked(project: Path):
    """`Tool(asks_first=True)` made directly is long-running as `tool_from_function`'s is: its `continue_as_task`
    answers the handing-over round with a task (before: nothing happened, the call stayed in its rounds), and the
    task keeps the TTL that round asked for (`params.task.ttl`), as a task made at once does."""
    import mcp_types as types

    person, server = Person(), direct_server(project)
    async with Client(server, mode="legacy") as legacy:  # the handshake era lists it as a task it may be
        [listed] = [tool for tool in (await legacy.list_tools()).tools if tool.name == "ask_then_work"]
    assert listed.execution is not None and listed.execution.task_support == "optional"
    async with Client(server, mode="2026-07-28", extensions=[Follower()], elicitation_callback=person.elicit) as client:
        session = client.session

        def asked(**retry: Any) -> Any:
            params = types.CallToolRequestParams(name="ask_then_work", arguments={}, task=types.TaskMetadata(ttl=60_000),
                                                 **retry)
            return session.send_request(types.CallToolRequest(params=params), WIRE)

        with anyio.fail_after(60):
            first = await asked()
            assert first["resultType"] == "input_required" and list(first["inputRequests"]) == ["user_name"]
            ada = types.ElicitResult(action="accept", content={"name": "Ada"})
            handle = await asked(request_state=first["requestState"], input_responses={"user_name": ada})
            assert handle["resultType"] == "task" and handle["ttlMs"] == 60_000
            while (task := await task_call(session, "tasks/get", handle["taskId"]))["status"] != "completed":
                await anyio.sleep(0.02)
    assert task["ttlMs"] == 60_000 and task["result"]["content"][0]["text"] == "Hello, Ada!"


async def test_2026_a_client_that_follows_no_tasks_gets_the_whole_call_in_its_rounds(project: Path):
    """The call asks to go on as a task, but this client declared no tasks extension: no task is made (the round
    answers nothing of one), the work goes on, its later question is another round of the same call, and the call
    answers its result."""
    person = Person()
    with anyio.fail_after(60):
        async with Client(direct_server(project), mode="2026-07-28", elicitation_callback=person.elicit) as client:
            result = await client.call_tool("ask_then_work", {"again": True})
    assert not result.is_error and result.content[0].text == "Hello, Ada, Ada!"
    assert [p.message for p in person.asked] == ["What is your name?", "Still there?"]
