"""The plan of a run: per step, the agent, model, tokens and dollars it may cost, and the total against every budget.

``parac workflow run --plan`` prints this, and every run computes the same plan before its first step and refuses to
start when a budget would break, so what the plan says and what a run does cannot drift apart. Nothing here calls a
model: prompts are counted and completions bounded by ``max_tokens``, exactly as the budgets reserve before a call.

Outputs of earlier steps do not exist yet when planning; templates see a placeholder for each. A step with a
``when:`` is counted as if it runs (the plan is an upper bound on the first turn of every agent; an agent that
calls tools takes more turns, which the budgets then check call by call).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from ..budgets import CallScope
from ..costs import spent
from ..diagnostics import ParacError
from ..specs import StepSpec
from . import templates
from .graph import step_kind, topological_order
from .services import WorkspaceServices


@dataclass
class StepPlan:
    id: str
    kind: str
    agent: str | None = None
    model: str | None = None
    prompt_tokens: int = 0
    max_completion_tokens: int = 0
    usd: float = 0.0
    priced: bool = True
    conditional: bool = False


@dataclass
class BudgetCheck:
    limit: str
    limit_usd: float
    spent_usd: float
    reserved_usd: float
    planned_usd: float

    @property
    def ok(self) -> bool:
        return self.spent_usd + self.reserved_usd + self.planned_usd <= self.limit_usd + 1e-12

    def to_json(self) -> dict:
        return {**asdict(self), "ok": self.ok}


@dataclass
class Plan:
    workflow: str
    steps: list[StepPlan] = field(default_factory=list)
    budgets: list[BudgetCheck] = field(default_factory=list)

    @property
    def total_usd(self) -> float:
        return sum(step.usd for step in self.steps)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.budgets)

    def refusal(self) -> str | None:
        """Why a run must not start, naming the first budget it would break; None when it may."""
        for check in self.budgets:
            if not check.ok:
                return (
                    f"workflow {self.workflow!r} would break budget {check.limit}: spent ${check.spent_usd:.4f}"
                    f" + reserved ${check.reserved_usd:.4f} + planned ${check.planned_usd:.4f}"
                    f" > limit ${check.limit_usd:.4f} (see `parac workflow plan {self.workflow}`)"
                )
        return None

    def to_json(self) -> dict:
        return {
            "workflow": self.workflow,
            "steps": [asdict(step) for step in self.steps],
            "total_usd": round(self.total_usd, 6),
            "budgets": [check.to_json() for check in self.budgets],
            "ok": self.ok,
        }


def plan_workflow(
    services: WorkspaceServices,
    name: str,
    spec: Any,
    inputs: dict,
    *,
    model: str | None = None,
    run_id: str = "planned",
) -> Plan:
    """Estimate a run of ``spec`` (see the module docstring); ``model`` is the --dry-run model, if any."""
    plan = Plan(name)
    _plan_steps(services, spec, inputs, model, plan, prefix="", seen=(name,))
    _check_budgets(services, name, spec, plan, run_id)
    return plan


def _plan_steps(
    services: WorkspaceServices, spec: Any, inputs: dict, model: str | None, plan: Plan, *, prefix: str,
    seen: tuple[str, ...],
) -> None:
    by_id = {step.id: step for step in spec.steps}
    context = {
        "inputs": inputs,
        "steps": {sid: {"output": templates.JsonText(f"<output of step {sid}>"), "status": "completed",
                        "error": None, "attempts": 1} for sid in by_id},
        "run": {"id": "planned", "workflow": plan.workflow},
    }
    for step_id, step, conditional in _in_order(spec, by_id, context):
        kind = step_kind(step)
        entry = StepPlan(prefix + step_id, kind, conditional=conditional)
        if kind == "agent" and step.remote_agent is not None:  # a remote A2A agent: its owner pays for its models
            entry.agent = step.agent_name
        elif kind == "agent":
            task = templates.render(step.task or "", context, where=f"step {step_id!r} task")
            estimate = services.runtime.estimate(step.agent_name, task, model=model or step.model)
            entry.agent = step.agent_name
            entry.model = estimate.model
            entry.prompt_tokens = estimate.prompt_tokens
            entry.max_completion_tokens = estimate.max_completion_tokens
            entry.usd = estimate.usd
            entry.priced = estimate.priced
        elif kind == "council":  # every member's first turn, and the judge's
            task = templates.render(step.task or "", context, where=f"step {step_id!r} task")
            for member in [*step.agents, *([step.judge] if step.judge else [])]:
                estimate = services.runtime.estimate(member, task, model=model or step.model)
                entry.prompt_tokens += estimate.prompt_tokens
                entry.max_completion_tokens += estimate.max_completion_tokens
                entry.usd += estimate.usd
                entry.priced = entry.priced and estimate.priced
        plan.steps.append(entry)
        if kind == "workflow":
            if step.workflow in seen:
                raise ParacError(f"workflow {seen[0]!r} runs itself through {' -> '.join((*seen, step.workflow))}")
            child = services.workflow_spec(step.workflow)
            child_inputs = templates.render_value(dict(step.inputs or {}), context, where=f"step {step_id!r} inputs")
            _plan_steps(services, child, child_inputs, model, plan, prefix=f"{prefix}{step_id}/",
                        seen=(*seen, step.workflow))


def _in_order(spec: Any, by_id: dict[str, Any], context: dict) -> list[tuple[str, Any, bool]]:
    """(id, step, whether it may not run) in the order a run meets them. A state machine's states are counted once
    each, every state the initial one can lead to: a state visited again costs again, up to ``max_transitions``."""
    if spec.flow == "llm_plan":  # the planner's first answer; the plan it writes is estimated before it runs
        planner = StepSpec(id="planner", agent=spec.planner, task=spec.goal or "")
        return [("planner", planner, False)]
    if spec.flow == "behavior_tree":  # every action once: a retry or repeat runs its actions again, at its cost
        from .behavior_tree import actions

        for _, action in actions(spec):
            context["steps"][action.id] = {"output": templates.JsonText(f"<output of action {action.id}>"),
                                           "status": "completed", "error": None, "attempts": 1}
        return [(action.id, action, index > 0) for index, (_, action) in enumerate(actions(spec))]
    if spec.flow != "fsm":
        return [(sid, by_id[sid], bool(by_id[sid].when)) for sid in topological_order(spec.steps)]
    from . import fsm

    states = fsm.states_of(spec)
    context["states"] = {name: {"name": name, "output": templates.JsonText(f"<output of state {name}>"),
                                "visits": 1, "status": "completed", "error": None} for name in states}
    context["state"] = context["states"][spec.initial]
    return [(name, fsm.as_step(name, states[name]), name != spec.initial)
            for name in fsm.reachable(spec) if not states[name].final]


def _check_budgets(services: WorkspaceServices, name: str, spec: Any, plan: Plan, run_id: str) -> None:
    """Sum each step's estimate into every limit that would watch its calls, then compare with what is spent."""
    accountant = services.runtime.client.accountant
    if accountant is None:
        return
    now = time.time()
    planned: dict[str, float] = defaultdict(float)
    limits = {}
    agents = [step.agent for step in plan.steps if step.agent] or [None]
    for agent in dict.fromkeys(agents):
        scope = CallScope(agent=agent, run_id=run_id, workflow=name)
        for limit in accountant.limits_for(scope, now, getattr(spec, "budget_usd", None)):
            limits[limit.key] = limit
            if limit.scope == f"agent {agent}":  # an agent's own limit watches only that agent's calls
                planned[limit.key] = sum(step.usd for step in plan.steps if step.agent == agent)
            else:
                planned[limit.key] = plan.total_usd
    totals = spent(accountant.conn, list(limits))
    for key, limit in limits.items():
        spent_usd, reserved_usd = totals.get(key, (0.0, 0.0))
        plan.budgets.append(BudgetCheck(limit.label, limit.usd, round(spent_usd, 6), round(reserved_usd, 6),
                                        round(planned[key], 6)))
