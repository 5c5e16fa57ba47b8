"""A plugin tool's way back to its caller (`ToolContext.log/progress/sample/elicit/roots`, `parac.core.channels`) and a
plugin's resource templates, as a third-party plugin uses them: the conformance fixture plugin
(`conformance_plugin/`), loaded through its entry point, called by the official client in both protocol eras,
over real stdio and Streamable HTTP (the handshake era: notifications and server requests; 2026-07-28: progress on
the request, questions as input-required rounds). A caller that cannot be asked gets an error naming why and the
alternative: an MCP client without the capability, a REST call, `parac tools call`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

CONFORMANCE = Path(__file__).with_name("conformance_plugin")
PLUGIN = {"PYTHONPATH": str(CONFORMANCE), "PARAC_LOAD_PLUGINS": "conformance"}
MODEL_GATE = Path(__file__).with_name("model_gate_plugin")  # a third-party policy over model calls
ERAS = ["legacy", "2026-07-28"]


@pytest.fixture
def granted(project: Path) -> Path:
    """The fixture plugin's tools granted by a workspace policy, as any plugin's are."""
    (project / ".parac" / "policies" / "conformance.yaml").write_text((CONFORMANCE / "policy.yaml").read_text())
    return project


class ClientSide:
    """The client's model and person, recording what they were asked, and what reached the client."""

    def __init__(self) -> None:
        self.sampled: list[types.CreateMessageRequestParams] = []
        self.elicited: list[types.ElicitRequestParams] = []
        self.logs: list[types.LoggingMessageNotificationParams] = []

    async def sample(self, context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        self.sampled.append(params)
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="forty-two"), model="host-model"
        )

    async def elicit(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.elicited.append(params)
        return types.ElicitResult(action="accept", content={"username": "ada", "email": "ada@example.org"})

    async def log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(params)

    async def roots(self, context: Any) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri="file:///home/ada/shop", name="shop")])

    def options(self) -> dict[str, Any]:
        return {"sampling_callback": self.sample, "elicitation_callback": self.elicit, "logging_callback": self.log,
                "list_roots_callback": self.roots}


@contextmanager
def served(transport: str, project: Path, http_server: Any) -> Iterator[Any]:
    if transport == "stdio":
        yield StdioServerParameters(
            command=str(Path(sys.executable).with_name("parac")),
            args=["mcp", "serve", "--workspace", str(project)],
            env={**os.environ, **PLUGIN},
        )
    else:
        with http_server(project, env=PLUGIN) as url:
            yield url


@pytest.mark.filterwarnings("ignore:The logging capability is deprecated")  # the handshake era still has it
@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_a_plugin_tool_logs_reports_progress_and_asks_the_client(
    granted: Path, era: str, transport: str, http_server: Any
):
    client = ClientSide()
    progress: list[tuple[float, float | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total))

    with served(transport, granted, http_server) as target, anyio.fail_after(60):
        async with Client(target, mode=era, **client.options()) as session:
            if era == "legacy":
                await session.set_logging_level("debug")
                logged = await session.call_tool("test_tool_with_logging", {})
                assert not logged.is_error, logged.content
            stepped = await session.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
            sampled = await session.call_tool("test_sampling", {"prompt": "what is six times seven?"})
            elicited = await session.call_tool("test_elicitation", {"message": "who are you?"})
            rooted = await session.call_tool("test_input_required_result_list_roots", {})
            templates = await session.list_resource_templates()
            read = await session.read_resource("test://template/123/data")

    if era == "legacy":  # the 2026-07-28 era has no log notifications
        assert [log.data for log in client.logs if log.logger == "parac.tools.test_tool_with_logging"] == [
            "Tool execution started", "Tool processing data", "Tool execution completed"]
    assert not stepped.is_error and progress == [(0, 100), (50, 100), (100, 100)]
    assert not sampled.is_error, sampled.content
    assert sampled.content[0].text == "LLM response: forty-two"
    [asked] = client.sampled
    assert asked.messages[0].content.text == "what is six times seven?" and asked.max_tokens == 100
    assert not elicited.is_error, elicited.content
    assert elicited.content[0].text == 'User response: action=accept, content={"username": "ada", "email": "ada@example.org"}'
    [form] = client.elicited
    assert form.message == "who are you?" and form.requested_schema["required"] == ["username", "email"]
    assert not rooted.is_error and rooted.content[0].text == "Roots: file:///home/ada/shop"
    assert "test://template/{id}/data" in {t.uri_template for t in templates.resource_templates}
    assert json.loads(read.contents[0].text) == {"id": "123", "templateTest": True, "data": "Data for ID: 123"}


