"""New agents, skills and workflows from templates: ``parac agents|skills|workflows new`` and the MCP ``create_*`` tools.

A scaffold is checked by the workspace's own validation before it is written (the text is laid over the workspace as
an unsaved buffer would be, then taken away), so a new file never starts out broken: a misspelt parent or tool is
reported at its line and column in the file that would have been written, and nothing is written. Workflow
templates are one entry per kind in :data:`WORKFLOW_TEMPLATES`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .diagnostics import ParacError, suggestion
from .specs import NAME_PATTERN
from .workspace import Workspace

SKILL_NAME = r"^[a-z0-9]+(-[a-z0-9]+)*$"
MAX_NAME = 64


@dataclass(frozen=True)
class Created:
    """A file a scaffold wrote."""

    kind: str
    name: str
    path: Path
    replaced: bool
    """True when ``--force`` replaced a file that was there."""

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "name": self.name, "path": str(self.path), "replaced": self.replaced}


def _q(value: str) -> str:
    """A YAML scalar for any string: JSON's quoted string is valid YAML and escapes what needs it."""
    return json.dumps(value, ensure_ascii=False)


def _flow(values: Sequence[str]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def _dag(name: str, description: str, agent: str) -> str:
    return f"""description: {_q(description)}
inputs:
  task: {{type: string, required: true, description: "What to do"}}
steps:
  - id: work
    agent: {_q(agent)}
    task: "{{{{ inputs.task }}}}"
  - id: review
    agent: {_q(agent)}
    depends_on: [work]
    task: "Check this result and say what is missing: {{{{ steps.work.output }}}}"
outputs:
  result: "{{{{ steps.review.output }}}}"
"""


WORKFLOW_TEMPLATES: dict[str, Callable[[str, str, str], str]] = {"dag": _dag}
"""Workflow kind -> ``template(name, description, agent)`` giving the file's text. A new kind is one entry."""


def check_name(kind: str, name: str, pattern: str = NAME_PATTERN) -> None:
    """Refuse a name that could not be a file's stem of that kind, saying which rule it breaks."""
    if len(name) > MAX_NAME or not re.fullmatch(pattern, name):
        rule = (
            "lowercase letters, digits and single hyphens (Agent Skills names)"
            if pattern == SKILL_NAME
            else "a letter or digit, then letters, digits, '_', '.' or '-'"
        )
        raise ParacError(f'bad {kind} name "{name}": {kind} names are {rule}, at most {MAX_NAME} characters')


def new_agent(
    workspace: Workspace,
    name: str,
    *,
    parent: str | None = None,
    model: str | None = None,
    description: str | None = None,
    tools: Sequence[str] = (),
    skills: Sequence[str] = (),
    force: bool = False,
) -> Created:
    """Write ``.parac/agents/NAME.yaml``; without a parent it gets a system prompt of its own."""
    check_name("agent", name)
    if parent is not None and parent not in workspace.agent_names():
        raise ParacError(f'--parent: unknown agent "{parent}"{suggestion(parent, workspace.agent_names())}')
    existing = workspace.agents.get(name)
    if existing is not None and existing.path is not None and existing.path.suffix != ".yaml":
        raise ParacError(f'agent "{name}" is defined in {existing.path}; a new file would define it twice')
    lines = []
    if parent:
        lines.append(f"parent: {_q(parent)}")
    lines.append(f"description: {_q(f'What {name} is for, in one line' if description is None else description)}")
    if model:
        lines.append(f"model: {_q(model)}")
    if not parent:
        lines.append(f"system_prompt: {_q(f'You are {name}. Say what you do, and how.')}")
    if tools:
        lines.append(f"tools: {_flow(tools)}")
    if skills:
        lines.append(f"skills: {_flow(skills)}")
    return _write(workspace, "agent", name, workspace.dir / "agents" / f"{name}.yaml", "\n".join(lines) + "\n", force)


def new_skill(workspace: Workspace, name: str, *, description: str | None = None, force: bool = False) -> Created:
    """Write ``.parac/skills/NAME/SKILL.md`` (Agent Skills format: front matter, then the instructions)."""
    check_name("skill", name, SKILL_NAME)
    description = f"What {name} does and when to use it." if description is None else description
    text = f"---\nname: {name}\ndescription: {_q(description)}\n---\n# {name}\n\nThe steps to follow, one per line.\n"
    return _write(workspace, "skill", name, workspace.dir / "skills" / name / "SKILL.md", text, force)


def new_workflow(
    workspace: Workspace,
    name: str,
    *,
    kind: str = "dag",
    agent: str | None = None,
    description: str | None = None,
    force: bool = False,
) -> Created:
    """Write ``.parac/workflows/NAME.yaml`` from the template of ``kind``, its steps run by ``agent``."""
    check_name("workflow", name)
    if kind not in WORKFLOW_TEMPLATES:
        raise ParacError(f'--kind: unknown workflow kind "{kind}"; expected one of: {", ".join(WORKFLOW_TEMPLATES)}')
    agents = workspace.agent_names()
    if agent is None:
        if not agents:
            raise ParacError("--agent: the workspace has no agent to run the steps; create one (`parac agents new NAME`)")
        agent = "coder" if "coder" in agents else agents[0]
    elif agent not in agents:
        raise ParacError(f'--agent: unknown agent "{agent}"{suggestion(agent, agents)}')
    text = WORKFLOW_TEMPLATES[kind](name, f"What {name} does" if description is None else description, agent)
    return _write(workspace, "workflow", name, workspace.dir / "workflows" / f"{name}.yaml", text, force)


def _write(workspace: Workspace, kind: str, name: str, path: Path, text: str, force: bool) -> Created:
    """Check ``text`` as the content of ``path``, then write it; nothing is written when it has errors."""
    replaced = path.exists()
    if replaced and not force:
        raise ParacError(f"{path} already exists (--force replaces it)")
    workspace.set_overlay(path, text)
    try:
        errors = [d for d in workspace.diagnostics_for(path) if d.severity == "error"]
    finally:
        workspace.set_overlay(path, None)
    if errors:
        raise ParacError(f"the new {kind} would not validate; nothing was written", errors)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.new")
    temporary.write_text(text, encoding="utf-8")
    try:
        if force:
            os.replace(temporary, path)
        else:  # a link fails if the file appeared since it was checked: never overwrite what --force did not allow
            os.link(temporary, path)
    except FileExistsError:
        raise ParacError(f"{path} already exists (--force replaces it)") from None
    finally:
        temporary.unlink(missing_ok=True)
    workspace.refresh(path)
    return Created(kind, name, path, replaced)
