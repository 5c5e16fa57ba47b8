"""State machines (``kind: fsm``): their rules as a :class:`~.scheduler.Scheduler`, and the checks of their graph.

A run starts in ``initial``, does that state's work (an agent, a tool, an approval, a human task or a
sub-workflow, exactly as a DAG step does it, on the same execution), then takes the first transition whose
``when:`` holds, until it reaches a ``final`` state. Conditions see ``state`` (the state whose transitions are
tried: ``state.output``, ``state.visits``), ``states.NAME`` (the same of any state), ``inputs`` and ``run``. A state may be entered many times; each entry is one *visit*
and one checkpointed step row: the first visit of ``triage`` is the row ``triage``, the second ``triage#2``
(``#`` cannot be part of a name, so a visit id never collides with a state's).

Durability costs nothing extra: a visit's end and the start of the next visit are one commit (the engine commits
a step's end with the moves it led to), so the row of the next visit *is* the transition's checkpoint. On resume
the path is walked again from ``initial`` over the stored rows: the conditions see the same stored outputs and so
choose the same transitions, and the walk stops at the visit that was in flight, which runs again with its key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..diagnostics import ParacError, Problem, suggestion
from ..specs import StateSpec, StepSpec, WorkflowSpec
from . import templates
from .checkpoints import STEP_FINAL, StepRow
from .graph import checked_reads, step_templates
from .scheduler import Bookkeeping, Move, Settle

#: What ``states.NAME`` (and ``state``, the state just left) hold in a condition or template.
STATE_FIELDS = ("name", "output", "visits", "status", "error")
_STATES_READ = re.compile(r"\bstates\.([A-Za-z0-9_][A-Za-z0-9_-]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?")
DEFAULT_MAX_TRANSITIONS = 100


def states_of(spec: WorkflowSpec) -> dict[str, StateSpec]:
    return spec.states or {}


def visit_id(state: str, visit: int) -> str:
    """The step row of the ``visit``-th entry into ``state``."""
    return state if visit == 1 else f"{state}#{visit}"


def state_of(step_id: str) -> str:
    return step_id.partition("#")[0]


def as_step(name: str, state: StateSpec) -> StepSpec:
    """The state's work as the step the execution runs (its agent defaults to the state's name)."""
    fields = {key: value for key, value in state.__dict__.items() if key not in ("final", "transitions")}
    if state.type == "agent" and not state.agent:
        fields["agent"] = name
    return StepSpec.model_construct(id=name, depends_on=[], when=None, continue_on_error=False, **fields)


def in_order(rows: Mapping[str, StepRow]) -> list[StepRow]:
    """Rows in the order their steps started (a settled row without a start: when it was settled)."""
    return sorted(rows.values(), key=lambda row: row.started_at or row.finished_at or 0.0)


def shown_steps(definition: dict, rows: Mapping[str, StepRow]) -> list[dict]:
    """The visits as ``workflow status`` lists them: in the order entered, each with its state (the path)."""
    states = definition.get("states", {})
    return [{**states.get(state_of(row.step_id), {}), "id": row.step_id, "state": state_of(row.step_id)}
            for row in in_order(rows)]


def successors(spec: WorkflowSpec) -> dict[str, list[str]]:
    """State -> the known states its transitions name, in order."""
    states = states_of(spec)
    return {name: [t.to for t in state.transitions if t.to in states] for name, state in states.items()}


def reachable(spec: WorkflowSpec) -> list[str]:
    """The states a run can enter from ``initial``, in the order a breadth-first walk meets them."""
    if spec.initial not in states_of(spec):
        return []
    order = [spec.initial]
    graph = successors(spec)
    for name in order:
        order.extend(to for to in graph[name] if to not in order)
    return order


class FsmScheduler(Bookkeeping):
    """The rules of ``kind: fsm`` (see the module docstring): one visit runs at a time.

    ``steps`` and ``kinds`` are the execution's own tables (step id -> spec, kind): a visit is entered in them as
    it starts, because the ids of a state machine's steps are known only as the run goes.
    """

    def __init__(self, run_id: str, spec: WorkflowSpec, steps: dict[str, Any], kinds: dict[str, str],
                 context: dict[str, Any]) -> None:
        super().__init__(run_id)
        self.spec = spec
        self.states = states_of(spec)
        self.max_transitions = spec.max_transitions or DEFAULT_MAX_TRANSITIONS
        self.steps = steps
        self.kinds = kinds
        self.work = {name: as_step(name, state) for name, state in self.states.items() if not state.final}
        self.context = context
        self.states_seen: dict[str, dict] = {
            name: {"name": name, "output": None, "visits": 0, "status": None, "error": None} for name in self.states
        }
        context["states"] = self.states_seen
        context["state"] = None
        self.steps_seen: dict[str, dict] = context["steps"]
        self.path: list[str] = []  # visit ids, in the order entered

    # What the execution asks --------------------------------------------------------------------------------

    def restore(self, rows: Mapping[str, StepRow]) -> list[Move]:
        state = self.spec.initial
        assert state is not None  # a checked spec has one
        while True:
            visit = visit_id(state, self.states_seen[state]["visits"] + 1)
            row = rows.get(visit)
            if self.states[state].final or row is None or row.status not in STEP_FINAL:
                return self._enter(state, row)
            self._arrive(state, visit)
            self.attempts[visit] = row.attempts
            if row.idempotency_key:
                self.keys[visit] = row.idempotency_key
            self._record(visit, row.status, row.output, row.error)
            if row.status != "completed":
                self.failed.append(visit)
                return []
            state, error = self._next(state)
            if state is None:  # a stored run that stopped on this error has its visit failed; never reached
                raise ParacError(f"run {self.run_id}: cannot replay visit {visit!r}: {error}")

    def finish(self, step_id: str, status: str, output: Any, error: str | None) -> list[Move]:
        self.active -= 1
        self._record(step_id, status, output, error)
        if status != "completed":
            self.failed.append(step_id)
            return []
        target, problem = self._next(state_of(step_id))
        if target is None:
            self.failed.append(step_id)
            self._record(step_id, "failed", output, problem)
            return [Settle(step_id, "failed", problem, output)]
        return self._enter(target, None)

    def sinks(self) -> list[str]:
        """The last visit that did work: its output is the run's when the workflow declares no outputs."""
        worked = [visit for visit in self.path if visit in self.steps_seen]
        return worked[-1:]

    # The machine --------------------------------------------------------------------------------------------

    def _enter(self, state: str, row: StepRow | None) -> list[Move]:
        """Enter ``state`` (again, for a visit in flight at a crash), unless that takes one transition too many."""
        visits = self.states_seen[state]["visits"] + 1
        visit = visit_id(state, visits)
        if len(self.path) > self.max_transitions:
            self.failed.append(visit)
            route = " -> ".join(state_of(v) for v in self.path[-8:])
            error = (f"max_transitions ({self.max_transitions}) reached: the run would enter {state!r} after"
                     f" {'... -> ' if len(self.path) > 8 else ''}{route}")
            self._record(visit, "failed", None, error)
            self.path.append(visit)
            return [Settle(visit, "failed", error)]
        self._arrive(state, visit)
        if self.states[state].final:
            return [Settle(visit, "completed")]
        self.kinds[visit] = self.work[state].type
        self.steps[visit] = self.work[state] if visits == 1 else self.work[state].model_copy(update={"id": visit})
        return [self.begin(visit, self.work[state].type, row)]

    def _arrive(self, state: str, visit: str) -> None:
        self.states_seen[state]["visits"] += 1
        self.path.append(visit)

    def _record(self, visit: str, status: str, output: Any, error: str | None) -> None:
        """Let conditions and templates see how a visit ended (an agent's text reads as JSON where it is JSON)."""
        state = state_of(visit)
        if isinstance(output, str) and self.work.get(state) is not None and self.work[state].type == "agent":
            output = templates.JsonText(output)
        seen = self.states_seen[state]
        seen.update(output=output, status=status, error=error)
        self.context["state"] = seen
        self.steps_seen[visit] = {
            "output": output, "status": status, "error": error, "attempts": self.attempts.get(visit, 0)
        }

    def _next(self, state: str) -> tuple[str | None, str | None]:
        """The target of the first transition of ``state`` that holds, or None and why there is none."""
        for index, transition in enumerate(self.states[state].transitions):
            if not transition.when:
                return transition.to, None
            try:
                if templates.condition(transition.when, self.context,
                                       where=f"state {state!r} transition {index + 1} when"):
                    return transition.to, None
            except ParacError as exc:
                return None, str(exc)
        return None, f"no transition of state {state!r} matched (add one without when: as the default)"


