"""LLM plans (``kind: llm_plan``): a scripted plan runs offline; over a local OpenAI-compatible server an invalid
plan is fed back and a valid one runs; a plan over budget and a plan naming a denied tool never run, and the
fallback does; a failed step asks for a new plan; the chosen plan is stored and shown; kill -9 at chosen points,
then resume: the stored plan goes on, the planner is not asked again and nothing finished runs again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from support.openai_server import OpenAIServer, Reply
from support.runtime import set_settings, write_script

from parac.core.workflows import RunOptions
from parac.core.workspace import Workspace

DEPLOY = """\
kind: llm_plan
inputs: {service: {type: string, required: true}}
planner: architect
goal: "Deploy {{ inputs.service }}"
fallback: by-hand
max_replans: 1
"""
BY_HAND = """\
inputs: {service: {type: string, required: true}}
steps:
  - {id: manual, tool: record, arguments: {label: "by hand: {{ inputs.service }}"}}
"""
GOOD = {"steps": [{"id": "build", "tool": "record", "arguments": {"label": "build"}},
                  {"id": "check", "agent": "qa", "task": "Check {{ steps.build.output.label }}", "depends_on": ["build"]}]}


def _project(wf_project) -> None:
    wf_project.write_workflow("deploy", DEPLOY)
    wf_project.write_workflow("by-hand", BY_HAND)


def _agent_model(root: Path, agent: str, model: str) -> None:
    path = root / ".parac" / "agents" / f"{agent}.yaml"
    data = yaml.safe_load(path.read_text())
    data["model"] = model
    path.write_text(yaml.safe_dump(data))


async def test_a_scripted_plan_runs_offline_and_is_stored(wf_project, make_runner):
    _project(wf_project)
    _agent_model(wf_project.root, "architect", write_script(wf_project.root / "plan.yaml", [{"text": json.dumps(GOOD)}]))
    result = await make_runner().run("deploy", {"service": "api"}, RunOptions())
    assert result.status == "completed", result.error
    assert [s["id"] for s in result.steps] == ["planner", "~plan1", "build", "check"]
    stored = result.steps[1]["output"]
    assert [s["id"] for s in stored["steps"]] == ["build", "check"] and stored["estimated_usd"] >= 0
    assert result.steps[3]["output"] == "Check build"  # qa answers with echo, the workspace's default model
    assert [line["label"] for line in wf_project.log_lines() if line["event"] == "applied"] == ["build"]


async def test_a_denied_tool_and_an_over_budget_plan_never_run_and_the_fallback_does(wf_project, make_runner):
    _project(wf_project)
    denied = {"steps": [{"id": "wipe", "tool": "shell_run", "arguments": {"command": "rm -rf /"}}]}
    costly = {"steps": [{"id": "big", "agent": "coder", "task": "Write everything"}]}
    turns = [{"text": json.dumps(denied)}]
    _agent_model(wf_project.root, "architect", write_script(wf_project.root / "plan.yaml", turns))
    result = await make_runner().run("deploy", {"service": "api"}, RunOptions())
    assert result.status == "completed", result.error
    assert [s["id"] for s in result.steps] == ["planner", "~plan1", "planner#2", "~plan2", "fallback"]
    assert "tool 'shell_run' is unknown or not granted" in result.steps[1]["error"]
    assert result.outputs == {"fallback": {"manual": {"label": "by hand: api", "dedup": False}}}

    (wf_project.root / "plan.yaml").write_text(yaml.safe_dump({"turns": [{"text": json.dumps(costly)}]}))
    _agent_model(wf_project.root, "coder", "openai/gpt-4o")  # priced by litellm: 4096 tokens out cost cents
    wf_project.write_workflow("deploy", DEPLOY + "budget_usd: 0.001\n")
    over = await make_runner().run("deploy", {"service": "db"}, RunOptions())
    assert over.status == "completed", over.error
    assert "would break budget" in over.steps[1]["error"] and over.steps[-1]["id"] == "fallback"
    applied = [line["label"] for line in wf_project.log_lines() if line["event"] == "applied"]
    assert applied == ["by hand: api", "by hand: db"]  # neither refused plan ran a step


def test_invalid_then_valid_plan_through_litellm_and_status_shows_it(wf_project):
    _project(wf_project)
    bad = {"steps": [{"id": "build", "tool": "record"}, {"id": "x", "agent": "nobody", "task": "t", "depends_on": ["y"]}]}
    with OpenAIServer() as server:
        set_settings(wf_project.root, default_model="local/gpt-4o-mini",
                     providers={"local": {"api_base": server.base_url, "model_prefix": "openai"}})
        server.script("gpt-4o-mini", Reply.message(json.dumps(bad)), Reply.message("```json\n" + json.dumps(GOOD) + "\n```"),
                      Reply.message("looks fine"))
        ran = wf_project.cli("workflow", "run", "deploy", "-i", "service=api", "--json")
        assert ran.returncode == 0, ran.stderr
        prompts = [str(request.body["messages"][-1]["content"]) for request in server.requests_for("gpt-4o-mini")]
    data = json.loads(ran.stdout)
    assert [s["id"] for s in data["steps"]] == ["planner", "~plan1", "planner#2", "~plan2", "build", "check"]
    refusal = data["steps"][1]["error"]
    assert "unknown agent 'nobody'" in refusal and "unknown step" in refusal
    assert "Your plan was refused" in prompts[1] and "unknown agent 'nobody'" in prompts[1]
    assert '"title": "PlanSpec"' in prompts[0] and "Tools you may use:" in prompts[0] and "record" in prompts[0]
    assert data["steps"][-1]["output"] == "looks fine"
    shown = wf_project.cli("workflow", "status", data["run_id"]).stdout
    assert "~plan2: completed" in shown


async def test_a_failed_step_asks_for_a_new_plan(wf_project, make_runner):
    _project(wf_project)
    broken = {"steps": [{"id": "try", "tool": "broken", "arguments": {"label": "x"}}]}
    script = write_script(wf_project.root / "plan.yaml", [{"text": json.dumps(broken)}])
    _agent_model(wf_project.root, "architect", script)
    result = await make_runner().run("deploy", {"service": "api"}, RunOptions())
    # the second plan reuses the id "try": refused; then no replans are left, so the fallback runs
    ids = [s["id"] for s in result.steps]
    assert ids[:5] == ["planner", "~plan1", "try", "planner#2", "~plan2"], ids
    assert "the id is taken" in result.steps[4]["error"]
    assert result.status == "completed" and ids[-1] == "fallback"


def test_validation_of_an_llm_plan(wf_project):
    wf_project.write_workflow("deploy", "kind: llm_plan\nplanner: archtect\ngoal: \"{{ inputs.x }}\"\nsteps: [{id: a}]\n")
    found = {(d.code, d.line) for d in Workspace(wf_project.root).validate() if Path(d.file).name == "deploy.yaml"}
    assert {("unknown-agent", 2), ("unknown-input", 3), ("missing-key", 1), ("wrong-kind", 4)} <= found, found
    schema = json.loads(wf_project.cli("schema", "plan").stdout)
    assert schema["title"] == "PlanSpec" and "steps" in schema["properties"]


# -- kill -9 at chosen points, then resume: the stored plan goes on, nothing finished runs again ------------------------

SLOW = {"steps": [{"id": "build", "tool": "record", "arguments": {"label": "build", "sleep_s": 0.3}},
                  {"id": "ship", "tool": "record", "arguments": {"label": "ship {{ steps.build.output.label }}",
                                                                 "sleep_s": 0.3}, "depends_on": ["build"]},
                  {"id": "last", "tool": "record", "arguments": {"label": "last", "sleep_s": 0.3},
                   "depends_on": ["ship"]}]}
#: What the planner would answer if it were asked again after the kill: a resumed run must never run it.
OTHER = {"steps": [{"id": "other", "tool": "record", "arguments": {"label": "other plan"}}]}
PLANNED = ["build", "ship", "last"]
KILL_POINTS = {
    "first-started": lambda p: p.logged("start", "build"),
    "first-applied": lambda p: p.logged("applied", "build"),
    "second-started": lambda p: p.logged("start", "ship"),
    "last-started": lambda p: p.logged("start", "last"),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_kill_at_a_chosen_point_and_resume_from_the_stored_plan(wf_project, point):
    _project(wf_project)
    script = wf_project.root / "plan.yaml"
    _agent_model(wf_project.root, "architect", write_script(script, [{"text": json.dumps(SLOW)}]))
    run = wf_project.kill_and_resume(KILL_POINTS[point], "deploy", "-i", "service=api", what=point,
                                     between=lambda: write_script(script, [{"text": json.dumps(OTHER)}]))
    assert run.result["status"] == "completed", run.result
    assert [s["id"] for s in run.result["steps"]] == ["planner", "~plan1", *PLANNED]
    assert [s["id"] for s in run.result["steps"][1]["output"]["steps"]] == PLANNED  # the plan stored before the kill
    for step_id in ("planner", "~plan1"):  # the planner's answer and its verdict were not made again
        assert run.after[step_id]["finished_at"] == run.before[step_id]["finished_at"], step_id
    run.assert_each_applied_once(PLANNED)
    assert [line["label"] for line in run.lines if line["event"] == "applied"] == ["build", "ship build", "last"]
