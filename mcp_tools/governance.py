"""MCP faces of governance: verify the audit trail, explain a policy decision, read recent audit entries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field
from typing_extensions import TypedDict

from parac.core.audit.schema import AuditEntry
from parac.server.mcp.call import Call
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
