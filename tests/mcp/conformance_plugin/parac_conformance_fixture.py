"""The fixtures `@modelcontextprotocol/conformance` calls (tools, resources, prompts named `test_*` / `test://`), as a
third-party plugin: installed through an entry point (this folder on PYTHONPATH, `PARAC_LOAD_PLUGINS=conformance`),
registered through `parac.server.api` only. Test-only: parac's own tool list never carries them.

The tools that log, report progress, or ask the client's model or person do it through their `ToolContext`, the
way any plugin tool does: they never see MCP, and parac's MCP face carries it in either protocol era.

Content the plugin API has no type for (images, audio, embedded resources) is answered as the MCP SDK's own
`CallToolResult`, which parac passes through as it is; a plugin that speaks MCP may depend on the SDK like this.
"""

from __future__ import annotations

import base64
import json

import anyio
from mcp import types

from parac.server.api import CannotAsk, PromptContext, Tool, ToolContext, ToolError, hookimpl, tool_from_function

# A 1x1 red PNG and a 1-sample silent WAV: the smallest payloads the scenarios accept.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
WAV = base64.b64decode("UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQIAAAAAAA==")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _image() -> types.ImageContent:
    return types.ImageContent(type="image", data=_b64(PNG), mime_type="image/png")


def _embedded(uri: str, text: str, mime_type: str = "text/plain") -> types.EmbeddedResource:
    return types.EmbeddedResource(
        type="resource", resource=types.TextResourceContents(uri=uri, text=text, mime_type=mime_type)
    )


def test_simple_text() -> str:
    """Answer a fixed text."""
    return "This is a simple text response for testing."


def test_image_content() -> types.CallToolResult:
    """Answer a PNG image."""
    return types.CallToolResult(content=[_image()])


def test_audio_content() -> types.CallToolResult:
    """Answer a WAV clip."""
    return types.CallToolResult(content=[types.AudioContent(type="audio", data=_b64(WAV), mime_type="audio/wav")])


def test_embedded_resource() -> types.CallToolResult:
    """Answer an embedded text resource."""
    return types.CallToolResult(
        content=[_embedded("test://embedded-resource", "This is an embedded resource content.")]
    )


def test_multiple_content_types() -> types.CallToolResult:
    """Answer text, an image and an embedded resource together."""
    return types.CallToolResult(
        content=[
            types.TextContent(type="text", text="Multiple content types test:"),
            _image(),
            _embedded("test://mixed-content-resource", '{"test":"data","value":123}', "application/json"),
        ]
    )


def test_error_handling() -> str:
    """Always fail, as a tool that explains itself."""
    raise ToolError("This tool intentionally returns an error for testing")


async def test_tool_with_logging(ctx: ToolContext) -> str:
    """Log three info messages, ~50 ms apart."""
    await ctx.log("info", "Tool execution started")
    await anyio.sleep(0.05)
    await ctx.log("info", "Tool processing data")
    await anyio.sleep(0.05)
    await ctx.log("info", "Tool execution completed")
    return "Tool with logging executed successfully"


async def test_tool_with_progress(ctx: ToolContext) -> str:
    """Report progress 0, 50 and 100 of 100, ~50 ms apart."""
    for done in (0, 50, 100):
        await ctx.progress(done, 100)
        if done < 100:
            await anyio.sleep(0.05)
    return "Tool with progress executed successfully"


async def test_sampling(prompt: str, ctx: ToolContext) -> str:
    """Ask the client's model."""
    answer = await ctx.sample(prompt, max_tokens=100)
    return f"LLM response: {answer.text}"


async def test_elicitation(message: str, ctx: ToolContext) -> str:
    """Ask the person at the client for a username and an email."""
    answer = await ctx.elicit(message, {
        "type": "object",
        "properties": {
            "username": {"type": "string", "description": "User's response"},
            "email": {"type": "string", "description": "User's email address"},
        },
        "required": ["username", "email"],
    })
    return f"User response: action={answer.action}, content={json.dumps(answer.content)}"


async def test_elicitation_sep1034_defaults(ctx: ToolContext) -> str:
    """A form whose fields of every primitive type have defaults (SEP-1034)."""
    answer = await ctx.elicit("Please review and update the form fields with defaults", {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "User name", "default": "John Doe"},
            "age": {"type": "integer", "description": "User age", "default": 30},
            "score": {"type": "number", "description": "User score", "default": 95.5},
            "status": {"type": "string", "description": "User status", "enum": ["active", "inactive", "pending"],
                       "default": "active"},
            "verified": {"type": "boolean", "description": "Verification status", "default": True},
        },
        "required": [],
    })
    return f"Elicitation completed: action={answer.action}, content={json.dumps(answer.content)}"


