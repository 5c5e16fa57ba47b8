"""``parac://runs`` (recent workflow runs) and ``parac://runs/{id}`` (one run: steps, outputs, gates), as JSON.

Read straight from the workspace's database, so runs started by the CLI, by another MCP client or by a process
that has since died all show, with their state as last committed; on the dbos engine, from its Postgres database
(whichever worker ran them).
"""

from __future__ import annotations

import json
from typing import Any

from typing_extensions import TypedDict

from parac.core.pages import MAX_LIMIT
from parac.core.workflows.checkpoints import RUN_STATUSES
from parac.core.workspace import Workspace
from parac.server.mcp.call import Call
from parac.server.mcp.faces import FaceError, Faces

from .workspace import agent_names, known

RECENT = 50
"""How many runs ``parac://runs`` lists, newest first."""
PAGED = "parac://runs{?limit,cursor,status,workflow,agent,since,until}"
"""Runs by page, filtered: the template `GET /api/v1/runs` and the dashboard read."""


class RunRow(TypedDict):
    """A run as the listings show it (``parac://runs``, ``GET /api/v1/runs``)."""

    run_id: str
    workflow: str
    status: str
    created_at: float
    finished_at: float | None
    error: str | None
    uri: str


class RunsPage(TypedDict):
    runs: list[RunRow]
    next_cursor: str | None


def _read(workspace: Workspace, run_id: str | None, page: tuple[int, str | None, bytes] | None = None,
          where: Any = None) -> str:
    """One run, or the recent runs: the newest RECENT as a list, or with `page` (limit, cursor, secret) a page of
    them that `where` (a `RunFilter`) lets through, ``{"runs": [...], "next_cursor": ...}``."""
    from parac.core.engines import dbos_runs
    from parac.core.store import connect_workspace
    from parac.core.workflows import checkpoints as cp
    from parac.core.workflows.engine import summarize

    shared = dbos_runs(workspace)
    if shared is not None:  # the dbos engine: runs live in its database, whichever worker ran them
        try:
            return json.dumps(_read_shared(shared, run_id, page, where), indent=2, ensure_ascii=False, default=str)
        finally:
            shared.close()
    conn = connect_workspace(workspace.root)
    try:
        cp.ensure_schema(conn)
        if run_id is None:
            limit, cursor, secret = page or (RECENT, None, b"")
            runs, next_cursor = cp.runs_page(conn, limit=limit, cursor=cursor, secret=secret, where=where)
            rows = [{**run.listed(), "uri": f"parac://runs/{run.run_id}"} for run in runs]
            data: Any = rows if page is None else {"runs": rows, "next_cursor": next_cursor}
        else:
            run = cp.find_run(conn, run_id)
            if run is None:
                raise FaceError(f'unknown workflow run "{run_id}" (see parac://runs)')
            from parac.core.costs import ensure_schema, step_usage

            data = {**summarize(conn, run_id).to_json(), "inputs": run.inputs, "created_at": run.created_at,
                    "finished_at": run.finished_at, "waiting": cp.waiting_approvals(conn, run_id),
                    "usage": step_usage(ensure_schema(conn), run_id)}
    finally:
        conn.close()
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def _read_shared(shared: Any, run_id: str | None, page: tuple[int, str | None, bytes] | None, where: Any) -> Any:
    """`_read` on the dbos engine (:class:`~parac.core.engines.dbos.DbosRuns`): the same shapes, the same
    filters."""
    if run_id is not None:
        return {**shared.status(run_id), "waiting": shared.waiting(run_id)}
    limit, cursor, _ = page or (RECENT, None, b"")
    runs, next_cursor = shared.runs(limit=limit, cursor=cursor, where=where)
    rows = [{**run, "finished_at": None, "uri": f"parac://runs/{run['run_id']}"} for run in runs]
    return rows if page is None else {"runs": rows, "next_cursor": next_cursor}


def _limit(limit: str | None) -> int:
    """A template's ``limit`` (text, as URIs carry it): RECENT when not given."""
    size = int(limit) if limit and limit.isdigit() else None
    if limit is not None and (size is None or not 1 <= size <= MAX_LIMIT):
        raise FaceError(f"limit must be a number from 1 to {MAX_LIMIT}, got {limit!r}")
    return size or RECENT


async def run_ids(call: Call, typed: str) -> list[str]:
    from parac.core.store import connect_workspace
    from parac.core.workflows import checkpoints as cp

    workspace = await call.workspace()
    conn = connect_workspace(workspace.root)
    try:
        return [run.run_id for run in cp.list_runs(conn, limit=RECENT) if run.run_id.startswith(typed)]
    finally:
        conn.close()


def register(faces: Faces) -> None:
    @faces.resource(
        "parac://runs",
        name="runs", title="Workflow runs",
        description="Recent workflow runs, newest first, with their status",
        mime_type="application/json",
    )
    async def runs(call: Call) -> str:
        return await call.to_thread(_read, await call.workspace(), None)

    @faces.template(
        "parac://runs/{id}",
        name="run", title="A workflow run",
        description=("A workflow run: its status, each step's status, output, error, attempts and cost, waiting"
                     " gates, and each step's model calls and tokens (usage)"),
        mime_type="application/json",
        complete={"id": run_ids},
    )
    async def run(call: Call, id: str) -> str:  # noqa: A002 - the URI template's parameter name
        return await call.to_thread(_read, await call.workspace(), id)

    @faces.template(
        "parac://agents/{name}/runs{?limit}",
        name="agent-runs", title="An agent's recent runs",
        description=(f"An agent's recorded runs, newest first (limit: default {RECENT}, at most {MAX_LIMIT}): each"
                     " with its model, status, cost, and the workflow run and step it was part of"),
        mime_type="application/json",
        complete={"name": agent_names},
    )
    async def agent_runs(call: Call, name: str, limit: str | None = None) -> str:
        from parac.core.replay import agent_runs as recorded

        workspace = await call.workspace()
        known("agent", name, workspace.agent_names())
        size = _limit(limit)
        rows = await call.to_thread(recorded, workspace, limit=size, agent=name)
        return json.dumps({"agent": name, "runs": rows}, indent=2, ensure_ascii=False, default=str)

    @faces.template(
        PAGED,
        name="runs-page", title="Workflow runs, by page",
        description=(
            f"Workflow runs a page at a time, newest first: {{runs, next_cursor}} (limit: default {RECENT}, at most"
            f" {MAX_LIMIT}; cursor: the next_cursor of the page before, which keeps the page's filter). Filters,"
            f" each optional: status (one of {', '.join(RUN_STATUSES)}), workflow (its name), agent (runs with a"
            " step that agent ran), since and until (7d, 12h, 30m back from now, or an ISO date or time, UTC)"
        ),
        mime_type="application/json",
    )
    async def runs_page(call: Call, limit: str | None = None, cursor: str | None = None, status: str | None = None,
                        workflow: str | None = None, agent: str | None = None, since: str | None = None,
                        until: str | None = None) -> str:
        from parac.core.pages import time_bound
        from parac.core.workflows.checkpoints import RunFilter

        size = _limit(limit)
        where = RunFilter(status=status or None, workflow=workflow or None, agent=agent or None,
                          since=time_bound("since", since), until=time_bound("until", until))
        page = (size, cursor or None, call.app.cursor_secret)
        return await call.to_thread(_read, await call.workspace(), None, page, where)
