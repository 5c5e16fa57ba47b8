"""Tasks: a long tool call answered at once with a handle the client polls, instead of a request held open until
the client gives up.

Both forms are served. The handshake era's (2025-11-25): a `tools/call` with `params.task` answers
`CreateTaskResult`, followed by `tasks/get`, `tasks/result` (waits for the end), `tasks/list` and `tasks/cancel`.
The 2026-07-28 era's tasks extension (`io.modelcontextprotocol/tasks`): the client declares the extension and the
server answers a long-running tool with a task handle (`resultType: "task"`), followed by `tasks/get` (carrying
the result, the error or the input requests), `tasks/update` (input responses) and `tasks/cancel`; those answer
-32021 to a client that did not declare the extension, and the revision's removed `tasks/result` and
`tasks/list` answer -32601 there. Only
long-running tools (`ToolFace.long_running`) become tasks; `run_agent` with `wait: false` becomes one whatever
the client declared.

A task is its run. The work runs in the server's task group as an `Exchange` (`parac.server.mcp.rounds`), which
asks the client's model or person as the era allows. Each task is a row of `mcp_tasks` in the workspace's
database: its owner, and once the work ends its result. A task that started a workflow run (`Call.started`)
follows that run: its status is the run's, read from the database, so it survives a restart of the server (the
run is resumed in the background when the task is next looked at), and a gate the run waits at is the task's
input request (an elicitation form; answered by `tasks/update`, by elicitation during `tasks/result`, or by
`approve_step` from anywhere). An agent run is not durable: a task whose server stopped under it reports that it
failed and why.

A task id is known only to its owner (the caller's role, name (`Call.actor`) and tenant): to anyone else it does
not exist. A task is kept for its time to live from creation (`DEFAULT_TTL_MS` unless the client asks for less).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import MCP_NAME_HEADER, decode_header_value
from pydantic import Field

from .rounds import Exchange, input_required_era

if TYPE_CHECKING:
    import sqlite3

    from mcp.server.context import ServerRequestContext

    from .app import ParacApp
    from .call import Call
    from .rounds import Rounds

EXTENSION = "io.modelcontextprotocol/tasks"
POLL_MS = 500
DEFAULT_TTL_MS = 24 * 3_600_000
TERMINAL = ("completed", "failed", "cancelled")
RELATED = "io.modelcontextprotocol/related-task"

HANDLE_FIRST_S = 0.002
"""How long a task's work waits before it starts: the task's answer is then on its way to the client (stdio writes
it from a worker thread) before the work's first stretch without an await (loading the agent, opening the ledger)
holds the event loop; without it the answer came about 2x later than a plain call's (bench/mcp_tasks.py, which
prints the cost to the task's completion beside it)."""


def tagged(request: Any, task_id: str) -> Any:
    """`request` (a server-to-client request) tagged with the task it is asked for: 2025-11-25 wants every message
    of a task's exchange to name it in `_meta`, so that a client shows the question beside its task."""
    params = request.params or types.RequestParams()
    meta = {**(params.meta or {}), RELATED: {"taskId": task_id}}
    return request.model_copy(update={"params": params.model_copy(update={"meta": meta})})


_SCHEMA = """
CREATE TABLE IF NOT EXISTS mcp_tasks (
    task_id TEXT PRIMARY KEY,
    tool TEXT NOT NULL,
    owner TEXT NOT NULL,
    run_id TEXT,
    status TEXT NOT NULL,
    status_message TEXT,
    result TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    ttl_ms INTEGER NOT NULL
)
"""


class TaskIdParams(types.RequestParams):
    model_config = {**types.RequestParams.model_config, "defer_build": True}  # built on first use, not at start

    task_id: str = Field(alias="taskId")


class UpdateTaskParams(TaskIdParams):
    input_responses: dict[str, Any] = Field(alias="inputResponses")


