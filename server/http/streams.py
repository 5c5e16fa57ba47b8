"""The routes that are not one tool call answered with JSON: an agent's source as written, and the SSE streams.

`GET /runs/{id}/events` reads a run's events from the workspace's audit trail (every `workflow.*` event the engine
sends goes there through the governance hooks, with the run id as its subject), so the stream is durable and the
same for a run this process executes, another process executes, or one that ended yesterday; on the dbos engine the
trail is the chain in Postgres the workers append to, and the run's status is read there too. Each event's SSE id
is its audit sequence number: a client that reconnects with `Last-Event-ID` gets exactly the events after it. The
stream ends with `done` once the run has finished (or gets there while watched).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .callers import call_for, require
from .problems import Problem, from_error

from .operations import OPERATIONS, PING_S, SEND_TIMEOUT_S

if TYPE_CHECKING:
    from .operations import Operations
    from .workspaces import Workspaces

OWN = {("POST", "/agents/{name}/runs")}
"""Routes of `operations.OPERATIONS` this module answers itself (it streams them)."""

CHAT_AGENTS = ("chat", "base")
"""The agent a chat runs when the request names none: the workspace's `chat` agent, else its `base`."""


def routes(workspaces: Workspaces, operations: Operations) -> list[Route]:
    async def agent_source(request: Request) -> Response:
        """The agent's file as written (the MCP resource `parac://agents/{name}/source`)."""
        call = call_for(request, workspaces)
        template = next(t for t in call.app.faces.templates if t.uri_template == "parac://agents/{name}/source")
        require(call, template.role, "GET /agents/{name}/source")
        name = request.path_params["name"]
        if name not in (await call.workspace()).agent_names():
            raise Problem(404, f'unknown agent "{name[:200]}"')
        try:
            content = await template.read(call, name=name)
        except Exception as error:
            raise from_error(error, "GET /agents/{name}/source") from None
        return Response(content, media_type="text/plain; charset=utf-8")

    async def run_events(request: Request) -> Response:
        from sse_starlette import EventSourceResponse

        call = call_for(request, workspaces)
        require(call, call.app.faces.tools["workflow_status"].role, "GET /runs/{run_id}/events")
        run_id = request.path_params["run_id"]
        root = await call.workspace()
        if await anyio.to_thread.run_sync(_run_status, root, run_id) is None:
            raise Problem(404, f'unknown workflow run "{run_id[:200]}"')
        given = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
        if given is not None and not given.isdigit():
            raise Problem(400, f"Last-Event-ID must be an event id this stream sent (a number), not {given[:50]!r}")
        return EventSourceResponse(_run_events(root, run_id, int(given or 0)), ping=PING_S, send_timeout=SEND_TIMEOUT_S)

    run_op = next(op for op in OPERATIONS if (op.method, op.path) in OWN)

    async def agent_runs(request: Request) -> Response:
        """JSON (the `run_agent` tool's result), or with `stream: true` / `Accept: text/event-stream` an SSE stream."""
        from .bodies import StreamFlags, checked

        call, face, arguments = await operations.prepare(run_op, request)
        assert face is not None
        flags = checked(StreamFlags, {k: v for k, v in (await operations.json_body(request) or {}).items()
                                       if k in StreamFlags.model_fields})
        if not (flags.stream or "text/event-stream" in request.headers.get("accept", "")):
            return JSONResponse(await operations.run(run_op, call, face, arguments))
        return operations.stream_run(call, face, arguments, run_op.what, flags.cancel_on_disconnect,
                                     show_thinking=True)

    async def chat(request: Request) -> Response:
        from .bodies import ChatRequest, checked

        call = call_for(request, workspaces)
        face = call.app.faces.tools["run_agent"]
        require(call, face.role, "POST /chat/stream")
        asked = checked(ChatRequest, await operations.json_body(request) or {})
        names = (await call.workspace()).agent_names()
        agent = asked.agent or next((name for name in CHAT_AGENTS if name in names), None)
        if agent is None or agent not in names:
            raise Problem(404, f'unknown agent "{asked.agent}"' if asked.agent else
                          "this workspace has no chat agent: add .parac/agents/chat.yaml, or name one as agent")
        arguments = {"agent": agent, "task": asked.task(), "model": asked.model, "max_iterations": None}
        return operations.stream_run(call, face, arguments, "POST /chat/stream", asked.cancel_on_disconnect,
                                     show_thinking=asked.show_thinking, temperature=asked.temperature)

    async def chat_models(request: Request) -> Response:
        from parac.server.doctor import model_status

        call = call_for(request, workspaces)
        require(call, "viewer", "GET /chat/models")
        await call.workspace()
        host = await call.host()
        return JSONResponse({"models": await anyio.to_thread.run_sync(model_status, host)})

    return [
        Route("/agents/{name}/source", agent_source, methods=["GET"]),
        Route("/agents/{name}/runs", agent_runs, methods=["POST"]),
        Route("/runs/{run_id}/events", run_events, methods=["GET"]),
        Route("/chat/stream", chat, methods=["POST"]),
        Route("/chat/models", chat_models, methods=["GET"]),
    ]


