"""Behaviour trees (``kind: behavior_tree``): composites, decorators and leaves, validation placed in the file,
each node's end checkpointed, and kill -9 at chosen points resumed from the node the run was in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parac.core.workspace import Workspace

#: Every kind of node once, over the side-effect tool: runs s1, s2 twice (repeat), s3 (the selector's fallback after
#: a false condition), then p1 and p2 at once, then s4.
TREE = """\
kind: behavior_tree
inputs: {pause: {type: number, default: 0.15}}
root:
  sequence:
    - action: {id: s1, tool: record, arguments: {label: s1, sleep_s: "{{ inputs.pause }}"}}
    - repeat: 2
      child:
        action: {id: s2, tool: record, arguments: {label: "s2 after {{ steps.s1.output.label }}", sleep_s: "{{ inputs.pause }}"}}
    - selector:
        - condition: "{{ steps.s2.output.label == 'never' }}"
        - action: {id: s3, tool: record, arguments: {label: s3, sleep_s: "{{ inputs.pause }}"}}
    - parallel:
        - action: {id: p1, tool: record, arguments: {label: p1, sleep_s: "{{ inputs.pause }}"}}
        - action: {id: p2, tool: record, arguments: {label: p2, sleep_s: "{{ inputs.pause }}"}}
      success: all
    - invert: {condition: "steps.p1.status != 'completed'"}
    - action: {id: s4, tool: record, arguments: {label: s4, sleep_s: "{{ inputs.pause }}"}}
outputs:
  last: "{{ steps.s4.output.label }}"
"""
ACTIONS = ["s1", "s2", "s2#2", "s3", "p1", "p2", "s4"]


async def test_every_node_kind_runs_and_each_end_is_checkpointed(wf_project, make_runner):
    wf_project.write_workflow("tree", TREE)
    result = await make_runner().run("tree", {"pause": 0})
    assert result.status == "completed", result.error
    assert result.outputs == {"last": "s4"}
    applied = [line["step"] for line in wf_project.log_lines() if line["event"] == "applied"]
    assert applied[:4] == ["s1", "s2", "s2#2", "s3"] and sorted(applied[4:6]) == ["p1", "p2"] and applied[6] == "s4"
    nodes = {s["node"]: s["status"] for s in result.steps if "node" in s}
    assert nodes["r"] == "completed" and nodes["r.2.0"] == "failed" and nodes["r.2"] == "completed"
    assert nodes["r.1@1"] == nodes["r.1@2"] == "completed" and "r.1@3" not in nodes
    assert nodes["r.4.0"] == "failed" and nodes["r.4"] == "completed"  # invert


async def test_retry_until_success_timeout_and_a_failing_tree(wf_project, make_runner):
    wf_project.write_workflow("shaky", """\
kind: behavior_tree
root:
  selector:
    - retry: 2
      child: {action: {id: bad, tool: broken, arguments: {label: x}}}
    - until_success: 5
      child:
        sequence:
          - action:
              id: count
              tool: record
              arguments: {label: "c{{ (steps['count'].output.label[1:] | int if 'count' in steps else 0) + 1 }}"}
          - condition: "steps.count.output.label == 'c3'"
""")
    result = await make_runner().run("shaky", {})
    assert result.status == "completed", result.error
    ran = [s["id"] for s in result.steps if "node" not in s]
    assert ran == ["bad", "bad#2", "count", "count#2", "count#3"]
    assert [line["label"] for line in wf_project.log_lines() if line["event"] == "applied"] == ["c1", "c2", "c3"]

    wf_project.write_workflow("slow", """\
kind: behavior_tree
root:
  timeout: 0.3
  child: {action: {id: nap, tool: probe, arguments: {label: nap, sleep_s: 5}}}
""")
    slow = await make_runner().run("slow", {})
    assert slow.status == "failed"
    assert slow.error.startswith("step '~r': the tree failed: action 'nap' failed: timed out after 0.")

    wf_project.write_workflow("none", """\
kind: behavior_tree
root:
  parallel:
    - condition: "false"
    - action: {id: ok, tool: record, arguments: {label: ok}}
  success: 2
