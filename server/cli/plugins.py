"""``parac plugins``: what is loaded, from where, and what each plugin registered."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from parac.core.workspace import WorkspaceNotFound

from .common import Paging, State, console, paged, pass_state

if TYPE_CHECKING:
    from parac.server.host import Host


@click.command()
@click.option("--json", "as_json", is_flag=True)
@pass_state
@paged
def plugins(state: State, as_json: bool, paging: Paging) -> None:
    """Loaded plugins; inside a workspace, parac.yaml's plugins.disabled applies."""
    try:
        host = state.host()
    except WorkspaceNotFound:
        state._host = None
        host = state.host(workspace=False)
    by_key = sorted((f"{i.source != 'builtin':d}:{i.name}", i) for i in host.infos.values())  # built-ins first
    span = paging.span([key for key, _ in by_key], "plugins")
    infos = [info.to_json() for _, info in by_key[span.start : span.stop]]
    if as_json:
        paging.echo("plugins", infos, span)
        return
    from rich.table import Table

    table = Table("plugin", "source", "state", "registered", box=None)
    for info in infos:
        registered = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in info["registered"].items())
        status = "disabled" if not info["enabled"] else ("failed" if info["problems"] else "loaded")
        table.add_row(info["name"], info["source"], status, registered or "-")
    console().print(table)
    click.echo(f"shell commands run in: {_sandbox(host)}")


def _sandbox(host: Host) -> str:
    """The sandbox the workspace's policies ask for (the default one outside a workspace), and whether it starts."""
    from parac.core.sandbox import SandboxPolicy, describe

    if host.workspace is None:
        return describe(SandboxPolicy())
    return describe(host.workspace.current_policies().command_policy().sandbox)
