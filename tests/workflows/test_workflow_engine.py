"""The engine in process, through a real host, real tools and the workspace's SQLite database."""

from __future__ import annotations

import anyio
import pytest
import sidefx_plugin

from parac.core.diagnostics import ParacError
from parac.core.workflows import RunOptions, Workflow
from parac.core.workflows import checkpoints as cp


def _events(name: str) -> list[dict]:
    return [data for event, data in sidefx_plugin.EVENTS if event == name]


def _steps(result) -> dict[str, dict]:
    return {step["id"]: step for step in result.steps}


FAN_OUT = """\
concurrency: {limit}
steps:
  - {{id: root, tool: probe, arguments: {{label: root, sleep_s: 0}}}}
{branches}
  - {{id: join, tool: probe, arguments: {{label: join, sleep_s: 0}}, depends_on: [{names}]}}
"""


@pytest.mark.parametrize(("limit", "peak"), [(3, 3), (8, 6), (1, 1)])
async def test_parallel_steps_bounded_by_concurrency(wf_project, make_runner, limit, peak):
    names = [f"b{i}" for i in range(6)]
    branches = "\n".join(
        f"  - {{id: {n}, tool: probe, arguments: {{label: {n}, sleep_s: 0.2}}, depends_on: [root]}}" for n in names
    )
    wf_project.write_workflow("fan", FAN_OUT.format(limit=limit, branches=branches, names=", ".join(names)))
    result = await make_runner().run("fan", {})
    assert result.status == "completed"
    assert sidefx_plugin.CONCURRENCY["peak"] == peak
    starts = [e["step"] for e in _events("workflow.step.start")]
    assert starts[0] == "root" and starts[-1] == "join"


async def test_retries_until_success_with_events(wf_project, make_runner):
    wf_project.write_workflow("retry", """\
steps:
  - id: shaky
    tool: flaky
    arguments: {label: x, failures: 2}
    retry: {max_attempts: 3, initial_delay_s: 0.01}
""")
    result = await make_runner().run("retry", {})
    assert result.status == "completed"
    assert _steps(result)["shaky"]["attempts"] == 3
    retries = _events("workflow.step.retry")
    assert [r["attempt"] for r in retries] == [1, 2]
    assert all(0.005 <= r["delay_s"] <= 0.02 for r in retries)  # jittered exponential: [d/2, d], d = 0.01 * 2^(n-1)
    keys = {line["key"] for line in wf_project.log_lines()}
    assert keys == {f"{result.run_id}:shaky"}  # every attempt carries the same idempotency key


async def test_retries_exhausted_fail_the_step(wf_project, make_runner):
    wf_project.write_workflow("retry", """\
steps:
  - {id: shaky, tool: flaky, arguments: {label: x, failures: 5}, retry: {max_attempts: 3, backoff: none}}
  - {id: after, tool: probe, arguments: {label: after}, depends_on: [shaky]}
  - {id: aside, tool: probe, arguments: {label: aside}}
""")
    result = await make_runner().run("retry", {})
    steps = _steps(result)
    assert result.status == "failed"
    assert steps["shaky"]["attempts"] == 3 and "transient failure 3 of 5" in steps["shaky"]["error"]
    assert steps["after"]["status"] == "failed" and steps["after"]["error"] == "not run: step 'shaky' failed"
    assert steps["aside"]["status"] == "completed"  # independent work is not thrown away
    assert "step 'shaky'" in result.error and "1 dependent steps not run" in result.error


