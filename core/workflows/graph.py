"""The step graph of a workflow: its order, its soundness, and which steps a step's templates may read.

The workspace reports what :func:`structure_problems` and :func:`template_problems` find, placed in the file; the
engine and the planner then ask their questions of a graph known to be sound. The template checks live here because
they are graph checks: a step may only read the output of a step it (transitively) depends on, since any other step
may not have run yet.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any, Protocol

from ..diagnostics import ParacError, Problem, suggestion
from ..sources import Loc
from ..specs import WorkflowSpec
from . import templates


class StepLike(Protocol):
    id: str
    depends_on: list[str]


def topological_order(steps: Sequence[StepLike]) -> list[str]:
    """Step ids with every step after its dependencies; ties keep file order (so plans read like the file)."""
    remaining = {step.id: len(step.depends_on) for step in steps}
    dependents: dict[str, list[str]] = {step.id: [] for step in steps}
    for step in steps:
        for dep in step.depends_on:
            dependents[dep].append(step.id)
    order = [step.id for step in steps if not step.depends_on]
    for current in order:
        for child in dependents[current]:
            remaining[child] -= 1
            if remaining[child] == 0:
                order.append(child)
    if len(order) != len(steps):
        stuck = sorted(step_id for step_id, count in remaining.items() if count > 0)
        raise ValueError(f"the steps {', '.join(stuck)} depend on each other in a cycle")
    return order


def step_templates(step: Any) -> Iterable[tuple[Loc, str]]:
    """(key path within the step, text) for every templated string of a step; the path starts with its field."""
    for field in ("task", "when", "message"):
        value = getattr(step, field, None)
        if isinstance(value, str):
            yield (field,), value
    for field in ("arguments", "inputs"):
        yield from templates.strings_in(getattr(step, field, None) or {}, (field,))


def workflow_templates(spec: WorkflowSpec) -> Iterable[tuple[Loc, str, str | None]]:
    """Every templated string of a workflow: (key path, text, the step it belongs to or None for outputs)."""
    for index, step in enumerate(spec.steps):
        for loc, text in step_templates(step):
            yield ("steps", index, *loc), text, step.id
    for name, template in spec.outputs.items():
        yield ("outputs", name), template, None


def checked_reads(
    strings: Iterable[tuple[Loc, str, bool]], inputs: Collection[str], out: list[Problem]
) -> Iterable[tuple[Loc, str, list[tuple[str, str | None, str, dict]]]]:
    """For the templated strings of a state machine or a tree, (key path, text, is a condition): add to ``out``
    the ones that do not parse and the ``inputs.X`` that name no input; yield the others as (key path, text as a
    template, its ``steps.X`` reads as (name, attribute, as written, where to place a problem))."""
    for loc, text, expression in strings:
        problem = templates.syntax_error(text, expression=expression)
        if problem is not None:
            out.append(Problem(loc, "template-syntax", problem))
            continue
        if expression and not templates.is_template(text):
            text = "{{ " + text + " }}"
        steps = []
        for kind, name, attribute, written, within in templates.names_read(text):
            at = {"reference": written, "within": within}
            if kind == "inputs" and name not in inputs:
                out.append(Problem(loc, "unknown-input", f'template names unknown input "{name}"{suggestion(name, inputs)}', {"candidates": list(inputs), **at}))
            elif kind == "steps":
                steps.append((name, attribute, written, at))
        yield loc, text, steps


def reference_problems(steps: Sequence[Any]) -> list[tuple[str, str, str]]:
    """(step id, field, message) for each template that reads a step it does not depend on, or does not parse."""
    by_id = {step.id: step for step in steps}
    problems = []
    for step in steps:
        for (field, *_), text in step_templates(step):
            try:
                names = templates.referenced_steps(text, expression=field == "when")
            except ParacError as exc:
                problems.append((step.id, field, str(exc)))
                continue
            for name in sorted(names):
                if name not in by_id:
                    problems.append((step.id, field, f"the template reads step {name!r}, which does not exist"))
                elif not _depends_on(by_id, step.id, name):
                    problems.append(
                        (
                            step.id,
                            field,
                            f"the template reads step {name!r}, which is not a dependency of {step.id!r}"
                            " (add it to depends_on)",
                        )
                    )
    return problems


def _depends_on(by_id: dict[str, Any], start: str, target: str) -> bool:
    """Whether ``target`` is among the transitive dependencies of ``start`` (a walk only where templates look)."""
    seen = set()
    stack = list(by_id[start].depends_on)
    while stack:
        current = stack.pop()
        if current == target:
            return True
        if current not in seen and current in by_id:
            seen.add(current)
            stack.extend(by_id[current].depends_on)
    return False


def step_kind(step: Any) -> str:
    """agent, tool, approval or workflow: ``type`` when given, else what the step names (a spec or a stored dict)."""
    get = step.get if isinstance(step, dict) else lambda name: getattr(step, name, None)
    kind = get("type")
    if kind:
        return kind
    for name in ("tool", "workflow"):
        if get(name):
            return name
    return "agent"


# -- the checks the workspace reports --------------------------------------------------------------------------------


def structure_problems(spec: WorkflowSpec) -> list[Problem]:
    """No steps, keys of a state machine, duplicate step ids, dependencies on steps that do not exist, and
    dependency cycles."""
    out: list[Problem] = []
    if not spec.steps:
        out.append(Problem((), "missing-key", 'missing required key "steps"', {"missing": "steps", "key": True}))
    for key in ("initial", "states", "max_transitions"):
        if getattr(spec, key) is not None:
            out.append(Problem((key,), "wrong-kind", f'"{key}" belongs to a state machine: add kind: fsm, or remove it', {"key": True}))
    index_of: dict[str, int] = {}
    for index, step in enumerate(spec.steps):
        if step.id in index_of:
            out.append(Problem(("steps", index, "id"), "duplicate-step", f'duplicate step id "{step.id}"'))
        else:
            index_of[step.id] = index
    step_ids = list(index_of)
    for index, step in enumerate(spec.steps):
        for dep_index, dep in enumerate(step.depends_on):
            if dep not in index_of:
                out.append(
                    Problem(("steps", index, "depends_on", dep_index), "unknown-step", f'unknown step "{dep}"{suggestion(dep, step_ids)}', {"candidates": step_ids})
                )
    cyclic = _steps_on_cycles(spec.steps)
    for index, step in enumerate(spec.steps):
        if step.id in cyclic:
            out.append(Problem(("steps", index, "depends_on"), "dependency-cycle", f"dependency cycle: {' -> '.join(cyclic[step.id])}"))
    return out


def template_problems(spec: WorkflowSpec) -> list[Problem]:
    """Templates that do not parse, and references (``steps.X.attr``, ``inputs.Y``) that must name a declared input,
    a step the template's own step depends on (directly or not), and one of the fields a step's result holds."""
    out: list[Problem] = []
    ancestors = _ancestors(spec.steps)
    step_ids = list(ancestors)  # each id once, in file order
    inputs = list(spec.inputs)
    for loc, text, step_id in workflow_templates(spec):
        expression = len(loc) == 3 and loc[2] == "when"
        problem = templates.syntax_error(text, expression=expression)
        if problem is not None:
            out.append(Problem(loc, "template-syntax", problem))
            continue
        if expression and not templates.is_template(text):
            text = "{{ " + text + " }}"  # a bare `when:` reads names as a template's block does
        # a duplicated id's own depends_on, not the first definition's (the duplicate is reported once, elsewhere)
        reachable = _reachable(spec.steps[loc[1]], ancestors) if step_id is not None else set(step_ids)
        for kind, name, attribute, written, within in templates.names_read(text):
            # placed on the word to change (a code action replaces just that), within the reference as written
            at = {"reference": written, "within": within}
            if kind == "inputs" and name not in spec.inputs:
                out.append(Problem(loc, "unknown-input", f'template names unknown input "{name}"{suggestion(name, inputs)}', {"candidates": inputs, **at}))
            elif kind == "steps" and name not in ancestors:  # not a step at all
                out.append(Problem(loc, "unknown-step", f'template names unknown step "{name}"{suggestion(name, step_ids)}', {"candidates": step_ids, **at}))
            elif kind == "steps" and name not in reachable:
                out.append(Problem(loc, "not-a-dependency", f'template uses step "{name}", which "{step_id}" does not depend on (add it to depends_on)', at))
            elif kind == "steps" and attribute is not None and attribute not in templates.STEP_FIELDS:
                fields = list(templates.STEP_FIELDS)
                out.append(
                    Problem(
                        loc,
                        "unknown-attribute",
                        f'template reads "steps.{name}.{attribute}"; a step has {", ".join(fields)}{suggestion(attribute, fields)}',
                        {"candidates": fields, "reference": written, "within": (written.rindex(".") + 1, len(written))},
                    )
                )
    return out


def _reachable(step: StepLike, ancestors: dict[str, set[str]]) -> set[str]:
    """The steps ``step`` depends on, directly or not, read from its own ``depends_on``."""
    out: set[str] = set()
    for dep in step.depends_on:
        if dep in ancestors and dep != step.id:
            out |= {dep} | ancestors[dep]
    return out


def _graph(steps: Sequence[StepLike]) -> dict[str, list[str]]:
    """Step id -> its dependencies; a duplicated id keeps its first definition (the duplicate is reported)."""
    graph: dict[str, list[str]] = {}
    for step in steps:
        graph.setdefault(step.id, list(step.depends_on))
    return graph


def _steps_on_cycles(steps: Sequence[StepLike]) -> dict[str, list[str]]:
    """Each step that lies on a ``depends_on`` cycle, with one cycle through it (for the message)."""
    graph = _graph(steps)
    state: dict[str, int] = {}
    stack: list[str] = []
    found: dict[str, list[str]] = {}

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, ()):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep) :] + [dep]
                for member in cycle[:-1]:
                    found.setdefault(member, cycle)
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node)
    return found


def _ancestors(steps: Sequence[StepLike]) -> dict[str, set[str]]:
    """Step id -> every step it depends on, directly or not (cycles and unknown steps left out)."""
    graph = _graph(steps)
    memo: dict[str, set[str]] = {}

    def walk(node: str, seen: frozenset[str]) -> set[str]:
        if node in memo:
            return memo[node]
        out: set[str] = set()
        for dep in graph.get(node, ()):
            if dep in seen or dep not in graph:
                continue
            out |= {dep} | walk(dep, seen | {dep})
        memo[node] = out
        return out

    return {node: walk(node, frozenset({node})) for node in graph}
