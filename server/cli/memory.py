"""``parac memory add|search|forget|list``: the workspace's memory from the command line.

The same core calls as the ``memory_*`` tools and the ``parac://memory`` resources
(:func:`parac.core.memory.open_memory`), so what a person adds here an agent recalls, and the other way round. Notes under ``.parac/memory/`` are re-indexed
first when they changed.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from .common import State, console, echo_json, pass_state

if TYPE_CHECKING:
    from parac.core.memory import Entry, Memory


def _memory(state: State) -> Memory:
    from parac.core.memory import open_memory

    return open_memory(state.open_workspace())


@click.group()
def memory() -> None:
    """Add to, search, list and forget the workspace's memory."""


@memory.command("add")
@click.argument("content")
@click.option("--namespace", "-n", default="workspace", show_default=True,
              help="workspace, agent:NAME, run:ID or your own.")
@click.option("--title", "-t", default="", help="A short title (weighs more in searches).")
@click.option("--meta", "pairs", multiple=True, metavar="KEY=VALUE", help="Metadata (repeatable).")
@click.option("--ttl-days", type=click.FloatRange(min=0, min_open=True), help="Forget the entry after this many days.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def add(state: State, content: str, namespace: str, title: str, pairs: tuple[str, ...], ttl_days: float | None,
        as_json: bool) -> None:
    """Remember CONTENT ('-' reads it from stdin); secrets and configured personal data are masked first."""
    if content == "-":
        content = sys.stdin.read()
    metadata: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--meta")
        metadata[key] = value
    with _memory(state) as mem:
        entry = mem.add(content, namespace=namespace, title=title, metadata=metadata, ttl_days=ttl_days)
    if as_json:
        echo_json(entry.to_json())
    else:
        click.echo(f"remembered #{entry.id} in {entry.namespace}")


@memory.command("search")
@click.argument("query")
@click.option("--namespace", "-n", "namespaces", multiple=True, help="Search only these namespaces (repeatable).")
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option("--fts", is_flag=True, help='QUERY is SQLite FTS5 syntax ("phrase", AND, OR, NOT, prefix*).')
@click.option("--json", "as_json", is_flag=True)
@pass_state
def search(state: State, query: str, namespaces: tuple[str, ...], limit: int, fts: bool, as_json: bool) -> None:
    """The entries that best match QUERY, best first (BM25 ranking)."""
    with _memory(state) as mem:
        entries = mem.search(query, namespaces=namespaces or None, limit=limit, fts=fts)
    _print(entries, as_json)


@memory.command("list")
@click.option("--namespace", "-n", help="Only this namespace.")
@click.option("--kind", type=click.Choice(["fact", "document", "episode"]))
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--namespaces", "summary", is_flag=True, help="List the namespaces with their entry counts instead.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def list_entries(
    state: State, namespace: str | None, kind: str | None, limit: int, summary: bool, as_json: bool
) -> None:
    """The newest entries (or, with --namespaces, every namespace and its size)."""
    with _memory(state) as mem:
        if summary:
            rows = mem.namespaces()
            if as_json:
                echo_json(rows)
            else:
                for row in rows:
                    click.echo(f"{row['namespace']}\t{row['entries']}")
            return
        entries = mem.list(namespace=namespace, kind=kind, limit=limit)
    _print(entries, as_json)


@memory.command("forget")
@click.argument("ids", nargs=-1, type=int)
@click.option("--namespace", "-n", help="Forget every entry of this namespace.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def forget(state: State, ids: tuple[int, ...], namespace: str | None, as_json: bool) -> None:
    """Forget entries IDS (or a whole --namespace) for good: removed from the index and scrubbed from the file."""
    with _memory(state) as mem:
        count = mem.forget(ids=ids, namespace=namespace)
    if as_json:
        echo_json({"forgotten": count})
    else:
        click.echo(f"forgot {count} entr{'y' if count == 1 else 'ies'}")


def _print(entries: list[Entry], as_json: bool) -> None:
    if as_json:
        echo_json([entry.to_json() for entry in entries])
        return
    out = console()
    if not entries:
        out.print("no entries")
    for entry in entries:
        head = f"#{entry.id} [{entry.namespace}, {entry.kind}]" + (f" {entry.title}" if entry.title else "")
        out.print(head, style="bold", markup=False)
        text = entry.content.strip()
        out.print("  " + (text if len(text) <= 300 else text[:299] + "…").replace("\n", "\n  "), markup=False)