async def test_step_timeout_and_run_timeout(wf_project, make_runner):
    wf_project.write_workflow("slow", """\
steps:
  - {id: quick, tool: probe, arguments: {label: q, sleep_s: 5}, timeout_s: 0.2, continue_on_error: true}
  - {id: after, tool: probe, arguments: {label: a, sleep_s: 0}, depends_on: [quick]}
""")
    result = await make_runner().run("slow", {})
    steps = _steps(result)
    assert steps["quick"]["status"] == "failed" and steps["quick"]["error"] == "timed out after 0.2s"
    assert steps["after"]["status"] == "completed"
    assert result.status == "completed"  # continue_on_error: the failure does not fail the run
    wf_project.write_workflow("slowrun", """\
timeout_s: 0.3
steps:
  - {id: long, tool: probe, arguments: {label: l, sleep_s: 10}}
  - {id: next, tool: probe, arguments: {label: n}, depends_on: [long]}
""")
    result = await make_runner().run("slowrun", {})
    assert result.status == "failed" and result.error.startswith("timeout: the run took longer")
    assert _steps(result)["long"]["status"] == "failed"
    assert _steps(result)["next"]["status"] == "pending"


async def test_conditions(wf_project, make_runner):
    wf_project.write_workflow("cond", """\
inputs: {mode: {type: string, default: fast}}
steps:
  - {id: first, tool: probe, arguments: {label: "{{ inputs.mode }}"}}
  - id: only-fast
    tool: probe
    arguments: {label: fast}
    depends_on: [first]
    when: "{{ steps.first.output.label == 'fast' }}"
  - {id: only-slow, tool: probe, arguments: {label: slow}, depends_on: [first], when: "inputs.mode == 'slow'"}
  - {id: join, tool: probe, arguments: {label: "{{ steps['only-slow'].status }}"}, depends_on: [only-fast, only-slow]}
""")
    result = await make_runner().run("cond", {})
    steps = _steps(result)
    assert steps["only-fast"]["status"] == "completed"
    assert steps["only-slow"]["status"] == "skipped" and steps["only-slow"]["attempts"] == 0
    assert steps["join"]["output"] == {"label": "skipped"}  # a skipped step counts as done for its dependents
    result = await make_runner().run("cond", {"mode": "slow"})
    assert _steps(result)["only-fast"]["status"] == "skipped"
    assert _steps(result)["only-slow"]["status"] == "completed"


async def test_sub_workflow_with_inputs_and_outputs(wf_project, make_runner):
    wf_project.write_workflow("child", """\
inputs: {n: {type: integer, required: true}}
steps:
  - {id: double, tool: probe, arguments: {label: "{{ (inputs.n * 2) | string }}"}}
outputs: {doubled: "{{ steps.double.output.label }}"}
""")
    wf_project.write_workflow("parent", """\
steps:
  - {id: prepare, tool: probe, arguments: {label: "21"}}
  - {id: sub, workflow: child, inputs: {n: 21}, depends_on: [prepare]}
  - {id: use, tool: probe, arguments: {label: "got {{ steps.sub.output.doubled }}"}, depends_on: [sub]}
""")
    runner = make_runner()
    result = await runner.run("parent", {})
    steps = _steps(result)
    assert result.status == "completed", result
    assert steps["sub"]["child_run"] == f"{result.run_id}.sub"
    assert steps["use"]["output"] == {"label": "got 42"}
    child = runner.status(f"{result.run_id}.sub")
    assert child.status == "completed" and child.outputs == {"doubled": "42"}
    assert [r["run_id"] for r in runner.runs()] == [result.run_id]  # sub-runs show inside their parent


async def test_cancel_from_another_connection_stops_running_steps(wf_project, make_runner):
    wf_project.write_workflow("long", """\
steps:
  - {id: a, tool: probe, arguments: {label: a, sleep_s: 30}}
  - {id: b, tool: probe, arguments: {label: b, sleep_s: 30}}
  - {id: c, tool: probe, arguments: {label: c}, depends_on: [a, b]}
""")
    runner = make_runner()
    run_id = runner.create("long", {})
    other = make_runner()
    outcome = {}

    async def run() -> None:
        outcome["result"] = await runner.execute(run_id)

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        while sidefx_plugin.CONCURRENCY["now"] < 2:
            await anyio.sleep(0.01)
        requested = other.cancel(run_id)
        assert requested.status == "running"  # a live process holds it: it is asked to stop
    result = outcome["result"]
    assert result.status == "cancelled"
    assert {s["id"]: s["status"] for s in result.steps} == {"a": "cancelled", "b": "cancelled", "c": "cancelled"}
    assert sidefx_plugin.CONCURRENCY["now"] == 0
    assert _events("workflow.run.cancelled")[0]["run_id"] == run_id
    with pytest.raises(cp.RunFinished, match="already cancelled"):
        other.cancel(run_id)


