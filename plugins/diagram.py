"""Diagram tools: a workflow's step graph and the agents' inheritance tree, as Mermaid flowcharts.

Mermaid because every place a developer reads these (GitHub, GitLab, VS Code's Markdown preview, most MCP
clients) renders it from plain text. The tools read the workspace the host opened, which the plugin is told about
through the public ``parac_workspace_opened`` hook.
"""

from typing import Annotated

from pydantic import Field
from typing_extensions import TypedDict

from parac.server.api import AgentSpec, ToolContext, ToolError, WorkflowSpec, hookimpl

from ._tooling import TypedTool, opened_workspace, remember_workspace

SHAPES = {"agent": ('["', '"]'), "tool": ('[/"', '"/]'), "approval": ('{{"', '"}}'), "human": ('>"', '"]'),
          "workflow": ('[["', '"]]')}


class Diagram(TypedDict):
    name: str
    mermaid: str
    nodes: int


def _label(*lines: str) -> str:
    """A quoted Mermaid label of one or more lines; quotes and angle brackets inside must be entities."""
    escape = {"&": "#amp;", '"': "#quot;", "<": "#lt;", ">": "#gt;"}
    return "<br/>".join("".join(escape.get(char, char) for char in line) for line in lines)


def _what(step, agent: str | None) -> str:
    """What a step or state does, in one line: ``agent: coder``, ``human: support-lead``, ``approval``."""
    what = {"agent": agent, "tool": step.tool, "workflow": step.workflow, "human": step.assign}.get(step.type)
    return f"{step.type}: {what}" if what else step.type


def workflow_mermaid(spec: WorkflowSpec) -> str:
    if spec.flow == "fsm":
        return state_machine_mermaid(spec)
    if spec.flow == "behavior_tree":
        return tree_mermaid(spec)
    ids = {step.id: f"s{index}" for index, step in enumerate(spec.steps)}
    lines = ["flowchart TD"]
    for step in spec.steps:
        text = _label(step.id, _what(step, step.agent_name))
        opening, closing = SHAPES[step.type]
        lines.append(f"    {ids[step.id]}{opening}{text}{closing}")
    for step in spec.steps:
        for dependency in step.depends_on:
            if dependency in ids:
                arrow = ' -. "when" .-> ' if step.when else " --> "
                lines.append(f"    {ids[dependency]}{arrow}{ids[step.id]}")
    return "\n".join(lines) + "\n"


def state_machine_mermaid(spec: WorkflowSpec) -> str:
    """A state machine as a Mermaid state diagram: ``[*]`` into ``initial``, final states into ``[*]``, each
    transition an arrow labelled with its condition (numbered, since the first that matches wins)."""
    states = spec.states or {}
    ids = {name: f"q{index}" for index, name in enumerate(states)}
    lines = ["stateDiagram-v2"]
    for name, state in states.items():
        text = name if state.final else f"{name}<br/>{_what(state, state.agent or name)}"
        lines.append(f'    state "{_label(text)}" as {ids[name]}')
    if spec.initial in ids:
        lines.append(f"    [*] --> {ids[spec.initial]}")
    for name, state in states.items():
        for number, transition in enumerate(state.transitions, 1):
            if transition.to in ids:
                label = f" : {number}. {_label(transition.when)}" if transition.when else ""
                lines.append(f"    {ids[name]} --> {ids[transition.to]}{label}")
        if state.final:
            lines.append(f"    {ids[name]} --> [*]")
    return "\n".join(lines) + "\n"


def tree_mermaid(spec: WorkflowSpec) -> str:
    """A behaviour tree as a top-down flowchart: composites and decorators as rounded nodes naming what they do,
    actions shaped like DAG steps, conditions as hexagons; children left to right in the order they are ticked."""
    lines = ["flowchart TD"]
    counter = iter(range(1_000_000))

    def draw(node) -> str:
        ident = f"n{next(counter)}"
        kind = node.kind
        if kind == "action":
            action = node.action
            opening, closing = SHAPES[action.type]
            lines.append(f"    {ident}{opening}{_label(action.id, _what(action, action.agent_name))}{closing}")
            return ident
        if kind == "condition":
            lines.append(f'    {ident}{{{{"{_label(node.condition)}"}}}}')
            return ident
        amount = {"parallel": f" ({node.success or 'all'})", "retry": f" x{node.retry}", "repeat": f" x{node.repeat}",
                  "until_success": f" x{node.until_success}", "timeout": f" {node.timeout}s"}.get(kind, "")
        lines.append(f'    {ident}("{_label(kind + amount)}")')
        below = getattr(node, kind) if kind in ("sequence", "selector", "parallel") else [node.invert or node.child]
        for child in below:
            lines.append(f"    {ident} --> {draw(child)}")
        return ident

    if spec.root is not None:
        draw(spec.root)
    return "\n".join(lines) + "\n"


