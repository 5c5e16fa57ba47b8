"""Who may call what: the three roles of an MCP caller, and the bearer tokens that grant them.

Every MCP tool, resource and prompt declares the role it needs (`viewer` reads, `operator` runs agents and
workflows, `admin` changes policy and approves). A stdio caller is the local user who spawned the server and gets
`TokenAuthority.local_role` (admin unless changed). An HTTP caller gets the role its bearer token maps to; without
configured tokens, HTTP is loopback-only and callers get the local role too.

The governance area adds token sources from a face module: `faces.token_source(lookup, configured)` in its
`register(faces)`, where `lookup` maps a presented token to a `Caller` (its role and the token's name) or just a
role (None when it does not know it) and `configured()` says whether any tokens exist. The HTTP transport adds them
to its `TokenAuthority` when it starts. A named token's callers are `token:<name>` in the audit trail; callers
with a JWT access token from the configured OAuth issuer (`oauth.py`) are `jwt:<sub>`.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")


@dataclass(frozen=True)
class Caller:
    """Who presented a token: the role it grants and, for tokens from a store, the token's name (never the token),
    or for a JWT its subject (`kind` "jwt")."""

    role: Role
    name: str | None = None
    kind: Literal["token", "jwt"] = "token"

    @property
    def actor(self) -> str | None:
        """How the audit trail names this caller (`token:<name>`, `jwt:<sub>`); None for the unnamed token."""
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

    def identify(self, presented: str) -> Caller | None:
        """The caller a presented token stands for, or None. The configured single token is an unnamed admin."""
        if self._token is not None and hmac.compare_digest(presented.encode(), self._token.encode()):
            return Caller("admin")
        for source in self._sources:
            found = source(presented)
            if found is not None:
                return found if isinstance(found, Caller) else Caller(found)
        return None
