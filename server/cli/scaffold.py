"""``parac agents new``, ``parac skills new``, ``parac workflow new``: a new file from a template, checked first.

The work is `parac.core.scaffold`'s (the MCP ``create_*`` tools call the same functions); this module maps options
to it and prints what was written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from . import names
from .common import State, echo_json, pass_state

if TYPE_CHECKING:
    from parac.core.scaffold import Created

FORCE = click.option("--force", is_flag=True, help="Replace the file if it exists.")
JSON = click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")


def _done(created: Created, as_json: bool, hint: str) -> None:
    if as_json:
        echo_json(created.to_json())
        return
    click.echo(f"{'replaced' if created.replaced else 'created'} {created.kind} {created.name!r}: {created.path}")
    click.echo(hint)


@click.command("new")
@click.argument("name")
@click.option("--parent", shell_complete=names.agents, help="The agent it inherits from.")
@click.option("--model", help="Its model (a litellm id, or echo, fixed:TEXT, random, scripted:PATH).")
@click.option("--description", help="One line saying what it is for.")
@click.option("--tool", "tools", multiple=True, shell_complete=names.tools, help="A tool it may call (repeatable).")
@click.option("--skill", "skills", multiple=True, shell_complete=names.skills, help="A skill it uses (repeatable).")
@FORCE
@JSON
@pass_state
def new_agent(state: State, name: str, parent: str | None, model: str | None, description: str | None,
              tools: tuple[str, ...], skills: tuple[str, ...], force: bool, as_json: bool) -> None:
    """Create .parac/agents/NAME.yaml; nothing is written unless it validates."""
    from parac.core.scaffold import new_agent as create

    created = create(state.open_workspace(), name, parent=parent, model=model, description=description,
                     tools=tools, skills=skills, force=force)
    _done(created, as_json, f"try it: parac agents run {name} --task 'hello' --model echo")


@click.command("new")
@click.argument("name")
@click.option("--description", help="What the skill does and when to use it.")
@FORCE
@JSON
@pass_state
def new_skill(state: State, name: str, description: str | None, force: bool, as_json: bool) -> None:
    """Create .parac/skills/NAME/SKILL.md; nothing is written unless it validates."""
    from parac.core.scaffold import new_skill as create

    created = create(state.open_workspace(), name, description=description, force=force)
    _done(created, as_json, f"give it to an agent: skills: [{name}]")


@click.command("new")
@click.argument("name")
@click.option("--kind", default="dag", show_default=True, help="The template's workflow kind (dag).")
@click.option("--agent", shell_complete=names.agents, help="The agent that runs its steps (default: coder, else the first agent).")
@click.option("--description", help="What the workflow does.")
@FORCE
@JSON
@pass_state
def new_workflow(state: State, name: str, kind: str, agent: str | None, description: str | None, force: bool,
                 as_json: bool) -> None:
    """Create .parac/workflows/NAME.yaml from a template; nothing is written unless it validates."""
    from parac.core.scaffold import new_workflow as create

    created = create(state.open_workspace(), name, kind=kind, agent=agent, description=description, force=force)
    _done(created, as_json, f"try it: parac workflow run {name} -i task='hello' --dry-run echo")
