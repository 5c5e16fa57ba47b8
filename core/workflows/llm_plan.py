"""Plans an LLM writes (``kind: llm_plan``): a planner agent answers a goal with a plan, which is checked, run as a
DAG, asked again when refused or when a step fails, and replaced by a fallback workflow when no good plan comes.

The plan is JSON that must satisfy :class:`~parac.core.specs.PlanSpec` (``parac schema plan``). Before it runs,
:func:`judge_for`'s judge refuses it, with reasons, when it names an agent or a tool the registry does not know or
a tool the policies do not grant this workflow, has unknown dependencies or a cycle, reuses a step id of an
earlier plan, reads a step it does not depend on, or when its estimated cost (the same :mod:`.planning` a run
does) would break a budget. A refused plan is fed back to the planner with the reasons; so is a failed step
(with what completed). After ``max_replans`` more plans, a plan that is still refused gives way to the
``fallback`` workflow (a sub-workflow step of this run, with its inputs); a step that still fails fails the run.

Durability as for the other kinds: the planner's answers are steps (``planner``, ``planner#2``), each verdict is
the row ``~planN`` (completed with the plan and its estimate, which ``workflow status`` shows, or failed with the
reasons), committed with the planner's end, and the accepted plan's steps run under a :class:`.DagScheduler`. A
resume reads the verdicts back rather than judging again, so a plan once accepted stays the plan.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from ..diagnostics import ParacError, Problem
from ..specs import PlanSpec, StepSpec, WorkflowSpec
from . import templates
from .checkpoints import STEP_FINAL, StepRow
from .fsm import in_order
from .scheduler import Bookkeeping, DagScheduler, Move, Settle

DEFAULT_MAX_REPLANS = 2
#: judge(plan text, step ids taken by earlier plans) -> (the plan as steps, its estimate in USD, reasons to refuse).
Judge = Callable[[str, set[str]], tuple[list[dict], float, list[str]]]
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.S)


def planner_id(attempt: int) -> str:
    return "planner" if attempt == 1 else f"planner#{attempt}"


def verdict_id(attempt: int) -> str:
    return f"~plan{attempt}"


def shown_steps(definition: dict, rows: Mapping[str, StepRow]) -> list[dict]:
    """The planner's answers, the verdicts (``~planN``: the plan or why it was refused) and the plans' steps, in
    the order they happened; a planned step with its fields (so an approval shows as one)."""
    planned = {step["id"]: step for row in rows.values() if row.step_id.startswith("~plan") and row.output
               for step in row.output.get("steps", [])}
    shown = []
    for row in in_order(rows):
        if row.step_id.startswith("~"):
            shown.append({"id": row.step_id, "type": "node", "node": row.step_id[1:]})
        elif row.step_id == "fallback":
            shown.append({"id": "fallback", "type": "workflow", "workflow": definition.get("fallback")})
        else:
            shown.append({**planned.get(row.step_id, {}), "id": row.step_id})
    return shown


class PlanScheduler(Bookkeeping):
    """The rules of ``kind: llm_plan`` (see the module docstring). ``steps`` and ``kinds`` are the execution's
    tables, filled as the planner, the plan's steps and the fallback start."""

    def __init__(self, run_id: str, spec: WorkflowSpec, steps: dict[str, Any], kinds: dict[str, str],
                 context: dict[str, Any], judge: Judge, limit: int) -> None:
        super().__init__(run_id)
        self.spec = spec
        self.steps = steps
        self.kinds = kinds
        self.context = context
        self.judge = judge
        self.limit = limit
        self.attempts_allowed = 1 + (DEFAULT_MAX_REPLANS if spec.max_replans is None else spec.max_replans)
        self.steps_seen: dict[str, dict] = context["steps"]
        self.ended: dict[str, StepRow | tuple[str, Any, str | None]] = {}
        self.verdicts: dict[int, tuple[bool, Any]] = {}  # attempt -> (accepted, plan steps or reasons)
        self.taken: set[str] = set()
        self.dag: DagScheduler | None = None
        self.rows: Mapping[str, StepRow] = {}
        self.attempt = 0
        self.feedback: str | None = None
        self.last: str | None = None

    # What the execution asks --------------------------------------------------------------------------------

    def restore(self, rows: Mapping[str, StepRow]) -> list[Move]:
        self.rows = rows
        for step_id, row in rows.items():
            if step_id.startswith("~plan") and row.status in STEP_FINAL:
                self.verdicts[int(step_id[5:])] = (row.status == "completed",
                                                   row.output if row.status == "completed" else row.error)
        moves = self._plan_next()
        self.rows = {}
        return moves

    def finish(self, step_id: str, status: str, output: Any, error: str | None) -> list[Move]:
        self.last = step_id
        if self.dag is not None and step_id in self.dag.steps:
            moves = self.dag.finish(step_id, status, output, error)
            self.active = self.dag.active
            return moves or self._plan_ended()
        self.active -= 1
        self._see(step_id, status, output, error)
        if step_id == "fallback":
            if status != "completed":
                self.failed.append("fallback")
            return []
        return self._verdict(status, output, error)

    def pause(self, step_id: str) -> list[Move]:
        if self.dag is not None and step_id in self.dag.steps:
            moves = self.dag.pause(step_id)
            self.paused = self.dag.paused
            self.active = self.dag.active
            return moves
        return super().pause(step_id)

    def cancelled(self, step_id: str) -> None:
        super().cancelled(step_id)
        if self.dag is not None and step_id in self.dag.steps:
            self.dag.active -= 1

    def sinks(self) -> list[str]:
        if self.dag is not None and not self.failed:
            return self.dag.sinks()
        return [self.last] if self.last else []

    # The planning loop --------------------------------------------------------------------------------------

    def _plan_next(self) -> list[Move]:
        """Ask the planner (again), or take its stored answer and verdict on resume."""
        if self.attempt >= self.attempts_allowed:
            return self._fall_back()
        self.attempt += 1
        visit = planner_id(self.attempt)
        self.taken.add(visit)
        row = self.rows.get(visit)
        if row is not None and row.status in STEP_FINAL:
            self.attempts[visit] = row.attempts
            self._see(visit, row.status, row.output, row.error)
            return self._verdict(row.status, row.output, row.error)
        self.steps[visit] = StepSpec.model_construct(
            id=visit, type="agent", agent=self.spec.planner, task=self._prompt(), depends_on=[], when=None,
            continue_on_error=False, retry=None, timeout_s=None, model=None, escalate=None, assign=None, form=None)
        self.kinds[visit] = "agent"
        return [self.begin(visit, "agent", row)]

    def _verdict(self, status: str, output: Any, error: str | None) -> list[Move]:
        """Judge the planner's answer (or read the stored verdict); run the plan, or ask again, or fall back."""
        moves: list[Move] = []
        stored = self.verdicts.get(self.attempt)
        if stored is not None:
            accepted, found = stored
        elif status != "completed":
            accepted, found = False, f"the planner failed: {error}"
        else:
            plan, estimate, reasons = self.judge(str(output), set(self.taken))
            accepted, found = not reasons, ({"steps": plan, "estimated_usd": estimate} if not reasons else "; ".join(reasons))
        if stored is None:
            moves.append(Settle(verdict_id(self.attempt), "completed" if accepted else "failed",
                                None if accepted else found, found if accepted else None))
            self.verdicts[self.attempt] = (accepted, found)
        if not accepted:
            self.feedback = f"Your plan was refused: {found}. Answer with a corrected plan."
            return moves + self._plan_next()
        return moves + self._run_plan(found["steps"])

    def _run_plan(self, planned: list[dict]) -> list[Move]:
        steps = [StepSpec.model_validate(step) for step in planned]
        for step in steps:
            self.steps[step.id] = step
            self.kinds[step.id] = step.type
            self.taken.add(step.id)
        self.dag = DagScheduler(self.run_id, WorkflowSpec.model_construct(steps=steps), self.kinds, self.context,
                                self.limit)
        self.dag.attempts, self.dag.keys = self.attempts, self.keys  # one table of each for the whole run
        moves = self.dag.restore({sid: row for sid, row in self.rows.items() if sid in self.dag.steps})
        self.active = self.dag.active
        return moves or self._plan_ended()

    def _plan_ended(self) -> list[Move]:
        """The plan's DAG has nothing left to start: done, waiting, or failed (then ask again, or fail)."""
        dag = self.dag
        assert dag is not None
        if dag.active or dag.queue or dag.paused or not dag.failed:
            self.paused = dag.paused
            return []
        if self.attempt >= self.attempts_allowed:
            self.failed = list(dag.failed)
            self.not_run = dag.not_run
            return []
        failures = "; ".join(f"step {sid!r} failed: {self.steps_seen[sid]['error']}" for sid in dag.failed)
        done = [sid for sid in dag.steps if self.steps_seen.get(sid, {}).get("status") == "completed"]
        self.feedback = (f"Your plan ran and {failures}. These steps completed (a new plan may not reuse their"
                         f" ids): {', '.join(done) or 'none'}. Answer with a new plan for what is left.")
        self.dag = None
        return self._plan_next()

    def _fall_back(self) -> list[Move]:
        """No acceptable plan: run the fallback workflow with this run's inputs, as a sub-workflow step."""
        if self.spec.fallback is None:
            self.failed.append(verdict_id(self.attempt))
            self.steps_seen[verdict_id(self.attempt)] = {"error": "no plan was accepted and there is no fallback"}
            return []
        step = StepSpec.model_construct(
            id="fallback", type="workflow", workflow=self.spec.fallback, inputs=dict(self.context["inputs"]),
            depends_on=[], when=None, continue_on_error=False, retry=None, timeout_s=None, escalate=None)
        self.steps["fallback"] = step
        self.kinds["fallback"] = "workflow"
        row = self.rows.get("fallback")
        if row is not None and row.status in STEP_FINAL:
            self._see("fallback", row.status, row.output, row.error)
            self.last = "fallback"
            if row.status != "completed":
                self.failed.append("fallback")
            return []
        return [self.begin("fallback", "workflow", row)]

    def _see(self, step_id: str, status: str, output: Any, error: str | None) -> None:
        self.steps_seen[step_id] = {"output": output, "status": status, "error": error,
                                    "attempts": self.attempts.get(step_id, 0)}

    def _prompt(self) -> str:
        """The planner's task: the goal, the schema, what it may use, and why the last plan was refused."""
        goal = templates.render(self.spec.goal or "", self.context, where="goal")
        text = (f"{goal}\n\nAnswer with only a JSON object that satisfies this JSON Schema (a plan of steps that run"
                f" agents, call tools or wait for a person's approval):\n{json.dumps(PlanSpec.model_json_schema())}\n"
                f"{self.judge_vocabulary()}")
        if self.feedback:
            text += f"\n{self.feedback}"
        return "{% raw %}" + text + "{% endraw %}"  # the engine renders tasks: none of this is a template

    def judge_vocabulary(self) -> str:
        vocabulary = getattr(self.judge, "vocabulary", None)
        return vocabulary() if vocabulary is not None else ""


