"""``parac lsp``: the language server, on stdio (what editors spawn) or TCP (for debugging).

Editors start this on every launch, so the module imports only click; pygls, the workspace and the plugins load
once the command runs, and the workspace only after the client's ``initialize`` has been answered.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise click.BadParameter(f'expected HOST:PORT, e.g. 127.0.0.1:2087, not "{value}"')
    return host or "127.0.0.1", int(port)


@click.command()
@click.option("--stdio", is_flag=True, help="Use stdin/stdout (the default; accepted because some clients pass it).")
@click.option("--tcp", "tcp", metavar="HOST:PORT", default=None, help="Listen on a TCP address instead, for debugging.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="warning", show_default=True)
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one JSON object a line.")
@click.pass_context
def lsp(ctx: click.Context, stdio: bool, tcp: str | None, log_level: str, log_format: str) -> None:
    """Run the language server for .parac/ files (stdio unless --tcp)."""
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s", force=True)
    if log_format == "json":
        from parac.server.jsonlog import use_json_logs

        use_json_logs()
    workspace = getattr(ctx.obj, "workspace", None)  # the group's --workspace / $PARAC_WORKSPACE
    from parac.lsp.server import build

    server = build(Path(workspace).resolve() if workspace else None)
    if tcp is not None:
        host, port = _host_port(tcp)
        server.start_tcp(host, port)
    else:
        server.start_io()
