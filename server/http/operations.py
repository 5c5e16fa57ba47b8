"""The REST routes that are MCP tools (or resource templates) under another name: one table, one endpoint.

A REST request is translated into the arguments of the tool the MCP face serves for the same operation
(`GET /api/v1/agents/{name}` is `get_agent(name)`), checked by that tool's own arguments model, and run through
the same path as an MCP `tools/call` (`parac.server.mcp.call.governed`: the governance hooks, one audit entry naming
the caller). So the role a route needs is the tool's (`faces.tool(role=...)`), the request schema is the tool's
input schema and the response schema its output schema: nothing is said twice, and a rule changed for MCP is
changed for HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from parac.server.mcp.call import Call, governed, offer

from .callers import call_for, require
from .problems import Problem, from_error

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from parac.core.providers import TextSink
    from parac.core.runtime import AgentResult, EventSink, StepSink
    from parac.server.mcp.app import ParacApp
    from parac.server.mcp.faces import ResourceFace, TemplateFace, ToolFace

    from .workspaces import Workspaces

Found = Callable[["Call", dict[str, Any]], Awaitable[str | None]]
"""Says why a request names something that does not exist (the 404's detail), or None when it exists."""

MAX_ECHOED = 200
PING_S = 15
"""An SSE comment this often keeps proxies from closing a quiet stream."""
SEND_TIMEOUT_S = 30
"""A client that takes no event for this long is dropped (a stalled reader must not hold a stream open for ever)."""


@dataclass(frozen=True)
class Operation:
    """`METHOD /api/v1PATH` answered by the MCP tool `tool` (or, with `template`, by reading that resource template
    or resource).

    Path parameters become the tool's arguments of the same name unless `rename` says otherwise; `query` names the
    arguments read from the query string; the JSON body (an object) gives the others, or, with
    `body="arguments"`, is the `arguments` of a plugin tool. `fixed` are arguments the route sets itself."""

    method: str
    path: str
    tool: str
    summary: str
    query: tuple[str, ...] = ()
    body: Literal["fields", "arguments"] | None = None
    rename: dict[str, str] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)
    found: Found | None = None
    template: str | None = None
    ignored: tuple[str, ...] = ()
    """Body fields the route itself reads (`stream`), not passed to the tool."""
    status: int = 200
    plugin: str | None = None
    """A plugin's tool (`memory_add`) that answers the route instead of a face tool: called as `POST
    /tools/{name}/call` calls it (the policies, one audit entry), its arguments checked by its own schema."""
    response: str | None = None
    """What the answer is, for /openapi.json, where no tool's output schema says it: a resource's type, as
    `module:Name` (imported when the document is made, not when the server starts)."""

    @cached_property
    def what(self) -> str:
        return f"{self.method} {self.path}"


def _agent(argument: str) -> Found:
    """The 404 check of a route naming an agent in `argument`."""

    async def found(call: Call, arguments: dict[str, Any]) -> str | None:
        workspace, name = await call.workspace(), arguments[argument]
        return None if workspace.has_agent(name) else _unknown("agent", name, workspace.agent_names())

    return found


async def _workflow(call: Call, arguments: dict[str, Any]) -> str | None:
    from parac.mcp_tools.workspace import workflow_entries

    return _unknown("workflow", arguments["name"], workflow_entries(await call.workspace()))


def _unknown(kind: str, name: str, known: Any) -> str | None:
    if name in known:
        return None
    from parac.core.diagnostics import suggestion

    shown = name if len(name) <= MAX_ECHOED else f"{name[:MAX_ECHOED]}... ({len(name)} characters)"
    return f'unknown {kind} "{shown}"{suggestion(name, list(known)) if len(name) <= MAX_ECHOED else ""}'


PAGE = ("limit", "cursor")
RUN_FILTERS = ("status", "workflow", "agent", "since", "until")
AUDIT_FILTERS = ("actor", "action", "subject", "outcome", "since", "until")

OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/agents", "list_agents", "List agents", query=PAGE),
    Operation("GET", "/agents/{name}", "get_agent", "An agent, resolved, with its chain and provenance",
              found=_agent("name")),
    Operation("POST", "/agents/{name}/runs", "run_agent", "Run an agent (JSON, or SSE with stream or Accept)",
              body="fields", rename={"name": "agent"}, found=_agent("agent"),
              ignored=("stream", "cancel_on_disconnect")),
    Operation("GET", "/workflows", "list_workflows", "List workflows", query=PAGE),
    Operation("GET", "/workflows/{name}", "get_workflow", "A workflow as parsed, with its problems", found=_workflow),
    Operation("POST", "/workflows/{name}/plan", "plan_workflow", "Estimate a run and check it against the budgets",
              body="fields", found=_workflow),
    Operation("POST", "/workflows/{name}/runs", "run_workflow", "Start a run; answers at once with its id",
              body="fields", fixed={"wait": False}, found=_workflow, status=202),
    Operation("GET", "/runs", "runs", "Workflow runs, newest first, filtered by status, workflow, agent, time",
              query=(*PAGE, *RUN_FILTERS), template="parac://runs{?limit,cursor,status,workflow,agent,since,until}",
              response="parac.resources.runs:RunsPage"),
    Operation("GET", "/runs/{run_id}", "workflow_status", "A run: its status and each step's"),
    Operation("POST", "/runs/{run_id}/steps/{step}/approve", "approve_step", "Approve the gate a run waits at",
              body="fields"),
    Operation("POST", "/runs/{run_id}/steps/{step}/reject", "reject_step", "Reject the gate a run waits at",
              body="fields"),
    Operation("POST", "/runs/{run_id}/steps/{step}/answer", "answer_task",
              "Answer a human task a run waits at, with data its form accepts", body="fields"),
    Operation("GET", "/tasks", "workflow_tasks", "Open human tasks, oldest first", query=("role", "run_id")),
    Operation("POST", "/runs/{run_id}/cancel", "cancel_run", "Cancel a run"),
    Operation("POST", "/runs/{run_id}/resume", "resume_run", "Resume a stopped run", fixed={"wait": False},
              status=202),
    Operation("GET", "/costs", "cost_report", "What model calls cost, grouped", query=("by", "since")),
    Operation("GET", "/budgets", "budget_status", "Every budget in force and what is left of it"),
    Operation("PUT", "/budgets/{kind}", "set_budget", "Set (usd null: remove) a budget that overrides the files",
              body="fields"),
    Operation("GET", "/audit", "list_audit_entries",
              "The audit trail, newest first, filtered by actor, action, subject, outcome, time",
              query=(*PAGE, *AUDIT_FILTERS)),
    Operation("GET", "/audit/verify", "audit_verify", "Verify the audit trail"),
    Operation("GET", "/tools", "list_tools", "Tools that plugins registered", query=PAGE),
    Operation("POST", "/tools/{name}/call", "", "Call a plugin tool under the workspace's policies",
              body="arguments"),
    Operation("GET", "/plugins", "list_plugins", "Loaded plugins", query=PAGE),
    Operation("GET", "/skills", "list_skills", "List skills", query=PAGE),
    Operation("POST", "/policy/check", "policy_check", "Explain a policy decision", body="fields"),
    Operation("POST", "/memory", "", "Remember a fact in a namespace of the workspace's memory", body="fields",
              plugin="memory_add", status=201),
    Operation("POST", "/memory/search", "", "Search memory, best match first (plain words, or FTS5 with fts)",
              body="fields", plugin="memory_search"),
    Operation("POST", "/memory/forget", "", "Forget memory entries by id or a whole namespace", body="fields",
              plugin="memory_forget"),
    Operation("GET", "/memory/namespaces", "memory_namespaces", "Memory namespaces with their entry counts",
              template="parac://memory/namespaces", response="parac.resources.memory:Namespaces"),
    Operation("GET", "/memory/namespaces/{name}", "memory_namespace", "The newest entries of a memory namespace",
              template="parac://memory/namespace/{name}", response="parac.resources.memory:Entries"),
    Operation("GET", "/memory/entries/{id}", "memory_entry", "One memory entry",
              template="parac://memory/entries/{id}", response="parac.core.memory:MemoryEntry"),
    Operation("POST", "/runs/{run_id}/replay", "replay_run", "Replay a finished run from its record ($0)"),
    Operation("POST", "/runs/{run_id}/fork", "fork_run", "Fork a finished run from a step (a new run)",
              body="fields", status=201),
    Operation("GET", "/runs/{run_a}/diff/{run_b}", "diff_runs", "Compare two workflow runs step by step"),
    Operation("POST", "/agent-runs/{agent_run}/replay", "replay_agent_run", "Replay a finished agent run ($0)"),
)


