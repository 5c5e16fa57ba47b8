"""Input from the client in the middle of a call, with the official client: in the 2026-07-28 era through
input-required results (the client answers and calls again; parac's work goes on where it was), in the handshake
era through requests on the connection; and a client that offers neither is answered at once, not left hanging.

In process in both eras, and over real stdio and Streamable HTTP (`parac mcp serve`) in both eras."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from parac.server.mcp.app import ParacApp
from parac.server.mcp.server import build_server

RISKY = {"feature": "payments (risk: high)"}
ERAS = ["legacy", "2026-07-28"]


class Person:
    """The client's side: its model (sampling) and its person (elicitation), recording what they were asked."""

    def __init__(self, approve: bool = True) -> None:
        self.sampled: list[types.CreateMessageRequestParams] = []
        self.elicited: list[str] = []
        self.approve = approve

    async def sample(self, context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        self.sampled.append(params)
        text = f"answer {len(self.sampled)} from the client's model"
        return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text=text), model="host-m")

    async def elicit(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.elicited.append(params.message)
        return types.ElicitResult(action="accept", content={"approve": self.approve, "comment": "seen by a person"})

    def options(self) -> dict[str, Any]:
        return {"sampling_callback": self.sample, "elicitation_callback": self.elicit}


def in_process(project: Path, era: str, **options: Any) -> Client:
    return Client(build_server(ParacApp(project)), mode=era, **options)


@contextmanager
def over(transport: str, project: Path, http_server: Any) -> Iterator[Any]:
    """What a `Client` connects to: `parac mcp serve` over stdio, or over HTTP."""
    if transport == "stdio":
        command = str(Path(sys.executable).with_name("parac"))
        yield StdioServerParameters(
            command=command,
            args=["mcp", "serve", "--workspace", str(project)],
            env={**os.environ, "PARAC_LOAD_PLUGINS": ""},
        )
    else:
        with http_server(project) as url:
            yield url


async def _agent_and_gate(session: Client, person: Person) -> None:
    """An agent on the client's model completes; a gate is put to the person and approved; nothing hangs."""
    with anyio.fail_after(60):
        ran = await session.call_tool("run_agent", {"agent": "coder", "task": "greet", "model": "client"})
        assert not ran.is_error, ran.content
        assert ran.structured_content["output"] == "answer 1 from the client's model"
        assert ran.structured_content["status"] == "completed"
        [asked] = person.sampled
        assert asked.messages[-1].content.text == "greet"
        flow = await session.call_tool(
            "run_workflow", {"name": "feature", "inputs": RISKY, "wait": True, "dry_run": "echo"}
        )
    assert not flow.is_error, flow.content
    data = flow.structured_content
    assert data["status"] == "completed", data
    assert person.elicited and person.elicited[0].startswith("Approve step 'sign-off' of workflow 'feature'?")
    assert data["steps"][-1]["output"]["comment"] == "seen by a person"


@pytest.mark.parametrize("era", ERAS)
async def test_in_process_an_agent_on_the_clients_model_and_a_gate_approved(project: Path, era: str):
    person = Person()
    async with in_process(project, era, **person.options()) as session:
        await _agent_and_gate(session, person)


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_over_real_transports(project: Path, era: str, transport: str, http_server: Any):
    person = Person()
    with over(transport, project, http_server) as target:
        async with Client(target, mode=era, **person.options()) as session:
            assert session.protocol_version == ("2025-11-25" if era == "legacy" else era)
            await _agent_and_gate(session, person)


async def test_the_rounds_on_the_wire(project: Path):
    """The first answer is an input-required result carrying a sampling request and sealed state; the retry with
    the response finishes the run; a retry of a finished call, forged state and bad responses are refused with
    -32602 and the server goes on serving."""
    async with in_process(project, "2026-07-28", sampling_callback=Person().sample) as client:
        session = client.session  # the rounds driven by hand (the Client drives them by itself)
        arguments = {"agent": "coder", "task": "two turns please", "model": "client"}
        first = await session.call_tool("run_agent", arguments, allow_input_required=True)
        assert isinstance(first, types.InputRequiredResult)
        [(key, request)] = first.input_requests.items()
        assert isinstance(request, types.CreateMessageRequest)
        assert request.params.messages[-1].content.text == "two turns please"
        state = first.request_state
        assert state and len(state) > 40  # sealed, not the server's own id

        with pytest.raises(MCPError) as forged:
            await session.call_tool("run_agent", arguments, request_state=state[:-4] + "AAAA", allow_input_required=True)
        assert forged.value.error.code == types.INVALID_PARAMS
        with pytest.raises(MCPError) as other_args:  # the state is bound to the call's arguments
            await session.call_tool(
                "run_agent", {**arguments, "task": "another"}, request_state=state, allow_input_required=True
            )
        assert other_args.value.error.code == types.INVALID_PARAMS
        wrong_kind = types.ElicitResult(action="accept", content={"approve": True})  # not an answer to sampling
        with pytest.raises(MCPError) as garbage:
            await session.call_tool(
                "run_agent", arguments, request_state=state, input_responses={key: wrong_kind},
                allow_input_required=True,
            )
        assert garbage.value.error.code == types.INVALID_PARAMS and key in garbage.value.error.message
        reply = types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text="hi"), model="m")
        with pytest.raises(MCPError) as wrong_key:
            await session.call_tool(
                "run_agent", arguments, request_state=state, input_responses={"not-asked": reply},
                allow_input_required=True,
            )
        assert "did not ask" in wrong_key.value.error.message

        done = await session.call_tool(
            "run_agent", arguments, request_state=state, input_responses={key: reply}, allow_input_required=True
        )
        assert isinstance(done, types.CallToolResult) and not done.is_error, done
        assert done.structured_content["output"] == "hi"
        with pytest.raises(MCPError) as again:  # the call is over: its state continues nothing
            await session.call_tool(
                "run_agent", arguments, request_state=state, input_responses={key: reply}, allow_input_required=True
            )
        assert "is over" in again.value.error.message
        assert (await client.call_tool("list_agents", {})).is_error is False


@pytest.mark.parametrize("era", ERAS)
async def test_a_client_that_cannot_be_asked_gets_an_answer_at_once(project: Path, era: str):
    """No sampling: run_agent on model client says so and names the alternative. No elicitation: run_workflow
    with wait=true returns the run paused at its gate, saying how to approve it, and approve_step finishes it."""
    async with in_process(project, era) as session:
        with anyio.fail_after(30):
            ran = await session.call_tool("run_agent", {"agent": "coder", "task": "greet", "model": "client"})
            flow = await session.call_tool(
                "run_workflow", {"name": "feature", "inputs": RISKY, "wait": True, "dry_run": "echo"}
            )
        assert ran.is_error and "supports sampling" in ran.content[0].text
        assert "configured model" in ran.content[0].text
        data = flow.structured_content
        assert not flow.is_error and data["status"] == "waiting_approval"
        assert "approve_step" in data["error"] and f"parac workflow approve {data['run_id']} sign-off" in data["error"]
        await session.call_tool("approve_step", {"run_id": data["run_id"], "step": "sign-off"})
        with anyio.fail_after(60):
            while (await session.call_tool("workflow_status", {"run_id": data["run_id"]})).structured_content[
                "status"
            ] not in ("completed", "failed"):
                await anyio.sleep(0.05)
        final = (await session.call_tool("workflow_status", {"run_id": data["run_id"]})).structured_content
    assert final["status"] == "completed"
