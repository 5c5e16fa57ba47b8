"""State machines (``kind: fsm``): validation placed in the file, runs, loops bounded by max_transitions, the path
in ``workflow status``, the diagram and the plan, litellm against a local server, and kill -9 at chosen points."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.openai_server import OpenAIServer, Reply
from support.runtime import set_settings
from support.workflows import SUPPORT

from parac.core.workspace import Workspace

#: Visits a then b twice over (b loops back to a once), then stops: five visits of a side-effect tool.
LOOP = """\
kind: fsm
inputs: {rounds: {type: integer, default: 2}, pause: {type: number, default: 0.15}}
initial: a
max_transitions: 10
states:
  a:
    tool: record
    arguments: {label: "a{{ states.a.visits }}", sleep_s: "{{ inputs.pause }}"}
    transitions: [{to: b}]
  b:
    tool: record
    arguments: {label: "b after {{ state.output.label }}", sleep_s: "{{ inputs.pause }}"}
    transitions:
      - {to: a, when: "states.b.visits < inputs.rounds"}
      - {to: last}
  last:
    tool: record
    arguments: {label: last, sleep_s: "{{ inputs.pause }}"}
    transitions: [{to: done}]
  done: {final: true}
outputs:
  label: "{{ states.last.output.label }} after {{ states.b.visits }} rounds"
"""
LOOP_VISITS = ["a", "b", "a#2", "b#2", "last"]


def _diagnostics(root: Path, name: str) -> set[tuple[str, int, int]]:
    workspace = Workspace(root)
    return {(d.code, d.line, d.column) for d in workspace.validate() if Path(d.file).name == name}


def test_validation_names_each_problem_at_its_line_and_column(wf_project):
    wf_project.write_workflow("bad", """\
kind: fsm
initial: triag
states:
  triage:
    agent: pm
    task: "{{ states.loop.visitz }} {{ steps.x.output }} {{ inputs.nope }}"
    transitions:
      - {to: nowhere}
      - {to: loop}
  loop: {agent: pm, transitions: [{to: loop}]}
  stuck: {agent: ghost}
  done: {final: true}
""")
    found = _diagnostics(wf_project.root, "bad.yaml")
    assert ("unknown-state", 2, 10) in found  # initial: triag (did you mean triage)
    assert ("unknown-state", 8, 14) in found  # to: nowhere
    assert ("dead-end", 11, 3) in found and ("unknown-agent", 11, 18) in found
    assert ("no-way-to-final", 4, 3) in found and ("no-way-to-final", 10, 3) in found
    codes = {code for code, _, _ in found}
    assert {"unknown-attribute", "unknown-step", "unknown-input"} <= codes
    wf_project.write_workflow("bad", """\
kind: fsm
states:
  start: {agent: pm, transitions: [{to: done}]}
  island: {agent: pm, transitions: [{to: done}]}
  done: {final: true}
""")
    found = _diagnostics(wf_project.root, "bad.yaml")
    assert ("missing-key", 1, 1) in found  # no initial: placed on kind
    wf_project.write_workflow("bad", found_text := """\
kind: fsm
initial: start
states:
  start: {agent: pm, transitions: [{to: done}]}
  island: {agent: pm, transitions: [{to: done}]}
  done: {final: true, agent: pm}
""")
    found = _diagnostics(wf_project.root, "bad.yaml")
    assert ("unreachable-state", 5, 3) in found
    assert any(code == "type" and line == 6 for code, line, _ in found), found_text  # a final state does no work
    wf_project.write_workflow("bad", "initial: a\nsteps:\n  - {id: s, agent: pm}\n")
    assert ("wrong-kind", 1, 1) in _diagnostics(wf_project.root, "bad.yaml")  # a DAG holding a machine's key


async def test_loop_runs_with_visits_path_and_outputs(wf_project, make_runner):
    wf_project.write_workflow("loop", LOOP)
    runner = make_runner()
    result = await runner.run("loop", {"pause": 0})
    assert result.status == "completed", result.error
    assert [(s["id"], s["state"], s["status"]) for s in result.steps] == [
        *[(v, v.partition("#")[0], "completed") for v in LOOP_VISITS], ("done", "done", "completed")]
    labels = [line["label"] for line in wf_project.log_lines() if line["event"] == "applied"]
    assert labels == ["a1", "b after a1", "a2", "b after a2", "last"]
    assert result.outputs == {"label": "last after 2 rounds"}
    keys = {line["step"]: line["key"] for line in wf_project.log_lines()}
    assert keys["a#2"] == f"{result.run_id}:a#2" and keys["a"] == f"{result.run_id}:a"


async def test_max_transitions_stops_a_loop_with_a_clear_error(wf_project, make_runner):
    wf_project.write_workflow("loop", LOOP.replace("max_transitions: 10", "max_transitions: 3"))
    result = await make_runner().run("loop", {"pause": 0})
    assert result.status == "failed"
    assert result.error == ("step 'last': max_transitions (3) reached: the run would enter 'last' after"
                            " a -> b -> a -> b")
    assert [s["id"] for s in result.steps] == ["a", "b", "a#2", "b#2", "last"]  # the refused visit: recorded, not run
    assert result.steps[-1]["status"] == "failed" and result.steps[-1]["attempts"] == 0
    assert [line["step"] for line in wf_project.log_lines() if line["event"] == "applied"] == ["a", "b", "a#2", "b#2"]


async def test_no_matching_transition_fails_the_state_and_keeps_its_output(wf_project, make_runner):
    wf_project.write_workflow("pick", """\