class Operations:
    """Serves `OPERATIONS` for the workspaces of one server."""

    def __init__(self, workspaces: Workspaces) -> None:
        self.workspaces = workspaces
        self.background: TaskGroup | None = None
        """The server's task group (set by the app's lifespan): streamed runs whose client may leave live here."""

    def endpoint(self, op: Operation) -> Endpoint:
        return Endpoint(self, op)

    async def prepare(self, op: Operation, request: Request) -> tuple[Call, ToolFace | None, dict[str, Any]]:
        """The caller's `Call`, the tool, and its checked arguments: 403, 422 or 404 when the request cannot run."""
        call = call_for(request, self.workspaces)
        face: ToolFace | None = None
        if op.template is not None:
            role = self.template(op, call.app).role
        else:
            face = call.app.faces.tools[op.tool] if op.tool else await self.plugin_tool(op, call, request)
            role = face.role
        require(call, role, op.what)
        raw, where = self.from_target(op, request) if op.body is None else await self.gather(op, request)
        if face is None:
            return call, None, raw
        arguments = self.validate(face, raw, where)
        if op.found is not None:
            missing = await op.found(call, arguments)
            if missing is not None:
                raise Problem(404, missing)
        return call, face, arguments

    async def plugin_tool(self, op: Operation, call: Call, request: Request) -> ToolFace:
        """The plugin tool `op` names (`op.plugin`), or the path does (`POST /tools/{name}/call`); 404 if none."""
        from parac.mcp_tools.registry import plugin_tool

        name = op.plugin or request.path_params["name"]
        host = await call.host()
        try:
            tool = host.tool(name)
        except Exception as error:
            raise Problem(404, str(error)) from None
        return plugin_tool(name, tool, host.registry.catalog.tools[name].origin)

    async def gather(self, op: Operation, request: Request) -> tuple[dict[str, Any], dict[str, str]]:
        """The tool's arguments from the path, the query and the body, and where each came from (for 422s)."""
        raw, where = self.from_target(op, request)
        body = await self.json_body(request)
        if op.body == "arguments":
            return ({} if body is None else body), {}
        for name, value in (body or {}).items():
            if name in op.ignored:
                continue
            if name in where or name in op.fixed:
                raise Problem(422, f'"{name}" is set by the route ({op.what}), not by the body',
                              errors=[{"loc": ["body", name], "msg": "set by the route", "type": "extra_forbidden"}])
            raw[name], where[name] = value, "body"
        return raw, where

    def from_target(self, op: Operation, request: Request) -> tuple[dict[str, Any], dict[str, str]]:
        """The arguments the path and the query give (all a bodiless operation has: no coroutine to read them)."""
        raw: dict[str, Any] = dict(op.fixed)
        where: dict[str, str] = {}
        for name, value in request.path_params.items():
            name = op.rename.get(name, name)
            raw[name], where[name] = value, "path"
        if request.scope["query_string"]:  # most requests have none to parse
            query = request.query_params
            for name in op.query:
                if name in query:
                    raw[name], where[name] = query[name], "query"
            unknown = sorted(set(query) - set(op.query))
            if unknown:
                raise Problem(422, f'unknown query parameter "{unknown[0]}"; {op.what} takes: '
                              f'{", ".join(op.query) or "none"}', errors=[
                                  {"loc": ["query", unknown[0]], "msg": "unknown query parameter",
                                   "type": "extra_forbidden"}])
        return raw, where

    async def json_body(self, request: Request) -> dict[str, Any] | None:
        """The body as a JSON object (an empty body is none); 415, 400 or 422 saying what is wrong with it."""
        data = await request.body()
        if not data.strip():
            return None
        kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if kind != "application/json" and not kind.endswith("+json"):
            raise Problem(415, f"the body must be application/json, not {kind}")
        try:
            value = json.loads(data)
        except ValueError as error:
            line, column = getattr(error, "lineno", 0), getattr(error, "colno", 0)
            raise Problem(400, f"malformed JSON body at line {line}, column {column}: {getattr(error, 'msg', error)}")
        if not isinstance(value, dict):
            raise Problem(422, f"the body must be a JSON object, not {type(value).__name__}",
                          errors=[{"loc": ["body"], "msg": "not an object", "type": "dict_type"}])
        return value

    @staticmethod
    def validate(face: ToolFace, raw: dict[str, Any], where: dict[str, str]) -> dict[str, Any]:
        """The tool's own arguments model decides; a refusal is a 422 listing every problem at its location."""
        try:
            return face.validate(raw)
        except ValidationError as error:
            errors = [
                {"loc": [where.get(str(e["loc"][0]), "body"), *e["loc"]] if e["loc"] else ["body"],
                 "msg": e["msg"], "type": e["type"]}
                for e in error.errors(include_url=False, include_input=False)
            ]
            first = errors[0]
            detail = f'{".".join(str(part) for part in first["loc"])}: {first["msg"]}'
            raise Problem(422, f"invalid request: {detail}", errors=errors) from None

    async def run(self, op: Operation, call: Call, face: ToolFace, arguments: dict[str, Any]) -> Any:
        try:
            return await governed(call, face, arguments)
        except Problem:
            raise
        except Exception as error:
            raise from_error(error, op.what) from None

    @staticmethod
    def template(op: Operation, app: ParacApp) -> TemplateFace | ResourceFace:
        """The resource template `op.template` names, else the resource at that fixed URI."""
        found = next((t for t in app.faces.templates if t.uri_template == op.template), None)
        return found or app.faces.resources[str(op.template)]

    async def read_template(self, op: Operation, call: Call, arguments: dict[str, Any]) -> Any:
        template = self.template(op, call.app)
        try:
            return json.loads(await template.read(call, **arguments))
        except Exception as error:
            raise from_error(error, op.what) from None

    def stream_run(self, call: Call, face: ToolFace, arguments: dict[str, Any], what: str, cancel_on_disconnect: bool,
                   *, show_thinking: bool, temperature: float | None = None) -> Response:
        """An agent run as Server-Sent Events: `thinking` (when asked), `content` (text as the model writes it),
        `tool_call`, `tool_result`, `phase` (when asked: each step of the agent's pattern as its `agent.phase`
        event: UPEE's phases, a critique, a revision, a delegation or handoff), then `complete` (the result with
        its `phases` and `cached_calls`, usage, cost, timings) or `error` (a problem), and `done`. It is the
        `run_agent` tool's call (`governed`, the same audit entry) with the runtime's sinks.

        The run belongs to the server, not to the request: a client that goes away stops receiving, and the run
        goes on to its end (its costs are recorded either way), unless the request said `cancel_on_disconnect`."""
        import time

        import anyio
        from sse_starlette import EventSourceResponse

        send, receive = anyio.create_memory_object_stream[tuple[str, dict[str, Any]]](10_000)
        started = time.time()
        first: list[float] = []

        def on_text(text: str) -> None:
            if not first:
                first.append(time.time())
            offer(send, ("content", {"text": text}))

        def on_step(name: str, data: dict[str, Any]) -> None:
            if name != "thinking" or show_thinking:
                offer(send, (name, data))

        def on_event(name: str, data: dict[str, Any]) -> None:
            if name == "agent.phase" and show_thinking:  # a pattern's step: a plan, a critique, a score, a delegation
                offer(send, ("phase", {key: value for key, value in data.items() if key != "actor"}))

        async def produce() -> None:
            try:
                result = await governed_run(call, face, arguments, on_text=on_text, on_step=on_step,
                                            on_event=on_event, temperature=temperature)
                timings = {"started_at": started, "first_content_s": round(first[0] - started, 6) if first else None,
                           "total_s": round(time.time() - started, 6)}
                offer(send, ("complete", {**result.to_json(transcript=False), "timings": timings}))
            except Exception as error:
                from .problems import problem_body

                problem = from_error(error, what)
                offer(send, ("error", problem_body(problem.status, problem.detail)))
            finally:
                send.close()

        async def events() -> Any:
            async with receive:
                async for name, data in receive:
                    yield {"event": name, "data": json.dumps(data, default=str)}
            yield {"event": "done", "data": "{}"}

        async def events_with_run() -> Any:
            async with anyio.create_task_group() as group:
                group.start_soon(produce)
                async for event in events():
                    yield event

        if cancel_on_disconnect or self.background is None:
            return EventSourceResponse(events_with_run(), ping=PING_S, send_timeout=SEND_TIMEOUT_S)
        self.background.start_soon(produce)
        return EventSourceResponse(events(), ping=PING_S, send_timeout=SEND_TIMEOUT_S)


