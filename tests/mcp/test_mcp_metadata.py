"""What clients show and decide by: titles, tool hints, icons and resource links, seen by the official client over
stdio from `parac mcp serve` with the built-in plugins loaded (both protocol eras)."""

from __future__ import annotations

import base64
import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters

EXTERNAL = Path(__file__).resolve().parents[1] / "tools" / "external_server.py"
GRANT_ALL = 'description: every tool, for direct calls too\nallow:\n  - tools: ["*"]\n'
HINTS = ("read_only_hint", "destructive_hint", "idempotent_hint", "open_world_hint")


def serve(command: list[str], project: Path) -> StdioServerParameters:
    """The server as an editor starts it, with the built-in plugins (file, git, shell, http tools) loaded."""
    env = {**os.environ, "PARAC_LOAD_PLUGINS": ""}  # the built-in plugins only, none a developer installed
    return StdioServerParameters(command=command[0], args=[*command[1:], "--workspace", str(project)], env=env)


def svg_of(icon: types.Icon) -> ET.Element:
    """The icon's picture: a base64 SVG data URI that parses as SVG."""
    prefix = "data:image/svg+xml;base64,"
    assert icon.src.startswith(prefix) and icon.mime_type == "image/svg+xml", icon.src[:60]
    root = ET.fromstring(base64.b64decode(icon.src[len(prefix) :], validate=True))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_every_tool_resource_and_prompt_is_titled_and_every_tool_hinted(
    project: Path, serve_command: list[str], mode: str
):
    async with Client(serve(serve_command, project), mode=mode) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        resources = (await session.list_resources()).resources
        templates = (await session.list_resource_templates()).resource_templates
        prompts = (await session.list_prompts()).prompts
        server_icons = session.server_info.icons if session.server_info else None

    assert len(tools) > 40 and {"file_delete", "git_push", "shell_run", "http_request", "run_workflow"} <= set(tools)
    untitled = sorted(name for name, tool in tools.items() if not tool.title)
    unhinted = sorted(name for name, t in tools.items() if t.annotations is None or None in [getattr(t.annotations, h) for h in HINTS])
    assert untitled == [] and unhinted == []

    def hints(name: str) -> tuple[bool | None, ...]:
        return tuple(getattr(tools[name].annotations, h) for h in HINTS)

    # (read only, destructive, idempotent, open world)
    assert hints("file_delete") == (False, True, True, False)
    assert hints("file_read") == (True, False, True, False)
    assert hints("git_status") == (True, False, True, False)
    assert hints("git_push") == (False, False, True, True)  # never forces: it only adds to the remote
    assert hints("http_request")[1:] == (True, False, True)
    assert hints("shell_run")[:3] == (False, True, False)
    assert hints("run_workflow")[3] is True and hints("list_agents") == (True, False, True, False)

    assert resources and templates and prompts
    assert [r.uri for r in resources if not r.title] == []
    assert [t.uri_template for t in templates if not t.title] == []
    assert [p.name for p in prompts if not p.title] == []

    assert server_icons and svg_of(server_icons[0]) is not None
    families = {tools[name].icons[0].src for name in ("file_read", "git_status", "shell_run", "run_workflow")}
    assert len(families) == 4  # one picture per family, not one for all
    assert [name for name, tool in tools.items() if not tool.icons or svg_of(tool.icons[0]) is None] == []


async def test_results_link_the_file_written_and_the_run(project: Path, serve_command: list[str]):
    (project / ".parac" / "policies" / "direct.yaml").write_text(GRANT_ALL)
    async with Client(serve(serve_command, project), mode="legacy") as session:
        written = await session.call_tool("file_write", {"path": "notes/plan.md", "content": "# Plan\n"})
        run = await session.call_tool(
            "run_workflow", {"name": "feature", "inputs": {"feature": "search"}, "wait": True, "dry_run": "echo"}
        )
        [run_link] = [c for c in run.content if isinstance(c, types.ResourceLink)]
        run_resource = await session.read_resource(run_link.uri)
    assert not written.is_error, written.content
    [file_link] = [c for c in written.content if isinstance(c, types.ResourceLink)]
    assert file_link.uri == (project / "notes" / "plan.md").as_uri() and file_link.name == "plan.md"
    assert Path(file_link.uri.removeprefix("file://")).read_text() == "# Plan\n"
    run_id = run.structured_content["run_id"]
    assert run_link.uri == f"parac://runs/{run_id}" and run.structured_content["status"] == "completed"
    assert json.loads(run_resource.contents[0].text)["run_id"] == run_id


async def test_an_external_servers_title_and_hints_pass_through(project: Path, serve_command: list[str]):
    settings = project / ".parac" / "parac.yaml"
    server = {"command": sys.executable, "args": [str(EXTERNAL), "stdio"], "connect_timeout_s": 60}
    settings.write_text(settings.read_text() + "\nmcp_servers: " + json.dumps({"ext": server}) + "\n")
    async with Client(serve(serve_command, project), mode="legacy") as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    add, shout = tools["ext.add"], tools["ext.shout"]
    assert add.title == "Add numbers"
    assert add.annotations is not None
    assert [getattr(add.annotations, h) for h in HINTS] == [False, False, True, False]
    # a server that says nothing is passed on as saying nothing (a client then assumes the worst)
    assert shout.annotations is not None and shout.annotations.destructive_hint is None
    assert shout.annotations.open_world_hint is None and shout.title is None
    assert add.icons and add.icons[0].src != tools["file_read"].icons[0].src
