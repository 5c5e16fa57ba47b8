"""The verbs a new user reaches for: `agents|skills|workflow new`, `doctor`, `completion`, `mcp uninstall`, and
`costs report`'s word on unpriced calls. Each runs as the installed `parac`, in a real workspace."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from support.paths import PARAC


def tree_hash(*roots: Path, but: str | None = None) -> str:
    """Every file's path and bytes under `roots` (but the folder `but` of each): any write, creation or removal
    changes it."""
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file() and not (but and p.is_relative_to(root / but))):
            digest.update(str(path).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def home_env(home: Path) -> dict[str, str]:
    home.mkdir(exist_ok=True)
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "APPDATA": "", "LOCALAPPDATA": ""}


# -- scaffolding ---------------------------------------------------------------------------------------------------


def test_new_agent_skill_and_workflow_validate_and_run_offline(project: Path, parac):
    skill = parac("skills", "new", "triage", "--description", "Sort issues by urgency", "--json", cwd=project)
    assert skill.code == 0, skill
    assert skill.json() == {"kind": "skill", "name": "triage", "replaced": False,
                            "path": str(project.resolve() / ".parac/skills/triage/SKILL.md")}
    agent = parac("agents", "new", "helper", "--parent", "coder", "--tool", "file_read", "--skill", "triage",
                  "--description", 'Says "hi": a helper', cwd=project)
    assert agent.code == 0, agent
    shown = parac("agents", "show", "helper", "--json", cwd=project).json()
    assert shown["chain"] == ["helper", "coder", "base"]
    assert shown["description"] == 'Says "hi": a helper'
    assert "file_read" in shown["tools"] and "triage" in shown["skills"]
    flow = parac("workflows", "new", "chore", "--agent", "helper", "--json", cwd=project)
    assert flow.code == 0 and flow.json()["path"].endswith(".parac/workflows/chore.yaml"), flow
    assert parac("validate", "--json", cwd=project).json() == []
    ran = parac("agents", "run", "helper", "--task", "ping", "--model", "echo", cwd=project)
    assert ran.code == 0 and ran.out.strip() == "ping", ran
    run = parac("workflow", "run", "chore", "-i", "task=tidy up", "--dry-run", "echo", "--json", cwd=project)
    assert run.code == 0, run
    assert run.json()["status"] == "completed"
    refused = parac("agents", "new", "helper", cwd=project)  # exists: refused, and recorded as refused
    assert refused.code == 1, refused
    trail = parac("audit", "tail", "--json", "-n", "50", cwd=project)
    entries = [json.loads(line) for line in trail.out.splitlines()]
    created = [(e["subject"], e["outcome"], e["actor"].split(":")[0]) for e in entries if e["action"] == "tool.call"]
    assert created == [("create_skill", "ok", "cli"), ("create_agent", "ok", "cli"), ("create_workflow", "ok", "cli"),
                       ("create_agent", "error", "cli")], trail


def test_an_agent_without_a_parent_has_its_own_prompt_and_runs(empty_project: Path, parac):
    created = parac("agents", "new", "solo", "--model", "echo", cwd=empty_project)
    assert created.code == 0, created
    assert parac("agents", "run", "solo", "--task", "alone", cwd=empty_project).out.strip() == "alone"
    refused = parac("workflows", "new", "w", cwd=empty_project.parent.parent)  # outside any workspace
    assert refused.code == 1 and "no .parac/ folder" in refused.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("agents", "new", "two words"), 'bad agent name "two words": agent names are a letter or digit'),
        (("agents", "new", "-x"), "No such option '-x'"),
        (("agents", "new", "kid", "--parent", "codr"), '--parent: unknown agent "codr" (did you mean "coder"?)'),
        (("agents", "new", "coder"), "coder.yaml already exists (--force replaces it)"),
        (("agents", "new", "kid", "--tool", "file_raed"),
         '.parac/agents/kid.yaml:3:9: error unknown-tool: unknown tool "file_raed" (did you mean "file_read"?)'),
        (("agents", "new", "kid", "--skill", "nope"), '.parac/agents/kid.yaml:3:10: error unknown-skill: unknown skill "nope"'),
        (("agents", "new", "kid", "--model", "no-such/provider-model", "--parent", "coder"), "kid.yaml:3:8: error"),
        (("skills", "new", "Code_Review"), 'bad skill name "Code_Review": skill names are lowercase letters'),
        (("skills", "new", "x", "--description", ""), "skills/x/SKILL.md:3:14: error"),
        (("workflows", "new", "flow", "--kind", "fsmm"), '--kind: unknown workflow kind "fsmm"; expected one of: dag'),
        (("workflow", "new", "flow", "--agent", "codr"), '--agent: unknown agent "codr" (did you mean "coder"?)'),
        (("workflow", "new", "feature"), "feature.yaml already exists (--force replaces it)"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(project: Path, parac, args: tuple[str, ...], message: str):
    before = tree_hash(project / ".parac", but="state")  # the audit trail in state/ records a refusal
    result = parac(*args, cwd=project)
    assert result.code in (1, 2), result
    assert message in result.err, result
    assert tree_hash(project / ".parac", but="state") == before


def test_force_replaces_an_existing_file_with_one_that_validates(project: Path, parac):
    result = parac("agents", "new", "coder", "--parent", "base", "--description", "replaced", "--force", "--json", cwd=project)
    assert result.code == 0 and result.json()["replaced"] is True, result
    assert "replaced" in (project / ".parac/agents/coder.yaml").read_text()
    assert parac("validate", cwd=project).code == 0


# -- doctor --------------------------------------------------------------------------------------------------------


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        self.send_response(401)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_doctor_reports_each_check_and_changes_nothing(project: Path, parac, tmp_path: Path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = project / ".parac" / "parac.yaml"
        settings.write_text(settings.read_text() + (
            "providers:\n"
            f"  local: {{api_base: 'http://127.0.0.1:{server.server_port}/v1', api_key_env: PARAC_TEST_KEY}}\n"
        ))
        home = tmp_path / "home"
        env = {**home_env(home), "PARAC_TEST_KEY": "sk-test"}
        assert parac("mcp", "install", "claude-code", "--workspace", str(project), env=env).code == 0
        before = tree_hash(project, home)
        result = parac("doctor", cwd=project, env=env)
        assert tree_hash(project, home) == before
    finally:
        server.shutdown()
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert "✓ validation: every file validates" in lines
    assert "✓ models: echo: nothing missing" in lines
    assert f"✓ sandbox: bubblewrap starts ({shutil.which('bwrap')})" in lines
    assert "✓ providers.local key: $PARAC_TEST_KEY is set" in lines
    assert f"✓ providers.local reachable: http://127.0.0.1:{server.server_port}/v1 answered HTTP 401" in lines
    assert any(line.startswith("✓ client claude-code: Claude Code starts parac (") for line in lines), result
    assert lines[-1] == "no problems found"


def test_doctor_names_what_is_broken_with_its_fix_and_exits_1(project: Path, parac, tmp_path: Path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    (project / ".parac/agents/hosted.yaml").write_text("parent: coder\nmodel: openai/gpt-4o-mini\n")
    settings = project / ".parac" / "parac.yaml"
    settings.write_text(settings.read_text() + (
        "providers:\n  gone: {api_base: 'http://127.0.0.1:9/v1', api_key_env: PARAC_UNSET_KEY, api_key_file: nokey}\n"
        "  binary: {api_key_file: key.bin}\n"
    ))
    (project / ".parac/key.bin").write_bytes(b"\xff\xfe not text")  # read as a model call would: no crash
    (project / ".parac/agents/broken.yaml").write_text("parent: nobody\n")
    env = {**home_env(tmp_path / "home"), "PARAC_UNSET_KEY": "", "PARAC_BWRAP": str(tmp_path / "no-bwrap")}
    before = tree_hash(project)
    result = parac("doctor", "--json", cwd=project, env=env)
    assert tree_hash(project) == before
    assert result.code == 1, result
    report = result.json()
    found = {f["check"]: f for f in report["findings"]}
    assert report["ok"] is False
    assert found["validation"]["status"] == "broken" and found["validation"]["fix"].startswith("parac validate")
    assert "broken.yaml:1:9: error unknown-parent" in found["validation"]["detail"]
    assert found["providers.gone reachable"]["status"] == "broken"
    assert "providers.gone.api_base" in found["providers.gone reachable"]["fix"]
    keys = [f for f in report["findings"] if f["check"] == "providers.gone key"]
    assert [f["fix"].split()[0] for f in keys] == ["export", "put"]
    lines = settings.read_text().splitlines()
    for provider, problem in (("gone", "cannot read"), ("binary", "is not UTF-8 text")):
        [line] = [n for n, text in enumerate(lines, 1) if text.startswith(f"  {provider}:")]
        column = lines[line - 1].index("api_key_file") + 1
        detail = found[f"providers.{provider} key"]["detail"]
        assert detail.startswith(f"{settings}:{line}:{column}: providers.{provider}.api_key_file: "), detail
        assert problem in detail and "not text" not in detail  # the file named, never what it holds
    assert found["editor clients"]["fix"].startswith("parac mcp install claude-code")
    assert found["model openai/gpt-4o-mini"]["detail"] == "litellm needs OPENAI_API_KEY, which is not set"
    assert found["sandbox"]["status"] == "broken" and "no-bwrap not found" in found["sandbox"]["detail"]
    assert found["sandbox"]["fix"].startswith("install bubblewrap")
    text = parac("doctor", cwd=project, env=env)
    assert text.code == 1 and "✗ providers.gone key: $PARAC_UNSET_KEY is not set" in text.out
    assert "    fix: export PARAC_UNSET_KEY=..." in text.out
    assert text.out.splitlines()[-1] == "7 problem(s) found"


def test_doctor_says_when_a_policy_runs_commands_unconfined(project: Path, parac, tmp_path: Path):
    (project / ".parac/policies/loose.yaml").write_text("shell: {sandbox: none}\n")
    result = parac("doctor", "--json", cwd=project, env={**home_env(tmp_path / "home"), "PARAC_BWRAP": "/no/bwrap"})
    assert result.code == 0, result
    (sandbox,) = [f for f in result.json()["findings"] if f["check"] == "sandbox"]
    assert sandbox["status"] == "note" and "sandbox: none" in sandbox["detail"]


def test_doctor_outside_a_workspace_says_how_to_make_one(parac, tmp_path: Path):
    result = parac("doctor", cwd=tmp_path, env=home_env(tmp_path / "home"))
    assert result.code == 1
    assert "✗ workspace: no .parac/ folder in" in result.out and "    fix: parac init" in result.out


def test_doctor_flags_an_editor_entry_whose_interpreter_is_gone(project: Path, parac, tmp_path: Path):
    (project / ".mcp.json").write_text(json.dumps({"mcpServers": {"parac": {
        "command": str(tmp_path / "old-venv/bin/python"), "args": ["-m", "parac.server.mcp", "serve"]}}}))
    result = parac("doctor", "--json", cwd=project, env=home_env(tmp_path / "home"))
    assert result.code == 1, result
    (finding,) = [f for f in result.json()["findings"] if f["check"] == "client claude-code"]
    assert finding["status"] == "broken" and finding["fix"] == "parac mcp install claude-code --name parac"


# -- completion ----------------------------------------------------------------------------------------------------


def complete_in_bash(script: str, words: list[str], cwd: Path) -> list[str]:
    """What bash offers after loading `script`, for the command line `words` with the cursor on the last word."""
    program = (
        f"{script}\n"
        f"COMP_WORDS=({' '.join(_bash_quote(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
        "_parac_completion parac\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{Path(PARAC).parent}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", "--norc", "-c", program], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


def _bash_quote(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'"


def test_bash_completion_completes_commands_options_and_the_workspace_names(project: Path, parac):
    script = parac("completion", "bash", cwd=project)
    assert script.code == 0 and "complete -o nosort -F _parac_completion parac" in script.out, script
    run = parac("workflow", "run", "code-review", "-i", "change=x", "--dry-run", "echo", "--json", cwd=project)
    run_id = run.json()["run_id"]
    parac("skills", "new", "triage", cwd=project)
    bash = script.out
    assert {"agents", "completion", "doctor", "workflow", "workflows"} <= set(complete_in_bash(bash, ["parac", ""], project))
    assert complete_in_bash(bash, ["parac", "agents", "show", "re"], project) == ["release-manager", "reviewer"]
    assert complete_in_bash(bash, ["parac", "agents", "run", "--model", "echo", "te"], project) == ["tester"]
    assert complete_in_bash(bash, ["parac", "workflow", "run", "code-"], project) == ["code-review"]
    assert complete_in_bash(bash, ["parac", "workflows", "status", ""], project) == [run_id]
    assert complete_in_bash(bash, ["parac", "skills", "show", "tr"], project) == ["triage"]
    assert "file_read" in complete_in_bash(bash, ["parac", "tools", "call", "file_"], project)
    assert complete_in_bash(bash, ["parac", "policy", "check", "coder", "shell_r"], project) == ["shell_run"]
    assert complete_in_bash(bash, ["parac", "agents", "new", "x", "--par"], project) == ["--parent"]
    assert complete_in_bash(bash, ["parac", "agents", "new", "x", "--parent", "ar"], project) == ["architect"]
    assert complete_in_bash(bash, ["parac", "agents", "new", "x", "--skill", "t"], project) == ["testing", "triage"]
    assert complete_in_bash(bash, ["parac", "-w", str(project), "agents", "show", "pm"], project.parent) == ["pm"]
    assert complete_in_bash(bash, ["parac", "agents", "show", "-w", str(project), "pm"], project.parent) == ["pm"]


def test_the_completion_path_imports_no_heavy_module(project: Path):
    env = {**os.environ, "_PARAC_COMPLETE": "bash_complete", "PYTHONPROFILEIMPORTTIME": "1"}  # -X importtime
    for words in ("parac agents show c", "parac workflow status r", "parac skills show x", "parac policy check coder f"):
        done = subprocess.run(
            [PARAC],
            cwd=project, env={**env, "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)},
            capture_output=True, text=True, timeout=60,
        )
        imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
        assert "parac.server.cli.names" in imported, done.stderr[-2000:]
        heavy = {m for m in imported if m.split(".")[0] in {"pydantic", "litellm", "mcp", "rich", "yaml", "httpx"}}
        assert not heavy, (words, sorted(heavy)[:10])


# What zsh and fish offer for a command line, through the script `parac completion SHELL` prints. zsh's completion
# builtins work only inside a completion widget: stand-ins print what the script would offer.
COMPLETE_IN = {
    "zsh": "autoload -U compinit && compinit -u && source /dev/stdin\n"
           "compadd() { local name=${@[-1]}; print -l -- ${(P)name}; }\n"
           "_describe() { local name=$3; print -l -- ${${(P)name}%%:*}; }\n"
           "words=(%(words)s); CURRENT=${#words}\n"
           "_parac_completion",
    "fish": "source; complete --do-complete '%(words)s'",
}


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_complete_the_workspace_names(project: Path, parac, tmp_path: Path, shell: str):
    script = parac("completion", shell, cwd=project)
    assert script.code == 0, script
    env = {**os.environ, "HOME": str(tmp_path), "PATH": f"{Path(PARAC).parent}:{os.environ['PATH']}"}

    def offered(line: str) -> list[str]:
        program = COMPLETE_IN[shell] % {"words": line}
        done = subprocess.run([shell, "-c", program], input=script.out, cwd=project, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done
        return [word.split("\t")[0] for word in done.stdout.splitlines() if word]

    assert offered("parac agents show re") == ["release-manager", "reviewer"]
    assert offered("parac workflow run code-") == ["code-review"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_load_in_the_installed_shells(project: Path, parac, tmp_path: Path, shell: str):
    script = parac("completion", shell, cwd=project)
    assert script.code == 0, script
    load = {"bash": "source /dev/stdin; complete -p parac",
            "zsh": "autoload -U compinit && compinit -u && source /dev/stdin && whence -w _parac_completion",
            "fish": "source; complete -c parac"}[shell]
    loaded = subprocess.run([shell, "-c", load], input=script.out, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "HOME": str(tmp_path)})
    assert loaded.returncode == 0 and "parac" in loaded.stdout, loaded


# -- MCP clients ---------------------------------------------------------------------------------------------------

CLIENT_FILES = {
    "claude-desktop": ".config/Claude/claude_desktop_config.json",
    "claude-code": "PROJECT/.mcp.json",
    "claude-code-user": ".claude.json",
    "cline": ".config/Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json",
    "roo": "PROJECT/.roo/mcp.json",
    "kilo": "PROJECT/.kilocode/mcp.json",
    "cursor": "PROJECT/.cursor/mcp.json",
    "cursor-global": ".cursor/mcp.json",
    "vscode": "PROJECT/.vscode/mcp.json",
}


@pytest.mark.parametrize("client", sorted(CLIENT_FILES))
def test_install_then_uninstall_leaves_the_other_servers_as_they_were(project: Path, parac, tmp_path: Path, client: str):
    home = tmp_path / "home"
    env = home_env(home)
    relative = CLIENT_FILES[client]
    path = project / relative.removeprefix("PROJECT/") if relative.startswith("PROJECT/") else home / relative
    key = "servers" if client == "vscode" else "mcpServers"
    other = {"command": "node", "args": ["other.js"], "env": {"TOKEN_ENV": "X"}}
    original = {key: {"other": other}, "projects": {"/elsewhere": {"mcpServers": {"parac": {"command": "keep"}}}}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(original))
    installed = parac("mcp", "install", client, "--workspace", str(project), env=env)
    assert installed.code == 0, installed
    entry = json.loads(path.read_text())[key]["parac"]
    assert entry["args"][-1] == str(project.resolve())
    if client.startswith("claude-code"):
        assert entry == {"type": "stdio", "command": entry["command"], "args": entry["args"], "env": {}}
    removed = parac("mcp", "uninstall", client, "--workspace", str(project), env=env)
    assert removed.code == 0 and f"removed MCP server 'parac'" in removed.out, removed
    assert json.loads(path.read_text()) == original
    assert "parac" in json.loads(path.with_name(path.name + ".bak").read_text())[key]
    again = parac("mcp", "uninstall", client, "--workspace", str(project), env=env)
    assert again.code == 0 and "nothing to remove" in again.out
    assert json.loads(path.read_text()) == original


def test_uninstall_refuses_a_file_it_cannot_read_and_leaves_it(project: Path, parac, tmp_path: Path):
    path = project / ".mcp.json"
    path.write_text('{"mcpServers": {"parac": {},}')
    result = parac("mcp", "uninstall", "claude-code", "--workspace", str(project), env=home_env(tmp_path / "home"))
    assert result.code == 1 and f"{path}:1:" in result.err, result
    assert path.read_text() == '{"mcpServers": {"parac": {},}' and not path.with_name(".mcp.json.bak").exists()


# -- costs ---------------------------------------------------------------------------------------------------------


def test_costs_report_explains_unpriced_calls_and_parac_yaml_prices_any_model(project: Path, parac):
    assert parac("agents", "run", "coder", "--task", "hello", "--model", "echo", cwd=project).code == 0
    report = parac("costs", "report", cwd=project, env={"COLUMNS": "200"})
    assert "unpriced: 1 call(s) cost $0 because no price is known for echo" in report.out, report
    assert "    echo: {input_per_mtok: 1.0, output_per_mtok: 2.0}" in report.out
    assert parac("costs", "report", "--json", cwd=project).json()["unpriced_models"] == ["echo"]
    settings = project / ".parac" / "parac.yaml"
    settings.write_text(settings.read_text() + "prices:\n  echo: {input_per_mtok: 1, output_per_mtok: 0}\n"
                        "  fixed: {input_per_mtok: 0, output_per_mtok: 1}\n")
    assert parac("agents", "run", "coder", "--task", "hello", "--model", "echo", cwd=project).code == 0
    assert parac("agents", "run", "coder", "--task", "x", "--model", "fixed:four words in all", cwd=project).code == 0
    rows = {row["key"]: row for row in parac("costs", "report", "--json", cwd=project).json()["rows"]}
    assert rows["echo"]["unpriced_calls"] == 1  # the call made before the price was set
    assert rows["echo"]["cost_usd"] == pytest.approx(rows["echo"]["prompt_tokens"] / 2 / 1e6)
    fixed = rows["fixed:four words in all"]
    assert fixed["unpriced_calls"] == 0 and fixed["completion_tokens"] > 0
    assert fixed["cost_usd"] == pytest.approx(fixed["completion_tokens"] / 1e6)
