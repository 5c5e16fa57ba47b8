"""``parac agents``: list, show (resolved, with provenance) and run agents."""

from __future__ import annotations

import click

from parac.core.diagnostics import ParacError

from . import LazyGroup, names
from .common import Paging, State, console, echo_json, paged, pass_state


@click.group(
    cls=LazyGroup,
    lazy={
        "run": ("parac.server.cli.run:run", "Run an agent on a task."),
        "new": ("parac.server.cli.scaffold:new_agent", "Create an agent file that validates."),
        "replay": ("parac.server.cli.replay:replay_agent", "Re-execute a recorded agent run from its record ($0)."),
        "runs": ("parac.server.cli.replay:agent_runs", "List recorded agent runs (what replay takes)."),
    },
)
def agents() -> None:
    """List, show, create and run agents."""


@agents.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@paged
def list_agents(state: State, as_json: bool, paging: Paging) -> None:
    """Every agent: the workspace's and those plugins registered."""
    workspace = state.open_workspace()
    names = workspace.agent_names()
    span = paging.span(names, "agents list")
    rows = [workspace.agent_summary(name) for name in names[span.start : span.stop]]
    if as_json:
        paging.echo("agents", rows, span)
        return
    from rich.table import Table

    table = Table("name", "parent", "model", "origin", "description", box=None)
    for row in rows:
        table.add_row(row["name"], row["parent"] or "", row["model"] or "", row["origin"] or "", row["description"] or row["error"] or "")
    console().print(table)


@agents.command("show")
@click.argument("name", shell_complete=names.agents)
@click.option("--json", "as_json", is_flag=True)
@pass_state
def show_agent(state: State, name: str, as_json: bool) -> None:
    """NAME resolved through its parents, each field with the agent that gave it."""
    workspace = state.open_workspace()
    if name not in workspace.agent_names():
        from parac.core.diagnostics import suggestion

        raise ParacError(f'unknown agent "{name}"{suggestion(name, workspace.agent_names())}')
    resolved = workspace.resolve_agent(name)
    data = resolved.to_json()
    data["origin"] = workspace.agent_origin(name)
    path = workspace.agent_path(name)
    data["path"] = str(path) if path else None
    if as_json:
        echo_json(data)
        return
    from rich.table import Table
    from rich.text import Text

    out = console()
    out.print(Text.assemble((name, "bold"), f"  chain: {' <- '.join(resolved.chain)}"))
    table = Table("field", "value", "from", box=None)
    for key, value in resolved.fields.items():
        if key == "system_prompt" and isinstance(value, str) and len(value) > 80:
            value = value[:77].replace("\n", " ") + "..."
        items = resolved.item_provenance.get(key)  # a union (tools, skills): every agent that added to it
        source = ", ".join(dict.fromkeys(items.values())) if items else resolved.provenance.get(key, "")
        table.add_row(key, "" if value is None else str(value), source)
    out.print(table)
