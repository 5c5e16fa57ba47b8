"""Who is calling: the one place a route learns its caller.

The authentication middleware (`parac.server.auth.middleware.Authenticate`) puts the `Caller` it established at
`request.state.caller`: the credential's, or with none configured on loopback the local user (admin), as parac's
loopback MCP HTTP transport treats an unauthenticated request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from parac.server.auth.roles import Caller, Role, allows
from parac.server.mcp.call import Call

from .problems import Problem

if TYPE_CHECKING:
    from starlette.requests import Request

    from .workspaces import Workspaces

LOCAL = Caller("admin", kind="local")


def caller_of(request: Request) -> Caller:
    """The caller `parac.server.auth.Authenticate` established (it sits in front of every route), else the local
    caller (an app served without it, as in-process tests do)."""
    return request.scope.get("state", {}).get("caller") or LOCAL  # the scope's state, without making `request.state`


def actor_of(caller: Caller) -> str:
    """How the audit trail names the caller: its credential's name, else the HTTP face and its role."""
    return caller.actor or f"http:{caller.role}"


def call_for(request: Request, workspaces: Workspaces) -> Call:
    """The request as an MCP face `Call` (the caller's role, actor and tenant; their workspace), which the tools
    and resources a route runs take."""
    caller = caller_of(request)
    return Call(workspaces.for_caller(caller), None, caller.role, "http", actor=actor_of(caller), tenant=caller.tenant)


def require(call: Call, role: Role, what: str) -> None:
    """403 unless the caller holds `role` (the same role table as the MCP face: `roles.allows`)."""
    if not allows(call.role, role):
        raise Problem(403, f"{what} needs the {role} role; this caller has {call.role}")
