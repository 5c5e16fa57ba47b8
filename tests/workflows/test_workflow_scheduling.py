"""Properties of the scheduler on random graphs: every step ends, order follows the dependencies, failures
propagate exactly as far as they should, nothing runs twice, and concurrency stays within its limit.

The step bodies are small in-process functions (the graphs, the engine and the SQLite database are real).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parac.core.specs import WorkflowSpec
from parac.core.store import connect
from parac.core.workflows import Engine, StepFailed, StepOutcome


@st.composite
def graphs(draw: Any) -> dict:
    size = draw(st.integers(1, 25))
    steps = []
    for index in range(size):
        deps = sorted(draw(st.sets(st.integers(0, index - 1), max_size=3))) if index else []
        steps.append({
            "id": f"s{index}",
            "tool": "fail" if draw(st.integers(0, 6)) == 0 else "ok",
            "depends_on": [f"s{d}" for d in deps],
            "continue_on_error": draw(st.booleans()),
            "arguments": {"delay": draw(st.sampled_from([0, 0, 0.001, 0.003]))},
        })
    return {"concurrency": draw(st.integers(1, 6)), "steps": steps}


class Recorder:
    """Services whose steps sleep a little, fail when their tool says so, and log what happened."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []
        self.running = 0
        self.peak = 0

    async def call_tool(self, ctx: Any, tool: str, args: dict) -> StepOutcome:
        self.running += 1
        self.peak = max(self.peak, self.running)
        self.log.append(("start", ctx.step_id))
        try:
            await anyio.sleep(args["delay"])
            if tool == "fail":
                raise StepFailed("planned failure", retryable=False)
        finally:
            self.running -= 1
            self.log.append(("end", ctx.step_id))
        return StepOutcome({"step": ctx.step_id})

    def needs_approval(self, tool: str, workflow: str) -> bool:
        return False

    def parse_definition(self, definition: dict) -> WorkflowSpec:
        return WorkflowSpec.model_validate(definition)

    def event(self, name: str, data: dict) -> None:
        return None


def _expected(spec: WorkflowSpec) -> dict[str, str]:
    """What each step must end as. A failing tool fails its step. A step behind a failure does not run (and is
    failed): ``continue_on_error`` lets dependents go on after the step's *own* failure, not past a step that
    never ran because something before it failed."""
    outcome: dict[str, str] = {}  # completed, failed (ran and failed), not-run
    for step in spec.steps:
        blocked = any(
            outcome[d] == "not-run" or (outcome[d] == "failed" and not by_id(spec, d).continue_on_error)
            for d in step.depends_on
        )
        outcome[step.id] = "not-run" if blocked else ("failed" if step.tool == "fail" else "completed")
    return {step_id: "failed" if state == "not-run" else state for step_id, state in outcome.items()}


def by_id(spec: WorkflowSpec, step_id: str) -> Any:
    return next(step for step in spec.steps if step.id == step_id)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(graph=graphs())
def test_random_graphs_run_as_their_dependencies_say(tmp_path: Path, graph: dict):
    spec = WorkflowSpec.model_validate(graph)
    services = Recorder()
    conn = connect(tmp_path / "scheduling.db")
    try:
        result = anyio.run(Engine(conn, services).start, "random", spec, {})
    finally:
        conn.close()
    expected = _expected(spec)
    assert {step["id"]: step["status"] for step in result.steps} == expected
    ran = [step_id for event, step_id in services.log if event == "start"]
    assert len(ran) == len(set(ran))  # nothing ran twice
    ended_at = {step_id: i for i, (event, step_id) in enumerate(services.log) if event == "end"}
    started_at = {step_id: i for i, (event, step_id) in enumerate(services.log) if event == "start"}
    for step in spec.steps:
        if step.id in started_at:
            assert all(ended_at[dep] < started_at[step.id] for dep in step.depends_on)
    assert services.peak <= spec.concurrency
    stopped = any(s == "failed" and not (by_id(spec, i).continue_on_error and i in started_at)
                  for i, s in expected.items())
    assert result.status == ("failed" if stopped else "completed")