@dataclass
class State:
    """What a task is now, in neither era's wire form."""

    task_id: str
    status: str
    message: str | None
    created_at: float
    updated_at: float
    ttl_ms: int
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    input_requests: dict[str, Any] | None = None

    def wire(self, modern: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            "taskId": self.task_id,
            "status": self.status,
            "createdAt": _iso(self.created_at),
            "lastUpdatedAt": _iso(self.updated_at),
            ("ttlMs" if modern else "ttl"): self.ttl_ms,
            ("pollIntervalMs" if modern else "pollInterval"): POLL_MS,
        }
        if self.message:
            data["statusMessage"] = self.message
        if modern:  # the extension's tasks/get carries what the status holds
            if self.status == "completed" and self.result is not None:
                data["result"] = self.result
            elif self.status == "failed" and self.error is not None:
                data["error"] = self.error
            elif self.status == "input_required" and self.input_requests:
                data["inputRequests"] = self.input_requests
        return data


def created(state: State, modern: bool) -> dict[str, Any]:
    """The answer to a `tools/call` that became a task, in the era's form."""
    return {"resultType": "task", **state.wire(True)} if modern else {"task": state.wire(False)}


def declares_tasks(ctx: ServerRequestContext[Any, Any]) -> bool:
    """A 2026-07-28 request's client declared the tasks extension (for the session or in this request's `_meta`)."""
    try:
        return bool(ctx.session.check_client_capability(types.ClientCapabilities(extensions={EXTENSION: {}})))
    except Exception:
        return False


def requested_ttl(ctx: ServerRequestContext[Any, Any]) -> int | None:
    """The TTL (ms) this `tools/call` request asks its task to be kept for (`params.task.ttl`), if it asks one: read
    from the request a task is made in, which is a later round's when a call becomes a task after its rounds."""
    task = (ctx.params or {}).get("task")  # raw, but checked as `TaskMetadata` before the handler ran
    return types.TaskMetadata.model_validate(task).ttl if task is not None else None


def needs_tasks() -> MCPError:
    """-32021 naming the extension: what a 2026-07-28 client that did not declare it gets from the task surface."""
    data = types.MissingRequiredClientCapabilityErrorData(
        required_capabilities=types.ClientCapabilities(extensions={EXTENSION: {}})
    )
    return MCPError(
        code=types.MISSING_REQUIRED_CLIENT_CAPABILITY,
        message=f"this needs the {EXTENSION} extension, which the client did not declare",
        data=data.model_dump(by_alias=True, mode="json", exclude_none=True),
    )


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, timezone.utc).isoformat().replace("+00:00", "Z")


def _owner(call: Call) -> str:
    """Whose a task is: the caller's role, name and tenant (when the face grants one)."""
    return f"{call.role}|{call.actor}|{call.context.tenant or ''}"


def _unknown(task_id: str) -> MCPError:
    shown = task_id if len(task_id) <= 64 else task_id[:64] + "..."
    return MCPError(code=types.INVALID_PARAMS, message=f"unknown task {shown!r} (never created, expired, or not yours)")