kind: fsm
initial: a
states:
  a:
    tool: record
    arguments: {label: x}
    transitions: [{to: done, when: "state.output.label == 'y'"}]
  done: {final: true}
""")
    result = await make_runner().run("pick", {})
    assert result.status == "failed"
    step = result.steps[0]
    assert step["status"] == "failed" and step["output"]["label"] == "x"
    assert "no transition of state 'a' matched" in step["error"]


def test_cli_status_shows_the_path_and_the_diagram_and_plan(wf_project):
    wf_project.write_workflow("loop", LOOP)
    ran = wf_project.cli("workflow", "run", "loop", "-i", "pause=0", "--json")
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]
    shown = wf_project.cli("workflow", "status", run_id)
    assert "path: a -> b -> a -> b -> last -> done" in shown.stdout
    plan = json.loads(wf_project.cli("workflow", "plan", "loop", "--json").stdout)
    assert [(s["id"], s["conditional"]) for s in plan["steps"]] == [("a", False), ("b", True), ("last", True)]


def test_diagram_draws_states_and_transitions(wf_project):
    from parac.plugins.diagram import workflow_mermaid

    wf_project.write_workflow("loop", LOOP)
    text = workflow_mermaid(Workspace(wf_project.root).workflows["loop"].spec)
    assert text.startswith("stateDiagram-v2\n")
    assert "[*] --> q0" in text and "q3 --> [*]" in text
    assert "q1 --> q0 : 1. states.b.visits #lt; inputs.rounds" in text and "q1 --> q2\n" in text


def test_issue_example_through_litellm_against_a_local_server(wf_project):
    """The issue's example with agents on a real OpenAI-compatible server: a plain question is answered."""
    wf_project.write_workflow("support", SUPPORT)
    with OpenAIServer() as server:
        set_settings(wf_project.root, default_model="local/gpt-4o-mini",
                     providers={"local": {"api_base": server.base_url, "model_prefix": "openai"}})
        server.script("gpt-4o-mini", Reply.message("question about login"), Reply.message("Click 'forgot password'."))
        ran = wf_project.cli("workflow", "run", "support", "-i", "ticket=cannot log in", "--json")
        assert ran.returncode == 0, ran.stderr
        assert len(server.requests_for("gpt-4o-mini")) == 2
    data = json.loads(ran.stdout)
    assert [s["id"] for s in data["steps"]] == ["triage", "answer", "done"]
    assert data["outputs"] == {"answer": "Click 'forgot password'."}


# -- kill -9 at chosen points, then resume: nothing finished runs again ------------------------------------------------


KILL_POINTS = {
    "first-started": lambda p: p.logged("start", "a"),
    "first-applied": lambda p: p.logged("applied", "a"),
    "second-visit-started": lambda p: p.logged("start", "a#2"),
    "after-loop-back": lambda p: p.logged("applied", "b#2"),
    "last-started": lambda p: p.logged("start", "last"),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_kill_at_a_chosen_point_and_resume_with_nothing_redone(wf_project, point):
    wf_project.write_workflow("loop", LOOP)
    run = wf_project.kill_and_resume(KILL_POINTS[point], "loop", what=point)
    assert run.result["status"] == "completed" and run.result["outputs"] == {"label": "last after 2 rounds"}
    assert [s["id"] for s in run.result["steps"]] == [*LOOP_VISITS, "done"]
    run.assert_each_applied_once(LOOP_VISITS)
    assert [line["label"] for line in run.lines if line["event"] == "applied"] == [
        "a1", "b after a1", "a2", "b after a2", "last"]