async def test_approval_pause_decide_resume(wf_project, make_runner):
    runner = make_runner()
    result = await runner.run("crash", {}, RunOptions(pause_on_approval=True))
    assert result.status == "waiting_approval"
    assert _steps(result)["gate"]["status"] == "waiting_approval"
    assert _events("workflow.approval.requested")[0]["message"] == "Ship join after p1?"
    with pytest.raises(cp.NotWaiting, match="step 'last' of run .* is not waiting for approval"):
        runner.decide(result.run_id, "last", approved=True)
    with pytest.raises(cp.NotWaiting, match="has no step 'nope'"):
        runner.decide(result.run_id, "nope", approved=True)
    decided = runner.decide(result.run_id, "gate", approved=False, comment="not today")
    assert decided["status"] == "rejected" and decided["resumable"] is True
    with pytest.raises(cp.NotWaiting, match="is not waiting for approval"):
        runner.decide(result.run_id, "gate", approved=True)  # answered once, and only once
    resumed = await make_runner().resume(result.run_id)
    steps = _steps(resumed)
    assert resumed.status == "failed"
    assert steps["gate"]["error"] == "rejected by local: not today"
    assert steps["last"]["error"] == "not run: step 'gate' failed"
    assert len([line for line in wf_project.log_lines() if line["step"] == "s1"]) == 2  # s1 ran once, not again


async def test_approval_timeout_escalates(wf_project, make_runner):
    wf_project.write_workflow("gated", """\
steps:
  - {id: gate, type: approval, timeout_s: 0.2, timeout_action: approve}
  - {id: strict, type: approval, timeout_s: 0.2, depends_on: [gate]}
""")
    result = await make_runner().run("gated", {}, RunOptions(approval_poll_s=0.02))
    steps = _steps(result)
    assert steps["gate"]["approval"]["status"] == "approved" and steps["gate"]["approval"]["by"] == "timeout policy"
    assert steps["strict"]["status"] == "failed" and steps["strict"]["error"] == (
        "rejected by timeout policy: no answer within 0.2s; rejected by policy"
    )


async def test_waiting_gate_answered_while_the_run_waits(wf_project, make_runner):
    runner = make_runner()
    run_id = runner.create("crash", {})
    outcome = {}

    async def run() -> None:
        outcome["result"] = await runner.execute(run_id)

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        other = make_runner()
        while not other.waiting(run_id):
            await anyio.sleep(0.02)
        assert other.status(run_id).status == "waiting_approval"
        decided = other.decide(run_id, "gate", approved=True, comment="go")
        assert decided["resumable"] is False  # the waiting process picks it up
    assert outcome["result"].status == "completed"


async def test_bad_input_is_refused_and_changes_nothing(wf_project, make_runner):
    runner = make_runner()
    with pytest.raises(ParacError, match="input 'pause' must be a number, got 'slow'"):
        runner.create("crash", {"pause": "slow"}, text_inputs=True)
    with pytest.raises(ParacError, match=r"unknown input 'paws' \(did you mean \"pause\"\?\)"):
        runner.create("crash", {"paws": "1"}, text_inputs=True)
    with pytest.raises(ParacError, match='unknown workflow "crsh" \\(did you mean "crash"\\?\\)'):
        runner.create("crsh", {})
    wf_project.write_workflow("needs", "inputs: {x: {type: integer, required: true}}\nsteps: [{id: a, tool: probe, "
                                       "arguments: {label: a}}]\n")
    with pytest.raises(ParacError, match="input 'x' is required"):
        make_runner().create("needs", {})
    wf_project.write_workflow("unknown-agent", "steps: [{id: a, agent: nobody, task: hi}]\n")
    with pytest.raises(ParacError, match='workflow "unknown-agent" has errors.*unknown agent "nobody"'):
        make_runner().create("unknown-agent", {})
    wf_project.write_workflow("not-dep", "steps: [{id: a, tool: probe, arguments: {label: a}}, "
                                         "{id: b, tool: probe, arguments: {label: '{{ steps.a.output }}'}}]\n")
    with pytest.raises(ParacError, match='not-a-dependency|does not depend on'):
        make_runner().create("not-dep", {})
    wf_project.write_workflow("cycle", "steps: [{id: a, tool: probe, arguments: {label: a}, depends_on: [b]}, "
                                       "{id: b, tool: probe, arguments: {label: b}, depends_on: [a]}]\n")
    with pytest.raises(ParacError, match="dependency cycle"):
        make_runner().create("cycle", {})
    assert wf_project.runs() == []
    with pytest.raises(cp.RunNotFound, match="no workflow run 'rnope'"):
        await runner.resume("rnope")


