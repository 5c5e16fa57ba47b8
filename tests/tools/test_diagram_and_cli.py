"""Diagram tools on the default template's workflows and agents, and `parac tools` from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from parac.core.tools import ToolError
from parac.server.host import Host

from .conftest import call, write, write_policy


@pytest.fixture
def team(project: Path) -> Host:
    write_policy(project)
    return Host.for_workspace(project)


async def test_workflow_diagram(team: Host) -> None:
    diagram = await call(team, "diagram_workflow", name="feature")
    assert diagram["nodes"] == 5
    assert diagram["mermaid"].splitlines() == [
        "flowchart TD",
        '    s0["design<br/>agent: architect"]',
        '    s1["implement<br/>agent: coder"]',
        '    s2["test<br/>agent: tester"]',
        '    s3["review<br/>agent: reviewer"]',
        '    s4{{"sign-off<br/>approval"}}',
        "    s0 --> s1",
        "    s1 --> s2",
        "    s1 --> s3",
        '    s2 -. "when" .-> s4',
        '    s3 -. "when" .-> s4',
    ]
    with pytest.raises(ToolError, match='no usable workflow "nope": known: code-review, feature'):
        await call(team, "diagram_workflow", name="nope")


async def test_agents_diagram_whole_and_subtree(team: Host, project: Path) -> None:
    whole = await call(team, "diagram_agents")
    lines = whole["mermaid"].splitlines()
    assert whole["nodes"] == 9 and lines[0] == "flowchart TD"
    ids = {line.split('["')[1].rstrip('"]'): line.split("[")[0].strip() for line in lines if '["' in line}
    assert f"    {ids['base']} --> {ids['coder']}" in lines and f"    {ids['tester']} --> {ids['qa']}" in lines
    sub = await call(team, "diagram_agents", agent="tester")
    assert sub["nodes"] == 2 and sub["name"] == "tester"
    write(project / ".parac/agents/qa-lead.yaml", 'parent: qa\ndescription: x\n')
    host = Host.for_workspace(project)
    assert (await call(host, "diagram_agents", agent="qa"))["nodes"] == 2
    with pytest.raises(ToolError, match='unknown agent "ghost"'):
        await call(team, "diagram_agents", agent="ghost")


def test_cli_lists_and_calls_tools(project: Path, parac) -> None:
    listed = parac("tools", "list", "--json", cwd=project)
    assert listed.code == 0, listed
    tools = {row["name"]: row for row in listed.json()}
    expected = {
        "file_read", "file_write", "file_edit", "file_list", "file_glob", "file_search", "file_move", "file_delete",
        "git_status", "git_diff", "git_log", "git_show", "git_blame", "git_branch_list", "git_branch_create",
        "git_switch", "git_add", "git_commit", "git_tag", "git_fetch", "git_pull", "git_push", "shell_run",
        "http_request", "code_outline", "code_definition", "code_metrics", "diagram_workflow", "diagram_agents",
    }
    assert expected <= set(tools)
    assert tools["file_read"]["read_only"] and tools["file_read"]["output_schema"]["type"] == "object"
    assert tools["git_commit"]["input_schema"]["required"] == ["message"]

    write(project / "notes.md", "one\ntwo\n")
    read = parac("tools", "call", "file_read", "--args", '{"path": "notes.md", "start_line": 2}', "--json",
                 cwd=project)
    assert read.code == 0, read
    assert read.json()["result"]["content"] == "two\n"
    # the default policy grants writing to the coder agent only, not to a person at the CLI
    denied = parac("tools", "call", "file_write", "--args", '{"path": "x.txt", "content": "x"}', cwd=project)
    assert denied.code == 1 and "denied:" in denied.err and "file_write" in denied.err
    assert not (project / "x.txt").exists()
    bad = parac("tools", "call", "file_read", "--args", '{"path": "../etc"}', "--json", cwd=project)
    assert bad.code == 1 and "'..'" in bad.json()["error"]
    invalid = parac("tools", "call", "file_read", "--args", "{not json", cwd=project)
    assert invalid.code == 2 and "not JSON" in invalid.err
    unknown = parac("tools", "call", "file_raed", cwd=project)
    assert unknown.code == 1 and 'unknown tool "file_raed"' in unknown.err and "file_read" in unknown.err
