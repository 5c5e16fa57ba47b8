"""``parac token create|list|revoke``: bearer tokens for ``parac mcp serve --transport http``.

Creating or revoking a token is a configuration change, so it is written to the audit trail (the token's name and
role, never the token).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from .common import State, cli_actor, echo_json, pass_state

if TYPE_CHECKING:
    from parac.core.tokens import TokenStore

ROLES = ("viewer", "operator", "admin")


def _store(state: State) -> tuple[Path, TokenStore]:
    from parac.core.tokens import TokenStore
    from parac.core.workspace import find_root

    root = find_root(state.workspace)
    return root, TokenStore(root)


def _audit(root: Path, action: str, name: str, role: str) -> None:
    from parac.core.audit import AuditLog

    log = AuditLog.for_workspace(root)
    log.append(action, actor=cli_actor(), subject=name, data={"role": role})
    log.close()


@click.group()
def token() -> None:
    """Bearer tokens (with roles) for the MCP HTTP transport, stored hashed in .parac/state/tokens.json."""


@token.command()
@click.option("--role", type=click.Choice(ROLES), required=True,
              help="viewer: list and read; operator: also run and approve; admin: everything.")
@click.option("--name", help="A name for the token; the audit trail names callers by it. Default: ROLE-N.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def create(state: State, role: str, name: str | None, as_json: bool) -> None:
    """Create a token and print it once: it is stored only as a hash and cannot be shown again."""
    from parac.core.tokens import TokenError

    root, store = _store(state)
    taken = {record.name for record in store.records()}
    chosen = name or next(f"{role}-{n}" for n in range(1, len(taken) + 2) if f"{role}-{n}" not in taken)
    try:
        record, secret = store.create(chosen, role)
    except TokenError as exc:
        raise click.UsageError(str(exc)) from None
    _audit(root, "token.create", record.name, record.role)
    if as_json:
        echo_json({**record.public(), "token": secret})
        return
    click.echo(secret)
    click.echo(f'created token "{record.name}" with role {record.role}; it is shown only this once. Clients send '
               f"it as 'Authorization: Bearer <token>'.", err=True)


@token.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def list_tokens(state: State, as_json: bool) -> None:
    """Names, roles and creation times (never the tokens)."""
    _, store = _store(state)
    rows = [record.public() for record in store.records()]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no tokens (parac token create --role viewer|operator|admin --name NAME)", err=True)
    for row in rows:
        click.echo(f"{row['name']}\t{row['role']}\t{row['created']}")


@token.command()
@click.argument("name")
@pass_state
def revoke(state: State, name: str) -> None:
    """Remove a token; a running server refuses it from its next request on."""
    from parac.core.tokens import TokenError

    root, store = _store(state)
    try:
        record = store.revoke(name)
    except TokenError as exc:
        raise click.UsageError(str(exc)) from None
    _audit(root, "token.revoke", record.name, record.role)
    click.echo(f'revoked token "{record.name}"', err=True)
