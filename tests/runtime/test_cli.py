"""`parac agents run`, `parac costs report` and `parac budget` as a user runs them (real subprocesses)."""

from __future__ import annotations

import json
from pathlib import Path

from support.openai_server import OpenAIServer, Reply
from support.runtime import set_settings, write_script


def test_agents_run_echo_text_and_json(project: Path, parac):
    result = parac("agents", "run", "coder", "--task", "ship it", cwd=project)
    assert result.code == 0, result
    assert result.out == "ship it\n"
    assert "completed: 1 turn(s)" in result.err
    as_json = parac("agents", "run", "coder", "--task", "ship it", "--json", cwd=project)
    data = as_json.json()
    assert data["status"] == "completed" and data["output"] == "ship it" and data["agent"] == "coder"
    assert data["transcript"][-1] == {"role": "assistant", "content": "ship it"}


def test_agents_run_streams_and_takes_the_task_from_stdin(project: Path, parac):
    import subprocess
    import sys

    proc = subprocess.run(
        [str(Path(sys.executable).parent / "parac"), "agents", "run", "coder", "--task", "-", "--stream", "--model", "fixed:streamed words here"],
        cwd=project, input="ignored task", capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "streamed words here\n"


def test_agents_run_bad_input_is_one_clear_line(project: Path, parac, tmp_path):
    unknown = parac("agents", "run", "codr", "--task", "x", cwd=project)
    assert unknown.code == 1 and 'unknown agent "codr" (did you mean "coder"?)' in unknown.err
    assert "Traceback" not in unknown.err
    no_provider = parac("agents", "run", "coder", "--task", "x", "--model", "nowhere/model", cwd=project)
    assert no_provider.code == 1 and 'no provider serves model "nowhere/model"' in no_provider.err
    empty = parac("agents", "run", "coder", "--task", "  ", cwd=project)
    assert empty.code == 2 and "the task is empty" in empty.err
    script = write_script(tmp_path / "loop.yaml", [{"tool_calls": [{"name": "nope", "arguments": {}}]}] * 3)
    looping = parac("agents", "run", "coder", "--task", "x", "--model", script, "--max-iterations", "2", cwd=project)
    assert looping.code == 1 and "max_iterations=2" in looping.err


def test_run_against_a_local_server_then_report_costs(project: Path, parac):
    with OpenAIServer() as server:
        set_settings(project, providers={"local": {"api_base": server.base_url, "model_prefix": "openai"}})
        server.script("gpt-4o-mini", Reply.message("from the server", prompt_tokens=2000, completion_tokens=1000))
        result = parac("agents", "run", "coder", "--task", "hi", "--model", "local/gpt-4o-mini", cwd=project)
    assert result.code == 0, result
    assert result.out == "from the server\n"
    parac("agents", "run", "reviewer", "--task", "hello", cwd=project)
    by_agent = parac("costs", "report", "--by", "agent", "--json", cwd=project).json()
    rows = {row["key"]: row for row in by_agent["rows"]}
    assert set(rows) == {"coder", "reviewer"}
    assert rows["coder"]["prompt_tokens"] == 2000 and rows["coder"]["cost_usd"] > 0
    assert rows["reviewer"]["unpriced_calls"] == 1
    by_provider = parac("costs", "report", "--by", "provider", "--since", "1d", "--json", cwd=project).json()
    assert {row["key"] for row in by_provider["rows"]} == {"local", "echo"}
    table = parac("costs", "report", cwd=project)
    assert table.code == 0 and "local/gpt-4o-mini" in table.out and "total" in table.out
    bad = parac("costs", "report", "--since", "last tuesday", cwd=project)
    assert bad.code == 2 and "expected a duration like 7d" in bad.err


def test_budget_set_show_and_the_refusal(project: Path, parac):
    set_settings(project, prices={"echo": {"input_per_mtok": 1, "output_per_mtok": 1}})
    assert parac("budget", "set", "daily", "0.0001", cwd=project).code == 0
    shown = parac("budget", "show", "--json", cwd=project).json()
    [daily] = [row for row in shown["limits"] if row["kind"] == "daily"]
    assert daily["limit_usd"] == 0.0001 and "parac budget set" in daily["limit"]
    refused = parac("agents", "run", "coder", "--task", "a task long enough to cost", cwd=project)
    assert refused.code == 1 and "budget daily_usd (workspace, set in parac budget set) would be exceeded" in refused.err
    assert parac("budget", "unset", "daily", cwd=project).code == 0
    assert parac("agents", "run", "coder", "--task", "now it runs", cwd=project).code == 0
    unknown = parac("budget", "set", "total", "5", "--agent", "nobody", cwd=project)
    assert unknown.code == 1 and 'unknown agent "nobody"' in unknown.err
    assert parac("budget", "set", "weekly", "5", cwd=project).code == 2


def test_budget_show_names_every_limit_on_an_agent_and_the_tighter_one_holds(project: Path, parac):
    tokens = parac("agents", "run", "coder", "--task", "x", "--json", cwd=project).json()["usage"]["prompt_tokens"]
    # a call's prompt costs $0.30: over coder's own $0.10, under every other limit
    set_settings(project, prices={"echo": {"input_per_mtok": 0.3 / tokens * 1e6, "output_per_mtok": 0}})
    assert parac("budget", "set", "per_agent", "1000", cwd=project).code == 0
    assert parac("budget", "set", "per_agent", "0.1", "--agent", "coder", cwd=project).code == 0
    shown = parac("budget", "show", "--json", cwd=project).json()
    on_coder = sorted((row["limit"], row["limit_usd"]) for row in shown["limits"] if row["key"] == "agent:coder")
    assert on_coder == [
        ("per_agent_usd (agent coder, set in parac budget set)", 0.1),
        ("per_agent_usd (workspace, agent coder, set in parac budget set)", 1000.0),
    ]
    refused = parac("agents", "run", "coder", "--task", "x", cwd=project)
    assert refused.code == 1 and "budget per_agent_usd (agent coder, set in parac budget set)" in refused.err


def test_threshold_warnings_reach_stderr(project: Path, parac):
    tokens = parac("agents", "run", "coder", "--task", "x", "--json", cwd=project).json()["usage"]["prompt_tokens"]
    # one call's prompt costs 85% of the total budget (and stays under the agents' per_run_usd of 0.5)
    price = 0.425 / tokens * 1e6
    set_settings(project, prices={"echo": {"input_per_mtok": price, "output_per_mtok": 0}}, budgets={"total_usd": 0.5})
    first = parac("agents", "run", "coder", "--task", "x", cwd=project)
    assert first.code == 0, first
    assert "warning: 80% of budget total_usd (workspace, set in parac.yaml) spent ($0.4250 of $0.5000)" in first.err
    second = parac("agents", "run", "coder", "--task", "x", cwd=project)
    assert second.code == 1 and "would be exceeded" in second.err
    [total] = json.loads(parac("budget", "show", "--json", cwd=project).out)["limits"]
    assert total["percent"] == 85.0
