"""MCP faces of governance: verify the audit trail, explain a policy decision, read recent audit entries, and the
workspace's token store as a source of bearer tokens for the HTTP transport."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field
from typing_extensions import TypedDict

from parac.core.audit.schema import AuditEntry
from parac.server.mcp.call import Call
from parac.server.auth.roles import Caller
from parac.server.mcp.faces import FaceError, Faces
from parac.server.mcp.listings import Cursor, Limit, Since, Until

RECENT = 50


class ProblemRow(TypedDict):
    kind: str
    seq: int | None
    message: str


class VerifyResult(TypedDict):
    ok: bool
    entries: int
    last_seq: int
    last_hash: str
    keyed: bool
    problems: list[ProblemRow]
    warnings: list[str]


class AuditPage(TypedDict):
    entries: list[AuditEntry]  # the core's record, as `AuditEntry.to_dict()` gives it
    next_cursor: str | None


class PolicyDecision(TypedDict):
    tool: str
    agent: str | None
    workflow: str | None
    allowed: bool
    reason: str
    rule: str | None
    approval_required: bool
    rate_limit: str | None
    trace: list[str]


def register(faces: Faces) -> None:
    @faces.tool(output=VerifyResult, title="Verify the audit trail")
    async def audit_verify(call: Call, anchor: dict[str, Any] | None = None) -> VerifyResult:
        """Verify the workspace's audit trail: the hash chain, the signed head record and, when given, an anchor
        (as printed by `parac audit anchor`). Names the first bad entry and what is wrong with it."""
        root = (await call.workspace()).root
        report = await call.to_thread(_verify, root, anchor)
        return VerifyResult(**report)  # type: ignore[typeddict-item]

    @faces.tool(output=AuditPage, title="List audit entries")
    async def list_audit_entries(
        call: Call, limit: Limit = None, cursor: Cursor = None,
        actor: Annotated[str | None, Field(description="Only this actor's entries (as shown: token:ci, jwt:alice)")] = None,
        action: Annotated[str | None, Field(description="Only entries of this action: tool.call, llm.call, ...")] = None,
        subject: Annotated[str | None, Field(description="Only entries about this: a tool, a model, a run id")] = None,
        outcome: Annotated[str | None, Field(description="Only entries with this outcome: ok, error, denied, ...")] = None,
        since: Since = None, until: Until = None,
    ) -> AuditPage:
        """The audit trail a page at a time, newest first, filtered (every condition given must hold); pass the
        answer's next_cursor for older entries: it keeps the filter."""
        from parac.core.audit.log import AuditFilter
        from parac.core.pages import DEFAULT_LIMIT, MAX_LIMIT, make_cursor, read_cursor, time_bound

        size = DEFAULT_LIMIT if limit is None else limit
        if not 1 <= size <= MAX_LIMIT:
            raise FaceError(f"limit must be between 1 and {MAX_LIMIT}, got {size}")
        where = AuditFilter(actor=actor or None, action=action or None, subject=subject or None,
                            outcome=outcome or None, since=time_bound("since", since),
                            until=time_bound("until", until))
        listing, secret = where.listing("list_audit_entries"), call.app.cursor_secret
        before = int(read_cursor(cursor, listing=listing, secret=secret)) if cursor else None
        root = (await call.workspace()).root
        entries = await call.to_thread(_page, root, before, size + 1, where)
        more = len(entries) > size
        rows = entries[:size]
        next_cursor = make_cursor(str(rows[-1]["seq"]), listing=listing, secret=secret) if more else None
        return AuditPage(entries=rows, next_cursor=next_cursor)  # type: ignore[typeddict-item]

    @faces.tool(output=PolicyDecision, title="Check a tool against the policies")
    async def policy_check(call: Call, tool: str, agent: str | None = None, workflow: str | None = None) -> PolicyDecision:
        """Explain whether the policies let `agent` (none: a direct call) use `tool` inside `workflow`, with every
        rule that was looked at."""
        workspace = await call.workspace()
        decision = workspace.current_policies().decide(tool, agent=agent, workflow=workflow)
        return PolicyDecision(**decision.to_dict())  # type: ignore[typeddict-item]

    @faces.resource("parac://audit/recent", name="audit-recent", title="Recent audit entries", mime_type="application/json",
                    description=f"The latest {RECENT} audit entries, newest last")
    async def recent(call: Call) -> str:
        root = (await call.workspace()).root
        entries = await call.to_thread(_recent, root)
        return json.dumps(entries, ensure_ascii=False, indent=2)

    store = _LazyTokenStore(faces.start)
    faces.token_source(store.identify, store.configured)


def _verify(root: Path, anchor: dict[str, Any] | None) -> dict[str, Any]:
    from parac.core.audit import AuditLog

    log = AuditLog.for_workspace(root)
    try:
        return log.verify(anchor=anchor).to_dict()
    finally:
        log.close()


def _page(root: Path, before: int | None, count: int, where: Any) -> list[dict[str, Any]]:
    from parac.core.audit import AuditLog

    log = AuditLog.for_workspace(root)
    try:
        return [entry.to_dict() for entry in log.before(before, count, where)]
    finally:
        log.close()


def _recent(root: Path) -> list[dict[str, Any]]:
    from parac.core.audit import AuditLog

    log = AuditLog.for_workspace(root)
    try:
        return [entry.to_dict() for entry in log.tail(RECENT)]
    finally:
        log.close()


class _LazyTokenStore:
    """The token store of the workspace the server serves (``--workspace``, else found as `parac` finds it), opened
    on first use."""

    def __init__(self, start: Path | None) -> None:
        self._start = start
        self._store: Any = None

    def _get(self) -> Any:
        if self._store is None:
            from parac.core.diagnostics import ParacError
            from parac.core.tokens import TokenStore
            from parac.core.workspace import find_root

            try:
                self._store = TokenStore(find_root(self._start))
            except ParacError:
                return None
        return self._store

    def identify(self, presented: str) -> Caller | None:
        """The role and name of a token from the store (the name becomes the caller's audit actor)."""
        store = self._get()
        record = store.identify(presented) if store is not None else None
        return Caller(record.role, record.name) if record is not None else None

    def configured(self) -> bool:
        store = self._get()
        return store is not None and store.configured()
