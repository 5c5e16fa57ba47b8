"""``parac skills``: list and show skills."""

from __future__ import annotations

import click

from parac.core.diagnostics import ParacError, suggestion

from . import LazyGroup, names
from .common import Paging, State, console, echo_json, paged, pass_state


@click.group(cls=LazyGroup, lazy={"new": ("parac.server.cli.scaffold:new_skill", "Create a skill that validates.")})
def skills() -> None:
    """List, show and create skills."""


@skills.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@paged
def list_skills(state: State, as_json: bool, paging: Paging) -> None:
    """Every skill: the workspace's and those plugins registered."""
    skills = sorted(state.open_workspace().skills.items())
    span = paging.span([name for name, _ in skills], "skills list")
    rows = [
        {"name": name, "description": c.value.spec.description, "origin": c.origin, "path": str(c.path) if c.path else None}
        for name, c in skills[span.start : span.stop]
    ]
    if as_json:
        paging.echo("skills", rows, span)
        return
    from rich.table import Table

    table = Table("name", "origin", "description", box=None)
    for row in rows:
        table.add_row(row["name"], row["origin"], row["description"])
    console().print(table)


@skills.command("show")
@click.argument("name", shell_complete=names.skills)
@click.option("--json", "as_json", is_flag=True)
@pass_state
def show_skill(state: State, name: str, as_json: bool) -> None:
    """A skill's front matter, instructions and files."""
    workspace = state.open_workspace()
    skills = workspace.skills
    if name in workspace.skill_entries and name not in skills:  # its SKILL.md is there but does not load
        raise ParacError(f'skill "{name}" has errors; run `parac validate`', workspace.skill_entries[name].problems)
    if name not in skills:
        raise ParacError(f'unknown skill "{name}"{suggestion(name, skills)}')
    contribution = skills[name]
    skill = contribution.value
    folder = skill.folder
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder else []
    data = {
        **skill.spec.model_dump(by_alias=True, exclude_none=True),
        "origin": contribution.origin,
        "path": str(skill.path) if skill.path else None,
        "files": files,
        "instructions": skill.instructions,
    }
    if as_json:
        echo_json(data)
        return
    click.echo(f"{name} ({contribution.origin}): {skill.spec.description}")
    if files:
        click.echo("files: " + ", ".join(files))
    click.echo("")
    click.echo(skill.instructions.rstrip())
