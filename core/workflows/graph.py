"""The step graph of a workflow: its order, and which steps a step's templates may read.

The workspace's validation already refuses duplicate ids, unknown dependencies and cycles with file positions; this
module answers the questions the engine and the planner ask of a graph that is known to be sound, and adds the one
check that needs the templates: a step may only read the output of a step it (transitively) depends on, because
any other step may not have run yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from ..diagnostics import ParacError
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


def template_fields(step: Any) -> Iterable[tuple[str, str]]:
    """(field name, template text) for every templated field of a step."""
    for field in ("task", "when", "message"):
        value = getattr(step, field, None)
        if isinstance(value, str):
            yield field, value
    for field in ("arguments", "inputs"):
        value = getattr(step, field, None)
        if value:
            for text in templates.strings_in(value):
                yield field, text


def reference_problems(steps: Sequence[Any]) -> list[tuple[str, str, str]]:
    """(step id, field, message) for each template that reads a step it does not depend on, or does not parse."""
    by_id = {step.id: step for step in steps}
    problems = []
    for step in steps:
        for field, text in template_fields(step):
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
