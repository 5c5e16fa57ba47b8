"""``parac costs report``: what model calls cost, from the workspace's ledger."""

from __future__ import annotations

import click

from .common import State, console, echo_json, pass_state

GROUPS = ("agent", "model", "provider", "day", "run", "workflow")


@click.group()
def costs() -> None:
    """Report what model calls cost."""


@costs.command("report")
@click.option("--by", type=click.Choice(GROUPS), default="model", show_default=True, help="Group rows by this.")
@click.option("--since", help="Only calls from then on: 7d, 12h, 30m, or a date such as 2026-11-01 (UTC).")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def report(state: State, by: str, since: str | None, as_json: bool) -> None:
    """Calls, tokens and dollars, grouped by agent, model, provider, day, run or workflow."""
    from parac.core.runtime import cost_report
    from parac.core.workspace import Workspace

    try:
        data = cost_report(Workspace.open(state.workspace), by=by, since=since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    if as_json:
        echo_json(data)
        return
    from rich.table import Table

    table = Table(box=None)
    table.add_column(by, overflow="fold")
    for header in ("calls", "errors", "tokens in", "tokens out", "unpriced", "USD"):  # numbers are never wrapped
        table.add_column(header, justify="right", no_wrap=True)
    total = {**data["total"], "key": "total"}
    for row in [*data["rows"], total]:
        table.add_row(
            str(row["key"]),
            str(row["calls"]),
            str(row["errors"]),
            str(row["prompt_tokens"]),
            str(row["completion_tokens"]),
            str(row["unpriced_calls"] or ""),
            f"{row['cost_usd']:.6f}",
            style="bold" if row is total else None,
        )
    console().print(table)
    if data["unpriced_models"]:
        models = data["unpriced_models"]
        click.echo(
            f"\nunpriced: {data['total']['unpriced_calls']} call(s) cost $0 because no price is known for "
            f"{', '.join(models)} (offline models such as echo have none; litellm's price map lacks the others)."
            "\nPrice any model in .parac/parac.yaml, in dollars per million tokens:\n  prices:"
        )
        for model in models:
            click.echo(f"    {model}: {{input_per_mtok: 1.0, output_per_mtok: 2.0}}")