class Tasks:
    """The tasks of one server (one workspace): live work by id, and the `mcp_tasks` table."""

    def __init__(self, app: ParacApp, rounds: Rounds) -> None:
        self.app = app
        self.rounds = rounds
        self._live: dict[str, Exchange] = {}
        self._resumed: set[str] = set()
        self._conn: sqlite3.Connection | None = None

    # -- which calls become tasks ----------------------------------------------------------------------------------

    @staticmethod
    def wanted(ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams) -> bool:
        """The client asked for a task (handshake era) or declared the tasks extension (2026-07-28)."""
        return declares_tasks(ctx) if input_required_era(ctx) else params.task is not None

    @staticmethod
    def required(ctx: ServerRequestContext[Any, Any], tool: str) -> MCPError:
        """The refusal of a call that is not a task, of a tool that runs only as one: -32021 naming the extension
        (2026-07-28), -32601 as 2025-11-25 says for `taskSupport: "required"`."""
        if input_required_era(ctx):
            return needs_tasks()
        return MCPError(code=types.METHOD_NOT_FOUND, message=f'tool "{tool}" runs only as a task (taskSupport: '
                        '"required"); call it with params.task')

    async def start(
        self,
        call: Call,
        tool: str,
        work: Callable[[Call], Awaitable[types.CallToolResult]],
        *,
        ttl_ms: int | None = None,
    ) -> State:
        """Run `work` as a task owned by the caller; returns its first state at once."""
        conn = await self._db(call)
        state = self._create(conn, call, tool, ttl_ms)
        exchange = Exchange(state.task_id, call, parks=input_required_era(call.request))
        self._take(exchange)
        assert self.rounds.group is not None, "the server's lifespan has not started"
        self.rounds.group.start_soon(self._drive, conn, exchange, work)
        return state

    async def adopt(self, exchange: Exchange, tool: str, *, ttl_ms: int | None = None) -> State:
        """Make a task of work running as input-required rounds (`Rounds.serve`), which asked to go on as one
        (`Call.continue_as_task`): the row exists before the handle is answered (SEP-2663: a task is durably
        created when its handle is sent), and the questions the work asks from now on are the task's, answered by
        `tasks/update`. The rounds' `requestState` continues nothing any more. `ttl_ms`: as for `start`."""
        conn = await self._db(exchange.call)
        state = self._create(conn, exchange.call, tool, ttl_ms)
        exchange.id = state.task_id
        exchange.offered.clear()
        self._take(exchange)
        assert self.rounds.group is not None, "the server's lifespan has not started"
        self.rounds.group.start_soon(self._follow, conn, exchange)
        return state

    @staticmethod
    def _create(conn: sqlite3.Connection, call: Call, tool: str, ttl_ms: int | None) -> State:
        now = time.time()
        ttl = min(ttl_ms, DEFAULT_TTL_MS) if ttl_ms and ttl_ms > 0 else DEFAULT_TTL_MS
        task_id = secrets.token_hex(16)
        conn.execute(
            "INSERT INTO mcp_tasks (task_id, tool, owner, status, created_at, updated_at, ttl_ms)"
            " VALUES (?, ?, ?, 'working', ?, ?, ?)",
            (task_id, tool, _owner(call), now, now, ttl),
        )
        return State(task_id, "working", None, now, now, ttl)

    def _take(self, exchange: Exchange) -> None:
        """The exchange's work is task `exchange.id` from now on: its call answered, its progress only noted."""
        call = exchange.call
        call.exchange, call.task_id = exchange, exchange.id
        call.detach()
        self._live[exchange.id] = exchange

    async def _drive(self, conn: sqlite3.Connection, exchange: Exchange, work: Callable[[Call], Awaitable[Any]]) -> None:
        await anyio.sleep(HANDLE_FIRST_S)
        await exchange.run(lambda: work(exchange.call))
        self._record(conn, exchange)

    async def _follow(self, conn: sqlite3.Connection, exchange: Exchange) -> None:
        """Record the end of an adopted task's work, which the rounds started."""
        await exchange.ended.wait()
        self._record(conn, exchange)

    def _record(self, conn: sqlite3.Connection, exchange: Exchange) -> None:
        if exchange.run_id is not None:
            conn.execute("UPDATE mcp_tasks SET run_id = ? WHERE task_id = ?", (exchange.run_id, exchange.id))
        status, result, error = self._outcome(exchange)
        if status != "working":  # a workflow run paused at a gate goes on as its run (see `_state`)
            conn.execute(
                "UPDATE mcp_tasks SET status = ?, result = ?, status_message = ?, updated_at = ? WHERE task_id = ?",
                (status, json.dumps(result if result is not None else error), exchange.note, time.time(), exchange.id),
            )
        self._live.pop(exchange.id, None)

    @staticmethod
    def _outcome(exchange: Exchange) -> tuple[str, dict[str, Any] | None, dict[str, Any] | None]:
        if exchange.cancelled:
            return "cancelled", None, None
        outcome = exchange.outcome
        if isinstance(outcome, BaseException):
            error = outcome.error if isinstance(outcome, MCPError) else types.ErrorData(code=types.INTERNAL_ERROR, message=str(outcome))
            return "failed", None, error.model_dump(by_alias=True, mode="json", exclude_none=True)
        structured = outcome.structured_content or {}
        if exchange.run_id is not None and structured.get("status") not in (*TERMINAL, None):
            return "working", None, None
        return "completed", outcome.model_dump(by_alias=True, mode="json", exclude_none=True), None

    # -- what a task is now ----------------------------------------------------------------------------------------

    async def state(self, call: Call, task_id: str) -> State:
        conn = await self._db(call)
        row = conn.execute("SELECT * FROM mcp_tasks WHERE task_id = ?", (task_id,)).fetchone()
        if row is None or row["owner"] != _owner(call):
            raise _unknown(task_id)
        if row["created_at"] + row["ttl_ms"] / 1000 < time.time():
            conn.execute("DELETE FROM mcp_tasks WHERE task_id = ?", (task_id,))
            raise _unknown(task_id)
        base = State(task_id, row["status"], row["status_message"], row["created_at"], row["updated_at"], row["ttl_ms"])
        exchange = self._live.get(task_id)
        if exchange is not None and exchange.finished:
            base.status, base.result, base.error = self._outcome(exchange)
            if base.status == "working":  # a workflow run paused at a gate: from now on its run says
                return await self._run_state(call, conn, base, exchange.run_id or "")
            base.message = exchange.note
            return base
        if exchange is not None:
            questions = exchange.open()
            base.status = "input_required" if questions or exchange.asking else "working"
            base.message = exchange.note
            base.input_requests = {k: q.model_dump(by_alias=True, mode="json", exclude_none=True) for k, q in questions.items()}
            return base
        if row["status"] in TERMINAL:
            stored = json.loads(row["result"]) if row["result"] else None
            if row["status"] == "completed":
                base.result = stored
            elif row["status"] == "failed":
                base.error = stored
            return base
        if row["run_id"]:
            return await self._run_state(call, conn, base, row["run_id"])
        # Live work of an earlier server: an agent run does not outlive its process.
        error = {"code": types.INTERNAL_ERROR, "message": "the server stopped while this task ran; an agent run "
                 "cannot be resumed, so call the tool again"}
        conn.execute("UPDATE mcp_tasks SET status = 'failed', result = ?, updated_at = ? WHERE task_id = ?",
                     (json.dumps(error), time.time(), task_id))
        base.status, base.error, base.message = "failed", error, error["message"]
        return base

    async def _run_state(self, call: Call, conn: sqlite3.Connection, base: State, run_id: str) -> State:
        """A task that follows a workflow run: the run's status, and its gate as the task's input request."""
        from parac.core.workflows import checkpoints as cp
        from parac.core.workflows.engine import summarize
        from parac.mcp_tools.workflows_run import gate_request, resume_in_background, run_status

        workspace, host = await call.workspace(), await call.host()
        wconn = await call.to_thread(_open, workspace.root)
        try:
            run = cp.get_run(wconn, run_id)
            summary = run_status(summarize(wconn, run_id))
            waiting = cp.waiting_approvals(wconn, run_id) if run.status == "waiting_approval" else []
            interrupted = run.status not in TERMINAL and not run.lease_alive() and not waiting
        finally:
            wconn.close()
        if interrupted and run_id not in self._resumed:  # its server stopped: take it up again
            self._resumed.add(run_id)
            resume_in_background(workspace, host, run_id, call.context)
        base.updated_at = time.time()
        if run.status in TERMINAL:
            result = types.CallToolResult(
                content=[types.TextContent(type="text", text=json.dumps(summary))], structured_content=dict(summary)
            ).model_dump(by_alias=True, mode="json", exclude_none=True)
            status = "cancelled" if run.status == "cancelled" else "completed"
            conn.execute(
                "UPDATE mcp_tasks SET status = ?, result = ?, updated_at = ? WHERE task_id = ?",
                (status, json.dumps(result), base.updated_at, base.task_id),
            )
            base.status, base.result = status, result
        elif waiting:
            base.status = "input_required"
            base.message = f"waiting at gate {waiting[0]['step_id']!r} of run {run_id} (approve_step, or answer the task)"
            base.input_requests = {
                f"gate:{gate['step_id']}": gate_request(run_id, gate["step_id"], gate["message"]).model_dump(
                    by_alias=True, mode="json", exclude_none=True
                )
                for gate in waiting
            }
        else:
            base.status, base.message = "working", f"workflow run {run_id}: {run.status}"
        return base

    # -- the methods ---------------------------------------------------------------------------------------------

    @staticmethod
    def _served(call: Call, method: str, task_id: str | None = None) -> None:
        """The surface each era has: 2026-07-28 removed `tasks/result` and `tasks/list` (`tasks/get` carries the
        result), and serves the rest only to a client that declared the extension and, over HTTP, named the task
        in the `Mcp-Name` header (SEP-2663's routing headers: an intermediary routes by it, so a header that
        disagrees with the body is refused, -32020, as SEP-2243 does for tool and prompt names)."""
        if not input_required_era(call.request):
            return
        if method in ("tasks/result", "tasks/list"):
            raise MCPError(code=types.METHOD_NOT_FOUND, message=f"{method} is not part of the 2026-07-28 revision: "
                           "tasks/get carries a task's result")
        if not declares_tasks(call.request):
            raise needs_tasks()
        headers = getattr(call.request.request, "headers", None) if call.request is not None else None  # HTTP's
        if headers is not None and decode_header_value(headers.get(MCP_NAME_HEADER)) != task_id:
            raise MCPError(code=types.HEADER_MISMATCH, message=f"the Mcp-Name header of {method} must be the "
                           "taskId of its params")

    async def get(self, call: Call, params: TaskIdParams) -> dict[str, Any]:
        self._served(call, "tasks/get", params.task_id)
        return (await self.state(call, params.task_id)).wire(input_required_era(call.request))

    async def result(self, call: Call, params: TaskIdParams) -> dict[str, Any]:
        """`tasks/result` (handshake era): wait for the end; a gate is put to the client's person meanwhile."""
        self._served(call, "tasks/result")
        asked: set[str] = set()
        while True:
            state = await self.state(call, params.task_id)
            if state.status in TERMINAL:
                break
            for key, request in (state.input_requests or {}).items():
                if key not in asked and key.startswith("gate:"):
                    asked.add(key)
                    await self._ask_gate(call, state.task_id, key, request)
            exchange = self._live.get(state.task_id)
            if exchange is not None and not exchange.open():
                await exchange.settle()  # the work in this process: woken when it ends (or asks)
            else:  # a run the database follows
                await anyio.sleep(POLL_MS / 1000 / 5)
        meta = {RELATED: {"taskId": state.task_id}}
        if state.status == "completed" and state.result is not None:
            return {**state.result, "_meta": {**(state.result.get("_meta") or {}), **meta}}
        if state.status == "cancelled":
            raise MCPError(code=types.INVALID_PARAMS, message=f"task {state.task_id} was cancelled")
        error = state.error or {"code": types.INTERNAL_ERROR, "message": "the task failed"}
        raise MCPError(code=error["code"], message=error["message"], data=error.get("data"))

    async def _ask_gate(self, call: Call, task_id: str, key: str, request: dict[str, Any]) -> None:
        if not call.can_ask(types.ClientCapabilities(elicitation=types.ElicitationCapability())):
            return
        answer = await call.ask(tagged(types.ElicitRequest.model_validate(request), task_id))
        await self._decide(call, task_id, {key: answer})

    async def update(self, call: Call, params: UpdateTaskParams) -> dict[str, Any]:
        """`tasks/update` (2026-07-28): the client's responses to the task's input requests. Responses under keys
        the task does not ask now are ignored, as SEP-2663 says (a key never asked, or answered already): the
        answer is the same empty ack, and `tasks/get` shows what is still asked."""
        self._served(call, "tasks/update", params.task_id)
        state = await self.state(call, params.task_id)
        if state.status != "input_required":
            raise MCPError(code=types.INVALID_PARAMS, message=f"task {state.task_id} asks nothing now ({state.status})")
        asked = state.input_requests or {}
        responses = {key: value for key, value in params.input_responses.items() if key in asked}
        exchange = self._live.get(state.task_id)
        if exchange is not None:
            exchange.answer(responses)
        else:
            await self._decide(call, state.task_id, responses)
        return {}

    async def _decide(self, call: Call, task_id: str, responses: dict[str, Any]) -> None:
        """Answers to a followed run's gates: each decides its gate, and the run goes on in the background."""
        from parac.mcp_tools.workflows_run import decide_gate

        conn = await self._db(call)
        run_id = conn.execute("SELECT run_id FROM mcp_tasks WHERE task_id = ?", (task_id,)).fetchone()["run_id"]
        for key, response in responses.items():
            try:
                answer = types.ElicitResult.model_validate(response) if isinstance(response, dict) else response
            except Exception:
                raise MCPError(code=types.INVALID_PARAMS, message=f'inputResponses["{key}"] is not an elicitation '
                               "answer (action, content)") from None
            await decide_gate(call, run_id, key.removeprefix("gate:"), answer)

    async def cancel(self, call: Call, params: TaskIdParams) -> dict[str, Any]:
        """Stop a task. The extension acknowledges a finished one as any other (cancelling is idempotent there);
        the handshake era's form refuses it (-32602), as 2025-11-25 says."""
        self._served(call, "tasks/cancel", params.task_id)
        state = await self.state(call, params.task_id)
        if state.status in TERMINAL and input_required_era(call.request):
            return {}
        if state.status in TERMINAL:
            raise MCPError(code=types.INVALID_PARAMS, message=f"task {state.task_id} is already {state.status}")
        exchange = self._live.get(state.task_id)
        conn = await self._db(call)
        run_id = conn.execute("SELECT run_id FROM mcp_tasks WHERE task_id = ?", (state.task_id,)).fetchone()["run_id"]
        if exchange is not None:
            run_id = run_id or exchange.run_id
            exchange.cancel()
        if run_id:
            from parac.mcp_tools.workflows_run import cancel_run_now

            await cancel_run_now(call, run_id)
        now = time.time()
        conn.execute("UPDATE mcp_tasks SET status = 'cancelled', updated_at = ? WHERE task_id = ?", (now, state.task_id))
        state.status, state.updated_at, state.message = "cancelled", now, "cancelled by the client"
        return {} if input_required_era(call.request) else state.wire(False)

    async def list(self, call: Call, params: types.PaginatedRequestParams | None) -> dict[str, Any]:
        """`tasks/list` (handshake era): the caller's tasks, newest first, a page at a time."""
        self._served(call, "tasks/list")
        conn = await self._db(call)
        now = time.time()
        ids = [
            row["task_id"]
            for row in conn.execute(
                "SELECT task_id, created_at, ttl_ms FROM mcp_tasks WHERE owner = ? ORDER BY created_at DESC, task_id",
                (_owner(call),),
            )
            if row["created_at"] + row["ttl_ms"] / 1000 >= now
        ]
        span = call.page(ids, listing="tasks", cursor=params.cursor if params else None, limit=None)
        tasks = [(await self.state(call, task_id)).wire(False) for task_id in ids[span.start : span.stop]]
        return {"tasks": tasks, **({"nextCursor": span.next_cursor} if span.next_cursor else {})}

    async def _db(self, call: Call) -> sqlite3.Connection:
        if self._conn is None:
            workspace = await call.workspace()
            self._conn = await call.to_thread(_open, workspace.root)
            self._conn.execute(_SCHEMA)
        return self._conn


def _open(root: Any) -> sqlite3.Connection:
    from parac.core.store import connect_workspace

    return connect_workspace(root)
