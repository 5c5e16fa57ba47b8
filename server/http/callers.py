"""Who is calling: the one place a route learns its caller.

The authentication middleware (`parac.server.auth`) puts the `Caller` it established at `request.state.caller`.
Without one (no credential configured, served on loopback), the caller is the local user, as parac's loopback MCP
HTTP transport treats an unauthenticated request: the admin role.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from parac.server.mcp.roles import Caller, Role, allows

from .problems import Problem

if TYPE_CHECKING:
    from starlette.requests import Request

    from parac.server.mcp.call import Call

    from .workspaces import Workspaces

LOCAL = Caller("admin")


def caller_of(request: Request) -> Caller:
    """The caller the authentication layer established; else, when the server has bearer tokens (those of the
    MCP endpoint: `PARAC_MCP_TOKEN`, `parac token`), the caller the request's token names (401 without one);
    else the local caller."""
    caller = getattr(request.state, "caller", None)
    if caller is not None:
        return caller
    tokens = getattr(request.app.state, "tokens", None)
    if tokens is None or not tokens.required:
        return LOCAL
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    found = tokens.identify(presented.strip()) if scheme.lower() == "bearer" and presented.strip() else None
    if found is None:
        reason = "unknown token" if presented.strip() else "this server needs 'Authorization: Bearer <token>'"
        raise Problem(401, reason, headers={"www-authenticate": 'Bearer realm="parac"'})
    request.state.caller = found
    return found


def actor_of(caller: Caller) -> str:
    """How the audit trail names the caller: its credential's name, else the HTTP face and its role."""
    return caller.actor or f"http:{caller.role}"


def call_for(request: Request, workspaces: Workspaces) -> Call:
    """The request as an MCP face `Call` (the caller's role, actor and tenant; their workspace), which the tools
    and resources a route runs take."""
    from parac.server.mcp.call import Call

    caller = caller_of(request)
    app = workspaces.for_caller(caller)
    return Call(app, None, caller.role, "http", actor=actor_of(caller), tenant=getattr(caller, "tenant", None))


def require(call: Call, role: Role, what: str) -> None:
    """403 unless the caller holds `role` (the same role table as the MCP face: `roles.allows`)."""
    if not allows(call.role, role):
        raise Problem(403, f"{what} needs the {role} role; this caller has {call.role}")
