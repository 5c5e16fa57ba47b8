"""The command-line options of authentication, as one group a serving command takes (`parac serve`).

Credentials themselves are never flags (a flag shows in `ps`): tokens come from `parac token`, JWT and HMAC keys from
`serve:` in parac.yaml. What a deployment changes per start is here: the tenants file and the CORS allow-list.
`--allow-origin`, `--allow-host` and `--max-body` are the serving command's own (`HttpOptions`); `load_gate` takes them
from there.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def auth_options(command: F) -> F:
    """Add `--tenants FILE` (`tenants`) and `--cors-origin` (`cors_origins`, repeatable) to `command`."""
    command = click.option(
        "--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
        help="An origin whose web pages may call the API and read its answers (CORS; repeatable). "
        "Also serve.cors_origins in parac.yaml.",
    )(command)
    return click.option(
        "--tenants", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
        help="A YAML file mapping credentials (token names, JWT subjects or claims, HMAC key ids) to tenants, each "
        "served from its own workspace.",
    )(command)
