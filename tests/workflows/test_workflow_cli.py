"""`parac workflow …` as a user runs it: real subprocesses on a project made by `parac init`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from support.openai_server import OpenAIServer, Reply
from support.runtime import set_settings
from support.paths import PARAC

RISKY = "feature=payments (risk: high)"


def _spawn(project: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([PARAC, *args], cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)


def test_list_show_and_plan(project: Path, parac):
    listed = parac("workflow", "list", "--json", cwd=project).json()
    assert {row["name"] for row in listed} == {"feature", "code-review"}
    shown = parac("workflow", "show", "feature", "--json", cwd=project).json()
    assert [step["id"] for step in shown["steps"]] == ["design", "implement", "test", "review", "sign-off"]
    plan = parac("workflow", "plan", "feature", "-i", "feature=login", "--json", cwd=project)
    assert plan.code == 0, plan
    data = plan.json()
    assert [(s["id"], s["agent"], s["model"]) for s in data["steps"][:2]] == [
        ("design", "architect", "echo"), ("implement", "coder", "echo")]
    assert data["steps"][0]["prompt_tokens"] > 0 and data["ok"] is True
    assert any(b["limit"].startswith("per_run_usd (run") and b["limit_usd"] == 5.0 for b in data["budgets"])
    assert parac("workflow", "run", "feature", "-i", "feature=login", "--plan", "--json", cwd=project).json() == data


def test_plan_refuses_a_run_that_would_break_a_budget(project: Path, parac):
    set_settings(project, default_model="openai/gpt-4o")
    path = project / ".parac" / "workflows" / "feature.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["budget_usd"] = 0.01
    path.write_text(yaml.safe_dump(spec))
    plan = parac("workflow", "plan", "feature", "-i", "feature=login", "--json", cwd=project)
    assert plan.code == 1
    data = plan.json()
    assert data["ok"] is False and data["total_usd"] > 0.01
    assert data["steps"][0]["model"] == "openai/gpt-4o" and data["steps"][0]["usd"] > 0
    assert "would break budget per_run_usd (run, set in workflow budget_usd)" in plan.err
    run = parac("workflow", "run", "feature", "-i", "feature=login", cwd=project)
    assert run.code == 1 and "would break budget per_run_usd" in run.err and "Traceback" not in run.err
    assert parac("workflow", "runs", "--json", cwd=project).json() == []  # nothing was started
    dry = parac("workflow", "run", "feature", "-i", "feature=login", "--dry-run", "echo", "--json", cwd=project)
    assert dry.code == 0, dry  # an offline dry run costs nothing, so it passes every budget


def test_run_dry_run_json_shape(project: Path, parac):
    result = parac("workflow", "run", "feature", "-i", "feature=login", "--dry-run", "echo", "--yes", "--json",
                   cwd=project)
    assert result.code == 0, result
    data = result.json()
    assert set(data) == {"run_id", "workflow", "status", "steps", "outputs", "cost", "error", "forked_from"}
    assert data["forked_from"] is None  # a fork names its parent: {"run_id", "step"}
    assert data["status"] == "completed" and data["workflow"] == "feature"
    for step in data["steps"]:
        assert {"id", "status", "output", "error", "attempts", "cost"} <= set(step)
    assert {s["id"]: s["status"] for s in data["steps"]} == {
        "design": "completed", "implement": "completed", "test": "completed", "review": "completed",
        "sign-off": "skipped"}
    assert data["outputs"]["design"] == "Design login"
    status = parac("workflow", "status", data["run_id"], "--json", cwd=project).json()
    assert status == data
    runs = parac("workflow", "runs", "--json", cwd=project).json()
    assert [(r["run_id"], r["status"]) for r in runs] == [(data["run_id"], "completed")]
    fixed = parac("workflow", "run", "code-review", "-i", "change=x", "--dry-run", "fixed:LGTM", "--json",
                  cwd=project).json()
    assert fixed["outputs"] == {"summary": "LGTM"}
    (project / "turns.yaml").write_text('turns:\n  - text: "from the script"\n')
    scripted = parac("workflow", "run", "code-review", "-i", "change=x", "--dry-run", "scripted:turns.yaml", "--json",
                     cwd=project).json()
    assert scripted["outputs"] == {"summary": "from the script"}
    randomly = parac("workflow", "run", "code-review", "-i", "change=x", "--dry-run", "random", "--json", cwd=project)
    assert randomly.code == 0 and randomly.json()["status"] == "completed"


def test_approve_from_cli_while_the_run_waits(project: Path, parac):
    proc = _spawn(project, "workflow", "run", "feature", "-i", RISKY, "--json")
    try:
        waiting = []
        for _ in range(600):
            status = parac("workflow", "runs", "--json", cwd=project)
            waiting = [r for r in status.json() if r["status"] == "waiting_approval"] if status.code == 0 else []
            if waiting or proc.poll() is not None:
                break
        assert waiting, proc.communicate()
        run_id = waiting[0]["run_id"]
        text = parac("workflow", "status", run_id, cwd=project)
        assert f"waiting: parac workflow approve {run_id} sign-off" in text.out
        approved = parac("workflow", "approve", run_id, "sign-off", "-c", "ship it", cwd=project)
        assert approved.code == 0, approved
        assert f"step sign-off of run {run_id} approved by cli" in approved.out
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "waiting for approval" in err and f"parac workflow approve {run_id} sign-off" in err
    data = json.loads(out)
    gate = [s for s in data["steps"] if s["id"] == "sign-off"][0]
    assert data["status"] == "completed" and gate["output"]["comment"] == "ship it"
    again = parac("workflow", "approve", run_id, "sign-off", cwd=project)
    assert again.code == 1 and "is not waiting for approval (it is approved)" in again.err
    trail = [json.loads(line) for line in parac("audit", "tail", "-n", "1000", "--json", cwd=project).out.splitlines()]
    mine = [entry for entry in trail if entry["subject"] == run_id]
    actions = [entry["action"] for entry in mine]
    assert actions.count("workflow.step.start") == 4 and actions.count("workflow.step.end") == 5
    decided = [entry for entry in mine if entry["action"] == "workflow.approval.decided"]
    assert [entry["actor"].split(":")[0] for entry in decided] == ["cli"]  # who approved is on the audit trail
    assert parac("audit", "verify", cwd=project).code == 0


def test_reject_with_no_wait_then_resume(project: Path, parac):
    paused = parac("workflow", "run", "feature", "-i", RISKY, "--no-wait", "--json", cwd=project)
    assert paused.code == 3, paused
    run_id = paused.json()["run_id"]
    assert paused.json()["status"] == "waiting_approval"
    rejected = parac("workflow", "reject", run_id, "sign-off", "--comment", "too risky", cwd=project)
    assert rejected.code == 0 and f"parac workflow resume {run_id}" in rejected.out
    resumed = parac("workflow", "resume", run_id, "--json", cwd=project)
    assert resumed.code == 1
    data = resumed.json()
    assert data["status"] == "failed" and "rejected by cli" in data["error"] and "too risky" in data["error"]
    finished = parac("workflow", "resume", run_id, cwd=project)
    assert finished.code == 1 and f"run {run_id} is already failed; there is nothing to resume" in finished.err


def test_no_wait_stops_at_the_gate_with_exit_3_and_approve_finishes_the_run(project: Path, tmp_path: Path, parac):
    paused = parac("-w", str(project), "workflow", "run", "feature", "-i", RISKY, "--no-wait", cwd=tmp_path)
    assert paused.code == 3, paused
    run_id = paused.err.split("run ", 1)[1].split()[0]
    command = f"parac -w {project} workflow approve {run_id} sign-off"
    assert f"waiting for a person; approve with: {command}" in paused.err, paused
    assert paused.err.count(f"approve {run_id} sign-off") == 1, paused.err  # said once
    approved = parac(*command.split()[1:], "--json", cwd=tmp_path)  # the printed command, pasted elsewhere
    assert approved.code == 0, approved
    data = approved.json()
    assert data["run_id"] == run_id and data["status"] == "completed", data
    assert {s["id"]: s["status"] for s in data["steps"]}["sign-off"] == "completed"
    assert parac("workflow", "status", run_id, "--json", cwd=project).json()["status"] == "completed"


def test_approve_no_resume_only_records(project: Path, parac):
    run_id = parac("workflow", "run", "feature", "-i", RISKY, "--no-wait", "--json", cwd=project).json()["run_id"]
    recorded = parac("workflow", "approve", run_id, "sign-off", "--no-resume", cwd=project)
    assert recorded.code == 0, recorded
    assert f"continue with `parac workflow resume {run_id}`" in recorded.out
    assert parac("workflow", "status", run_id, "--json", cwd=project).json()["status"] == "waiting_approval"
    resumed = parac("workflow", "resume", run_id, "--json", cwd=project)
    assert resumed.code == 0 and resumed.json()["status"] == "completed", resumed


def test_cancel_a_paused_run(project: Path, parac):
    run_id = parac("workflow", "run", "feature", "-i", RISKY, "--no-wait", "--json", cwd=project).json()["run_id"]
    cancelled = parac("workflow", "cancel", run_id, "--json", cwd=project)
    assert cancelled.code == 0 and cancelled.json()["status"] == "cancelled"
    assert {s["id"]: s["status"] for s in cancelled.json()["steps"]}["sign-off"] == "cancelled"
    again = parac("workflow", "cancel", run_id, cwd=project)
    assert again.code == 1 and "already cancelled" in again.err
    late = parac("workflow", "approve", run_id, "sign-off", cwd=project)
    assert late.code == 1 and "is not waiting for approval" in late.err


def test_bad_input_gives_one_clear_line(project: Path, parac):
    missing = parac("workflow", "run", "feature", "--dry-run", "echo", cwd=project)
    assert missing.code == 1 and "input 'feature' is required (string)" in missing.err
    unknown = parac("workflow", "run", "featur", cwd=project)
    assert unknown.code == 1 and 'unknown workflow "featur" (did you mean "feature"?)' in unknown.err
    shape = parac("workflow", "run", "feature", "--input", "feature", cwd=project)
    assert shape.code == 2 and "expected KEY=VALUE" in shape.err
    offline = parac("workflow", "run", "feature", "-i", "feature=x", "--dry-run", "gpt-4o", cwd=project)
    assert offline.code == 2 and "is not an offline provider" in offline.err
    no_run = parac("workflow", "status", "r000", cwd=project)
    assert no_run.code == 4 and "no workflow run 'r000'" in no_run.err
    for result in (missing, unknown, shape, offline, no_run):
        assert "Traceback" not in result.err
    (project / ".parac" / "workflows" / "broken.yaml").write_text(
        "steps:\n  - id: a\n    agent: archtect\n    task: hi\n")
    broken = parac("workflow", "run", "broken", cwd=project)
    assert broken.code == 1 and 'unknown agent "archtect" (did you mean "architect"?)' in broken.err
    assert "broken.yaml:3:12" in broken.err


def test_default_workflows_against_a_local_openai_compatible_server(project: Path, parac):
    with OpenAIServer() as server:
        set_settings(project, default_model="local/gpt-4o-mini",
                     providers={"local": {"api_base": server.base_url, "model_prefix": "openai"}})
        server.script("gpt-4o-mini", Reply.message("a design", prompt_tokens=300, completion_tokens=200),
                      Reply.message("the code, risk: high", prompt_tokens=300, completion_tokens=200))
        feature = parac("workflow", "run", "feature", "-i", RISKY, "--yes", "--json", cwd=project)
        assert feature.code == 0, feature
        review = parac("workflow", "run", "code-review", "-i", "change=fix the bug", "--json", cwd=project)
        assert review.code == 0, review
        (project / ".parac" / "workflows" / "wrap.yaml").write_text(
            "budget_usd: 1.0\nsteps:\n  - {id: inner, workflow: code-review, inputs: {change: wrapped}}\n")
        wrapped = parac("workflow", "run", "wrap", "--json", cwd=project)
        assert wrapped.code == 0, wrapped
        assert len(server.requests_for("gpt-4o-mini")) == 4 + 3 + 3
    data = feature.json()
    outputs = {s["id"]: s["output"] for s in data["steps"]}
    assert outputs["design"] == "a design" and outputs["implement"] == "the code, risk: high"
    assert data["cost"] > 0 and all(s["cost"] > 0 for s in data["steps"] if s["id"] != "sign-off")
    assert outputs["sign-off"]["approved"] is True  # the high-risk gate ran, and --yes answered it
    summary = review.json()["outputs"]["summary"]
    assert "Review: Review this change: fix the bug" in summary
    by_run = {row["key"]: row for row in parac("costs", "report", "--by", "run", "--json", cwd=project).json()["rows"]}
    assert data["run_id"] in by_run
    outer = wrapped.json()
    assert outer["cost"] > 0 and outer["steps"][0]["child_run"] == f"{outer['run_id']}.inner"
    # the sub-workflow's model calls are charged to the run that started it, so its budget_usd covers them
    assert by_run[outer["run_id"]]["calls"] == 3 and f"{outer['run_id']}.inner" not in by_run
