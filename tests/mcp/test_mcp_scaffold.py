"""The MCP create_agent / create_skill / create_workflow tools: operator-only, governed, and refusing what
`parac agents|skills|workflow new` refuses, with nothing written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcp import Client

from parac.core.audit import AuditLog
from parac.server.api import ToolCall, hookimpl
from parac.server.host import Host
from parac.server.mcp.app import ParacApp
from parac.server.auth.roles import TokenAuthority
from parac.server.mcp.server import build_server


class Seen:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], BaseException | None]] = []

    @hookimpl
    def parac_after_tool_call(self, call: ToolCall, result: Any, error: BaseException | None) -> None:
        self.calls.append((call.tool, call.arguments, error))


async def test_create_tools_write_files_that_validate_and_are_governed(project: Path):
    seen = Seen()
    host = Host.for_workspace(project, extra_plugins=[("seen", seen)])
    async with Client(build_server(ParacApp(project, host=host))) as session:
        agent = await session.call_tool("create_agent", {"name": "helper", "parent": "coder", "tools": ["file_read"]})
        skill = await session.call_tool("create_skill", {"name": "triage", "description": "Sort issues"})
        flow = await session.call_tool("create_workflow", {"name": "chore", "agent": "helper"})
        check = await session.call_tool("validate_workspace", {})
        shown = await session.call_tool("get_agent", {"name": "helper"})
    assert not agent.is_error, agent.content
    assert agent.structured_content["path"] == str(project.resolve() / ".parac/agents/helper.yaml")
    assert skill.structured_content["kind"] == "skill" and flow.structured_content["name"] == "chore"
    assert check.structured_content["ok"] is True
    assert shown.structured_content["chain"] == ["helper", "coder", "base"]
    assert [tool for tool, _, _ in seen.calls[:3]] == ["create_agent", "create_skill", "create_workflow"]
    log = AuditLog.for_workspace(project)
    try:
        audited = [e.to_dict() for e in log.tail(50)]
    finally:
        log.close()
    calls = [(e["subject"], e["outcome"]) for e in audited if e["action"] == "tool.call"]
    assert calls[:3] == [("create_agent", "ok"), ("create_skill", "ok"), ("create_workflow", "ok")]


async def test_create_tools_refuse_bad_input_and_write_nothing(project: Path):
    before = sorted(p.name for p in (project / ".parac/agents").iterdir())
    async with Client(build_server(ParacApp(project))) as session:
        typo = await session.call_tool("create_agent", {"name": "kid", "tools": ["file_raed"]})
        exists = await session.call_tool("create_workflow", {"name": "feature"})
    assert typo.is_error
    assert 'kid.yaml:3:9: error unknown-tool: unknown tool "file_raed" (did you mean "file_read"?)' in typo.content[0].text
    assert exists.is_error and "feature.yaml already exists (--force replaces it)" in exists.content[0].text
    assert sorted(p.name for p in (project / ".parac/agents").iterdir()) == before


async def test_a_viewer_cannot_create(project: Path):
    app = ParacApp(project, tokens=TokenAuthority(local_role="viewer"))
    async with Client(build_server(app)) as session:
        names = {tool.name for tool in (await session.list_tools()).tools}
        refused = await session.call_tool("create_agent", {"name": "x"})
    assert "create_agent" not in names and "list_agents" in names
    assert refused.is_error and "needs the operator role" in refused.content[0].text
    assert not (project / ".parac/agents/x.yaml").exists()