class Endpoint:
    """`op`'s route, as a plain ASGI app (Starlette's `Route` calls it as it is): Starlette's `request_response`
    wrapping of an endpoint function adds a second exception-handling layer and two closures to every request, and
    nothing here needs them: a `Problem` raised goes to the app's `ExceptionMiddleware`, which answers it with the
    same handlers."""

    def __init__(self, operations: Operations, op: Operation) -> None:
        self.operations = operations
        self.op = op
        self.__name__ = op.tool or op.plugin or "call_tool"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        op, operations = self.op, self.operations
        call, face, arguments = await operations.prepare(op, Request(scope, receive))
        if op.template is not None:
            await send_json(send, await operations.read_template(op, call, arguments))
        else:
            await send_json(send, await operations.run(op, call, face, arguments), op.status)


_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
"""Encodes as Starlette's `JSONResponse` renders, made once: `json.dumps` with options makes an encoder per call."""


async def send_json(send: Any, content: Any, status: int = 200) -> None:
    """`content` answered as Starlette's `JSONResponse` answers it (the same bytes, the same headers), without a
    `Response` made per request."""
    body = _JSON.encode(content).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def governed_run(call: Call, face: ToolFace, arguments: dict[str, Any], *, on_text: TextSink | None = None,
                       on_step: StepSink | None = None, on_event: EventSink | None = None,
                       temperature: float | None = None) -> AgentResult:
    """An agent run as the `run_agent` tool's call (`governed`: the governance hooks, one audit entry naming the
    caller), with the runtime's sinks attached: what a streamed REST run, a chat and an A2A task run. `face` is
    `run_agent`'s and `arguments` were checked by it."""
    from dataclasses import replace

    from parac.mcp_tools.agents_run import agent_run, confined_model

    async def invoke(call: Call, arguments: dict[str, Any]) -> Any:
        # a stream is its own wait; the model is confined as run_agent confines it
        given = {k: v for k, v in arguments.items() if k != "wait"}
        given["model"] = confined_model(given.get("model"))
        return await agent_run(call, **given, temperature=temperature, on_text=on_text, on_step=on_step,
                               on_event=on_event)

    return await governed(call, replace(face, invoke=invoke), arguments)
