"""``parac tools``: list the tools agents may be given, and call one the way an agent would.

``parac tools call`` goes through :meth:`Host.call_tool`, so a call from a terminal or a script is checked against
the tool's schema, the policies and the budgets, and lands in the audit trail, exactly like an agent's.
"""

from __future__ import annotations

import json
from typing import Any

import click

from . import names
from .common import ExitCode, Paging, State, echo_json, paged, pass_state


@click.group()
def tools() -> None:
    """List and call tools (built-in, from plugins, and from external MCP servers)."""


@tools.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: name, origin, description, schemas.")
@click.option("--no-connect", is_flag=True, help="Do not start external MCP servers to list their tools.")
@pass_state
@paged
def list_tools(state: State, as_json: bool, no_connect: bool, paging: Paging) -> None:
    """Every registered tool with where it came from."""
    host = state.host()
    try:
        if host.tool_sources is not None and not no_connect:
            host.tool_sources.discover_all()
        tools = sorted(host.registry.catalog.tools.items())
    finally:
        if host.tool_sources is not None:
            host.tool_sources.close()
    span = paging.span([name for name, _ in tools], "tools list")
    rows = [_row(name, contribution) for name, contribution in tools[span.start : span.stop]]
    if as_json:
        paging.echo("tools", rows, span)
        return
    from rich.table import Table

    from .common import console

    table = Table("tool", "origin", "description", box=None)
    for row in rows:
        table.add_row(row["name"], row["origin"], _summary(row["description"]))
    console().print(table)


def _summary(description: str | None) -> str:
    """A description's first paragraph on one line: docstrings wrap mid-sentence, the table wraps by itself."""
    return " ".join((description or "").strip().split("\n\n", 1)[0].split())


def _row(name: str, contribution: Any) -> dict[str, Any]:
    tool = contribution.value
    return {
        "name": name,
        "origin": contribution.origin,
        "description": tool.description,
        "input_schema": tool.input_schema,
        "output_schema": tool.output_schema,
        "read_only": tool.read_only,
        "needs_approval": tool.needs_approval,
    }


@tools.command("call")
@click.argument("name", shell_complete=names.tools)
@click.option("--args", "arguments", default="{}", show_default=True, help="The arguments as a JSON object.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (errors too, on stdout).")
@pass_state
def call_tool(state: State, name: str, arguments: str, as_json: bool) -> None:
    """Call tool NAME with --args, through the policies and the audit trail."""
    import anyio

    from parac.core.calls import CallContext, CallDenied
    from parac.core.channels import Unattended
    from parac.core.tools import ToolError

    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}", param_hint="--args")
    if not isinstance(parsed, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--args")
    host = state.host()
    # The tool's log lines and progress go to stderr (stdout is its result); what it asks cannot be answered here.
    terminal = Unattended(name, "parac tools call", "call it from an MCP client that offers it (parac mcp serve)",
                          echo=lambda line: click.echo(line, err=True))
    try:
        result = anyio.run(lambda: host.call_tool(name, parsed, CallContext(actor="cli"), terminal))
    except (ToolError, CallDenied) as exc:
        kind = "denied" if isinstance(exc, CallDenied) else "error"
        if as_json:
            echo_json({"ok": False, "tool": name, kind: str(exc)})
        else:
            click.echo(f"{kind}: {exc}", err=True)
        raise click.exceptions.Exit(ExitCode.PROBLEMS) from None  # refused or failed: not a usage error
    finally:
        if host.tool_sources is not None:
            host.tool_sources.close()
    if as_json:
        echo_json({"ok": True, "tool": name, "result": result})
    elif isinstance(result, str):
        click.echo(result)
    else:
        echo_json(result)