def audited(project: Path, action: str) -> list[Any]:
    from parac.core.audit import AuditLog

    log = AuditLog.for_workspace(project)
    try:
        return list(log.entries(action=action))
    finally:
        log.close()


def ledger(project: Path) -> list[dict[str, Any]]:
    from parac.core.costs import ensure_schema
    from parac.core.store import connect_workspace

    conn = ensure_schema(connect_workspace(project))
    try:
        return [dict(row) for row in conn.execute(
            "SELECT call_id, model, provider, status, cost_usd, prompt_tokens, completion_tokens FROM llm_calls")]
    finally:
        conn.close()


@pytest.mark.parametrize("era", ERAS)
async def test_a_plugin_tools_question_to_the_clients_model_is_a_governed_model_call(
    granted: Path, era: str, http_server: Any
):
    """`ctx.sample` is a model call like an agent's turn on `client`: the audit trail names the caller and the tool
    that asked, the ledger has its row (the client's model costs parac $0; its tokens are counted)."""
    client = ClientSide()
    with http_server(granted, env=PLUGIN) as url, anyio.fail_after(60):
        async with Client(url, mode=era, sampling_callback=client.sample) as session:
            sampled = await session.call_tool("test_sampling", {"prompt": "what is six times seven?"})
    assert not sampled.is_error, sampled.content
    assert len(client.sampled) == 1
    [entry] = audited(granted, "llm.call")
    assert (entry.actor, entry.subject, entry.outcome) == ("mcp:http:admin", "client", "ok")
    assert entry.data["tool"] == "test_sampling" and entry.data["provider"] == "client"
    assert entry.data["cost_usd"] == 0.0 and entry.data["completion_tokens"] > 0
    [row] = ledger(granted)
    assert row["call_id"] == entry.data["call_id"]
    assert (row["model"], row["status"], row["cost_usd"]) == ("client", "ok", 0.0)
    assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0


@pytest.mark.parametrize("era", ERAS)
async def test_a_policy_refusing_the_model_call_stops_it_before_the_client_is_asked(
    granted: Path, era: str, http_server: Any
):
    """A plugin that governs model calls (`parac_before_llm_call`) refuses the one a tool asks for: the client's
    model is never asked, the refusal is audited with the tool that asked, and the server goes on serving."""
    client = ClientSide()
    env = {"PYTHONPATH": os.pathsep.join([str(CONFORMANCE), str(MODEL_GATE)]),
           "PARAC_LOAD_PLUGINS": "conformance,model_gate", "PARAC_TEST_REFUSE_MODEL_FOR": "test_sampling"}
    with http_server(granted, env=env) as url, anyio.fail_after(60):
        async with Client(url, mode=era, sampling_callback=client.sample) as session:
            refused = await session.call_tool("test_sampling", {"prompt": "what is six times seven?"})
            allowed = await session.call_tool("test_input_required_result_sampling", {})
    assert refused.is_error
    assert len(client.sampled) == 1 and client.sampled[0].messages[0].content.text == "What is the capital of France?"
    entries = {entry.data["tool"]: entry for entry in audited(granted, "llm.call")}
    assert entries["test_sampling"].outcome == "denied"
    assert entries["test_input_required_result_sampling"].outcome == "ok"
    assert not allowed.is_error and allowed.content[0].text == "forty-two"
    [tool_call] = [e for e in audited(granted, "tool.call") if e.subject == "test_sampling"]
    assert tool_call.outcome == "denied" and tool_call.data["policy"] == "model-gate"


async def test_a_client_without_the_capability_is_told_not_left_waiting(granted: Path, http_server: Any):
    """No sampling or elicitation declared at the handshake: the tool's question fails the call at once with why,
    and the server goes on serving."""
    with http_server(granted, env=PLUGIN) as url, anyio.fail_after(60):
        async with Client(url, mode="legacy") as session:
            sampled = await session.call_tool("test_sampling", {"prompt": "hello"})
            elicited = await session.call_tool("test_elicitation", {"message": "who?"})
            after = await session.call_tool("test_simple_text", {})
    assert sampled.is_error and sampled.content[0].text == (
        'tool "test_sampling" asks the caller\'s model (sampling), and this caller cannot be asked: its MCP client '
        "did not declare the sampling capability; use a client that offers sampling")
    assert elicited.is_error and "did not declare the elicitation capability" in elicited.content[0].text
    assert not after.is_error