# -- the checks the workspace reports --------------------------------------------------------------------------------


def state_templates(spec: WorkflowSpec) -> Iterable[tuple[tuple[str | int, ...], str, bool]]:
    """(key path, text, is a condition) for every templated string of a state machine."""
    states = states_of(spec)
    for name, state in states.items():
        for loc, text in step_templates(state):
            yield ("states", name, *loc), text, False
        for index, transition in enumerate(state.transitions):
            if transition.when:
                yield ("states", name, "transitions", index, "when"), transition.when, True
    for name, template in spec.outputs.items():
        yield ("outputs", name), template, False


def structure_problems(spec: WorkflowSpec) -> list[Problem]:
    """What makes a state machine unable to run or to end, each placed where it is to be fixed: keys of the other
    kind, a missing or unknown ``initial``, transitions to unknown states, states that cannot be reached, states
    that cannot reach a final state, and non-final states with no way out."""
    out: list[Problem] = []
    states = states_of(spec)
    if spec.steps:
        out.append(Problem(("steps",), "wrong-kind", 'a state machine (kind: fsm) has "states", not "steps"',
                           {"key": True}))
    if not states:
        return [*out, Problem(("kind",), "missing-key", 'a state machine (kind: fsm) needs "states"', {"missing": "states", "key": True})]
    names = list(states)
    if spec.initial is None:
        out.append(Problem(("kind",), "missing-key", 'a state machine (kind: fsm) needs "initial": the state a run starts in', {"missing": "initial", "key": True}))
    elif spec.initial not in states:
        out.append(Problem(("initial",), "unknown-state", f'unknown state "{spec.initial}"{suggestion(spec.initial, names)}', {"candidates": names}))
    if not any(state.final for state in states.values()):
        out.append(Problem(("states",), "no-final-state", "no state is final: a run could never complete (add one with final: true)", {"key": True}))
    for name, state in states.items():
        for index, transition in enumerate(state.transitions):
            if transition.to not in states:
                out.append(Problem(("states", name, "transitions", index, "to"), "unknown-state",
                                   f'unknown state "{transition.to}"{suggestion(transition.to, names)}', {"candidates": names}))
        if not state.final and not state.transitions:
            out.append(Problem(("states", name), "dead-end", f'state "{name}" is not final and has no transitions: a run would stop there', {"key": True}))
    if spec.initial in states:
        entered = set(reachable(spec))
        for name in names:
            if name not in entered:
                out.append(Problem(("states", name), "unreachable-state", f'state "{name}" cannot be reached from "{spec.initial}"', {"key": True}))
    ending = _can_end(spec)
    for name, state in states.items():
        if state.transitions and name not in ending:
            out.append(Problem(("states", name), "no-way-to-final", f'no path leads from state "{name}" to a final state: a run there would loop until max_transitions', {"key": True}))
    return out


