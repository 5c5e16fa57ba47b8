"""``parac policy check AGENT TOOL [ARGS]``: what the policies decide for a call, and why."""

from __future__ import annotations

import json
from typing import Any

import click

from . import names
from .common import ExitCode, State, echo_json, pass_state

#: Argument names whose values the confinement gates can judge before a call is made.
PATH_ARGUMENTS = ("path", "src", "dst", "source", "destination", "cwd")
URL_ARGUMENTS = ("url",)
COMMAND_ARGUMENTS = ("command", "argv")


@click.group()
def policy() -> None:
    """Explain what the policies in .parac/policies/ allow."""


@policy.command()
@click.argument("agent", shell_complete=names.agents)
@click.argument("tool", shell_complete=names.tools)
@click.argument("args", required=False)
@click.option("--workflow", help="Decide for a call made inside this workflow.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@click.pass_context
def check(ctx: click.Context, state: State, agent: str, tool: str, args: str | None, workflow: str | None,
          as_json: bool) -> None:
    """Would AGENT ('-' for a direct call) be allowed to call TOOL, with the JSON arguments ARGS?

    Prints every rule that was looked at; exit 0 when the call would run, 1 when it would be refused."""
    from parac.core.policy import Policies
    from parac.core.workspace import find_root

    arguments: dict[str, Any] = {}
    if args:
        try:
            arguments = json.loads(args)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="ARGS") from None
        if not isinstance(arguments, dict):
            raise click.BadParameter("must be a JSON object of argument names to values", param_hint="ARGS")
    root = find_root(state.workspace)
    policies = Policies.for_root(root)
    caller = None if agent == "-" else agent
    decision = policies.decide(tool, agent=caller, workflow=workflow)
    notes = _known(state, tool, caller)
    checks = _argument_checks(policies, root, arguments) if decision.allowed else []
    if decision.allowed and args:
        checks += _schema_check(state, tool, arguments)
    allowed = decision.allowed and not decision.approval_required and all(c["allowed"] for c in checks)
    from parac.core.sandbox import describe

    sandbox = describe(policies.command_policy().sandbox)
    if as_json:
        echo_json({**decision.to_dict(), "arguments": checks, "notes": notes, "sandbox": sandbox,
                   "would_run": allowed})
    else:
        refused = [c for c in checks if not c["allowed"]]
        if allowed:
            click.echo(f"ALLOWED: {decision.reason}")
        elif refused:
            click.echo(f"DENIED: {_what(refused[0])}{refused[0]['reason']}")
        elif decision.allowed:
            click.echo(f"NEEDS APPROVAL: {decision.reason}")
        else:
            click.echo(f"DENIED: {decision.reason}")
        for line in decision.trace[:-1] if decision.trace and decision.trace[-1] == decision.reason else decision.trace:
            click.echo(f"  - {line}")
        if decision.allowed and decision.approval_required:
            click.echo("  - each call needs a person's approval (a workflow approval gate)")
        if decision.rate_limit:
            click.echo(f"  - rate limit: {decision.rate_limit}")
        for item in checks:
            mark = "ok" if item["allowed"] else "refused"
            click.echo(f"  - {_what(item)}{mark}: {item['reason']}")
        for note in notes:
            click.echo(f"  note: {note}")
        click.echo(f"  shell commands run in: {sandbox}")
    ctx.exit(ExitCode.OK if allowed else ExitCode.PROBLEMS)


def _known(state: State, tool: str, agent: str | None) -> list[str]:
    """Warnings for names the workspace does not know (a typo would otherwise read as a plain denial)."""
    notes: list[str] = []
    try:
        host = state.host()
    except Exception as exc:  # a broken workspace still gets its policy explained
        return [f"the workspace could not be loaded to check names: {exc}"]
    if tool not in host.registry.catalog.tools:
        notes.append(f'no registered tool is named "{tool}"')
    workspace = host.workspace
    if agent is not None and workspace is not None and agent not in workspace.agents and \
            agent not in host.registry.catalog.agents:
        notes.append(f'no agent is named "{agent}"')
    return notes


def _what(check: dict[str, Any]) -> str:
    return f"argument {check['argument']}: " if check["argument"] else "arguments: "


def _schema_check(state: State, tool: str, arguments: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool's own JSON Schema: arguments that fail it are refused before any policy gate, so no call would run."""
    from parac.core.tools import ToolError

    try:
        contribution = state.host().registry.catalog.tools.get(tool)
    except Exception:  # reported by _known already
        return []
    check_arguments = getattr(getattr(contribution, "value", None), "check_arguments", None)
    if check_arguments is None:
        return []
    try:
        check_arguments(arguments)
    except ToolError as exc:
        return [{"argument": None, "allowed": False, "reason": str(exc)}]
    return []


def _argument_checks(policies: Any, root: Any, arguments: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the confinement gates over the arguments that name a path, a URL or a command."""
    from parac.core.confine import ConfinementError, check_command, check_url
    from parac.core.sandbox import sandbox_for

    jail = policies.file_jail(root)
    results = []
    for name, value in arguments.items():
        try:
            if name in PATH_ARGUMENTS and isinstance(value, str):
                reason = f"{jail.relative(jail.resolve(value))} is inside the workspace"
            elif name in URL_ARGUMENTS and isinstance(value, str):
                reason = f"host {check_url(value, policies.http_policy()).host} is allowed"
            elif name in COMMAND_ARGUMENTS:
                argv = value.split() if isinstance(value, str) else value
                command_policy = policies.command_policy()
                reason = f"{check_command(argv, command_policy)[0]} is allowed"
                reason += f", in sandbox {sandbox_for(command_policy.sandbox).name}"
            else:
                continue
        except ConfinementError as exc:
            results.append({"argument": name, "allowed": False, "reason": str(exc)})
            continue
        results.append({"argument": name, "allowed": True, "reason": reason})
    return results