POLL_S = 0.2
END_WAIT_S = 2.0
END_ACTIONS = ("workflow.run.end", "workflow.run.cancelled")


def _run_status(workspace: Any, run_id: str) -> str | None:
    from parac.core.engines import dbos_runs
    from parac.core.store import connect_workspace
    from parac.core.workflows import checkpoints as cp

    runs = dbos_runs(workspace)
    if runs is not None:  # the dbos engine: the run is in its database, whichever worker runs it
        return _shared_run_status(runs, run_id)
    conn = connect_workspace(workspace.root)
    try:
        cp.ensure_schema(conn)
        run = cp.find_run(conn, run_id)
        return None if run is None else run.status
    finally:
        conn.close()


def _shared_run_status(runs: Any, run_id: str) -> str | None:
    """The run's status on the dbos engine, None when it is no run of the project's queue (another project's run on
    the same database is not found, so its audit entries are not streamed)."""
    from parac.core.diagnostics import ParacError

    try:
        return runs.status(run_id)["status"]
    except ParacError:  # no such run
        return None
    finally:
        runs.close()


async def _run_events(workspace: Any, run_id: str, after: int) -> AsyncIterator[dict[str, Any]]:
    """The run's audit entries after sequence number `after`, as they are committed, then `done`."""
    from parac.core.audit import AuditLog
    from parac.core.workflows.checkpoints import FINISHED

    log = AuditLog.for_workspace(workspace.root)
    scanned = after  # every entry up to here was looked at (most are other runs' and other calls')
    ended, waited = False, 0.0
    try:
        while True:
            status = await anyio.to_thread.run_sync(_run_status, workspace, run_id)
            entries = await anyio.to_thread.run_sync(lambda: list(log.entries(since=scanned + 1)))
            for entry in entries:
                scanned = entry.seq
                if entry.action.startswith("workflow.") and _about(entry.subject, run_id):
                    ended = ended or (entry.subject == run_id and entry.action in END_ACTIONS)
                    event = {"seq": entry.seq, "ts": entry.ts, "actor": entry.actor, "outcome": entry.outcome,
                             **entry.data}
                    yield {"event": entry.action, "id": str(entry.seq), "data": json.dumps(event, default=str)}
            # The engine sends a run's end event after committing its status: wait for it (briefly: a client that
            # resumes after the end, or a trail written by another process's slower writer, does not see it).
            if status in FINISHED and (ended or waited >= END_WAIT_S):
                yield {"event": "done", "data": json.dumps({"run_id": run_id, "status": status})}
                return
            if status in FINISHED:
                waited += POLL_S
            await anyio.sleep(POLL_S)
    finally:
        log.close()


def _about(subject: str, run_id: str) -> bool:
    """The run's own events and those of its sub-workflow runs (`RUN.STEP`)."""
    return subject == run_id or subject.startswith(run_id + ".")


def openapi_paths() -> list[tuple[str, str, dict[str, Any]]]:
    """OpenAPI entries of the routes this module answers beside `OPERATIONS` (the agent runs' SSE form is
    described with `run_agent`'s entry)."""
    from parac.server.doctor import ModelStatus
    from parac.server.mcp.faces import output_schema

    from .bodies import ChatRequest
    from .openapi import SSE

    sse = {"description": "Server-Sent Events", "content": {"text/event-stream": {"schema": SSE}}}
    models = {"type": "object", "properties": {"models": {"type": "array", "items": output_schema(ModelStatus)}},
              "required": ["models"]}
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    return [
        ("/runs/{run_id}/events", "get", {
            "operationId": "run_events", "summary": "A run's events as Server-Sent Events (Last-Event-ID resumes)",
            "parameters": [{**name, "name": "run_id"},
                           {"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"}}],
            "responses": {"200": sse}}),
        ("/agents/{name}/source", "get", {
            "operationId": "agent_source", "summary": "An agent's file as written", "parameters": [name],
            "responses": {"200": {"description": "the file", "content": {"text/plain": {"schema": {"type": "string"}}}}}}),
        ("/chat/stream", "post", {
            "operationId": "chat_stream", "summary": "A chat answered by an agent run, streamed", "x-parac-role": "operator",
            "requestBody": {"content": {"application/json": {"schema": ChatRequest.model_json_schema()}}},
            "responses": {"200": sse}}),
        ("/chat/models", "get", {
            "operationId": "chat_models", "summary": "Models in use, their providers and whether each is reachable",
            "responses": {"200": {"description": "models", "content": {"application/json": {"schema": models}}}}}),
    ]