""")
    failed = await make_runner().run("none", {})
    assert failed.status == "failed" and failed.error == "step '~r': the tree failed: node r.0: the condition is false"


def _found(root: Path) -> set[tuple[str, int, int]]:
    return {(d.code, d.line, d.column) for d in Workspace(root).validate() if Path(d.file).name == "bad.yaml"}


BAD_TREE = """\
kind: behavior_tree
root:
  sequence:
    - action: {id: a, agent: pm, task: "{{ steps.nope.output }}"}
    - action: {id: a, agent: ghost}
    - retry: 2
    - parallel: [{condition: "true"}]
      success: 3
"""


def test_validation_places_tree_problems(wf_project):
    wf_project.write_workflow("bad", BAD_TREE)
    assert ("type", 6, 7) in _found(wf_project.root)  # retry without child: said where it stands
    wf_project.write_workflow("bad", BAD_TREE.replace("    - retry: 2\n", ""))
    found = _found(wf_project.root)
    codes = {code for code, _, _ in found}
    assert {"unknown-step", "duplicate-step", "unknown-agent", "impossible"} <= codes, found
    assert ("unknown-agent", 5, 30) in found and ("impossible", 7, 16) in found


def test_plan_and_diagram(wf_project):
    from parac.plugins.diagram import workflow_mermaid

    wf_project.write_workflow("tree", TREE)
    plan = json.loads(wf_project.cli("workflow", "plan", "tree", "--json").stdout)
    assert [s["id"] for s in plan["steps"]] == ["s1", "s2", "s3", "p1", "p2", "s4"]
    text = workflow_mermaid(Workspace(wf_project.root).workflows["tree"].spec)
    assert text.startswith("flowchart TD\n") and 'n0("sequence")' in text and '("repeat x2")' in text
    assert '("parallel (all)")' in text and "[/\"p1<br/>tool: record\"/]" in text


KILL_POINTS = {
    "s1-applied": lambda p: p.logged("applied", "s1"),
    "repeat-second-run": lambda p: p.logged("start", "s2#2"),
    "selector-fallback": lambda p: p.logged("start", "s3"),
    "parallel-in-flight": lambda p: p.logged("start", "p1") and p.logged("start", "p2"),
    "last-started": lambda p: p.logged("start", "s4"),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_kill_at_a_chosen_point_and_resume_from_the_node_it_was_in(wf_project, point):
    wf_project.write_workflow("tree", TREE)
    run = wf_project.kill_and_resume(KILL_POINTS[point], "tree", what=point)
    assert run.result["status"] == "completed" and run.result["outputs"] == {"last": "s4"}
    for step_id, row in run.before.items():  # what ended before the kill was not ended again
        if row["status"] in ("completed", "failed"):
            assert run.after[step_id]["finished_at"] == row["finished_at"], step_id
    run.assert_each_applied_once(ACTIONS)


def test_agent_actions_through_litellm_against_a_local_server(wf_project):
    """A selector whose first action's answer fails its check falls back to the second agent, on a real server."""
    from support.openai_server import OpenAIServer, Reply
    from support.runtime import set_settings

    wf_project.write_workflow("ask", """\
kind: behavior_tree
root:
  selector:
    - sequence:
        - action: {id: quick, agent: coder, task: "Answer briefly"}
        - condition: "'done' in steps.quick.output"
    - action: {id: careful, agent: reviewer, task: "Answer carefully after {{ steps.quick.output }}"}
outputs:
  answer: "{{ steps.careful.output }}"
""")
    with OpenAIServer() as server:
        set_settings(wf_project.root, default_model="local/gpt-4o-mini",
                     providers={"local": {"api_base": server.base_url, "model_prefix": "openai"}})
        server.script("gpt-4o-mini", Reply.message("not sure"), Reply.message("a careful answer"))
        ran = wf_project.cli("workflow", "run", "ask", "--json")
        assert ran.returncode == 0, ran.stderr
        assert len(server.requests_for("gpt-4o-mini")) == 2
    data = json.loads(ran.stdout)
    assert data["outputs"] == {"answer": "a careful answer"}
    assert [s["id"] for s in data["steps"] if "node" not in s] == ["quick", "careful"]
