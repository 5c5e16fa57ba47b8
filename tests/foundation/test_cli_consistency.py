"""One rule for every command (issue 19 item 5): where ``-w`` goes, what each exit code means, "did you mean"."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.parametrize("args", [
    ("validate",),
    ("agents", "list", "--json"),
    ("workflow", "list", "--json"),
    ("tools", "list", "--json", "--no-connect"),
    ("mcp", "config", "claude-desktop"),
])
def test_workspace_before_and_after_the_command(project: Path, tmp_path: Path, parac, args):
    """Run from a folder with no workspace above it: the command only works if -w reached it."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    lost = parac(*args, cwd=elsewhere)
    assert lost.code != 0 and "Traceback" not in lost.err, lost
    before = parac("-w", str(project), *args, cwd=elsewhere)
    assert before.code == 0, before
    for option in ("-w", "--workspace"):
        after = parac(*args, option, str(project), cwd=elsewhere)
        assert after.code == 0, after
        assert after.out == before.out


def test_workspace_after_the_command_wins_over_the_one_before(project: Path, tmp_path: Path, parac):
    other = tmp_path / "other"
    assert parac("init", str(other), "--template", "empty").code == 0
    listed = parac("-w", str(other), "workflow", "list", "--json", "-w", str(project), cwd=tmp_path).json()
    assert {row["name"] for row in listed} == {"feature", "code-review"}  # the default template's, not the empty one's


def test_exit_codes_follow_the_table(project: Path, parac):
    assert parac("validate", cwd=project).code == 0  # ok
    denied = parac("tools", "call", "file_write", "--args", '{"path": "a.txt", "content": "x"}', cwd=project)
    assert denied.code == 1 and "not granted to direct calls" in denied.err, denied  # denied, like policy check
    assert not (project / "a.txt").exists()
    refused = parac("policy", "check", "tester", "git_push", cwd=project)
    assert refused.code == 1, refused
    usage = parac("tools", "call", "git_status", "--args", "[", cwd=project)
    assert usage.code == 2 and "not JSON" in usage.err, usage  # usage
    unknown_option = parac("validate", "--frobnicate", cwd=project)
    assert unknown_option.code == 2, unknown_option
    waiting = parac("workflow", "run", "feature", "-i", "feature=payments (risk: high)", "--no-wait", cwd=project)
    assert waiting.code == 3, waiting  # waiting for a person


@pytest.mark.parametrize(("typed", "meant"), [(("agent", "list"), "agents"), (("workflow", "rnu"), "run"),
                                               (("tool", "list"), "tools")])
def test_did_you_mean_for_commands_and_groups(project: Path, parac, typed, meant):
    result = parac(*typed, cwd=project)
    assert result.code == 2, result
    assert f'(did you mean "{meant}"?)' in result.err and "Traceback" not in result.err
