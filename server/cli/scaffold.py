"""``parac agents new``, ``parac skills new``, ``parac workflow new``: a new file from a template, checked first.

The work is `parac.core.scaffold`'s (the MCP ``create_*`` tools call the same functions); this module maps options
to it and prints what was written. Each runs between the host's tool-call hooks under the MCP tool's name, as that
tool does, so the audit trail records a file created from either face alike (who, what, and a refusal too).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from . import names
from .common import State, cli_actor, echo_json, pass_state

if TYPE_CHECKING:
    from parac.core.scaffold import Created

FORCE = click.option("--force", is_flag=True, help="Replace the file if it exists.")
JSON = click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")


def _governed(state: State, tool: str, arguments: dict[str, Any], create: Callable[[], Created]) -> Created:
    """``create()`` between the host's tool-call hooks, named as the MCP tool that does the same (``tool``)."""
    from parac.core.calls import CallContext

    hooks = state.host().hooks
    record = CallContext(actor=cli_actor()).tool_call(tool, arguments)
    hooks.before_tool_call(record)
    try:
        created = create()
    except BaseException as error:
        hooks.after_tool_call(record, None, error)
        raise
    hooks.after_tool_call(record, created.to_json(), None)
    return created


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

    options = dict(parent=parent, model=model, description=description, tools=list(tools), skills=list(skills),
                   force=force)
    created = _governed(state, "create_agent", {"name": name, **options},
                        lambda: create(state.open_workspace(), name, **options))
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

    created = _governed(state, "create_skill", {"name": name, "description": description, "force": force},
                        lambda: create(state.open_workspace(), name, description=description, force=force))
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

    options = dict(kind=kind, agent=agent, description=description, force=force)
    created = _governed(state, "create_workflow", {"name": name, **options},
                        lambda: create(state.open_workspace(), name, **options))
    _done(created, as_json, f"try it: parac workflow run {name} -i task='hello' --dry-run echo")
