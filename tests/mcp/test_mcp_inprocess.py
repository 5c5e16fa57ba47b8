"""The MCP server in-process, through the SDK's client, in both protocol eras."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import PromptReference, ResourceTemplateReference

from parac.core.workspace import Workspace
from parac.server.api import CallDenied, ToolCall, hookimpl
from parac.server.host import Host
from parac.server.mcp.app import FACE_PACKAGES, ParacApp
from parac.server.auth.roles import TokenAuthority
from parac.server.mcp.server import build_server

ERAS = {"legacy": "2025-11-25", "auto": "2026-07-28"}
WORKSPACE_TOOLS = {"list_agents", "get_agent", "validate_workspace", "list_workflows", "get_workflow", "list_skills", "get_skill"}
REGISTRY_TOOLS = {"list_plugins", "list_tools", "list_providers"}


def client(app: ParacApp, era: str, **options: Any) -> Client:
    return Client(build_server(app), mode=era, **options)


class Recorder:
    """A governance plugin: records every tool call and vetoes get_agent on "base"."""

    def __init__(self) -> None:
        self.before: list[ToolCall] = []
        self.after: list[tuple[str, Any, Any]] = []

    @hookimpl
    def parac_before_tool_call(self, call: ToolCall) -> None:
        self.before.append(call)
        if call.tool == "get_agent" and call.arguments.get("name") == "base":
            raise CallDenied('policy "no-base" forbids reading the base agent', rule="no-base")

    @hookimpl
    def parac_after_tool_call(self, call: ToolCall, result: Any, error: BaseException | None) -> None:
        self.after.append((call.tool, result, error))


async def test_handshake_lists_the_registry_and_workspace_tools(project: Path, era: str):
    async with client(ParacApp(project), era) as session:
        assert session.protocol_version == ERAS[era]
        assert session.server_capabilities.tools is not None
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert WORKSPACE_TOOLS | REGISTRY_TOOLS <= set(tools)
    get_agent = tools["get_agent"]
    assert get_agent.input_schema["required"] == ["name"]
    assert get_agent.input_schema["additionalProperties"] is False
    assert get_agent.output_schema is not None and "provenance" in get_agent.output_schema["properties"]
    assert get_agent.annotations is not None and get_agent.annotations.read_only_hint is True


async def test_list_agents_and_get_agent_with_chain_and_provenance(project: Path, era: str):
    async with client(ParacApp(project), era) as session:
        listed = await session.call_tool("list_agents", {})
        agent = await session.call_tool("get_agent", {"name": "coder"})
    names = [row["name"] for row in listed.structured_content["agents"]]
    assert "coder" in names and "base" in names
    assert not agent.is_error
    data = agent.structured_content
    assert data["chain"] == ["coder", "base"]
    assert data["provenance"]["description"] == "coder" and data["provenance"]["temperature"] == "base"
    assert data["path"].endswith("coder.yaml")
    assert json.loads(agent.content[0].text) == data


async def test_validate_workspace_reports_positions(project: Path, era: str):
    (project / ".parac/agents/coder.yaml").write_text("parent: base\ndescription: x\nmodle: echo\n")
    async with client(ParacApp(project), era) as session:
        result = await session.call_tool("validate_workspace", {})
    report = result.structured_content
    assert report["ok"] is False and report["errors"] == 1
    (problem,) = report["diagnostics"]
    assert problem["file"].endswith("coder.yaml") and (problem["line"], problem["column"]) == (3, 1)
    assert 'did you mean "model"' in problem["message"]
    assert report["diagnostics"] == [d.to_json() for d in Workspace.open(project).validate()]


async def test_workflows_and_skills(project: Path, era: str):
    async with client(ParacApp(project), era) as session:
        workflows = (await session.call_tool("list_workflows", {})).structured_content["workflows"]
        feature = (await session.call_tool("get_workflow", {"name": "feature"})).structured_content
        skills = (await session.call_tool("list_skills", {})).structured_content["skills"]
        review = (await session.call_tool("get_skill", {"name": "code-review"})).structured_content
    assert "feature" in {w["name"] for w in workflows}
    assert feature["spec"]["steps"] and feature["problems"] == []
    assert "code-review" in {s["name"] for s in skills}
    assert review["front_matter"]["name"] == "code-review" and "SKILL.md" in review["files"]


async def test_bad_calls_answer_errors_that_name_the_problem(project: Path, era: str):
    async with client(ParacApp(project), era) as session:
        with pytest.raises(MCPError, match='unknown tool "list_agent" \\(did you mean "list_agents"\\?\\)'):
            await session.call_tool("list_agent", {})
        missing = await session.call_tool("get_agent", {})
        wrong_type = await session.call_tool("get_agent", {"name": 3})
        extra = await session.call_tool("list_agents", {"verbose": True})
        unknown = await session.call_tool("get_agent", {"name": "codr"})
        still_serving = await session.call_tool("list_agents", {})
    assert missing.is_error and 'tool "get_agent": name: Field required' in missing.content[0].text
    assert wrong_type.is_error and "name: Input should be a valid string" in wrong_type.content[0].text
    assert extra.is_error and "verbose: Extra inputs are not permitted" in extra.content[0].text
    assert unknown.is_error and unknown.content[0].text == 'unknown agent "codr" (did you mean "coder"?)'
    assert not still_serving.is_error


async def test_broken_workspace_files_are_reported_not_fatal(project: Path, era: str):
    (project / ".parac/agents/base.yaml").write_text("description: [unclosed\n")
    async with client(ParacApp(project), era) as session:
        agent = await session.call_tool("get_agent", {"name": "coder"})
        listed = await session.call_tool("list_agents", {})
        report = await session.call_tool("validate_workspace", {})
    assert agent.is_error and "base" in agent.content[0].text
    assert not listed.is_error
    assert any(d["file"].endswith("base.yaml") for d in report.structured_content["diagnostics"])


async def test_without_a_workspace_tools_say_so(tmp_path: Path, era: str):
    async with client(ParacApp(tmp_path / "nowhere"), era) as session:
        result = await session.call_tool("list_agents", {})
        plugins = await session.call_tool("list_plugins", {})
    assert result.is_error and "no .parac/ folder" in result.content[0].text
    assert not plugins.is_error


async def test_every_call_passes_the_governance_hooks(project: Path, era: str):
    recorder = Recorder()
    host = Host(extra_plugins=[("recorder", recorder)], entry_points=False)
    host.open_workspace(project)
    async with client(ParacApp(project, host=host), era) as session:
        allowed = await session.call_tool("get_agent", {"name": "coder"})
        denied = await session.call_tool("get_agent", {"name": "base"})
    assert not allowed.is_error
    assert denied.is_error and denied.content[0].text == 'policy "no-base" forbids reading the base agent'
    assert [(c.tool, c.arguments) for c in recorder.before] == [("get_agent", {"name": "coder"}), ("get_agent", {"name": "base"})]
    assert recorder.before[0].actor == "mcp:stdio:admin"
    assert [tool for tool, _, _ in recorder.after] == ["get_agent"]
    assert recorder.after[0][1]["name"] == "coder"


async def test_resources_and_templates(project: Path, era: str):
    (project / ".parac/skills/code-review/checklist.md").write_text("- names\n")
    async with client(ParacApp(project), era) as session:
        uris = {r.uri for r in (await session.list_resources()).resources}
        templates = {t.uri_template for t in (await session.list_resource_templates()).resource_templates}
        resolved = await session.read_resource("parac://agents/coder")
        source = await session.read_resource("parac://agents/coder/source")
        skill = await session.read_resource("parac://skills/code-review")
        beside = await session.read_resource("parac://skills/code-review/checklist.md")
        workflow = await session.read_resource("parac://workflows/feature")
        schema = await session.read_resource("parac://schemas/agent")
        memory = await session.read_resource("parac://memory/context/README.md")
        decisions = await session.read_resource("parac://roadmap/decisions")
        policies = await session.read_resource("parac://policies")
        plugins = await session.read_resource("parac://plugins")
    assert {"parac://agents/coder", "parac://agents/coder/source", "parac://skills/code-review", "parac://policies"} <= uris
    assert {"parac://agents/{name}", "parac://agents/{name}/source", "parac://memory/{+path}", "parac://schemas/{kind}"} <= templates
    assert json.loads(resolved.contents[0].text)["chain"] == ["coder", "base"]
    assert source.contents[0].text == (project / ".parac/agents/coder.yaml").read_text()
    assert skill.contents[0].text.startswith("---")
    assert beside.contents[0].text == "- names\n"
    assert "steps:" in workflow.contents[0].text
    assert json.loads(schema.contents[0].text)["title"]
    assert memory.contents[0].text == (project / ".parac/memory/context/README.md").read_text()
    assert decisions.contents[0].mime_type == "text/markdown"
    assert isinstance(json.loads(policies.contents[0].text), list)
    assert any(p["name"] == "offline" for p in json.loads(plugins.contents[0].text))


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("parac://agents/nobody", 'unknown agent "nobody"'),
        ("parac://nothing/here", "unknown resource parac://nothing/here"),
        ("parac://memory/../parac.yaml", '"../parac.yaml" leads outside memory/'),
        ("parac://skills/code-review/../../parac.yaml", "leads outside code-review/"),
        ("file:///etc/passwd", "unknown resource file:///etc/passwd"),
    ],
)
async def test_bad_resource_uris_are_errors(project: Path, era: str, uri: str, message: str):
    async with client(ParacApp(project), era) as session:
        with pytest.raises(MCPError, match=message.replace("(", "\\(").replace(".", "\\.")) as caught:
            await session.read_resource(uri)
        assert (await session.call_tool("list_agents", {})).is_error is False
    assert caught.value.error.code == -32602


async def test_prompts(project: Path, era: str):
    async with client(ParacApp(project), era) as session:
        names = {p.name for p in (await session.list_prompts()).prompts}
        coder = await session.get_prompt("agent_coder", {"task": "add a flag"})
        skill = await session.get_prompt("skill_code-review", {"task": "review x.py"})
        explain = await session.get_prompt("explain_agent", {"name": "coder"})
        create = await session.get_prompt("create_agent", {"name": "dba", "purpose": "tunes queries"})
        review = await session.get_prompt("review_code", {"code": "print(1)", "focus": "security"})
        with pytest.raises(MCPError, match='prompt "agent_coder" needs the argument "task"'):
            await session.get_prompt("agent_coder", {})
        with pytest.raises(MCPError, match='unknown prompt "agent_codr"'):
            await session.get_prompt("agent_codr", {"task": "x"})
    assert {"create_agent", "create_workflow", "review_code", "explain_agent", "agent_coder", "skill_code-review"} <= names
    text = coder.messages[0].content.text
    assert "## Task\n\nadd a flag" in text
    assert "review x.py" in skill.messages[0].content.text
    assert "coder -> base" in explain.messages[0].content.text
    assert "`dba`" in create.messages[0].content.text and "- coder:" in create.messages[0].content.text
    assert "paying most attention to security" in review.messages[0].content.text


async def test_completions_for_names(project: Path, era: str):
    async with client(ParacApp(project), era) as session:
        agents = await session.complete(ResourceTemplateReference(uri="parac://agents/{name}"), {"name": "name", "value": "c"})
        skills = await session.complete(ResourceTemplateReference(uri="parac://skills/{name}"), {"name": "name", "value": ""})
        prompt = await session.complete(PromptReference(name="explain_agent"), {"name": "name", "value": "re"})
        nothing = await session.complete(PromptReference(name="review_code"), {"name": "code", "value": "x"})
    assert agents.completion.values == ["coder"]
    assert "code-review" in skills.completion.values
    assert prompt.completion.values == ["release-manager", "reviewer"]
    assert nothing.completion.values == []


async def test_roles_hide_and_refuse_tools(project: Path, era: str, extra_faces: str):
    app = ParacApp(project, tokens=TokenAuthority(local_role="viewer"), face_packages=(*FACE_PACKAGES, extra_faces))
    async with client(app, era) as session:
        names = {t.name for t in (await session.list_tools()).tools}
        refused = await session.call_tool("wipe", {})
    assert "list_agents" in names and "wipe" not in names
    assert refused.is_error and refused.content[0].text == 'tool "wipe" needs the admin role; this caller has viewer'


async def test_tool_failures_are_results_not_crashes(project: Path, era: str, extra_faces: str):
    app = ParacApp(project, face_packages=(*FACE_PACKAGES, extra_faces))
    async with client(app, era) as session:
        broken = await session.call_tool("broken", {})
        refuses = await session.call_tool("refuses", {})
        private = await session.call_tool("ledger_down", {})
        fine = await session.call_tool("wipe", {})
    assert broken.is_error and broken.content[0].text == 'tool "broken" failed unexpectedly (KeyError); see the server log'
    assert "internal detail" not in broken.content[0].text
    # a parac error that is not public is logged, and the caller only learns that the tool failed
    assert private.is_error
    assert private.content[0].text == 'tool "ledger_down" failed unexpectedly (LedgerError); see the server log'
    assert refuses.is_error and refuses.content[0].text == "the widget is not plugged in"
    assert fine.content[0].text == "wiped"


async def test_progress_notifications(project: Path, era: str, extra_faces: str):
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    app = ParacApp(project, face_packages=(*FACE_PACKAGES, extra_faces))
    async with client(app, era) as session:
        result = await session.call_tool("count", {"steps": 3}, progress_callback=on_progress)
    assert result.structured_content == {"steps": 3}
    assert seen == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]


async def test_cancellation_stops_a_long_call(project: Path, era: str, extra_faces: str):
    import importlib

    app = ParacApp(project, face_packages=(*FACE_PACKAGES, extra_faces))
    async with client(app, era) as session:
        await session.list_tools()
        state = importlib.import_module(f"{extra_faces}.slow").STATE
        with anyio.move_on_after(0.5):
            await session.call_tool("count", {"steps": 1000, "delay": 0.05})
        with anyio.fail_after(10):
            while state["cancelled"] == 0:
                await anyio.sleep(0.05)
        assert (await session.call_tool("list_agents", {})).is_error is False
    assert state == {"finished": 0, "cancelled": 1}


class ToolPlugin:
    """A third-party-style plugin registering one tool with its own JSON Schema."""

    SCHEMA = {
        "type": "object",
        "properties": {"word": {"type": "string", "minLength": 1}, "times": {"type": "integer", "minimum": 1}},
        "required": ["word"],
        "additionalProperties": False,
    }

    @hookimpl
    def parac_register_tools(self, register) -> None:
        from parac.server.api import Tool

        def repeat(word: str, times: int = 2) -> str:
            return " ".join([word] * times)

        register(Tool(name="repeat", description="Repeat a word.", input_schema=self.SCHEMA, fn=repeat, read_only=True))


async def test_plugin_tools_are_served_with_their_schema_subject_to_policy(project: Path, era: str):
    def host_with_words() -> tuple[Host, Recorder]:
        recorder = Recorder()
        host = Host(extra_plugins=[("words", ToolPlugin()), ("recorder", recorder)], entry_points=False)
        host.open_workspace(project)
        return host, recorder

    host, _ = host_with_words()
    async with client(ParacApp(project, host=host), era) as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        denied = await session.call_tool("repeat", {"word": "hi"})
    assert tools["repeat"].input_schema == ToolPlugin.SCHEMA
    assert tools["repeat"].description == "Repeat a word."
    assert denied.is_error and 'tool "repeat" is not granted' in denied.content[0].text

    (project / ".parac/policies/words.yaml").write_text("allow:\n  - tools: [repeat]\n")
    host, recorder = host_with_words()
    async with client(ParacApp(project, host=host), era) as session:
        ok = await session.call_tool("repeat", {"word": "hi", "times": 3})
        bad = await session.call_tool("repeat", {"word": "hi", "times": 0})
        missing = await session.call_tool("repeat", {})
    assert ok.content[0].text == "hi hi hi" and not ok.is_error
    assert bad.is_error and 'invalid arguments for tool "repeat" at times' in bad.content[0].text
    assert missing.is_error and "'word' is a required property" in missing.content[0].text
    assert [c.tool for c in recorder.before] == ["repeat"]  # refused arguments never reach the hooks
    assert recorder.before[0].actor == "mcp:stdio:admin"


async def test_a_huge_unknown_name_is_not_echoed_whole(project: Path, era: str):
    async with client(ParacApp(project), era) as session:
        with pytest.raises(MCPError) as caught:
            await session.call_tool("x" * 1_000_000, {})
    assert caught.value.error.message == f'unknown tool "{"x" * 200}... (1000000 characters)"'