def judge_for(services: Any, run_id: str, workflow: str, spec: WorkflowSpec, inputs: dict,
              model: str | None = None) -> Judge:
    """The judge of plans for run ``run_id`` of ``workflow`` in the services' workspace (see the module
    docstring); the plan's estimate (on ``model``, a --dry-run's, when given) is checked against every budget,
    ``spec.budget_usd`` and what the run spent."""
    from .graph import reference_problems, structure_problems
    from .planning import plan_workflow

    workspace = services.workspace

    def tools_granted() -> list[str]:
        catalog = workspace.catalog
        policies = workspace.current_policies()
        return sorted(name for name in (catalog.tools if catalog else {}) if policies.decide(name, workflow=workflow).allowed)

    def judge(text: str, taken: set[str]) -> tuple[list[dict], float, list[str]]:
        fenced = _FENCE.match(text)
        try:
            data = json.loads(fenced.group(1) if fenced else text)
        except json.JSONDecodeError as exc:
            return [], 0.0, [f"the answer is not JSON ({exc})"]
        try:
            plan = PlanSpec.model_validate(data)
        except ValidationError as exc:
            return [], 0.0, [f"{'.'.join(map(str, e['loc'])) or 'plan'}: {e['msg']}" for e in exc.errors(include_url=False)]
        reasons = []
        agents = set(workspace.agent_names())
        granted = tools_granted()
        for step in plan.steps:
            if step.agent is not None and step.agent not in agents:
                reasons.append(f"step {step.id!r}: unknown agent {step.agent!r}")
            if step.tool is not None and step.tool not in granted:
                reasons.append(f"step {step.id!r}: tool {step.tool!r} is unknown or not granted to this workflow")
            if step.id in taken:
                reasons.append(f"step {step.id!r}: the id is taken by an earlier step of this run")
        planned_spec = WorkflowSpec.model_validate({"steps": plan.as_steps(), "budget_usd": spec.budget_usd})
        reasons += [problem.message for problem in structure_problems(planned_spec)]
        if reasons:
            return [], 0.0, reasons
        reasons += [f"step {sid!r} {field}: {message}" for sid, field, message in reference_problems(planned_spec.steps)]
        if reasons:
            return [], 0.0, reasons
        try:
            estimate = plan_workflow(services, workflow, planned_spec, inputs, model=model, run_id=run_id)
        except ParacError as exc:
            return [], 0.0, [str(exc)]
        refusal = estimate.refusal()
        if refusal is not None:
            return [], estimate.total_usd, [refusal]
        return plan.as_steps(), round(estimate.total_usd, 6), []

    judge.vocabulary = lambda: (  # type: ignore[attr-defined]
        f"Agents you may use: {', '.join(workspace.agent_names()) or 'none'}.\n"
        f"Tools you may use: {', '.join(tools_granted()) or 'none'}.")
    return judge