async def test_resuming_a_finished_run_is_refused(wf_project, make_runner):
    runner = make_runner()
    result = await runner.run("crash", {}, RunOptions(auto_approve=True))
    assert result.status == "completed", result
    assert _steps(result)["gate"]["approval"]["by"] == "auto-approve (--yes)"
    with pytest.raises(cp.RunFinished, match=f"run {result.run_id} is already completed"):
        await runner.resume(result.run_id)
    assert runner.status(result.run_id).status == "completed"


def test_builder_matches_yaml_and_checks_like_a_file(wf_project):
    import yaml

    from parac.core.specs import WorkflowSpec

    built = (
        Workflow("crash", description="Steps with side effects, a fan-out, a join and a gate, for crash tests",
                 concurrency=4)
        .input("pause", "number", default=0.3)
        .tool("s1", tool="record", arguments={"label": "s1", "sleep_s": 0.15})
        .tool("p1", tool="record", arguments={"label": "p1", "sleep_s": "{{ inputs.pause }}"}, depends_on=["s1"])
        .tool("p2", tool="record", arguments={"label": "p2", "sleep_s": 0.2}, depends_on=["s1"])
        .tool("p3", tool="record", arguments={"label": "p3", "sleep_s": 0.1}, depends_on=["s1"])
        .tool("join", tool="record", arguments={"label": "join after {{ steps.p1.output.label }}", "sleep_s": 0.15},
              depends_on=["p1", "p2", "p3"])
        .approval("gate", depends_on=["join"], message="Ship {{ steps.join.output.label }}?")
        .tool("last", tool="record", arguments={"label": "last", "sleep_s": 0.1}, depends_on=["gate"])
        .tool("tail", tool="record", arguments={"label": "tail", "sleep_s": 0.3}, depends_on=["last"])
        .output("joined", "{{ steps.join.output.label }}")
    )
    from_file = WorkflowSpec.model_validate(yaml.safe_load((wf_project.root / ".parac/workflows/crash.yaml").read_text()))
    assert built.build() == from_file
    assert WorkflowSpec.model_validate(yaml.safe_load(built.to_yaml())) == from_file
    with pytest.raises(ParacError, match="depend on each other in a cycle"):
        Workflow("w").agent("a", task="x", depends_on=["b"]).agent("b", task="y", depends_on=["a"]).build()
    with pytest.raises(ParacError, match="reads step 'b', which is not a dependency of 'a'"):
        Workflow("w").agent("a", task="{{ steps.b.output }}").agent("b", task="y").build()
    with pytest.raises(ParacError, match="duplicate step id 'a'"):
        Workflow("w").agent("a", task="x").agent("a", task="y").build()
    with pytest.raises(ParacError, match="unknown step 'c'"):
        Workflow("w").agent("a", task="x", depends_on=["c"]).build()
    with pytest.raises(ParacError, match="retry.max_attempts"):
        Workflow("w").agent("a", task="x", retry=0).build()


