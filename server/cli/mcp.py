"""`parac mcp`: serve parac over MCP, and set MCP clients up to start it.

Imports only click and the standard library at module level: `parac mcp serve` is spawned by editors on every start,
so the MCP SDK is imported once logging points at stderr, and nothing else (workspace, plugins, litellm) is imported
before the client's handshake has been answered.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

CLIENT_CHOICES = ("claude-desktop", "claude-code", "claude-code-user", "cline", "roo", "kilo", "cursor", "cursor-global", "vscode")


@click.group(help="Serve parac's agents, tools, skills and workflows over MCP, and configure MCP clients.")
def mcp() -> None:
    pass


@mcp.command()
@click.option("--transport", type=click.Choice(["stdio", "http"]), default="stdio", show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (http). Non-loopback needs a token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port to bind (http).")
@click.option("--path", "http_path", default="/mcp", show_default=True, help="URL path of the MCP endpoint (http).")
@click.option(
    "--allow-origin",
    "allow_origins",
    multiple=True,
    help="An Origin allowed to call the HTTP endpoint besides the bound address itself (repeatable).",
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    help="A Host header value allowed besides the bound address, e.g. a proxy's name (repeatable).",
)
@click.option(
    "--max-body",
    type=click.IntRange(1024),
    default=None,
    help="Largest HTTP request body accepted, in bytes (default 4 MiB, or mcp.max_body_bytes in parac.yaml).",
)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="warning")
@click.option("--resume-runs", is_flag=True, help="Resume workflow runs that a crash interrupted, at start.")
@click.option(
    "--profile",
    default=None,
    help="The tool profile to serve (all, minimal, authoring, operations, or one of mcp.profiles in parac.yaml); "
    "overrides mcp.profile.",
)
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Serve Prometheus metrics at http://127.0.0.1:PORT/metrics (0: any free port, logged).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one JSON object a line (time, level, logger, message, request/run/trace ids).")
def serve(
    transport: str,
    host: str,
    port: int,
    http_path: str,
    allow_origins: tuple[str, ...],
    allow_hosts: tuple[str, ...],
    max_body: int | None,
    log_level: str,
    resume_runs: bool,
    profile: str | None,
    metrics_port: int | None,
    log_format: str,
) -> None:
    """Serve MCP over stdio (what editors spawn) or Streamable HTTP on 127.0.0.1."""
    from parac.server.mcp.logs import configure_stderr_logging

    configure_stderr_logging(log_level, log_format)
    from parac.server.mcp.run import HttpOptions, ServeError, run_http, run_stdio

    workspace = _given_workspace()
    try:
        if transport == "stdio":
            run_stdio(workspace, resume_runs=resume_runs, profile=profile, metrics_port=metrics_port)
        else:
            options = HttpOptions(
                host=host,
                port=port,
                path=http_path,
                allowed_origins=allow_origins,
                allowed_hosts=allow_hosts,
                max_body_bytes=max_body,
            )
            run_http(workspace, options, resume_runs=resume_runs, profile=profile, metrics_port=metrics_port)
    except ServeError as error:
        raise click.ClickException(str(error)) from None


def _given_workspace() -> Path | None:
    """The -w/--workspace given before or after the command (`parac -w DIR mcp ...`, `parac mcp serve -w DIR`)."""
    from .common import WORKSPACE_META

    ctx = click.get_current_context()  # `python -m parac.server.mcp` runs this group alone: no State, only the meta
    given = ctx.meta.get(WORKSPACE_META) or getattr(ctx.find_root().obj, "workspace", None)
    return Path(given) if given else None


def _workspace_root() -> Path:
    from parac.core.diagnostics import ParacError
    from parac.core.workspace import find_root

    try:
        return find_root(_given_workspace())
    except ParacError as error:
        raise click.ClickException(str(error)) from None


@mcp.command()
@click.argument("client", type=click.Choice(CLIENT_CHOICES))
@click.option("--name", default="parac", show_default=True, help="Name of the server entry in the client's file.")
@click.option("--profile", default=None, help="Serve this tool profile to the client (adds --profile to its command).")
def install(client: str, name: str, profile: str | None) -> None:
    """Add parac to CLIENT's MCP configuration, merging with the servers already there (a .bak copy is kept)."""
    from parac.server.mcp.clients import CLIENTS, ClientConfigError
    from parac.server.mcp.clients import install as install_entry
    from parac.server.mcp.run import ServeError, check_profile

    root = _workspace_root()
    try:
        if profile is not None:
            check_profile(root, profile)
        result = install_entry(client, root, name=name, profile=profile)
    except ServeError as error:
        raise click.ClickException(str(error)) from None
    except ClientConfigError as error:
        raise click.ClickException(str(error)) from None
    verb = "updated" if result.replaced else "added"
    click.echo(f"{verb} MCP server {name!r} for {CLIENTS[client].name} in {result.path}")
    if result.backup is not None:
        click.echo(f"previous file kept as {result.backup}")
    click.echo(f"it serves the workspace {root}; restart {CLIENTS[client].name} (or reload its MCP servers) to use it")


@mcp.command()
@click.argument("client", type=click.Choice(CLIENT_CHOICES))
@click.option("--name", default="parac", show_default=True, help="Name of the server entry to remove.")
def uninstall(client: str, name: str) -> None:
    """Remove parac's entry from CLIENT's MCP configuration; other servers stay (a .bak copy is kept)."""
    from parac.server.mcp.clients import CLIENTS, ClientConfigError, config_path
    from parac.server.mcp.clients import uninstall as remove_entry

    root = _workspace_root()
    try:
        result = remove_entry(client, root, name=name)
    except ClientConfigError as error:
        raise click.ClickException(str(error)) from None
    if result is None:
        click.echo(f"no MCP server {name!r} in {config_path(client, root)}: nothing to remove")
        return
    click.echo(f"removed MCP server {name!r} for {CLIENTS[client].name} from {result.path}")
    if result.backup is not None:
        click.echo(f"previous file kept as {result.backup}")


@mcp.command()
@click.argument("client", type=click.Choice(CLIENT_CHOICES))
@click.option("--name", default="parac", show_default=True)
def config(client: str, name: str) -> None:
    """Print the configuration snippet for CLIENT instead of writing it (and where it would go)."""
    from parac.server.mcp.clients import config_path, snippet

    root = _workspace_root()
    click.echo(json.dumps(snippet(client, root, name), indent=2))
    click.echo(f"# goes into {config_path(client, root)}", err=True)


@mcp.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON: each server's transport, state, error and tools.")
@click.option("--no-connect", is_flag=True, help="Show what is known without starting any server.")
@click.pass_obj
def servers(state: object, as_json: bool, no_connect: bool) -> None:
    """External MCP servers from parac.yaml's mcp_servers: state and tools (connecting to each to find out)."""
    from .common import State, echo_json

    assert isinstance(state, State)
    sources = state.host().tool_sources
    rows: list[dict[str, Any]] = []
    if sources is not None:
        try:
            rows = sources.status() if no_connect else sources.discover_all()
        finally:
            sources.close()
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no MCP servers configured (add them under mcp_servers: in .parac/parac.yaml)")
    for row in rows:
        line = f"{row['name']} ({row['transport'] or 'invalid'}): {row['state']}"
        click.echo(line + (f": {row['error']}" if row["error"] else f", {len(row['tools'])} tools"))
        for tool in row["tools"]:
            click.echo(f"  {row['name']}.{tool}")