async def test_elicitation_sep1330_enums(ctx: ToolContext) -> str:
    """A form with the five kinds of enum (SEP-1330): untitled and titled, single and multiple, and the legacy
    `enumNames`."""
    answer = await ctx.elicit("Please select options from the enum fields", {
        "type": "object",
        "properties": {
            "untitledSingle": {"type": "string", "description": "Select one option",
                               "enum": ["option1", "option2", "option3"]},
            "titledSingle": {"type": "string", "description": "Select one option with titles",
                             "oneOf": [{"const": "value1", "title": "First Option"},
                                       {"const": "value2", "title": "Second Option"},
                                       {"const": "value3", "title": "Third Option"}]},
            "legacyEnum": {"type": "string", "description": "Select one option (legacy)",
                           "enum": ["opt1", "opt2", "opt3"], "enumNames": ["Option One", "Option Two", "Option Three"]},
            "untitledMulti": {"type": "array", "description": "Select multiple options",
                              "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
            "titledMulti": {"type": "array", "description": "Select multiple options with titles",
                            "items": {"anyOf": [{"const": "value1", "title": "First Choice"},
                                                {"const": "value2", "title": "Second Choice"},
                                                {"const": "value3", "title": "Third Choice"}]}},
        },
        "required": [],
    })
    return f"Elicitation completed: action={answer.action}, content={json.dumps(answer.content)}"


async def test_reconnection(ctx: ToolContext) -> str:
    """Let the client's connection go mid-call, then answer: the client comes back for the answer (SEP-1699's
    polling; the stream closing and the replay are parac's HTTP face's)."""
    await ctx.release_connection()
    await anyio.sleep(0.1)  # work goes on without a connection
    return "Reconnection test completed"


# The 2026-07-28 input-required scenarios (SEP-2322): each question keyed as the suite expects; the rounds, the
# sealed requestState and its checks are parac's MCP face's, not the tool's.

NAME_FORM = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
CONFIRM_FORM = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


async def test_input_required_result_elicitation(ctx: ToolContext) -> str:
    """Ask the person's name, then greet them."""
    answer = await ctx.elicit("What is your name?", NAME_FORM, key="user_name")
    return f"Hello, {answer.content.get('name')}!"


async def test_input_required_result_sampling(ctx: ToolContext) -> str:
    """Ask the client's model a question and answer what it said."""
    answer = await ctx.sample("What is the capital of France?", max_tokens=100, key="capital_question")
    return answer.text


async def test_input_required_result_request_state(ctx: ToolContext) -> str:
    """Ask for a confirmation; reaching the answer means the server took the round's state back."""
    answer = await ctx.elicit("Please confirm", CONFIRM_FORM, key="confirm")
    return f"state-ok: confirmed={answer.content.get('ok')}"


async def test_input_required_result_multi_round(ctx: ToolContext) -> str:
    """Two questions, one round each."""
    name = await ctx.elicit("Step 1: What is your name?", NAME_FORM, key="step1")
    color = await ctx.elicit("Step 2: What is your favorite color?", {
        "type": "object", "properties": {"color": {"type": "string"}}, "required": ["color"]}, key="step2")
    return f"{name.content.get('name')} likes {color.content.get('color')}"


async def test_input_required_result_tampered_state(ctx: ToolContext) -> str:
    """A confirmation whose round state the suite tampers with."""
    answer = await ctx.elicit("Please confirm", CONFIRM_FORM, key="confirm")
    return f"confirmed={answer.content.get('ok')}"


async def test_input_required_result_list_roots(ctx: ToolContext) -> str:
    """Ask the client for its roots and name them."""
    roots = await ctx.roots(key="client_roots")
    return "Roots: " + ", ".join(root.uri for root in roots)


async def test_input_required_result_multiple_inputs(ctx: ToolContext) -> str:
    """Ask the person, the model and the roots at once: one round carries the three questions."""
    answers: dict[str, object] = {}

    async def ask(name: str, question) -> None:
        answers[name] = await question

    async with anyio.create_task_group() as group:
        group.start_soon(ask, "name", ctx.elicit("What is your name?", NAME_FORM, key="user_name"))
        group.start_soon(ask, "greeting", ctx.sample("Generate a greeting", max_tokens=50, key="greeting"))
        group.start_soon(ask, "roots", ctx.roots(key="client_roots"))
    return (f"{answers['greeting'].text} {answers['name'].content.get('name')}, "
            f"{len(answers['roots'])} root(s)")


async def test_input_required_result_capabilities(ctx: ToolContext) -> str:
    """Ask the person if the client can show forms, and its model either way: a client that declared sampling
    only is asked only through sampling."""
    try:
        name = (await ctx.elicit("What is your name?", NAME_FORM, key="user_name")).content.get("name")
    except CannotAsk:
        name = None
    answer = await ctx.sample("Say hello", max_tokens=50, key="greeting")
    return f"{answer.text} ({name or 'no form'})"


# The stateless scenario's diagnostic tools (SEP-2575): what parac does around them is checked, not what they answer.


async def test_missing_capability(ctx: ToolContext) -> str:
    """Ask the client's model, which the suite's client did not declare: the call must be refused (-32021)."""
    answer = await ctx.sample("Say anything", max_tokens=10)
    return answer.text


async def test_streaming_elicitation(ctx: ToolContext) -> str:
    """Ask the person: the response stream may carry only the round's result, no request to the client."""
    answer = await ctx.elicit("What is your name?", NAME_FORM)
    return f"Hello, {answer.content.get('name')}!"


async def test_logging_tool(ctx: ToolContext) -> str:
    """Log at every level of note: a request that set no log level must get none of it."""
    for level in ("debug", "info", "warning", "error"):
        await ctx.log(level, f"a {level} message")
    return "logged"


# The stateless scenario's hooks that change the server's lists (SEP-2575: list_changed on a listen stream). They do
# what a person does to a workspace, and parac's own change detection (the watcher of `.parac/`) does the rest:
# `test_trigger_tool_change` switches parac.yaml's `mcp.profile` between `all` and a profile of this plugin's tools
# only (the fixture tools stay served either way), `test_trigger_prompt_change` adds or removes an agent (each agent
# is a prompt, `agent_NAME`). Plain file writes, as an editor's: a plugin tool's file jail keeps `.parac/` closed.


def _replace(path, text: str) -> None:
    """Write `text` to `path` at once (a rename), so the watcher never reads half a file."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def test_trigger_tool_change(ctx: ToolContext) -> str:
    """Switch the served tool profile (`all` <-> this plugin's tools only) in parac.yaml."""
    import yaml

    settings = ctx.workspace.dir / "parac.yaml"
    data = yaml.safe_load(settings.read_text(encoding="utf-8")) or {}
    mcp = data.setdefault("mcp", {})
    mcp.setdefault("profiles", {})["conformance"] = {"plugins": ["conformance"]}
    mcp["profile"] = "all" if mcp.get("profile") == "conformance" else "conformance"
    _replace(settings, yaml.safe_dump(data, sort_keys=False))
    return f"profile: {mcp['profile']}"


PROBE_AGENT = "conformance-probe"


def test_trigger_prompt_change(ctx: ToolContext) -> str:
    """Add the agent `conformance-probe` (and so the prompt `agent_conformance-probe`), or remove it."""
    agent = ctx.workspace.dir / "agents" / f"{PROBE_AGENT}.yaml"
    if agent.exists():
        agent.unlink()
        return f"removed agent_{PROBE_AGENT}"
    _replace(agent, "description: An agent the conformance suite adds and removes\n")
    return f"added agent_{PROBE_AGENT}"


# SEP-2243's custom headers: a parameter MCP clients over HTTP mirror into `Mcp-Param-Region`, declared through the
# plugin API; parac's HTTP face refuses a call whose header and argument disagree.


def test_header_param(region: str, query: str = "") -> str:
    """Answer which region the call named (in its argument, and so in its header)."""
    return f"region={region} query={query}"


# The tasks extension's fixtures (0.2 prerelease): the long-running ones are marked so through the plugin API, and
# run as tasks when the client asks.


def greet(name: str) -> str:
    """Greet someone (never a task)."""
    return f"Hello, {name}!"


async def slow_compute(seconds: float, ctx: ToolContext, label: str | None = None) -> str:
    """Sleep `seconds`, reporting progress, then answer."""
    await ctx.progress(0, seconds or None)
    await anyio.sleep(seconds)
    return f"computed after {seconds}s"


async def failing_job() -> str:
    """Fail as a tool that explains itself, after about a second."""
    await anyio.sleep(1)
    raise ToolError("the job failed, as it always does")


async def protocol_error_job() -> str:
    """Fail as a bug would."""
    raise RuntimeError("internal failure")


DELETE_FORM = {"type": "object", "properties": {"confirm": {"type": "boolean"}}, "required": ["confirm"]}


async def confirm_delete(filename: str, ctx: ToolContext) -> str:
    """Ask the person to confirm deleting `filename` (nothing is deleted: the suite checks the asking)."""
    answer = await ctx.elicit(f"Delete {filename}?", DELETE_FORM, key="confirm")
    return f"deleted {filename}: {answer.action == 'accept' and bool(answer.content.get('confirm'))}"


async def multi_input(ctx: ToolContext) -> str:
    """Ask two questions at once."""
    answers: dict[str, object] = {}

    async def ask(key: str, message: str) -> None:
        answers[key] = (await ctx.elicit(message, NAME_FORM, key=key)).content.get("name")

    async with anyio.create_task_group() as group:
        group.start_soon(ask, "first", "First name?")
        group.start_soon(ask, "second", "Second name?")
    return f"{answers['first']} and {answers['second']}"


async def test_tool_with_task(ctx: ToolContext, confirm: bool = False) -> str:
    """Ask the person's name in the call itself, then go on as a task that greets them (SEP-2663: input-required
    rounds first, the task handle on the last one). With `confirm`, the task asks once more (a task's own input
    request, answered by tasks/update) before it greets."""
    answer = await ctx.elicit("What is your name?", NAME_FORM, key="user_name")
    await ctx.continue_as_task()
    if confirm:
        sure = await ctx.elicit("Greet them now?", CONFIRM_FORM, key="confirm")
        if not (sure.action == "accept" and sure.content.get("ok")):
            return "not greeted"
    await anyio.sleep(0.1)  # the long part
    return f"Hello, {answer.content.get('name')}!"


def json_schema_2020_12_tool(**arguments) -> str:
    """Echo the arguments of a schema using JSON Schema 2020-12 keywords."""
    return json.dumps(arguments)


JSON_SCHEMA_2020_12 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {"address": {"type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
    "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
    "additionalProperties": False,
}


@hookimpl
def parac_register_tools(register):
    for fn in (test_simple_text, test_image_content, test_audio_content, test_embedded_resource,
               test_multiple_content_types, test_error_handling, test_tool_with_logging, test_tool_with_progress,
               test_sampling, test_elicitation, test_elicitation_sep1034_defaults, test_elicitation_sep1330_enums, test_reconnection,
               test_input_required_result_elicitation, test_input_required_result_sampling,
               test_input_required_result_request_state, test_input_required_result_multi_round,
               test_input_required_result_tampered_state, test_input_required_result_capabilities,
               test_input_required_result_list_roots, test_input_required_result_multiple_inputs,
               test_missing_capability, test_streaming_elicitation, test_logging_tool):
        register(tool_from_function(fn, read_only=True))
    register(tool_from_function(test_header_param, read_only=True, headers={"region": "Region"}))
    for fn in (test_trigger_tool_change, test_trigger_prompt_change):
        register(tool_from_function(fn, destructive=False, idempotent=False, open_world=False))
    register(tool_from_function(greet, read_only=True))
    for fn in (slow_compute, protocol_error_job, confirm_delete, multi_input):
        register(tool_from_function(fn, read_only=True, long_running=True))
    register(tool_from_function(failing_job, read_only=True, needs_task=True))  # the suite wants one task-only tool
    register(tool_from_function(test_tool_with_task, read_only=True, needs_task=True, asks_first=True))
    register(Tool(name="json_schema_2020_12_tool", description="Tool with JSON Schema 2020-12 features",
                  input_schema=JSON_SCHEMA_2020_12, fn=json_schema_2020_12_tool, read_only=True))


@hookimpl
def parac_register_resources(register):
    register("test://static-text", lambda: "This is the content of the static text resource.",
             name="static-text", description="A fixed text resource", mime_type="text/plain")
    register("test://static-binary", lambda: PNG, name="static-binary", description="A fixed PNG",
             mime_type="image/png")
    register("test://template/{id}/data",
             lambda id: json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"}),
             name="template-data", description="Data for the id in the URI", mime_type="application/json")


async def test_input_required_result_prompt(ctx: PromptContext) -> str:
    """A prompt that asks the person what context to use before it renders (an input-required round of
    `prompts/get` in 2026-07-28)."""
    answer = await ctx.elicit("What context should the prompt use?", {
        "type": "object", "properties": {"context": {"type": "string"}}, "required": ["context"]}, key="user_context")
    return f"Use this context: {answer.content.get('context')}"


@hookimpl
def parac_register_prompts(register):
    register("test_input_required_result_prompt", "A prompt that asks for its context first",
             test_input_required_result_prompt)
    register("test_simple_prompt", "A prompt without arguments", lambda: "This is a simple prompt for testing.")
    register(
        "test_prompt_with_arguments",
        "A prompt that quotes its arguments",
        lambda arg1, arg2: f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'",
        arguments=[{"name": "arg1", "description": "First test argument", "required": True},
                   {"name": "arg2", "description": "Second test argument", "required": True}],
    )
    register(
        "test_prompt_with_embedded_resource",
        "A prompt that embeds the resource it is given",
        lambda resourceUri: [
            {"role": "user", "content": _embedded(resourceUri, "Embedded resource content for testing.")},
            {"role": "user", "content": {"type": "text", "text": "Please process the embedded resource above."}},
        ],
        arguments=[{"name": "resourceUri", "description": "URI of the resource to embed", "required": True}],
    )
    register(
        "test_prompt_with_image",
        "A prompt that shows an image",
        lambda: [
            {"role": "user", "content": _image()},
            {"role": "user", "content": {"type": "text", "text": "Please analyze the image above."}},
        ],
    )
