"""What a new user following the README meets: mistakes reported where they are, results shown where they ran.

Each test is a problem found by walking through the README with a fresh workspace, run as that user would run it.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

BROKEN_WORKFLOW = """description: templates that do not parse
steps:
  - id: a
    agent: coder
    task: "{{ inputs.nope }"
  - id: b
    agent: coder
    depends_on: [a]
    task: check
    when: "steps.a.output ==="
"""


def test_validate_reports_template_syntax_that_a_run_refuses(project: Path, parac):
    (project / ".parac" / "workflows" / "broken.yaml").write_text(BROKEN_WORKFLOW)
    result = parac("validate", cwd=project)
    assert result.code == 1, result
    lines = result.out.splitlines()
    assert ".parac/workflows/broken.yaml:5:11: error template-syntax: template syntax error: unexpected '}'" in lines
    assert any(line.startswith(".parac/workflows/broken.yaml:10:11: error template-syntax: ") for line in lines)
    plan = parac("workflow", "plan", "broken", cwd=project)
    assert plan.code == 1 and "template syntax error" in plan.err, plan


def test_default_workflows_templates_still_validate(project: Path, parac):
    result = parac("validate", "--json", cwd=project)
    assert result.code == 0 and result.json() == [], result


def test_scripted_model_errors_name_the_file_position_or_the_turn(project: Path, parac, tmp_path: Path):
    cases = {
        "bad.yaml": ("- text: [unclosed\n", "bad.yaml:2:1: not valid YAML: did not find expected ',' or ']'"),
        "bad.json": ('[{"text": "a",}]', "bad.json:1:15: not valid JSON: Expecting property name"),
        "typo.yaml": ("- txt: hello\n", "turn 1: expected text, tool_calls or error (with retryable, usage, thinking), found unknown key txt"),
    }
    for name, (text, expected) in cases.items():
        script = tmp_path / name
        script.write_text(text)
        result = parac("agents", "run", "coder", "--task", "x", "--model", f"scripted:{script}", cwd=project)
        assert result.code == 1, result
        assert expected in result.err, result
        assert "Traceback" not in result.err and "<unicode string>" not in result.err


def test_workflow_run_and_status_show_step_outputs_and_the_workflow_outputs(project: Path, parac):
    result = parac("workflow", "run", "code-review", "-i", "change=[b]rename[/b] x", "--dry-run", "echo", cwd=project)
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert "  review: completed  Review this change: [b]rename[/b] x" in lines
    assert "outputs:" in lines
    summary = lines.index("  summary: Summarise for the author in a short list:")
    assert lines[summary + 1] == "    Review: Review this change: [b]rename[/b] x"
    run_id = lines[0].split()[1]
    status = parac("workflow", "status", run_id, cwd=project)
    assert status.out.splitlines()[1:] == lines[1:], status


def test_tools_list_shows_whole_sentences(project: Path, parac):
    result = parac("tools", "list", cwd=project, env={"COLUMNS": "400"})
    assert result.code == 0, result
    (line,) = [line for line in result.out.splitlines() if line.lstrip().startswith("file_edit ")]
    assert line.rstrip().endswith("so an edit never lands somewhere the caller did not mean.")


def test_policy_check_refuses_arguments_the_tool_itself_would_refuse(project: Path, parac):
    wrong = parac("policy", "check", "coder", "shell_run", '{"argv": ["pytest"]}', "--json", cwd=project)
    assert wrong.code == 1, wrong
    data = wrong.json()
    assert data["allowed"] is True and data["would_run"] is False
    assert "'command' is a required property" in data["arguments"][-1]["reason"]
    right = parac("policy", "check", "coder", "shell_run", '{"command": ["pytest"]}', cwd=project)
    assert right.code == 0 and right.out.startswith("ALLOWED"), right
    without_arguments = parac("policy", "check", "coder", "shell_run", cwd=project)
    assert without_arguments.code == 0, without_arguments


def test_workflow_run_yes_does_not_ask_anyone_to_answer_the_gate(project: Path, parac):
    args = ("workflow", "run", "feature", "-i", "feature=login", "--dry-run", "fixed:risk: high")
    approved = parac(*args, "--yes", cwd=project)
    assert approved.code == 0, approved
    assert "  sign-off: approved with --yes (Approve step 'sign-off' of workflow 'feature'?)" in approved.err.splitlines()
    assert "answer with" not in approved.err
    waiting = parac(*args, "--no-wait", cwd=project)
    assert waiting.err.count("parac workflow approve") == 1, waiting  # the hint, once
    assert "waiting for a person; approve with: parac workflow approve" in waiting.err, waiting


def test_text_from_files_is_printed_as_written_not_as_console_markup(project: Path, parac):
    description = "Checks the [config] file and [/x] too"
    (project / ".parac" / "agents" / "brackets.yaml").write_text(f'parent: base\ndescription: "{description}"\n')
    for args in (("agents", "list"), ("agents", "show", "brackets")):
        result = parac(*args, cwd=project, env={"COLUMNS": "400"})
        assert result.code == 0, result
        assert description in result.out and "Traceback" not in result.err


def test_agents_show_names_every_agent_that_added_to_a_union(project: Path, parac):
    result = parac("agents", "show", "coder", cwd=project, env={"COLUMNS": "400"})
    assert result.code == 0, result
    (tools,) = [line for line in result.out.splitlines() if line.lstrip().startswith("tools ")]
    assert tools.rstrip().endswith("base, coder")


def test_a_negative_budget_is_refused_as_an_amount(project: Path, parac):
    result = parac("budget", "set", "daily", "-1", cwd=project)
    assert result.code == 2 and "-1.0 is not in the range x>=0" in result.err, result


def test_token_list_says_when_there_are_none(project: Path, parac):
    result = parac("token", "list", cwd=project)
    assert result.code == 0 and result.out == "" and result.err.startswith("no tokens"), result


def test_costs_report_keeps_each_row_on_one_line(project: Path, parac):
    assert parac("agents", "run", "coder", "--task", "x", cwd=project).code == 0
    result = parac("costs", "report", "--by", "agent", cwd=project, env={"COLUMNS": "80"})
    assert result.code == 0, result
    header, coder, total, blank, footnote, *_ = result.out.splitlines()  # then why 1 call is unpriced
    assert blank == "" and footnote.startswith("unpriced: 1 call(s) cost $0 because no price is known for echo")
    assert header.split() == ["agent", "calls", "errors", "tokens", "in", "tokens", "out", "unpriced", "USD"]
    assert coder.split()[0:3] == ["coder", "1", "0"] and coder.split()[-2:] == ["1", "0.000000"]
    assert total.split()[0] == "total"


def test_a_parac_yaml_that_does_not_load_stops_spending_instead_of_dropping_its_budgets(project: Path, parac):
    (project / ".parac" / "parac.yaml").write_text("default_model: echo\nbudgets: {daily_usd: lots}\n")
    expected = "error: parac.yaml does not load, so its budgets would not apply: "
    position = ".parac/parac.yaml:2:22: error type: \"budgets.daily_usd\""
    for args in (("agents", "run", "coder", "--task", "x"), ("budget", "show"), ("workflow", "plan", "feature", "-i", "feature=x")):
        result = parac(*args, cwd=project)
        assert result.code == 1, result
        assert result.err.startswith(expected) and position in result.err, result
        assert "has no model" not in result.err


def test_costs_by_provider_name_a_scripted_model_by_its_provider(project: Path, parac, tmp_path: Path):
    script = tmp_path / "turns.yaml"
    script.write_text("- text: done\n")
    assert parac("agents", "run", "coder", "--task", "x", "--model", f"scripted:{script}", cwd=project).code == 0
    report = parac("costs", "report", "--by", "provider", "--json", cwd=project).json()
    assert [row["key"] for row in report["rows"]] == ["scripted"]


def test_an_agent_or_skill_whose_file_has_errors_is_not_called_unknown(project: Path, parac):
    parac_dir = project / ".parac"
    (parac_dir / "agents" / "hot.yaml").write_text("parent: base\ntemperature: hot\n")
    (parac_dir / "agents" / "warm.yaml").write_text("parent: hot\n")
    (parac_dir / "skills" / "testing" / "SKILL.md").write_text("---\nname: testing\n---\nno description\n")
    position = ".parac/agents/hot.yaml:2:14: error type: \"temperature\""
    cases = [
        (("agents", "show", "hot"), 'error: agent "hot" has errors; run `parac validate`', position),
        (("agents", "run", "warm", "--task", "x"), 'error: agent "warm" inherits from "hot", which has errors', position),
        (("skills", "show", "testing"), 'error: skill "testing" has errors', "SKILL.md:2:1: error missing-key"),
        (("agents", "run", "coder", "--task", "x"), 'error: agent "coder" names skill "testing", which has errors',
         "SKILL.md:2:1: error missing-key"),
    ]
    for args, message, where in cases:
        result = parac(*args, cwd=project)
        assert result.code == 1, result
        assert result.err.startswith(message) and where in result.err, result
        assert "unknown" not in result.err, result


def test_a_broken_workflow_names_each_problem_once(project: Path, parac):
    (project / ".parac" / "workflows" / "two.yaml").write_text(
        "description: x\nsteps: [ {id: a, agent: nosuch}, {id: b, agent: nobody} ]\n"
    )
    result = parac("workflow", "run", "two", "--dry-run", "echo", cwd=project)
    assert result.code == 1, result
    assert result.err.count('unknown agent "nosuch"') == 1 and result.err.count('unknown agent "nobody"') == 1, result


def test_a_missing_api_key_fails_at_once_and_says_so(project: Path, parac, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = parac("agents", "run", "coder", "--task", "x", "--model", "openai/gpt-4o", cwd=project)
    assert result.code == 1, result
    assert "error: openai/gpt-4o: not sent: Missing credentials" in result.err, result
    assert "attempts" not in result.err and "HTTP 500" not in result.err


def test_init_where_no_folder_can_be_made_is_an_error_not_a_traceback(parac, tmp_path: Path):
    (tmp_path / "a-file").write_text("x")
    result = parac("init", str(tmp_path / "a-file" / "project"))
    assert result.code == 1, result
    assert result.err.startswith(f"error: cannot create {tmp_path / 'a-file' / 'project' / '.parac'}: Not a directory")
    assert "Traceback" not in result.err


def _lsp_message(stream, want_id: int) -> dict:
    """Read LSP frames until the reply to request ``want_id`` (notifications such as diagnostics are skipped)."""
    while True:
        length = 0
        while (line := stream.readline().strip()) != b"":
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        message = json.loads(stream.read(length))
        if message.get("id") == want_id:
            return message


def test_lsp_answers_a_request_without_params_for_a_method_it_does_not_know(project: Path):
    frames = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"processId": None, "capabilities": {}}},
        {"jsonrpc": "2.0", "method": "initialized", "params": {}},
        {"jsonrpc": "2.0", "method": "$/unknownNotification"},
        {"jsonrpc": "2.0", "id": 2, "method": "parac/noSuchMethod"},
        {"jsonrpc": "2.0", "id": 3, "method": "shutdown"},
        {"jsonrpc": "2.0", "method": "exit"},
    ]
    stdin = b"".join(b"Content-Length: %d\r\n\r\n%s" % (len(body), body) for body in (json.dumps(f).encode() for f in frames))
    proc = subprocess.run([sys.executable, "-m", "parac.server.cli", "lsp"], cwd=project, input=stdin, capture_output=True, timeout=120)
    out = io.BytesIO(proc.stdout)
    assert "result" in _lsp_message(out, 1)
    assert _lsp_message(out, 2)["error"]["code"] == -32601  # method not found, not silence
    assert _lsp_message(out, 3)["result"] is None
    assert b"Traceback" not in proc.stderr and b"Internal Error" not in proc.stderr