async def test_a_2026_request_without_the_capability_is_refused_naming_it(granted: Path, http_server: Any):
    """A 2026-07-28 client declares its capabilities with each request: one whose question it cannot answer is
    refused with the revision's -32021, its data naming the capability to declare; a tool that catches the refusal
    goes on without it; the server goes on serving."""
    with http_server(granted, env=PLUGIN) as url, anyio.fail_after(60):
        async with Client(url, mode="2026-07-28") as session:
            refused = {}
            for tool, arguments in (("test_sampling", {"prompt": "hello"}), ("test_elicitation", {"message": "who?"})):
                with pytest.raises(MCPError) as raised:
                    await session.call_tool(tool, arguments)
                refused[tool] = raised.value.error
            after = await session.call_tool("test_simple_text", {})
    sampling, elicitation = refused["test_sampling"], refused["test_elicitation"]
    assert sampling.code == types.MISSING_REQUIRED_CLIENT_CAPABILITY
    assert sampling.data == {"requiredCapabilities": {"sampling": {}}}
    assert "did not declare the sampling capability" in sampling.message
    assert elicitation.code == types.MISSING_REQUIRED_CLIENT_CAPABILITY
    assert elicitation.data == {"requiredCapabilities": {"elicitation": {}}}
    assert not after.is_error


@pytest.mark.parametrize("era", ERAS)
async def test_a_question_that_cannot_be_asked_is_no_model_call(granted: Path, era: str, http_server: Any):
    """A client without sampling, behind a policy that refuses the tool's model calls: the client is told what to
    declare (2026-07-28: -32021, not the policy's verdict on a call that could not happen), and no model call is
    recorded: no `llm.call` audit entry, no ledger row. So for `parac tools call`, where nobody can be asked."""
    env = {"PYTHONPATH": os.pathsep.join([str(CONFORMANCE), str(MODEL_GATE)]),
           "PARAC_LOAD_PLUGINS": "conformance,model_gate", "PARAC_TEST_REFUSE_MODEL_FOR": "test_sampling"}
    with http_server(granted, env=env) as url, anyio.fail_after(60):
        async with Client(url, mode=era) as session:
            if era == "legacy":
                refused = await session.call_tool("test_sampling", {"prompt": "hello"})
                assert refused.is_error and "did not declare the sampling capability" in refused.content[0].text
            else:
                with pytest.raises(MCPError) as raised:
                    await session.call_tool("test_sampling", {"prompt": "hello"})
                assert raised.value.error.code == types.MISSING_REQUIRED_CLIENT_CAPABILITY
                assert raised.value.error.data == {"requiredCapabilities": {"sampling": {}}}
    cli = subprocess.run([str(Path(sys.executable).with_name("parac")), "tools", "call", "test_sampling", "--args",
                          '{"prompt": "hello"}'], cwd=granted, env={**os.environ, **PLUGIN}, capture_output=True,
                         text=True, timeout=120)
    assert cli.returncode != 0 and "no one can be asked during parac tools call" in cli.stderr
    assert audited(granted, "llm.call") == [] and ledger(granted) == []
    assert [e.outcome for e in audited(granted, "tool.call") if e.subject == "test_sampling"] == ["error", "error"]


