"""The ``parac`` command.

Subcommands live in their own modules and are imported only when used: ``parac --help`` and ``parac lsp`` must
not pay for ``parac workflow``'s imports. Each entry of :data:`COMMANDS` names the module attribute and the one-line
help shown by ``--help`` (so listing commands imports nothing).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

VERSION = "0.1.0"

# name -> ("module:attribute", short help)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("parac.server.cli.init:init", "Create a .parac/ workspace from a template."),
    "validate": ("parac.server.cli.validate:validate", "Check every file of the workspace."),
    "doctor": ("parac.server.cli.doctor:doctor", "Check this set-up and say how to fix what is broken."),
    "agents": ("parac.server.cli.agents:agents", "List, show, create and run agents."),
    "skills": ("parac.server.cli.skills:skills", "List, show and create skills."),
    "plugins": ("parac.server.cli.plugins:plugins", "Show loaded plugins and what each registered."),
    "schema": ("parac.server.cli.schema:schema", "Print the JSON Schema of a spec kind."),
    "tools": ("parac.server.cli.tools:tools", "List and call tools."),
    "workflow": ("parac.server.cli.workflow:workflow", "Create, run, plan, approve and resume workflows."),
    "workflows": ("parac.server.cli.workflow:workflow", "The same as workflow (plural, like agents and skills)."),
    "memory": ("parac.server.cli.memory:memory", "Add to, search, list and forget the workspace's memory."),
    "worker": ("parac.server.cli.worker:worker", "Execute workflow runs from the dbos engine's queue."),
    "workers": ("parac.server.cli.worker:workers", "List the dbos engine's workers and their load."),
    "costs": ("parac.server.cli.costs:costs", "Report what model calls cost."),
    "budget": ("parac.server.cli.budget:budget", "Show and set budgets."),
    "audit": ("parac.server.cli.audit:audit", "Verify, read and export the audit trail."),
    "policy": ("parac.server.cli.policy:policy", "Explain policy decisions."),
    "token": ("parac.server.cli.token:token", "Create access tokens for the HTTP transport."),
    "mcp": ("parac.server.cli.mcp:mcp", "Serve parac over MCP; set up MCP clients."),
    "serve": ("parac.server.cli.serve:serve", "Serve the REST API, SSE streams and MCP over HTTP."),
    "lsp": ("parac.server.cli.lsp:lsp", "Run the language server (stdio)."),
    "completion": ("parac.server.cli.completion:completion", "Print a shell completion script (bash, zsh, fish)."),
}


def load_attribute(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use; ``--help`` shows their help without importing them."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands or name not in self.lazy:
            return super().get_command(ctx, name)
        try:
            command = load_attribute(self.lazy[name][0])
        except ModuleNotFoundError as exc:
            if not exc.name or not exc.name.startswith("parac.server.cli"):
                raise
            return None  # a command whose module is not part of this build
        self.add_command(command, name)
        return command

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        from .common import accept_workspace

        accept_workspace(cmd)
        super().add_command(cmd, name)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        """Click's, with "did you mean" when the command is unknown (``parac agent list`` → ``agents``)."""
        name = click.utils.make_str(args[0]) if args else ""
        if args and not name.startswith("-") and self.get_command(ctx, name) is None:
            from parac.core.diagnostics import suggestion

            ctx.fail(f"No such command {name!r}{suggestion(name, self.list_commands(ctx))}.")
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in self.commands:
                rows.append((name, self.commands[name].get_short_help_str(limit=70)))
            elif _available(self.lazy[name][0]):
                rows.append((name, self.lazy[name][1]))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _available(target: str) -> bool:
    from importlib.util import find_spec

    return find_spec(target.partition(":")[0]) is not None


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(VERSION, prog_name="parac")
@click.option(
    "--workspace",
    "-w",
    type=click.Path(file_okay=False, path_type=str),
    envvar="PARAC_WORKSPACE",
    help="The project holding .parac/ (default: found walking up from the current directory).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              help="json: every stderr line a JSON object (time, level, logger, message, run and trace ids; a "
                   "workflow's progress as events with run id and step).")
@click.pass_context
def cli(ctx: click.Context, workspace: str | None, debug: bool, log_format: str) -> None:
    """parac: agents, tools, skills and LLM providers for IDEs, over MCP and LSP."""
    from .common import State

    if log_format == "json":
        import logging

        from parac.server.jsonlog import use_json_logs

        logging.getLogger().setLevel(logging.INFO)  # warnings only as text; asked for JSON lines, runs log info
        use_json_logs(stderr=True)

    ctx.obj = State(workspace=workspace, debug=debug, json_logs=log_format == "json")


def main() -> None:
    from .common import run_cli

    sys.exit(run_cli(cli))