def agents_mermaid(specs: dict[str, AgentSpec], origins: dict[str, str], root: str | None) -> tuple[str, int]:
    children: dict[str | None, list[str]] = {}
    for name, spec in sorted(specs.items()):
        children.setdefault(spec.parent if spec.parent in specs else None, []).append(name)
    wanted = _subtree(root, children) if root else sorted(specs)
    ids = {name: f"a{index}" for index, name in enumerate(wanted)}
    lines = ["flowchart TD"]
    for name in wanted:
        origin = origins.get(name, "workspace")
        text = _label(name) if origin == "workspace" else _label(name, f"plugin: {origin}")
        lines.append(f'    {ids[name]}["{text}"]')
    for name in wanted:
        parent = specs[name].parent
        if parent in ids:
            lines.append(f"    {ids[parent]} --> {ids[name]}")
    return "\n".join(lines) + "\n", len(wanted)


def _subtree(root: str, children: dict[str | None, list[str]]) -> list[str]:
    out, queue, seen = [], [root], set()
    while queue:
        name = queue.pop(0)
        if name not in seen:
            seen.add(name)
            out.append(name)
            queue.extend(children.get(name, []))
    return out


def diagram_workflow(
    name: Annotated[str, Field(min_length=1, description="A workflow of the workspace or of a plugin.")],
    ctx: ToolContext,
) -> Diagram:
    """A Mermaid flowchart of a workflow's steps and their dependencies (conditional edges dashed); a state
    machine's states and transitions as a state diagram."""
    workspace = opened_workspace(ctx)
    entry = workspace.workflows.get(name)
    spec = entry.spec if entry is not None else None
    if entry is None and workspace.catalog is not None and name in workspace.catalog.workflows:
        spec = workspace.catalog.workflows[name].value
    if spec is None:
        known = sorted(set(workspace.workflows) | set(workspace.catalog.workflows if workspace.catalog else ()))
        detail = "it has errors (run parac validate)" if entry is not None else f"known: {', '.join(known) or 'none'}"
        raise ToolError(f'no usable workflow "{name}": {detail}')
    mermaid = workflow_mermaid(spec)
    nodes = sum("-->" not in line for line in mermaid.splitlines()[1:]) if spec.flow == "behavior_tree" else (
        len(spec.steps) + len(spec.states or {}))
    return Diagram(name=name, mermaid=mermaid, nodes=nodes)


def diagram_agents(
    ctx: ToolContext,
    agent: Annotated[str | None, Field(description="Draw only this agent and its descendants.")] = None,
) -> Diagram:
    """A Mermaid flowchart of the agents' inheritance: each parent points to its children."""
    workspace = opened_workspace(ctx)
    catalog = workspace.catalog
    specs: dict[str, AgentSpec] = {n: c.value for n, c in (catalog.agents.items() if catalog else ())}
    origins = {n: c.origin for n, c in (catalog.agents.items() if catalog else ())}
    for name, entry in workspace.agents.items():
        if entry.spec is not None:
            specs[name] = entry.spec
            origins[name] = "workspace"
    if agent is not None and agent not in specs:
        raise ToolError(f'unknown agent "{agent}"')
    mermaid, count = agents_mermaid(specs, origins, agent)
    return Diagram(name=agent or "agents", mermaid=mermaid, nodes=count)


@hookimpl
def parac_workspace_opened(workspace) -> None:
    remember_workspace(workspace)


@hookimpl
def parac_register_tools(register) -> None:
    register(TypedTool(diagram_workflow, "Diagram a workflow", read_only=True))
    register(TypedTool(diagram_agents, "Diagram agents", read_only=True))
