"""Done when: an agent of the default template reads, changes and commits code in a repository, runs the
project's tests through the shell tool, and uses a tool of an external MCP server, all governed and audited."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from parac.core.audit import AuditLog

from .conftest import git, init_repo, write
from .test_gateway import add_servers, stdio


def test_the_default_coder_changes_tests_and_commits_code(tmp_path: Path, parac) -> None:
    root = tmp_path / "project"
    assert parac("init", str(root)).code == 0
    init_repo(root)
    write(root / "calc.py", "def add(a, b):\n    return a - b\n")
    write(root / "test_calc.py", "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    git(root, "add", "--all")
    git(root, "commit", "-q", "-m", "start")

    add_servers(root, {"ext": stdio()})
    # The project gives the template's coder one tool of the external server, granted by a policy of its own.
    coder = root / ".parac/agents/coder.yaml"
    coder.write_text(coder.read_text().replace("tools: [", "tools: [ext.add, "))
    write(root / ".parac/policies/external.yaml", "allow:\n  - tools: [ext.add]\n    agents: [coder]\n")
    script = [
        {"tool_calls": [{"name": "file_read", "arguments": {"path": "calc.py"}}]},
        {"tool_calls": [{"name": "file_edit", "arguments": {"path": "calc.py", "old_text": "a - b",
                                                             "new_text": "a + b"}}]},
        {"tool_calls": [{"name": "shell_run", "arguments": {"command": ["python", "-m", "pytest", "-q", "-p",
                                                                         "no:cacheprovider"]}}]},
        {"tool_calls": [{"name": "ext_add", "arguments": {"a": 2, "b": 3}}]},
        {"tool_calls": [{"name": "git_add", "arguments": {"paths": ["calc.py"]}}]},
        {"tool_calls": [{"name": "git_commit", "arguments": {"message": "Fix add"}}]},
        {"tool_calls": [{"name": "shell_run", "arguments": {"command": ["rm", "-rf", "."]}}]},
        {"text": "Fixed add; the tests pass."},
    ]
    write(root / ".parac/script.json", json.dumps(script))
    assert parac("validate", cwd=root).code == 0

    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run = parac("agents", "run", "coder", "--task", "Fix add", "--model", "scripted:.parac/script.json",
                "--json", cwd=root, env=env)
    assert run.code == 0, run
    result = run.json()
    assert result["status"] == "completed" and result["tool_calls"] == 7
    answers = [m["content"] for m in result["transcript"] if m.get("role") == "tool"]
    assert "1 passed" in answers[2]
    assert json.loads(answers[3]) == {"result": 5}
    assert "command is not allowed" in answers[6]

    assert (root / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert git(root, "log", "-1", "--format=%s") == "Fix add"
    assert git(root, "status", "--porcelain", "--", "calc.py") == ""

    log = AuditLog.for_workspace(root)
    try:
        calls = [(e.subject, e.outcome) for e in log.entries(action="tool.call")
                 if e.data.get("agent") == "coder" and "call_id" in e.data]
        assert log.verify().ok
    finally:
        log.close()
    assert calls == [
        ("file_read", "ok"), ("file_edit", "ok"), ("shell_run", "ok"), ("ext.add", "ok"), ("git_add", "ok"),
        ("git_commit", "ok"), ("shell_run", "error"),
    ]


def test_the_default_policy_keeps_each_agent_to_its_job(tmp_path: Path, parac) -> None:
    root = tmp_path / "project"
    assert parac("init", str(root)).code == 0
    script = [{"tool_calls": [{"name": "shell_run", "arguments": {"command": ["ls"]}}]}, {"text": "done"}]
    write(root / ".parac/script.json", json.dumps(script))
    write(root / ".parac/agents/planner.yaml", "parent: pm\ntools: [shell_run]\n")
    run = parac("agents", "run", "planner", "--task", "x", "--model", "scripted:.parac/script.json", "--json",
                cwd=root)
    assert run.code == 0, run
    [answer] = [m["content"] for m in run.json()["transcript"] if m.get("role") == "tool"]
    assert "shell_run" in answer and 'is not granted to agent \\"planner\\"' in answer