def structure_problems(spec: WorkflowSpec, agents: list[str], workflows: list[str]) -> list[Problem]:
    """Keys of other kinds, a missing planner, goal or fallback, a planner or fallback that does not exist, and a
    goal whose template does not parse or reads an unknown input."""
    from ..diagnostics import suggestion
    from .graph import checked_reads

    out: list[Problem] = []
    for key in ("steps", "states", "initial", "max_transitions", "root"):
        if getattr(spec, key):
            out.append(Problem((key,), "wrong-kind", f'"{key}" does not belong to an LLM plan (kind: llm_plan)', {"key": True}))
    for key, what in (("planner", "the agent that writes the plan"), ("goal", "what the plan is for"),
                      ("fallback", "the workflow run when no plan is accepted")):
        if getattr(spec, key) is None:
            out.append(Problem(("kind",), "missing-key", f'an LLM plan (kind: llm_plan) needs "{key}": {what}', {"missing": key, "key": True}))
    if spec.planner is not None and spec.planner not in agents:
        out.append(Problem(("planner",), "unknown-agent", f'unknown agent "{spec.planner}"{suggestion(spec.planner, agents)}', {"candidates": agents}))
    if spec.fallback is not None and spec.fallback not in workflows:
        out.append(Problem(("fallback",), "unknown-workflow", f'unknown workflow "{spec.fallback}"{suggestion(spec.fallback, workflows)}', {"candidates": workflows}))
    strings = [(("goal",), spec.goal, False)] if spec.goal else []
    for loc, _text, reads in checked_reads(strings, spec.inputs, out):
        for _name, _attribute, _written, at in reads:
            out.append(Problem(loc, "unknown-step", "a goal is written before any step runs: it may read inputs only", at))
    return out
