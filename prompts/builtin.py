"""Prompts: four for working on a parac workspace, one per skill (`skill_<name>`) and one per agent
(`agent_<name>`), plus those plugins register. Their texts are package data in `prompts/templates/`.

Templates use `string.Template` (`$name`): values are pasted in, never evaluated, so a task or a file's content
cannot run template code.
"""

from __future__ import annotations

import inspect
import json
from functools import cache
from importlib import resources
from string import Template
from typing import Any

from parac.core.diagnostics import ParacError
from parac.core.workspace import Workspace
from parac.server.mcp.call import Call
from parac.server.mcp.faces import FaceError, Faces, PromptArgument, PromptFace

TASK = PromptArgument("task", "What to do", required=True)


@cache
def template(name: str) -> Template:
    return Template(resources.files("parac.prompts").joinpath("templates", f"{name}.md").read_text(encoding="utf-8"))


def render(template_name: str, /, **values: str) -> str:
    return template(template_name).safe_substitute(values)


def agent_lines(workspace: Workspace) -> str:
    lines = []
    for name in workspace.agent_names():
        try:
            description = workspace.resolve_agent(name).fields.get("description") or ""
        except ParacError:
            description = "(has errors)"
        lines.append(f"- {name}: {description}")
    return "\n".join(lines) or "(none yet)"


def skill_lines(workspace: Workspace) -> str:
    return "\n".join(f"- {n}: {c.value.spec.description}" for n, c in sorted(workspace.skills.items())) or "(none yet)"


def agent_prompt(workspace: Workspace, name: str, task: str) -> str:
    """The agent's resolved system prompt, the instructions of its skills, then the task."""
    fields = workspace.resolve_agent(name).fields
    skills = workspace.skills
    sections = [
        f"\n## Skill: {skill}\n\n{skills[skill].value.instructions.strip()}\n" for skill in fields.get("skills") or [] if skill in skills
    ]
    return render("agent", system_prompt=(fields.get("system_prompt") or "").strip(), skills="".join(sections), task=task)


async def agent_names(call: Call, typed: str) -> list[str]:
    return (await call.workspace()).agent_names()


def register(faces: Faces) -> None:
    @faces.prompt(
        title="Create an agent",
        arguments=[PromptArgument("name", "The new agent's name", True), PromptArgument("purpose", "What it is for", True)],
    )
    async def create_agent(call: Call, arguments: dict[str, str]) -> str:
        """Write a new agent spec that fits this workspace (its agents, skills and inheritance)."""
        workspace = await call.workspace()
        return render("create_agent", name=arguments["name"], purpose=arguments["purpose"], agents=agent_lines(workspace), skills=skill_lines(workspace))

    @faces.prompt(title="Create a workflow", arguments=[PromptArgument("goal", "What the workflow achieves", True)])
    async def create_workflow(call: Call, arguments: dict[str, str]) -> str:
        """Design a workflow (steps, dependencies, gates) from this workspace's agents."""
        return render("create_workflow", goal=arguments["goal"], agents=agent_lines(await call.workspace()))

    @faces.prompt(
        title="Review code",
        arguments=[PromptArgument("code", "The code to review", True), PromptArgument("focus", "What to look at most")],
    )
    async def review_code(call: Call, arguments: dict[str, str]) -> str:
        """Review code for bugs, security problems and maintainability."""
        focus = arguments.get("focus")
        return render("review_code", code=arguments["code"], focus_line=f", paying most attention to {focus}" if focus else "")

    @faces.prompt(title="Explain an agent", arguments=[PromptArgument("name", "The agent", True)], complete={"name": agent_names})
    async def explain_agent(call: Call, arguments: dict[str, str]) -> str:
        """Explain an agent: what it is for, what it inherits, and where each setting comes from."""
        workspace = await call.workspace()
        name = arguments["name"]
        if name not in workspace.agent_names():
            from parac.core.diagnostics import suggestion

            raise FaceError(f'unknown agent "{name}"{suggestion(name, workspace.agent_names())}')
        resolved = workspace.resolve_agent(name)
        fields = "\n".join(
            f"- {key}: {json.dumps(value, ensure_ascii=False, default=str)} (from {resolved.provenance.get(key, name)})"
            for key, value in resolved.fields.items()
        )
        return render("explain_agent", name=name, chain=" -> ".join(resolved.chain), fields=fields)

    async def per_skill_and_agent(call: Call) -> list[PromptFace]:
        workspace = await call.workspace()
        out = []
        for skill_name, contribution in sorted(workspace.skills.items()):
            spec, instructions = contribution.value.spec, contribution.value.instructions

            async def skill_prompt(call: Call, arguments: dict[str, str], spec: Any = spec, text: str = instructions) -> str:
                return render("skill", name=spec.name, description=spec.description, instructions=text.strip(), task=arguments["task"])

            description = f"Use the skill {skill_name}: {spec.description}"
            out.append(PromptFace(f"skill_{skill_name}", description, skill_prompt, [TASK], title=f"Skill: {skill_name}"))
        for agent_name in workspace.agent_names():

            async def run_as(call: Call, arguments: dict[str, str], agent_name: str = agent_name) -> str:
                return agent_prompt(await call.workspace(), agent_name, arguments["task"])

            try:
                description = workspace.resolve_agent(agent_name).fields.get("description") or ""
            except ParacError:
                continue  # a broken agent has no prompt to give; validate_workspace says why
            out.append(
                PromptFace(
                    f"agent_{agent_name}",
                    f"Work as the agent {agent_name}: {description}",
                    run_as,
                    [TASK],
                    title=f"Work as {agent_name}",
                )
            )
        return out

    async def from_plugins(call: Call) -> list[PromptFace]:
        host = await call.host()
        return [plugin_prompt(c.value) for _, c in sorted(host.registry.prompts.items())]

    faces.prompts_from(per_skill_and_agent)
    faces.prompts_from(from_plugins)


def plugin_prompt(definition: Any) -> PromptFace:
    """A plugin's prompt; a render function with a `PromptContext` parameter gets one bound to the MCP call."""
    from parac.core.tools import PromptContext, context_parameter
    from parac.server.mcp.channel import ClientChannel

    takes_context = context_parameter(definition.render, PromptContext)

    async def render_plugin(call: Call, arguments: dict[str, str]) -> Any:
        given: dict[str, Any] = dict(arguments)
        if takes_context is not None:
            host = await call.host()
            given[takes_context] = PromptContext(definition.name, ClientChannel(call, definition.name, "prompt"),
                                                 host.workspace, host.hooks, call.context)
        value = definition.render(**given)
        return await value if inspect.isawaitable(value) else value

    arguments = [
        PromptArgument(a["name"], a.get("description", ""), bool(a.get("required", False))) for a in definition.arguments
    ]
    return PromptFace(definition.name, definition.description, render_plugin, arguments, title=definition.title,
                      asks=takes_context is not None)
