"""``parac budget``: show the limits with what has been spent against them, and set limits.

Limits set here are stored in the workspace database and override ``parac.yaml`` and the agents' files for the
same kind, so a person can tighten a limit at once without editing (and reformatting) YAML.
"""

from __future__ import annotations

import click

from .common import State, console, echo_json, pass_state

KINDS = ("per_run", "per_workflow", "per_agent", "daily", "monthly", "total")


@click.group()
def budget() -> None:
    """Show and set budgets."""


@budget.command("show")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def show(state: State, as_json: bool) -> None:
    """Every limit in force, with dollars settled, in flight, unsettled after a crash, and remaining.

    In flight: held by running processes for calls at a provider (and their unused headroom). Unsettled: held by
    processes that died while a call may have been at a provider; it counts as spent."""
    from parac.core.runtime import budget_status
    from parac.core.workspace import Workspace

    data = budget_status(Workspace.open(state.workspace))
    if as_json:
        echo_json(data)
        return
    out = console()
    if not data["limits"] and not data["per_scope_limits"]:
        out.print("no budgets set (parac.yaml budgets:, an agent's budget:, or `parac budget set`)")
        return
    from rich.table import Table

    table = Table("limit", "settled", "in flight", "unsettled (crash)", "remaining", "of", "used", box=None)
    for row in data["limits"]:
        table.add_row(
            row["limit"],
            f"${row['spent_usd']:.4f}",
            f"${row['in_flight_usd']:.4f}",
            f"${row['unsettled_usd']:.4f}",
            f"${row['remaining_usd']:.4f}",
            f"${row['limit_usd']:.4f}",
            f"{row['percent']}%" if row["percent"] is not None else "-",
        )
    for cap in data["per_scope_limits"]:
        each = "each run" if cap["kind"] == "per_run" else "each workflow"
        label = f"{cap['kind']}_usd ({cap['scope']}, {each}, set in {cap['source']})"
        table.add_row(label, "", "", "", "", f"${cap['limit_usd']:.4f}", "")
    out.print(table)


@budget.command("set", context_settings={"ignore_unknown_options": True})  # "-1" is a (refused) amount, not an option
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("usd", type=click.FloatRange(min=0))
@click.option("--agent", help="Set the limit for this agent only.")
@pass_state
def set_budget(state: State, kind: str, usd: float, agent: str | None) -> None:
    """Set limit KIND (per_run, per_workflow, per_agent, daily, monthly, total) to USD dollars."""
    _store(state, kind, usd, agent)
    click.echo(f"{kind}_usd{f' for agent {agent}' if agent else ''} set to ${usd:.4f}")


@budget.command("unset")
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--agent", help="Remove the limit of this agent only.")
@pass_state
def unset_budget(state: State, kind: str, agent: str | None) -> None:
    """Remove a limit set with `parac budget set` (files' limits apply again)."""
    _store(state, kind, None, agent)
    click.echo(f"{kind}_usd{f' for agent {agent}' if agent else ''} removed; limits from the files apply")


def _store(state: State, kind: str, usd: float | None, agent: str | None) -> None:
    from parac.core.runtime import set_budget
    from parac.core.workspace import Workspace

    set_budget(Workspace.open(state.workspace), kind, usd, agent=agent)
