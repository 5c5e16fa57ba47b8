"""Pages of a listing, and the opaque cursors that say where the next page starts.

Every listing (MCP `tools/list` and its siblings, the listing tools, the CLI's ``--json`` listings) is sorted by a
unique key, and a cursor names the last key a page held. The next page starts after that key, wherever it now
sits, so a walk visits every item that exists throughout it exactly once even when items come and go meanwhile
(an offset would skip or repeat items then).

A cursor is ``base64url(json [listing, last key]) "." mac``: the listing it belongs to, so a cursor of one list is
refused by another, and a MAC under a key its issuer holds, so a cursor that was altered, made up, or issued by
another server process (a stale one, after a restart) is refused with :class:`CursorError` rather than silently
starting somewhere. A cursor carries only a position: nothing in it is secret.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass

from .diagnostics import ParacError

DEFAULT_LIMIT = 100
"""Items per page when the caller does not ask: all of a usual workspace's tools (51 today) fit in one."""
MAX_LIMIT = 1000
"""The most a caller may ask for in one page."""
MAX_CURSOR = 1024
"""Longer than any cursor this module writes (keys are names and URIs): a longer one is refused unread."""
MAC_BYTES = 12


class CursorError(ParacError):
    """A cursor that this listing did not issue (made up, altered, from another list or another server)."""


class FilterError(ParacError):
    """A listing's filter that cannot be applied (an unknown status, a time that cannot be read): nothing listed."""


class ListingFilter:
    """The conditions of a filtered listing (a frozen dataclass of optional fields; None: any). A window's ends,
    ``since`` and ``until``, must be in order."""

    def __post_init__(self) -> None:
        since, until = getattr(self, "since", None), getattr(self, "until", None)
        if since is not None and until is not None and until <= since:
            raise FilterError("until must be later than since: this window holds nothing")

    def key(self) -> str:
        """The conditions as text: a cursor carries it, so that it continues only the listing it came from. The
        time window is left out: `7d` ends somewhere else on the next page's request, and a cursor's position
        holds in any window."""
        return " ".join(f"{name}={value!r}" for name, value in vars(self).items()
                        if value is not None and name not in ("since", "until"))

    def listing(self, name: str) -> str:
        """The listing's name for its cursors: ``name``, and the conditions when there are any."""
        return f"{name} where {self.key()}" if self.key() else name


def time_bound(name: str, text: str | None, now: float | None = None) -> float | None:
    """A listing's ``since``/``until`` as a Unix time: ``7d``, ``12h``, ``30m`` back from now, or an ISO date or
    time (UTC when no zone); None when not given. `FilterError` names the field and the forms it takes."""
    from .costs import parse_since

    if text is None or not text.strip():
        return None
    try:
        return parse_since(text, now)
    except ValueError:
        shown = text if len(text) <= 80 else text[:80] + "..."
        raise FilterError(f'{name}: cannot read "{shown}"; expected a duration back from now like 7d, 12h or 30m,'
                          " or a date or time like 2026-11-01 or 2026-11-01T09:30 (UTC unless it says)") from None


@dataclass(frozen=True)
class Span:
    """Where a page sits in the listing's sorted keys: ``keys[start:stop]``, and the cursor of the page after it."""

    start: int
    stop: int
    next_cursor: str | None


def page(keys: Sequence[str], *, listing: str, cursor: str | None, limit: int | None, secret: bytes) -> Span:
    """The page of sorted, unique ``keys`` that ``cursor`` (None: the first page) points at, at most ``limit`` long.

    Raises :class:`CursorError` for a cursor ``secret`` did not sign for ``listing``, and ``ValueError`` for a
    limit outside 1..MAX_LIMIT.
    """
    size = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= size <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, got {size}")
    start = 0 if cursor is None else bisect.bisect_right(keys, read_cursor(cursor, listing=listing, secret=secret))
    stop = min(start + size, len(keys))
    next_cursor = make_cursor(keys[stop - 1], listing=listing, secret=secret) if stop < len(keys) else None
    return Span(start, stop, next_cursor)


def make_cursor(after: str, *, listing: str, secret: bytes) -> str:
    payload = base64.urlsafe_b64encode(json.dumps([listing, after], separators=(",", ":")).encode()).rstrip(b"=")
    return f"{payload.decode()}.{_mac(secret, payload)}"


def read_cursor(cursor: str, *, listing: str, secret: bytes) -> str:
    """The last key of the page ``cursor`` follows; CursorError unless ``secret`` signed it for ``listing``."""
    refused = CursorError(
        f"invalid cursor for {listing}: not one that listing gave out (made up, altered, from another listing or an"
        " earlier server); list again from the start"
    )
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR or not cursor.isascii():
        raise refused
    payload, dot, mac = cursor.partition(".")
    if not dot or not hmac.compare_digest(mac, _mac(secret, payload.encode())):
        raise refused
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        raise refused from None
    if not (isinstance(data, list) and len(data) == 2 and data[0] == listing and isinstance(data[1], str)):
        raise refused
    return data[1]


def _mac(secret: bytes, payload: bytes) -> str:
    digest = hmac.new(secret, payload, hashlib.sha256).digest()[:MAC_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