async def test_builder_workflow_runs_on_the_engine(wf_project, make_runner):
    runner = make_runner()
    spec = (
        Workflow("built")
        .input("who", required=True)
        .tool("hello", tool="probe", arguments={"label": "hello {{ inputs.who }}"})
        .approval("ok", depends_on=["hello"])
        .build()
    )
    result = await runner.engine.start("built", spec, {"who": "world"}, RunOptions(auto_approve=True))
    assert result.status == "completed"
    assert result.outputs == {"ok": {"approved": True, "by": "auto-approve (--yes)", "comment": None}}
    assert _steps(result)["hello"]["output"] == {"label": "hello world"}


async def test_events_reach_plugins_for_audit(wf_project, make_runner):
    result = await make_runner().run("crash", {}, RunOptions(auto_approve=True))
    names = [name for name, data in sidefx_plugin.EVENTS if name.startswith("workflow.")]
    assert names[0] == "workflow.run.start" and names[-1] == "workflow.run.end"
    ends = {data["step"]: data["status"] for data in _events("workflow.step.end")}
    assert ends == {step["id"]: "completed" for step in result.steps}
    assert len(_events("workflow.step.start")) == 7  # every step but the gate does work
    assert _events("workflow.approval.decided")[0]["by"] == "auto-approve (--yes)"


async def test_a_tool_that_needs_approval_waits_at_a_gate(wf_project, make_runner):
    (wf_project.root / ".parac" / "policies" / "gated.yaml").write_text("require_approval: [record]\n")
    wf_project.write_workflow("guarded", """\
steps:
  - {id: write, tool: record, arguments: {label: w}, message: "Let {{ run.workflow }} write?"}
""")
    runner = make_runner()
    paused = await runner.run("guarded", {}, RunOptions(pause_on_approval=True))
    assert paused.status == "waiting_approval" and _steps(paused)["write"]["status"] == "waiting_approval"
    assert runner.waiting(paused.run_id)[0]["message"] == "Let guarded write?"
    assert wf_project.log_lines() == []  # nothing happened before the person answered
    runner.decide(paused.run_id, "write", approved=True, comment="fine")
    done = await make_runner().resume(paused.run_id)
    assert done.status == "completed", done.error
    assert [line["event"] for line in wf_project.log_lines()] == ["start", "applied"]
    rejected = await make_runner().run("guarded", {}, RunOptions(pause_on_approval=True))
    runner.decide(rejected.run_id, "write", approved=False, comment="no")
    failed = await make_runner().resume(rejected.run_id)
    assert _steps(failed)["write"]["error"] == "the call of tool 'record' was rejected by local: no"
    direct = await make_runner().run("guarded", {}, RunOptions(auto_approve=True))
    assert direct.status == "completed"  # --yes answers the gate; the call then carries who approved it


async def test_a_gate_inside_a_sub_workflow_is_answered_through_the_parent_run(wf_project, make_runner):
    wf_project.write_workflow("inner-gate", "steps:\n  - {id: check, type: approval, message: Inner?}\n")
    wf_project.write_workflow("outer-gate", """\
steps:
  - {id: sub, workflow: inner-gate}
  - {id: after, tool: probe, arguments: {label: after}, depends_on: [sub]}
""")
    runner = make_runner()
    paused = await runner.run("outer-gate", {}, RunOptions(pause_on_approval=True))
    assert paused.status == "waiting_approval", paused
    assert _steps(paused)["sub"]["status"] == "waiting_approval"
    assert runner.waiting(paused.run_id) == [
        {"run_id": f"{paused.run_id}.sub", "step_id": "check", "message": "Inner?",
         "requested_at": runner.waiting(paused.run_id)[0]["requested_at"]}]
    decided = runner.decide(paused.run_id, "check", approved=True)
    assert decided["run_id"] == f"{paused.run_id}.sub" and decided["status"] == "approved"
    done = await make_runner().resume(paused.run_id)
    assert done.status == "completed" and _steps(done)["after"]["output"] == {"label": "after"}
    assert runner.status(f"{paused.run_id}.sub").status == "completed"
