"""The rules of ``depends_on`` graphs on their own: no engine, no database, only moves from step ends.

What the engine does with the moves (commit, then act) is tested through real runs elsewhere; these pin down the
interface another kind of workflow implements.
"""

from __future__ import annotations

from parac.core.specs import WorkflowSpec
from parac.core.workflows.checkpoints import StepRow
from parac.core.workflows.graph import step_kind
from parac.core.workflows.scheduler import DagScheduler, Settle, Start


def _scheduler(steps: list[dict], limit: int = 8) -> DagScheduler:
    spec = WorkflowSpec.model_validate({"steps": steps})
    context = {"inputs": {}, "steps": {}, "run": {"id": "r1", "workflow": "w"}}
    return DagScheduler("r1", spec, {step.id: step_kind(step) for step in spec.steps}, context, limit)


def _row(step_id: str, status: str, attempts: int = 1) -> StepRow:
    return StepRow(step_id, status, attempts, f"r1:{step_id}", {"ok": step_id}, None, 0.0, None, None)


def test_ready_steps_start_within_the_limit_and_queued_ones_follow_a_free_slot():
    scheduler = _scheduler([{"id": name, "tool": "t"} for name in ("a", "b", "c")], limit=2)
    assert scheduler.restore({}) == [Start("a", 1, "r1:a"), Start("b", 1, "r1:b")]
    assert scheduler.finish("b", "completed", None, None) == [Start("c", 1, "r1:c")]
    assert scheduler.finish("a", "completed", None, None) == []
    assert scheduler.finish("c", "completed", None, None) == [] and scheduler.active == 0


def test_a_false_condition_skips_and_releases_dependents_in_the_same_move():
    scheduler = _scheduler([
        {"id": "a", "tool": "t"},
        {"id": "b", "tool": "t", "depends_on": ["a"], "when": "steps.a.output == 'no'"},
        {"id": "c", "tool": "t", "depends_on": ["b"], "when": "steps.b.status == 'skipped'"},
    ])
    scheduler.restore({})
    assert scheduler.finish("a", "completed", "yes", None) == [Settle("b", "skipped"), Start("c", 1, "r1:c")]


def test_a_failure_settles_what_depends_on_it_unless_it_may_continue():
    scheduler = _scheduler([
        {"id": "a", "tool": "t"},
        {"id": "b", "tool": "t", "depends_on": ["a"]},
        {"id": "c", "tool": "t", "depends_on": ["b"]},
        {"id": "soft", "tool": "t", "continue_on_error": True},
        {"id": "after-soft", "tool": "t", "depends_on": ["soft"]},
    ])
    scheduler.restore({})
    assert scheduler.finish("a", "failed", None, "boom") == [
        Settle("b", "failed", "not run: step 'a' failed"), Settle("c", "failed", "not run: step 'a' failed")
    ]
    assert scheduler.finish("soft", "failed", None, "meh") == [Start("after-soft", 1, "r1:after-soft")]
    assert scheduler.failed == ["a"] and scheduler.not_run == 2


def test_restore_keeps_finished_steps_and_starts_interrupted_ones_again_with_their_key():
    scheduler = _scheduler([
        {"id": "a", "tool": "t"},
        {"id": "b", "tool": "t", "depends_on": ["a"]},
        {"id": "gate", "type": "approval", "depends_on": ["a"]},
        {"id": "c", "tool": "t", "depends_on": ["b", "gate"]},
    ])
    rows = {"a": _row("a", "completed"), "b": _row("b", "running", 2), "gate": _row("gate", "waiting_approval")}
    # b was in flight: its third attempt, same key; a gate picked up again is the same wait, not a new attempt
    assert scheduler.restore(rows) == [Start("b", 3, "r1:b"), Start("gate", 1, "r1:gate")]
    assert scheduler.steps_seen["a"]["output"] == {"ok": "a"}  # templates read what finished before the crash
    assert scheduler.retry("b") == Start("b", 4, "r1:b")
