"""``parac audit``: verify, read and export the workspace's audit trail.

These commands read the database directly (no plugins load): verifying a trail must not depend on the code that
writes it, and reading it must not add to it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .common import ExitCode, State, echo_json, pass_state


def _log(state: State) -> Any:
    from parac.core.audit import AuditLog
    from parac.core.workspace import find_root

    return AuditLog.for_workspace(find_root(state.workspace))


@click.group()
def audit() -> None:
    """Verify, read and export the audit trail (.parac/state/parac.db)."""


@audit.command()
@click.option("--anchor", "anchor_file", type=click.Path(dir_okay=False, path_type=Path),
              help="An anchor saved earlier with `parac audit anchor`; the trail must still reach it unchanged.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@click.pass_context
def verify(ctx: click.Context, state: State, anchor_file: Path | None, as_json: bool) -> None:
    """Check the hash chain, the signed head record and an optional anchor. Exit 1 names the first bad entry."""
    anchor = None
    if anchor_file is not None:
        try:
            anchor = json.loads(anchor_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise click.BadParameter(f"cannot read the anchor: {exc}", param_hint="--anchor") from None
        if not isinstance(anchor, dict):
            raise click.BadParameter("the anchor is not a JSON object", param_hint="--anchor")
    report = _log(state).verify(anchor=anchor)
    if as_json:
        echo_json(report.to_dict())
    elif report.ok:
        keyed = "HMAC-signed" if report.keyed else "unkeyed (set PARAC_AUDIT_KEY to sign new entries)"
        click.echo(f"audit trail intact: {report.entries} entries, {keyed}")
        if anchor is not None:
            click.echo(f"the trail still holds entry {anchor.get('seq')} of the anchor, unchanged")
    else:
        problem = report.problems[0]
        where = f"entry {problem.seq}" if problem.seq is not None else "head record"
        click.echo(f"audit trail NOT intact at {where} ({problem.kind}): {problem.message}", err=True)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    ctx.exit(ExitCode.OK if report.ok else ExitCode.PROBLEMS)


@audit.command()
@click.option("-n", "count", type=click.IntRange(1, 100_000), default=20, show_default=True, help="How many entries.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_state
def tail(state: State, count: int, as_json: bool) -> None:
    """The latest entries, oldest first."""
    entries = _log(state).tail(count)
    if as_json:
        for entry in entries:
            click.echo(json.dumps(entry.to_dict(), ensure_ascii=False))
        return
    for entry in entries:
        click.echo(_line(entry))


@audit.command()
@click.argument("seq", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_state
@click.pass_context
def show(ctx: click.Context, state: State, seq: int, as_json: bool) -> None:
    """One entry, every field."""
    entry = _log(state).get(seq)
    if entry is None:
        click.echo(f"error: no audit entry {seq}", err=True)
        ctx.exit(ExitCode.PROBLEMS)
    if as_json:
        echo_json(entry.to_dict())
        return
    for name, value in entry.to_dict().items():
        shown = json.dumps(value, ensure_ascii=False, indent=2) if isinstance(value, dict) else value
        click.echo(f"{name}: {shown}")


@audit.command()
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
@click.option("--since", type=click.IntRange(1), default=1, help="First entry number to export.")
@click.option("--action", help="Only entries of this action (tool.call, llm.call, ...).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not to stdout.")
@pass_state
def export(state: State, fmt: str, since: int, action: str | None, output: Path | None) -> None:
    """Every entry as JSON lines, with hashes, so the export can be verified elsewhere."""
    lines = (json.dumps(entry.to_dict(), ensure_ascii=False) + "\n" for entry in _log(state).entries(since, action))
    if output is None:
        for line in lines:
            click.echo(line, nl=False)
        return
    with output.open("w", encoding="utf-8") as handle:
        handle.writelines(lines)


@audit.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not to stdout.")
@pass_state
def anchor(state: State, output: Path | None) -> None:
    """Print an anchor for the current end of the trail: keep it outside this machine, check with --anchor."""
    text = json.dumps(_log(state).anchor(), sort_keys=True)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")


def _line(entry: Any) -> str:
    details = ", ".join(f"{key}={value}" for key, value in entry.data.items()
                        if key in ("agent", "workflow", "run_id", "policy", "reason", "error", "duration_ms"))
    return (f"{entry.seq:>6} {entry.ts} {entry.actor} {entry.action} {entry.subject} {entry.outcome}"
            + (f"  {details}" if details else ""))
