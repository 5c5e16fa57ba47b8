"""Bearer tokens for the MCP HTTP transport: named, each with a role, stored only as hashes.

A token is 32 random bytes (``parac_`` + URL-safe base64), shown once when it is created. The store,
``.parac/state/tokens.json`` (private state: ignored by git, out of reach of file tools), keeps its SHA-256, name,
role and creation time. A slow password hash would add nothing: the token has 256 bits of entropy, so its hash
cannot be searched, and a fast hash keeps every HTTP request cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import ParacBaseError

ROLES = ("viewer", "operator", "admin")
TOKEN_FILE = Path(".parac") / "state" / "tokens.json"
PREFIX = "parac_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


class TokenError(ParacBaseError, ValueError):
    """A token request that cannot be honoured (bad name or role, duplicate name, unknown token)."""


@dataclass(frozen=True)
class TokenRecord:
    name: str
    role: str
    sha256: str
    created: str

    def public(self) -> dict[str, Any]:
        """What may be shown: everything but the hash."""
        return {"name": self.name, "role": self.role, "created": self.created}


class TokenStore:
    """The tokens of one workspace. Reads the file on each lookup whose file changed, so a token created or revoked
    from the CLI takes effect in a running server."""

    def __init__(self, root: str | Path) -> None:
        self.path = Path(root) / TOKEN_FILE
        self._stamp: tuple[int, int] | None = None
        self._records: list[TokenRecord] = []

    def records(self) -> list[TokenRecord]:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._records = None, []
            return []
        stamp = (info.st_mtime_ns, info.st_size)
        if stamp != self._stamp:
            self._records = _read(self.path)
            self._stamp = stamp
        return self._records

    def configured(self) -> bool:
        return bool(self.records())

    def identify(self, presented: str) -> TokenRecord | None:
        """The record of a presented token, compared in constant time, or None."""
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).hexdigest()
        found = None
        for record in self.records():
            if hmac.compare_digest(digest, record.sha256):
                found = record
        return found

    def create(self, name: str, role: str) -> tuple[TokenRecord, str]:
        """A new token (returned once, in clear) and its record, saved hashed."""
        if role not in ROLES:
            raise TokenError(f'role must be one of {", ".join(ROLES)}, not "{role}"')
        if not _NAME.fullmatch(name):
            raise TokenError(f'token name "{name}" must be letters, digits, _ . @ - (at most 64)')
        records = self.records()
        if any(record.name == name for record in records):
            raise TokenError(f'a token named "{name}" exists; revoke it first or pick another name')
        token = PREFIX + secrets.token_urlsafe(32)
        record = TokenRecord(name, role, hashlib.sha256(token.encode()).hexdigest(),
                             time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        self._write([*records, record])
        return record, token

    def revoke(self, name: str) -> TokenRecord:
        records = self.records()
        kept = [record for record in records if record.name != name]
        if len(kept) == len(records):
            raise TokenError(f'no token named "{name}"')
        self._write(kept)
        return next(record for record in records if record.name == name)

    def _write(self, records: list[TokenRecord]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"tokens": [asdict(record) for record in records]}, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        self._stamp = None


def _read(path: Path) -> list[TokenRecord]:
    """The records of a token file; a damaged file holds no valid token (so HTTP callers are refused)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [
            TokenRecord(str(item["name"]), str(item["role"]), str(item["sha256"]), str(item.get("created", "")))
            for item in data["tokens"]
            if item.get("role") in ROLES
        ]
    except (OSError, ValueError, KeyError, TypeError):
        return [TokenRecord("<damaged token file>", "viewer", "", "")]
