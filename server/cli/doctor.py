"""``parac doctor``: what is wrong with this set-up, and the exact fix for each thing (the checks: `parac.server.doctor`)."""

from __future__ import annotations

import click

from .common import ExitCode, State, echo_json, pass_state

MARKS = {"ok": "✓", "broken": "✗", "note": "!"}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@pass_state
def doctor(state: State, as_json: bool) -> None:
    """Check Python, the workspace, plugins, providers and keys, the sandbox and editor clients; change nothing.

    Exits 1 when something is broken."""
    from parac.server.doctor import run_checks

    findings = run_checks(state.workspace)
    broken = sum(f.status == "broken" for f in findings)
    if as_json:
        echo_json({"ok": not broken, "findings": [f.to_json() for f in findings]})
    else:
        for finding in findings:
            click.echo(f"{MARKS[finding.status]} {finding.check}: {finding.detail}")
            if finding.fix and finding.status != "ok":
                click.echo(f"    fix: {finding.fix}")
        click.echo(f"{broken} problem(s) found" if broken else "no problems found")
    if broken:
        raise click.exceptions.Exit(ExitCode.PROBLEMS)
