"""The MCP lists (`tools/list`, `resources/list`, `resources/templates/list`, `prompts/list`), answered a page at a
time from a cache of their wire form.

Building a list is the expensive part of answering it (every tool's JSON Schema comes from pydantic; providers ask
the plugins and the workspace), and what it shows changes only with the registry or the workspace. So each list
is built once per role and kept, with the stamp of the registry and workspace it was built from
(`ParacApp.stamp`): a plugin registering something, or the watcher refreshing a file (a policy, an agent), moves
the stamp and the next request rebuilds. Nothing expires by time.

Pages are cut from the cached list by `parac.core.pages` (sorted keys, opaque cursors); a cursor this server did
not issue for that list is answered with -32602.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from parac.core.pages import DEFAULT_LIMIT, MAX_LIMIT, CursorError, page

Limit = Annotated[
    Annotated[int, Field(ge=1, le=MAX_LIMIT)] | None,
    Field(description=f"At most this many items (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})"),
]
"""The `limit` parameter of a listing tool."""
Cursor = Annotated[str | None, Field(description="The next_cursor of the page before; omit it for the first page")]
"""The `cursor` parameter of a listing tool."""
Since = Annotated[str | None, Field(description="Only items from then on: 7d, 12h or 30m back from now, or an ISO"
                                                " date or time (UTC unless it says), e.g. 2026-11-01")]
"""The `since` filter of a listing tool (`parac.core.pages.time_bound` reads it)."""
Until = Annotated[str | None, Field(description="Only items before then, in the forms `since` takes")]
"""The `until` filter of a listing tool."""

Build = Callable[[], Awaitable[list[tuple[str, Any]]]]
"""Builds a list: (sort key, SDK model of the item) for every item the caller may see."""


@dataclass
class Built:
    stamp: Hashable
    keys: list[str]
    items: list[dict[str, Any]]


class Listings:
    """The lists one server answers, per (method, role); `secret` signs their cursors (`ParacApp.cursor_secret`)."""

    def __init__(self, stamp: Callable[[], Hashable], secret: bytes) -> None:
        self.stamp = stamp
        self.secret = secret
        self._built: dict[tuple[str, str], Built] = {}

    async def answer(
        self, method: str, result: type[Any], field: str, role: str, cursor: str | None, build: Build
    ) -> dict[str, Any]:
        """The page of `method`'s list that `cursor` points at, as the wire form of a `result` (`ListToolsResult`,
        ...) whose list is `field` (`tools`, ...)."""
        built = self._built.get((method, role))
        if built is None or built.stamp != self.stamp():
            pairs = sorted(await build(), key=lambda pair: pair[0])
            built = Built(self.stamp(), [key for key, _ in pairs], [wire(item) for _, item in pairs])
            self._built[(method, role)] = built
        try:
            span = page(built.keys, listing=method, cursor=cursor, limit=None, secret=self.secret)
        except CursorError as error:
            import mcp_types as types  # here: the face modules import this module's parameter types, and the REST
            from mcp.shared.exceptions import MCPError  # routes answer through them without the SDK

            raise MCPError(code=types.INVALID_PARAMS, message=str(error)) from None
        answer = {**_envelope(result, field), field: built.items[span.start : span.stop]}
        if span.next_cursor is not None:
            answer["nextCursor"] = span.next_cursor
        return answer


@functools.cache
def _envelope(result: type[Any], field: str) -> dict[str, Any]:
    """What an empty `result` carries besides its list (the 2026-07-28 era's cache hints and result type; the SDK
    drops what an older era's clients do not know)."""
    out = wire(result.model_validate({field: []}))
    del out[field]
    return out


def wire(model: Any) -> dict[str, Any]:
    """An SDK model as it goes on the wire."""
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)
