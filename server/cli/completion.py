"""``parac completion SHELL``: the script that makes SHELL complete parac's commands, options and names.

The script calls ``parac`` again with ``_PARAC_COMPLETE`` set (click's shell completion); the names come from
`parac.server.cli.names`, which reads files and the database directly, so a <TAB> costs no workspace load.
"""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL; load it with, e.g., eval "$(parac completion bash)" in ~/.bashrc."""
    from click.shell_completion import get_completion_class

    from .names import COMPLETE_VAR

    complete = get_completion_class(shell)
    assert complete is not None  # every choice is one of click's shells
    click.echo(complete(ctx.find_root().command, {}, "parac", COMPLETE_VAR).source())
