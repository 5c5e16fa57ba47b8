"""Who may call what: the three roles, the caller a request stands for, and the bearer tokens that grant roles.

One role table for every face: each MCP tool, resource and prompt and each REST route of `parac serve` declares the
role it needs (`viewer` reads, `operator` runs agents and workflows, `admin` changes policy and approves). A stdio
caller is the local user who spawned the server and gets `TokenAuthority.local_role` (admin unless changed). An HTTP
caller gets the role its credential maps to (a bearer token, a JWT, an HMAC key: `parac.server.auth.middleware`);
without configured credentials, HTTP is loopback-only and callers get the local role too.

A `TokenAuthority` holds the single configured token (`PARAC_MCP_TOKEN`, `mcp.token_file`) and consults sources,
each mapping a presented token to a `Caller` (its role and the token's name) or just a role (None when it does not
know it): the workspace's `parac token` store (`add_store`), which the HTTP faces add when they start. A named
token's callers are `token:<name>` in the audit trail; callers with a JWT from the configured issuer (`jwts.py`) are
`jwt:<sub>`, callers signing with an HMAC key `hmac:<key id>`.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")


CallerKind = Literal["token", "jwt", "hmac", "local"]


@dataclass(frozen=True)
class Caller:
    """Who a request stands for: the role granted and what granted it, never the secret itself. `name` is the
    token's name, the JWT's subject or the HMAC key's id; `kind` "local" is the unauthenticated loopback caller.
    `tenant` is set when a tenants file maps the credential to one (`tenants.py`): that tenant's workspace serves it."""

    role: Role
    name: str | None = None
    kind: CallerKind = "token"
    tenant: str | None = None

    @property
    def actor(self) -> str | None:
        """How the audit trail names this caller (`token:<name>`, `jwt:<sub>`, `hmac:<key>`); None when unnamed."""
        return f"{self.kind}:{self.name}" if self.name else None


TokenLookup = Callable[[str], "Caller | Role | None"]


def allows(have: Role, need: Role) -> bool:
    """True when a caller holding `have` may use something that needs `need` (roles are ordered)."""
    return ROLES.index(have) >= ROLES.index(need)


class TokenAuthority:
    """Maps presented bearer tokens to roles. Compares in constant time; never logs or echoes a token."""

    def __init__(self, token: str | None = None, *, local_role: Role = "admin") -> None:
        self._token = token or None
        self._sources: list[TokenLookup] = []
        self._configured = self._token is not None
        self.local_role: Role = local_role

    @property
    def required(self) -> bool:
        """True when HTTP callers must present a token (one was configured, or a source holds some)."""
        return self._configured

    def add_source(self, source: TokenLookup, *, configured: bool = True) -> None:
        """Consult `source` for tokens; `configured` says whether it holds any (then every HTTP caller needs one)."""
        self._sources.append(source)
        self._configured = self._configured or configured

    def add_store(self, root: Path) -> None:
        """Consult the `parac token` store of the workspace at `root` (`parac.core.tokens`: re-read when the file
        changes, so a token created or revoked from the CLI counts in a running server); its callers are named by
        their token's name, never by the token or its hash."""
        from parac.core.tokens import TokenStore

        store = TokenStore(root)

        def lookup(presented: str) -> Caller | None:
            record = store.identify(presented)
            return Caller(record.role, record.name) if record is not None else None  # type: ignore[arg-type]

        self.add_source(lookup, configured=store.configured())

    def identify(self, presented: str) -> Caller | None:
        """The caller a presented token stands for, or None. The configured single token is an unnamed admin."""
        if self._token is not None and hmac.compare_digest(presented.encode(), self._token.encode()):
            return Caller("admin")
        for source in self._sources:
            found = source(presented)
            if found is not None:
                return found if isinstance(found, Caller) else Caller(found)
        return None
