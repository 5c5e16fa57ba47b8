"""``parac://costs``: the cost ledger at a glance (totals by model and by agent, and the latest calls), as JSON."""

from __future__ import annotations

import json

from parac.core.workspace import Workspace
from parac.server.mcp.call import Call
from parac.server.mcp.faces import Faces

RECENT = 20
"""How many of the latest ledger rows the resource shows."""


def summary(workspace: Workspace) -> str:
    from parac.core.costs import ensure_schema, recent
    from parac.core.runtime import cost_report
    from parac.core.store import connect_workspace

    conn = ensure_schema(connect_workspace(workspace.root))
    try:
        data = {
            "by_model": cost_report(workspace, by="model", conn=conn),
            "by_agent": cost_report(workspace, by="agent", conn=conn),
            "recent": recent(conn, RECENT),
        }
    finally:
        conn.close()
    return json.dumps(data, indent=2, default=str)


def register(faces: Faces) -> None:
    @faces.resource(
        "parac://costs",
        name="costs", title="Costs",
        description="Model-call costs: totals by model and by agent, and the latest calls.",
        mime_type="application/json",
    )
    async def read_costs(call: Call) -> str:
        workspace = await call.workspace()
        return await call.to_thread(summary, workspace)
