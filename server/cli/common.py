"""What every command shares: the loaded host and workspace, error reporting, and output."""

from __future__ import annotations

import gc
import json
import logging
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from parac.core.diagnostics import ParacError

if TYPE_CHECKING:
    from parac.core.workspace import Workspace
    from parac.server.host import Host


@dataclass
class State:
    workspace: str | None = None
    debug: bool = False
    _host: Host | None = field(default=None, repr=False)

    def host(self, *, workspace: bool = True) -> Host:
        """The plugin host, with the workspace opened unless ``workspace=False``."""
        if self._host is None:
            from parac.server.host import Host

            self._host = Host.for_workspace(self.workspace) if workspace else Host()  # it logs each plugin's problem
        return self._host

    def open_workspace(self) -> Workspace:
        host = self.host()
        assert host.workspace is not None
        return host.workspace


pass_state = click.make_pass_decorator(State)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def console() -> Any:
    """A rich console that prints text as it is: names, descriptions and errors come from files and runs, and as
    markup "[config]" vanished and "[/x]" crashed the command. Styles are given as ``rich.text.Text`` instead."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True, markup=False)


class _PlainFormatter(logging.Formatter):
    """``warning: MESSAGE``, like the CLI's own ``error: ...`` lines: a logger's name means nothing to a user."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {super().format(record)}"


def run_cli(group: click.Group) -> int:
    """Run the command; a :class:`ParacError` becomes one clear message (and its diagnostics) with exit code 1."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_PlainFormatter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    debug = "--debug" in sys.argv[1:]
    try:
        result = group.main(standalone_mode=False)
    except ParacError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        for diagnostic in exc.diagnostics:
            click.echo(f"  {diagnostic.format()}", err=True)
        return 1
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    finally:
        # The process ends next. Its last garbage collection would walk every object the command loaded (for a
        # thousand-agent workspace, a fifth of the run) to find cycles that exiting frees anyway: skip it.
        gc.freeze()
    return result if isinstance(result, int) else 0