def template_problems(spec: WorkflowSpec) -> list[Problem]:
    """Templates that do not parse, and ``inputs.X`` / ``states.X.attr`` that name nothing (``steps`` is a DAG's)."""
    out: list[Problem] = []
    states = states_of(spec)
    names, fields = list(states), list(STATE_FIELDS)
    for loc, text, reads in checked_reads(state_templates(spec), spec.inputs, out):
        for _name, _attribute, _written, at in reads:
            out.append(Problem(loc, "unknown-step", 'a state machine has no "steps": read "state" (this state\'s output) or "states.NAME"', at))
        for block in templates.blocks(text):
            for ref in _STATES_READ.finditer(block):
                name, attribute = ref.groups()
                at = {"reference": ref.group(0), "within": (7, 7 + len(name))}
                if name not in states:
                    out.append(Problem(loc, "unknown-state", f'template names unknown state "{name}"{suggestion(name, names)}', {"candidates": names, **at}))
                elif attribute is not None and attribute not in STATE_FIELDS:
                    at["within"] = (8 + len(name), len(ref.group(0)))
                    out.append(Problem(loc, "unknown-attribute", f'template reads "states.{name}.{attribute}"; a state has {", ".join(fields)}{suggestion(attribute, fields)}', {"candidates": fields, **at}))
    return out


def _can_end(spec: WorkflowSpec) -> set[str]:
    """The states from which some path of transitions reaches a final state."""
    states = states_of(spec)
    ending = {name for name, state in states.items() if state.final}
    graph = successors(spec)
    grew = True
    while grew:
        grew = False
        for name, targets in graph.items():
            if name not in ending and any(to in ending for to in targets):
                ending.add(name)
                grew = True
    return ending