def in_process(project: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """One server in this process (several clients of it; the circuit breakers are this process's), with the
    fixture plugin, and parac's own patience with a provider cut to a tenth of a second."""
    from parac.core import llm
    from parac.server.mcp.app import ParacApp
    from parac.server.mcp.server import build_server

    monkeypatch.syspath_prepend(str(CONFORMANCE))
    monkeypatch.setenv("PARAC_LOAD_PLUGINS", "conformance")
    monkeypatch.setattr(llm, "DEFAULT_TIMEOUT_S", 0.05)
    monkeypatch.setattr(llm, "TIMEOUT_GRACE_S", 0.05)
    return build_server(ParacApp(project))


@pytest.mark.parametrize("era", ERAS)
async def test_the_callers_model_is_asked_once_and_given_its_time(
    granted: Path, era: str, monkeypatch: pytest.MonkeyPatch
):
    """The client's model (a person approving the request, say) answers after parac's provider timeout: it is not
    a provider timing out, so the question is put once, its late answer is taken (2026-07-28: not withdrawn and
    asked again, which would refuse the late answer), and the model call is recorded once, ok."""
    server = in_process(granted, monkeypatch)
    asked: list[str] = []

    async def slow(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        asked.append(params.messages[0].content.text)
        await anyio.sleep(0.5)  # past the provider timeout (0.1 s here), as a person reading the request is
        return reply("forty-two")

    with anyio.fail_after(60):
        async with Client(server, mode=era, sampling_callback=slow) as session:
            sampled = await session.call_tool("test_sampling", {"prompt": "what is six times seven?"})
    assert not sampled.is_error and sampled.content[0].text == "LLM response: forty-two", sampled.content
    assert asked == ["what is six times seven?"]
    assert [e.outcome for e in audited(granted, "llm.call")] == ["ok"]


@pytest.mark.parametrize("era", ERAS)
async def test_a_client_that_never_answers_does_not_pause_anothers_model(
    granted: Path, era: str, monkeypatch: pytest.MonkeyPatch
):
    """One session's client never answers its two questions; meanwhile (long past parac's provider timeout and
    backoff: three tries each would have opened the shared `client` breaker) another session's tool asks its
    own client, and is answered. The silent client was asked each question once."""
    server = in_process(granted, monkeypatch)
    silent: list[str] = []

    async def never(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        silent.append(params.messages[0].content.text)
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def prompt(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        return reply("forty-two")

    with anyio.fail_after(60):
        async with (
            Client(server, mode=era, sampling_callback=never) as stuck,
            Client(server, mode=era, sampling_callback=prompt) as other,
            anyio.create_task_group() as group,
        ):
            for n in (1, 2):
                group.start_soon(stuck.call_tool, "test_sampling", {"prompt": f"question {n}"})
            with anyio.move_on_after(4):  # the three tries of both, with their backoff, fit in about 2 s
                while len(silent) < 6:
                    await anyio.sleep(0.05)
            answered = await other.call_tool("test_sampling", {"prompt": "what is six times seven?"})
            group.cancel_scope.cancel()
    assert not answered.is_error and answered.content[0].text == "LLM response: forty-two", answered.content
    assert sorted(silent) == ["question 1", "question 2"]


@pytest.mark.parametrize("era", ERAS)
async def test_a_plugin_prompt_asks_the_person_before_it_renders(granted: Path, era: str, http_server: Any):
    """A prompt whose render function takes a `PromptContext` asks through it: a server request in the handshake
    era, an input-required round of `prompts/get` in 2026-07-28; the prompt renders with the answer."""
    asked: list[types.ElicitRequestParams] = []

    async def elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params)
        return types.ElicitResult(action="accept", content={"context": "the shop's checkout"})

    with http_server(granted, env=PLUGIN) as url, anyio.fail_after(60):
        async with Client(url, mode=era, elicitation_callback=elicit) as session:
            prompt = await session.get_prompt("test_input_required_result_prompt")
            plain = await session.get_prompt("test_simple_prompt")
    assert prompt.messages[0].content.text == "Use this context: the shop's checkout"
    [form] = asked
    assert form.message == "What context should the prompt use?" and form.requested_schema["required"] == ["context"]
    assert plain.messages[0].content.text == "This is a simple prompt for testing."


async def test_a_2026_prompt_request_without_the_capability_is_refused_naming_it(granted: Path, http_server: Any):
    with http_server(granted, env=PLUGIN) as url, anyio.fail_after(60):
        async with Client(url, mode="2026-07-28") as session:
            with pytest.raises(MCPError) as raised:
                await session.get_prompt("test_input_required_result_prompt")
    assert raised.value.error.code == types.MISSING_REQUIRED_CLIENT_CAPABILITY
    assert raised.value.error.data == {"requiredCapabilities": {"elicitation": {}}}
    assert raised.value.error.message.startswith('prompt "test_input_required_result_prompt" asks the person calling')


def test_the_cli_shows_log_and_progress_on_stderr_and_refuses_questions(granted: Path):
    parac = str(Path(sys.executable).with_name("parac"))
    env = {**os.environ, **PLUGIN}

    def call(tool: str, arguments: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([parac, "tools", "call", tool, "--args", json.dumps(arguments)], cwd=granted, env=env,
                              capture_output=True, text=True, timeout=120)

    progress = call("test_tool_with_progress", {})
    sampling = call("test_sampling", {"prompt": "hello"})
    unknown = call("test_tool_with_progress", {"label": "x"})  # refused by the schema, not a TypeError in the call
    assert progress.returncode == 0, progress.stderr
    assert progress.stdout.strip() == "Tool with progress executed successfully"
    assert progress.stderr.splitlines()[-3:] == ["progress 0/100", "progress 50/100", "progress 100/100"]
    assert unknown.returncode != 0 and "Additional properties are not allowed ('label' was unexpected)" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    assert sampling.returncode != 0
    assert sampling.stderr.strip().endswith(
        'tool "test_sampling" asks the caller\'s model (sampling), and no one can be asked during parac tools call; '
        "call it from an MCP client that offers it (parac mcp serve)")


def test_a_rest_call_is_refused_with_the_alternative(granted: Path, serve_command: list[str]):
    """`parac serve`'s plugin-tool route: no MCP client to ask, so the tool's question is an error naming one."""
    from support.serving import free_port, wait_until_listening

    port = free_port()
    parac = str(Path(sys.executable).with_name("parac"))
    proc = subprocess.Popen([parac, "serve", "--port", str(port), "--workspace", str(granted)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **PLUGIN})
    try:
        wait_until_listening(proc, port, why=lambda: proc.stderr.read().decode() if proc.stderr else "")
        answer = httpx.post(f"http://127.0.0.1:{port}/api/v1/tools/test_elicitation/call",
                            json={"message": "who?"}, timeout=60)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "a REST call cannot be asked anything mid-call; call the tool from an MCP client that offers elicitation" in answer.text, answer.text


def test_a_malformed_resource_template_is_refused_when_registered():
    from parac.server.registry import Registry

    registry = Registry()
    register = registry.registrar("resources", "notes")
    with pytest.raises(ValueError, match=r'resource template "notes://\{folder" is not an RFC 6570 template: Unclosed'):
        register("notes://{folder", lambda folder: "")
    register("notes://{folder}/{name}", lambda folder, name: f"{folder}/{name}")
    assert registry.resources["notes://{folder}/{name}"].value.is_template and not registry.resources.get("notes://{folder")


async def test_a_parameter_mirrored_into_a_header_is_checked_against_the_argument(granted: Path, http_server: Any):
    """`tool_from_function(headers=...)` (SEP-2243): listed with `x-mcp-header`, the official client sends the argument
    again as `Mcp-Param-Region` (base64 when it is not plain ASCII) and the call runs; an intermediary that changes
    or drops the header gets the call refused (HTTP 400, -32020) before the tool runs, and the server goes on.
    The check finds the tool's schema without running parac's `tools/list` handler for each call (the SDK's way when a
    server has no `get_tool_input_schema`): parac's own request metrics count only the lists the client asked for."""
    import httpx2
    from mcp.client.streamable_http import streamable_http_client
    from support.serving import free_port

    rewrites: dict[str, str | None] = {}

    sent: list[str] = []

    async def intermediary(request: Any) -> None:  # on the wire, between the client and parac
        sent.append(request.headers.get("mcp-method", ""))
        if "mcp-param-region" in request.headers and "region" in rewrites:
            if rewrites["region"] is None:
                del request.headers["mcp-param-region"]
            else:
                request.headers["mcp-param-region"] = rewrites["region"]

    metrics = free_port()
    with http_server(granted, "--metrics-port", str(metrics), env=PLUGIN) as url, anyio.fail_after(60):
        async with httpx2.AsyncClient(event_hooks={"request": [intermediary]}) as http:
            async with Client(streamable_http_client(url, http_client=http), mode="2026-07-28") as session:
                listed = {tool.name: tool for tool in (await session.list_tools()).tools}
                plain = await session.call_tool("test_header_param", {"region": "us-west1"})
                encoded = await session.call_tool("test_header_param", {"region": "Zürich "})
                refused = {}
                for case, header in (("changed", "eu-north1"), ("dropped", None)):
                    rewrites["region"] = header
                    with pytest.raises(MCPError) as raised:
                        await session.call_tool("test_header_param", {"region": "us-west1"})
                    refused[case] = raised.value.error
                rewrites.clear()
                after = await session.call_tool("test_header_param", {"region": "us-west1", "query": "again"})
            scraped = httpx.get(f"http://127.0.0.1:{metrics}/metrics").text
    counts = dict(re.findall(r'parac_mcp_request_duration_seconds_count\{method="([^"]+)",transport="http"\} (\S+)', scraped))
    assert float(counts["tools/call"]) == 3  # the refused two never reached parac's handlers
    assert float(counts["tools/list"]) == sent.count("tools/list") >= 1, (counts, sent)  # only the client's own
    schema = listed["test_header_param"].input_schema
    assert schema["properties"]["region"]["x-mcp-header"] == "Region" and "x-mcp-header" not in schema["properties"]["query"]
    assert plain.content[0].text == "region=us-west1 query="
    assert encoded.content[0].text == "region=Zürich  query="
    for error in refused.values():
        assert error.code == -32020 and "Mcp-Param-Region" in error.message
    assert after.content[0].text == "region=us-west1 query=again"


async def test_a_tool_that_lets_the_connection_go_is_answered_when_the_client_comes_back(granted: Path, http_server: Any):
    """`ctx.release_connection()` (SEP-1699): parac closes the call's SSE stream mid-call; the official client
    (2025-11-25) comes back after the stream's `retry` with `Last-Event-ID` and gets the answer sent meanwhile. Over
    stdio there is no connection to let go, and the call is answered as any other."""
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    resumed: list[str] = []

    async def seen(request: Any) -> None:
        if request.method == "GET" and "last-event-id" in request.headers:
            resumed.append(request.headers["last-event-id"])

    with http_server(granted, env=PLUGIN) as url, anyio.fail_after(60):
        async with httpx2.AsyncClient(event_hooks={"request": [seen]}) as http:
            async with Client(streamable_http_client(url, http_client=http), mode="legacy") as session:
                answered = await session.call_tool("test_reconnection", {})
                after = await session.call_tool("test_simple_text", {})
    with served("stdio", granted, http_server) as target, anyio.fail_after(60):
        async with Client(target, mode="legacy") as session:
            over_stdio = await session.call_tool("test_reconnection", {})
    assert not answered.is_error and answered.content[0].text == "Reconnection test completed"
    assert len(resumed) == 1  # the call's stream, let go once and resumed once
    assert not after.is_error
    assert over_stdio.content[0].text == "Reconnection test completed"


def test_a_header_declaration_clients_would_drop_is_refused_when_registered():
    """A declaration MCP clients over HTTP must reject (they drop the whole tool) is refused at registration, naming
    the tool: a parameter that does not exist, or one whose type cannot be a header (a float, an optional value)."""
    from parac.server.api import Tool, tool_from_function
    from parac.server.registry import Registry

    def scale(factor: float, label: str | None = None) -> str:
        """Scale something."""
        return f"{factor} {label}"

    registry = Registry()
    register = registry.registrar("tools", "shapes")
    with pytest.raises(ValueError, match='tool "scale" has no parameter "size" to send as a header'):
        tool_from_function(scale, headers={"size": "Size"})
    with pytest.raises(ValueError, match=r"tool \"scale\": property 'factor': x-mcp-header is only permitted on "
                                         r"integer/string/boolean properties \(got 'number'\)"):
        register(scale, headers={"factor": "Factor"})
    with pytest.raises(ValueError, match=r"tool \"scale\": property 'label': x-mcp-header is only permitted"):
        register(scale, headers={"label": "Label"})
    nested = {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "string", "x-mcp-header": "Item"}}}}
    with pytest.raises(ValueError, match=r'tool "bulk": x-mcp-header found at a schema position not reachable'):
        register(Tool(name="bulk", description="Bulk.", input_schema=nested, fn=lambda items: ""))

    def place(region: str, zone: int, dry_run: bool = False) -> str:
        """Place something."""
        return f"{region} {zone} {dry_run}"

    register(place, headers={"region": "Region", "zone": "Zone", "dry_run": "Dry-Run"})
    assert set(registry.catalog.tools) == {"place"}  # nothing of the refused ones
    schema = registry.catalog.tools["place"].value.input_schema
    assert {name: prop["x-mcp-header"] for name, prop in schema["properties"].items()} == {
        "region": "Region", "zone": "Zone", "dry_run": "Dry-Run"}
    assert "x-mcp-header" not in tool_from_function(place).input_schema["properties"]["region"]  # the cache kept clean


@pytest.mark.parametrize("era", ERAS)
async def test_a_task_only_plugin_tool_refuses_a_plain_call(granted: Path, era: str, http_server: Any):
    """`tool_from_function(needs_task=True)`: listed as `taskSupport: "required"` where the era lists it, and a call
    that is not a task is refused as each era says (2025-11-25: -32601; 2026-07-28: -32021 naming the tasks
    extension), and the server goes on serving."""
    from mcp.shared.exceptions import MCPError

    with http_server(granted, env=PLUGIN) as url, anyio.fail_after(60):
        async with Client(url, mode=era) as session:
            listed = {tool.name: tool for tool in (await session.list_tools()).tools}
            with pytest.raises(MCPError) as refused:
                await session.call_tool("failing_job", {})
            after = await session.call_tool("test_simple_text", {})
    if era == "legacy":
        assert listed["failing_job"].execution.task_support == "required"
        assert listed["slow_compute"].execution.task_support == "optional"
        assert refused.value.error.code == types.METHOD_NOT_FOUND
        assert refused.value.error.message.startswith('tool "failing_job" runs only as a task')
    else:
        assert refused.value.error.code == types.MISSING_REQUIRED_CLIENT_CAPABILITY
        assert refused.value.error.data == {"requiredCapabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}}}
    assert not after.is_error


def made_token(project: Path, name: str) -> str:
    parac = str(Path(sys.executable).with_name("parac"))
    made = subprocess.run([parac, "--workspace", str(project), "token", "create", "--role", "operator", "--name", name,
                           "--json"], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(made.stdout)["token"]


def reply(text: str) -> types.CreateMessageResult:
    return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text=text), model=text)


@pytest.mark.parametrize("era", ERAS)
async def test_another_session_cannot_answer_a_pending_question(granted: Path, era: str, http_server: Any):
    """Two callers (tokens `ada` and `bob`) on one server; ada's plugin tool asks her model. Bob answers ada's
    question: in the handshake era with a JSON-RPC response carrying the id of the server's request to ada, posted
    on his own session and on hers (her session id, his token), then tries to end her session; in 2026-07-28 by
    calling again with ada's `requestState` and his response. The tool sees only ada's answer, and the trail records
    one model call, hers."""
    import httpx2

    from mcp.client.streamable_http import streamable_http_client

    tokens = {name: made_token(granted, name) for name in ("ada", "bob")}
    sessions: dict[str, str] = {}
    pending: dict[str, Any] = {}
    asked, release = anyio.Event(), anyio.Event()
    bob_asked: list[Any] = []

    async def ada_model(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        pending["id"] = context.request_id
        asked.set()
        await release.wait()  # ada's answer waits until bob has tried his
        return reply("from ada")

    async def bob_model(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        bob_asked.append(params)
        return reply("from bob")

    def http_as(name: str) -> httpx2.AsyncClient:
        async def remember(response: Any) -> None:
            if response.headers.get("mcp-session-id"):
                sessions.setdefault(name, response.headers["mcp-session-id"])

        return httpx2.AsyncClient(headers={"Authorization": f"Bearer {tokens[name]}"},
                                  event_hooks={"response": [remember]})

    arguments = {"prompt": "ada's question"}
    forged: list[int] = []
    with http_server(granted, env=PLUGIN) as url, anyio.fail_after(90):
        async with http_as("ada") as ada_http, http_as("bob") as bob_http:
            async with Client(streamable_http_client(url, http_client=ada_http), mode=era,
                              sampling_callback=ada_model) as ada, \
                    Client(streamable_http_client(url, http_client=bob_http), mode=era,
                           sampling_callback=bob_model) as bob:
                if era == "legacy":
                    answered: dict[str, Any] = {}

                    async def ada_calls() -> None:
                        answered["ada"] = await ada.call_tool("test_sampling", arguments)

                    async with anyio.create_task_group() as group:
                        group.start_soon(ada_calls)
                        await asked.wait()
                        answer = {"jsonrpc": "2.0", "id": pending["id"],
                                  "result": reply("from bob").model_dump(by_alias=True, exclude_none=True)}
                        for session_id in (sessions["bob"], sessions["ada"]):
                            sent = await bob_http.post(url, json=answer, headers={
                                "Accept": "application/json, text/event-stream", "mcp-session-id": session_id,
                                "mcp-protocol-version": "2025-11-25"})
                            forged.append(sent.status_code)
                        ended = await bob_http.delete(url, headers={"mcp-session-id": sessions["ada"],
                                                                    "mcp-protocol-version": "2025-11-25"})
                        forged.append(ended.status_code)
                        await anyio.sleep(0.5)  # what the server did with them, it did by now
                        release.set()
                    result = answered["ada"]
                else:
                    first = await ada.session.call_tool("test_sampling", arguments, allow_input_required=True)
                    assert isinstance(first, types.InputRequiredResult)
                    [key] = first.input_requests
                    with pytest.raises(MCPError) as refused:
                        await bob.session.call_tool("test_sampling", arguments, request_state=first.request_state,
                                                    input_responses={key: reply("from bob")},
                                                    allow_input_required=True)
                    assert refused.value.error.code == types.INVALID_PARAMS
                    result = await ada.session.call_tool(
                        "test_sampling", arguments, request_state=first.request_state,
                        input_responses={key: reply("from ada")}, allow_input_required=True)
                after = await bob.call_tool("test_simple_text", {})
    assert isinstance(result, types.CallToolResult) and not result.is_error, result
    assert result.content[0].text == "LLM response: from ada"
    assert not after.is_error and bob_asked == []
    if era == "legacy":  # ada's session is not bob's to use: as if it did not exist (his own took his post)
        assert forged[1:] == [404, 404]
    model_calls = [(e.actor, e.data["tool"], e.outcome) for e in audited(granted, "llm.call")]
    assert model_calls == [("token:ada", "test_sampling", "ok")]
    tool_calls = [(e.actor, e.subject, e.outcome) for e in audited(granted, "tool.call") if e.subject.startswith("test_")]
    assert tool_calls == [("token:ada", "test_sampling", "ok"), ("token:bob", "test_simple_text", "ok")]


async def test_another_caller_cannot_answer_a_prompts_pending_round(granted: Path, http_server: Any):
    """A plugin prompt's question (a `PromptContext` round of `prompts/get`, 2026-07-28): bob calls again with ada's
    `requestState` and his answer, and is refused; the prompt renders with ada's answer."""
    import httpx2

    from mcp.client.streamable_http import streamable_http_client

    tokens = {name: made_token(granted, name) for name in ("ada", "bob")}

    def answer(text: str) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"context": text})

    async def person(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return answer("a person's")  # the rounds below are driven by hand: this declares the capability

    with http_server(granted, env=PLUGIN) as url, anyio.fail_after(60):
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {tokens['ada']}"}) as ada_http, \
                httpx2.AsyncClient(headers={"Authorization": f"Bearer {tokens['bob']}"}) as bob_http:
            async with Client(streamable_http_client(url, http_client=ada_http), mode="2026-07-28",
                              elicitation_callback=person) as ada, \
                    Client(streamable_http_client(url, http_client=bob_http), mode="2026-07-28",
                           elicitation_callback=person) as bob:
                name = "test_input_required_result_prompt"
                first = await ada.session.get_prompt(name, allow_input_required=True)
                assert isinstance(first, types.InputRequiredResult)
                [key] = first.input_requests
                with pytest.raises(MCPError) as refused:
                    await bob.session.get_prompt(name, request_state=first.request_state,
                                                 input_responses={key: answer("bob's")}, allow_input_required=True)
                rendered = await ada.session.get_prompt(name, request_state=first.request_state,
                                                        input_responses={key: answer("ada's")},
                                                        allow_input_required=True)
    assert refused.value.error.code == types.INVALID_PARAMS
    assert isinstance(rendered, types.GetPromptResult)
    assert rendered.messages[0].content.text == "Use this context: ada's"


async def test_a_handshake_era_question_nobody_answers_ends_the_call_in_time(
    granted: Path, monkeypatch: pytest.MonkeyPatch
):
    """2025-11-25: the client takes the sampling request and never answers. The call is not held for ever: after
    as long as a 2026-07-28 call waits for its callback, the tool fails saying so, and the server goes on."""
    from parac.server.mcp import rounds

    server = in_process(granted, monkeypatch)
    monkeypatch.setattr(rounds, "TTL_S", 0.5)

    async def never(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    with anyio.fail_after(60):
        async with Client(server, mode="legacy", sampling_callback=never) as session:
            abandoned = await session.call_tool("test_sampling", {"prompt": "anyone there?"})
            listed = await session.list_tools()
    assert abandoned.is_error and "did not answer within 0.5 s" in abandoned.content[0].text, abandoned.content
    assert listed.tools
