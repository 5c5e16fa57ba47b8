"""``parac validate``: every file of the workspace checked, exit 1 when anything is wrong."""

from __future__ import annotations

import os

import click

from .common import ExitCode, State, echo_json, pass_state


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of diagnostics.")
@pass_state
def validate(state: State, as_json: bool) -> None:
    """Check every spec file; print FILE:LINE:COL: SEVERITY CODE: MESSAGE lines."""
    workspace = state.open_workspace()
    diagnostics = workspace.validate()
    if as_json:
        echo_json([d.to_json() for d in diagnostics])
    else:
        cwd = os.getcwd()
        for diagnostic in diagnostics:
            shown = diagnostic.file
            if shown.startswith(cwd + os.sep):
                shown = shown[len(cwd) + 1 :]
            click.echo(f"{shown}:{diagnostic.line}:{diagnostic.column}: {diagnostic.severity} {diagnostic.code}: {diagnostic.message}")
        errors = sum(d.severity == "error" for d in diagnostics)
        files = len(workspace.files)
        checked = f"{_count(files, 'file')} checked"
        summary = f"{checked}: {_count(errors, 'error')}, {_count(len(diagnostics) - errors, 'warning')}"
        click.echo(summary if diagnostics else f"{checked}: no problems", err=bool(diagnostics))
    if any(d.severity == "error" for d in diagnostics):
        raise click.exceptions.Exit(ExitCode.PROBLEMS)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
