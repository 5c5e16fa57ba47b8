"""`parac serve`: the HTTP service (REST, SSE, health, MCP at /mcp). Imports the server only when it runs."""

from __future__ import annotations

from pathlib import Path

import click

from parac.server.auth.options import auth_options


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind. Non-loopback needs a token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port (0: any free one).")
@click.option("--workspace", "-w", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="A project holding .parac/ to serve (repeatable; the first is the default). Default: found from "
              "the current directory.")
@click.option("--allow-origin", "allow_origins", multiple=True,
              help="An Origin allowed besides the bound address itself (repeatable).")
@click.option("--allow-host", "allow_hosts", multiple=True,
              help="A Host header value allowed besides the bound address, e.g. a proxy's name (repeatable).")
@click.option("--max-body", type=click.IntRange(1024), default=None,
              help="Largest request body accepted, in bytes (default 4 MiB).")
@click.option("--grace", type=click.FloatRange(0), default=10.0, show_default=True,
              help="Seconds requests in flight get to finish after SIGTERM.")
@click.option("--resume-runs", is_flag=True, help="Resume workflow runs that a crash interrupted, at start.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="warning")
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None,
              help="json: one JSON object a line on stderr (time, level, logger, message, request, run and trace "
              "ids). Default: the group's --log-format, else text.")
@auth_options
@click.pass_context
def serve(
    ctx: click.Context, host: str, port: int, workspace: tuple[Path, ...], allow_origins: tuple[str, ...],
    allow_hosts: tuple[str, ...], max_body: int | None, grace: float, resume_runs: bool, log_level: str,
    log_format: str | None, tenants: Path | None, cors_origins: tuple[str, ...],
) -> None:
    """Serve the REST API (/api/v1), its OpenAPI (/openapi.json, /docs), health probes, Prometheus metrics
    (/metrics) and MCP (/mcp) over HTTP."""
    from parac.core import telemetry
    from parac.server.mcp.logs import configure_stderr_logging

    configure_stderr_logging(log_level, log_format or ("json" if telemetry.log_fields_wanted() else "text"))
    from parac.server.http.run import serve as run
    from parac.server.mcp.run import HttpOptions, ServeError

    given = list(workspace)  # named "workspace" so that the group's single -w (accept_workspace) stays out
    state_workspace = getattr(ctx.find_root().obj, "workspace", None)
    if not given and state_workspace:
        given = [Path(state_workspace)]
    options = HttpOptions(host=host, port=port, allowed_origins=allow_origins, allowed_hosts=allow_hosts,
                          max_body_bytes=max_body)
    try:
        run(given, options, resume_runs=resume_runs, grace_s=grace, tenants=tenants, cors_origins=cors_origins)
    except ServeError as error:
        raise click.ClickException(str(error)) from None
