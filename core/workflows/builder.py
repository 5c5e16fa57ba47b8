"""The Python way to define a workflow, equivalent to a ``.parac/workflows/NAME.yaml`` file.

    wf = (
        Workflow("feature", description="Design and build a feature")
        .input("feature", required=True)
        .agent("design", agent="architect", task="Design {{ inputs.feature }}")
        .agent("implement", agent="coder", task="Build: {{ steps.design.output }}", depends_on=["design"],
               retry=3, timeout_s=600)
        .approval("sign-off", depends_on=["implement"], message="Ship it?")
        .output("design", "{{ steps.design.output }}")
    )
    spec = wf.build()          # a WorkflowSpec, checked like a file is
    print(wf.to_yaml())        # the same workflow as YAML

Each method adds what one YAML key would; :meth:`Workflow.build` validates through the same pydantic model and
refuses what a workflow file would be refused for (duplicate ids, unknown dependencies, cycles, templates that
read a step that is not a dependency).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import ValidationError

from ..diagnostics import ParacError, suggestion
from ..specs import WorkflowSpec
from .graph import reference_problems, topological_order


class Workflow:
    """A workflow under construction; every method returns the builder so calls chain."""

    def __init__(self, name: str, *, description: str | None = None, **settings: Any) -> None:
        self.name = name
        self.data: dict[str, Any] = {"description": description, **settings, "inputs": {}, "outputs": {},
                                     "steps": []}

    def input(self, name: str, type: str = "string", *, required: bool = False, default: Any = None,
              description: str | None = None) -> Workflow:
        self.data["inputs"][name] = _clean(
            {"type": type, "required": required, "default": default, "description": description}
        )
        return self

    def output(self, name: str, template: str) -> Workflow:
        self.data["outputs"][name] = template
        return self

    def step(self, id: str, type: str, *, retry: int | dict | None = None, **fields: Any) -> Workflow:
        """Add a step of any type; the typed helpers below are shorter."""
        if isinstance(retry, int):
            retry = {"max_attempts": retry}
        self.data["steps"].append(_clean({"id": id, "type": type, "retry": retry, **fields}))
        return self

    def agent(self, id: str, *, task: str, agent: str | None = None, **fields: Any) -> Workflow:
        return self.step(id, "agent", agent=agent, task=task, **fields)

    def tool(self, id: str, *, tool: str, arguments: dict | None = None, **fields: Any) -> Workflow:
        return self.step(id, "tool", tool=tool, arguments=arguments, **fields)

    def approval(self, id: str, *, message: str | None = None, **fields: Any) -> Workflow:
        return self.step(id, "approval", message=message, **fields)

    def workflow(self, id: str, *, workflow: str, inputs: dict | None = None, **fields: Any) -> Workflow:
        return self.step(id, "workflow", workflow=workflow, inputs=inputs, **fields)

    def to_dict(self) -> dict[str, Any]:
        return _clean(dict(self.data), keep_empty=False)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def build(self) -> WorkflowSpec:
        """The checked spec; raises :class:`ParacError` naming every problem."""
        try:
            spec = WorkflowSpec.model_validate(self.to_dict())
        except ValidationError as exc:
            problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
            raise ParacError(f"workflow {self.name!r}: " + "; ".join(problems)) from exc
        problems = []
        ids = [step.id for step in spec.steps]
        problems += [f"duplicate step id {sid!r}" for sid, count in Counter(ids).items() if count > 1]
        for step in spec.steps:
            problems += [
                f"step {step.id!r} depends on unknown step {dep!r}{suggestion(dep, ids)}"
                for dep in step.depends_on
                if dep not in ids
            ]
        if not problems:
            try:
                topological_order(spec.steps)
            except ValueError as exc:
                problems.append(str(exc))
        if not problems:
            problems += [f"step {sid!r} {field}: {message}" for sid, field, message in reference_problems(spec.steps)]
        if problems:
            raise ParacError(f"workflow {self.name!r}: " + "; ".join(problems))
        return spec


def _clean(data: dict[str, Any], *, keep_empty: bool = True) -> dict[str, Any]:
    """Drop unset keys (and, for the whole workflow, empty sections) so the dict reads like a hand-written file."""
    return {k: v for k, v in data.items() if v is not None and (keep_empty or v not in ({}, []))}
