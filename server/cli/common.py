"""What every command shares: the loaded host and workspace, error reporting, and output."""

from __future__ import annotations

import functools
import gc
import json
import logging
import sys
from enum import IntEnum
from dataclasses import dataclass, field
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from parac.core.errors import NotFound, ParacBaseError
from parac.server.startup import loading

if TYPE_CHECKING:
    from parac.core.pages import Span
    from parac.core.workspace import Workspace
    from parac.server.host import Host


class ExitCode(IntEnum):
    """What ``parac`` exits with, the same for every command (the README's table is this one)."""

    OK = 0
    PROBLEMS = 1
    """Problems found (validation, doctor, audit), a run that failed, a call refused by a policy or a budget."""
    USAGE = 2
    """The command line itself is wrong: an unknown command or option, a bad value."""
    WAITING = 3
    """A workflow run stopped at a gate: a person must approve or reject it (the command to do it is printed)."""
    NOT_FOUND = 4
    """What the command names does not exist: a workflow run, a human task, a recorded agent run."""
    INTERRUPTED = 130
    """Ctrl-C."""


def accept_workspace(command: click.Command) -> None:
    """Let ``-w/--workspace`` also follow the command (``parac validate -w DIR``), as it may precede it: one rule
    for every command, given here once rather than by each. The value lands in :class:`State`, as ``parac -w``'s."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            accept_workspace(sub)
        return
    if any(param.name == "workspace" for param in command.params):
        return
    command.params.append(click.Option(
        ["--workspace", "-w"], type=click.Path(file_okay=False, path_type=str), expose_value=False,
        is_eager=True, callback=_set_workspace,
        help="The project holding .parac/ (also accepted before the command).",
    ))


WORKSPACE_META = "parac.workspace"
"""Where a ``-w`` given after the command is also kept: shell completion parses without making a :class:`State`."""


def _set_workspace(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is None:
        return
    ctx.meta[WORKSPACE_META] = value
    state = ctx.find_object(State)
    if state is not None:
        state.workspace = value


@dataclass
class State:
    workspace: str | None = None
    debug: bool = False
    json_logs: bool = False  # --log-format json: stderr carries JSON objects only, progress as structured events
    _host: Host | None = field(default=None, repr=False)

    def host(self, *, workspace: bool = True) -> Host:
        """The plugin host, with the workspace opened unless ``workspace=False``."""
        if self._host is None:
            with loading():
                from parac.server.host import Host

                self._host = Host.for_workspace(self.workspace) if workspace else Host()  # it logs each plugin's problem
        return self._host

    def open_workspace(self) -> Workspace:
        host = self.host()
        assert host.workspace is not None
        return host.workspace


pass_state = click.make_pass_decorator(State)

CURSOR_KEY = b"parac cli listings"
"""Signs the CLI's cursors. Unlike a server's, they must outlive the process that printed them, so the key is fixed:
a cursor is checked for its integrity and its listing (a typo, a cut paste, another listing's cursor are refused),
not for who made it; it holds nothing but a position (see `parac.core.pages`)."""


@dataclass(frozen=True)
class Paging:
    """``--limit`` / ``--cursor`` of a listing. Asked for, the JSON is ``{FIELD: [...], "next_cursor": ...}``;
    otherwise the listing is whole and its JSON the plain list it always was."""

    limit: int | None
    cursor: str | None

    @property
    def asked(self) -> bool:
        return self.limit is not None or self.cursor is not None

    def span(self, keys: Sequence[str], listing: str) -> Span:
        """The page of the listing's sorted, unique ``keys`` to show (all of them when no page was asked for)."""
        from parac.core.pages import Span, page

        if not self.asked:
            return Span(0, len(keys), None)
        return page(keys, listing=listing, cursor=self.cursor, limit=self.limit, secret=CURSOR_KEY)

    def echo(self, field: str, rows: list[Any], span: Span) -> None:
        echo_json({field: rows, "next_cursor": span.next_cursor} if self.asked else rows)


def paged(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Give a listing command ``--limit`` and ``--cursor``; it receives them as ``paging: Paging``."""
    from parac.core.pages import MAX_LIMIT

    @click.option("--limit", type=click.IntRange(1, MAX_LIMIT), help="Print a page of at most this many (with --json).")
    @click.option("--cursor", help="Print the page after the one whose next_cursor this is (with --json).")
    @functools.wraps(fn)
    def command(*args: Any, limit: int | None, cursor: str | None, **kwargs: Any) -> Any:
        if (limit is not None or cursor is not None) and not kwargs.get("as_json"):
            raise click.UsageError("--limit and --cursor page the --json output; add --json")
        return fn(*args, paging=Paging(limit, cursor), **kwargs)

    return command


def cli_actor() -> str:
    """Who runs the command, as the audit trail names them: ``cli:USER`` (``cli`` without a passwd entry)."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers)
        return "cli"


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
    """Run the command; any parac error becomes one clear message (and its diagnostics); exit codes are
    :class:`ExitCode`'s. The CLI shows every parac error's message, public or not: the person at the terminal owns
    the process and its log."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_PlainFormatter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    debug = "--debug" in sys.argv[1:]
    try:
        result = group.main(standalone_mode=False)
    except ParacBaseError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        for diagnostic in exc.diagnostics:
            click.echo(f"  {diagnostic.format()}", err=True)
        return ExitCode.NOT_FOUND if isinstance(exc, NotFound) else ExitCode.PROBLEMS
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return ExitCode.PROBLEMS
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    finally:
        # The process ends next. Its last garbage collection would walk every object the command loaded (for a
        # thousand-agent workspace, a fifth of the run) to find cycles that exiting frees anyway: skip it.
        gc.freeze()
    return result if isinstance(result, int) else ExitCode.OK
