"""`Call`: what a tool, resource or prompt handler gets first: the loaded workspace and plugins, the caller's role,
and the request's channel back to the client (progress, log messages, sampling, elicitation).

Cancellation needs nothing from handlers beyond being `async`: when the client cancels (or the connection ends),
the SDK cancels the handler's task at its next `await`. Blocking work goes through `Call.to_thread`, which gives
the worker up on cancellation instead of holding the reply.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import anyio.lowlevel

from .faces import FaceError
from parac.core.calls import CallContext
from parac.core.tools import ToolError
from parac.server.auth.roles import Role

if TYPE_CHECKING:
    from mcp.server.context import ServerRequestContext
    from mcp.server.session import ServerSession

    from parac.core.pages import Span
    from parac.core.workspace import Workspace
    from parac.server.host import Host

    from .app import ParacApp
    from .faces import ToolFace
    from .rounds import Exchange, InputRequest

T = TypeVar("T")
log = logging.getLogger("parac.mcp")


class NoAnswer(ToolError):
    """A client asked something (sampling, elicitation, roots) in the handshake era did not answer in time."""


class Call:
    """One MCP request being served."""

    def __init__(
        self,
        app: ParacApp,
        request: ServerRequestContext[Any, Any] | None,
        role: Role,
        transport: str,
        *,
        actor: str | None = None,
        tenant: str | None = None,
    ) -> None:
        """`actor`: who the HTTP caller's bearer token names (`token:<name>`, `jwt:<sub>`), when it names someone;
        `tenant`: the tenant an HTTP caller's credential belongs to."""
        self.app = app
        self.request = request
        self.role = role
        self.transport = transport
        self.named = actor
        self.tenant = tenant
        self.exchange: Exchange | None = None
        """Set when the call's work runs across input rounds or as a task (`parac.server.mcp.rounds`, `tasks`)."""
        self.task_id: str | None = None
        """The task this call runs as (`parac.server.mcp.tasks`): an agent run takes it as its run id."""
        self.background: Callable[[], Awaitable[str]] | None = None
        """Runs this call on as a task and returns its id (set by the server for long-running tools)."""
        self._asked_by = request  # whose declared capabilities count once the call is detached
        self._context: CallContext | None = None

    @property
    def actor(self) -> str:
        """Who is calling, as the audit trail and the governance hooks see it: a named token's callers by its name
        (``token:<name>``), a JWT's by its subject (``jwt:<sub>``), others by transport and role (a stdio caller
        is the local user)."""
        if self.named:
            return self.named
        return f"mcp:{self.transport}:{self.role}"

    @property
    def context(self) -> CallContext:
        """The request's call context, made once: every tool, model and workflow call it leads to carries it. (Not
        a `functools.cached_property`: on Python 3.11 that takes a lock on each first read, once per request.)"""
        if self._context is None:
            self._context = CallContext.of_caller(self.actor, self.role, self.tenant)
        return self._context

    async def host(self) -> Host:
        """The plugin host (plugins are loaded on first use, after the handshake)."""
        return (self.app.settled() or await self.app.loaded()).host

    async def workspace(self) -> Workspace:
        """The workspace; raises FaceError saying why when the server has none (no .parac/ found, say)."""
        loaded = self.app.settled() or await self.app.loaded()
        if loaded.workspace is None:
            raise FaceError(loaded.workspace_error or "no workspace")
        return loaded.workspace

    @property
    def session(self) -> ServerSession | None:
        """The SDK session, for server-to-client requests (sampling with `create_message`, elicitation)."""
        return self.request.session if self.request is not None else None

    async def ask(self, request: InputRequest, key: str | None = None) -> Any:
        """Ask the client (its model: `sampling/createMessage`; its person: `elicitation/create`; its folders:
        `roots/list`) and wait for the
        answer: in a round of the 2026-07-28 era through `InputRequiredResult` (under `key` in its
        `inputRequests`, when given), in the handshake era as a request on the connection. Callers check `can_ask`
        first."""
        import mcp_types as types
        from mcp.shared.message import ServerMessageMetadata

        if self.exchange is not None and self.exchange.parks:
            return await self.exchange.ask(request, key)
        asked_by = self.request or self._asked_by
        assert asked_by is not None
        result_type: Any = (
            types.CreateMessageResult if isinstance(request, types.CreateMessageRequest)
            else types.ListRootsResult if isinstance(request, types.ListRootsRequest) else types.ElicitResult
        )
        # On the request's own stream while it is open; a detached call's (a task's) on the connection.
        related = ServerMessageMetadata(related_request_id=asked_by.request_id) if self.request else None
        if self.exchange is None or self.task_id is None:
            return await self._answered(asked_by.session.send_request(request, result_type, metadata=related))
        # A handshake-era task's question (2025-11-25): tagged with its task, which is input_required meanwhile.
        from .tasks import tagged

        request = tagged(request, self.task_id)
        self.exchange.asking += 1
        try:
            return await self._answered(asked_by.session.send_request(request, result_type, metadata=related))
        finally:
            self.exchange.asking -= 1

    @staticmethod
    async def _answered(asked: Awaitable[T]) -> T:
        """A server request's answer, waited for as long as a 2026-07-28 call waits for its client to call back
        (`rounds.TTL_S`): the caller's model or person is given its time (no provider timeout applies to it),
        but a client that never answers does not hold the call, and its run, for ever."""
        from . import rounds

        with anyio.move_on_after(rounds.TTL_S):
            return await asked
        raise NoAnswer(f"the client did not answer within {rounds.TTL_S:g} s; the call is abandoned")

    def can_ask(self, capability: Any) -> bool:
        """Whether the client declared `capability` (`ClientCapabilities(sampling=...)` or `(elicitation=...)`)."""
        from .rounds import can_ask

        return can_ask(self.request or self._asked_by, capability)

    @property
    def has_client(self) -> bool:
        """Whether an MCP client made this call (one that may be asked something); False for a REST call."""
        return self._asked_by is not None

    async def release_connection(self) -> None:
        """Close the request's SSE stream while it is served, so that the client polls for the rest (SEP-1699):
        the SDK offers this only over HTTP with an event store, to a 2025-11-25 (or later handshake-era) client,
        which reconnects with `Last-Event-ID` after the stream's `retry` and is replayed what was stored
        meanwhile. A 2026-07-28 request has no such stream to resume (closing it cancels the request)."""
        close = self.request.close_sse_stream if self.request is not None else None
        if close is not None:
            await close()

    def detach(self) -> None:
        """The request that started this call is answered; the work goes on (a task): progress and logs now only
        note, and input is asked as the task's era allows."""
        self.request = None

    async def continue_as_task(self) -> None:
        """The work asks to go on as a task (`ToolContext.continue_as_task`): a call served as input-required rounds
        answers its current round with the task handle (`Rounds.serve`), its questions so far having been the
        call's own. A call that is a task already, or that runs in its request (the handshake era's, a REST
        call's), goes on as it is: the handshake era makes a task only when the client asks for one up front."""
        if self.exchange is not None and self.task_id is None:
            await self.exchange.hand_over()

    def started(self, run_id: str) -> None:
        """The call started durable run `run_id` (a workflow run): a task follows that run from now on."""
        if self.exchange is not None:
            self.exchange.run_id = run_id

    async def progress(self, done: float, total: float | None = None, message: str | None = None) -> None:
        """Report progress; does nothing when the client did not ask for it (no progress token). A task keeps
        the message as its status message."""
        if self.exchange is not None and message:
            self.exchange.note = message
        if self.request is not None:
            await self.request.session.report_progress(done, total, message)

    async def log(self, level: str, message: str, logger: str = "parac.mcp.tool") -> None:
        """Log `message` (stderr), and send it to this call's client as an MCP log message; `level` as MCP names
        them (debug, info, notice, warning, error, critical...)."""
        from parac.core.channels import python_level

        logging.getLogger(logger).log(python_level(level), message)
        await anyio.lowlevel.checkpoint()  # lets the forwarded notification go out before the call answers

    async def send_log(self, level: str, message: str, logger: str) -> None:
        """Send one MCP log message, where the era and the level set by the client allow it."""
        if self.request is None or not self.app.client_logs(level):
            return
        try:
            with warnings.catch_warnings():  # deprecated in the 2026-07-28 era, where the SDK gates it per request
                warnings.simplefilter("ignore")
                await self.request.session.send_log_message(level, message, logger=logger)  # type: ignore[arg-type]
        except Exception as error:  # a client that went away must not fail the call
            log.debug("log notification not delivered: %s", error)

    def page(self, keys: Sequence[str], *, listing: str, cursor: str | None, limit: int | None) -> Span:
        """The page of a listing tool's sorted `keys` that `cursor` points at (see `parac.core.pages`); a cursor
        this server did not issue for `listing` fails the call (`CursorError`) with a message saying so."""
        from parac.core.pages import page

        return page(keys, listing=listing, cursor=cursor, limit=limit, secret=self.app.cursor_secret)

    async def to_thread(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking `fn` in a worker thread; on cancellation the reply is not held up by it."""
        import anyio.to_thread

        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), abandon_on_cancel=True)


async def governed(call: Call, face: ToolFace, arguments: dict[str, Any]) -> Any:
    """Run a parac tool between the governance hooks, on behalf of `call`'s caller (plugin tools get them from
    `Host.call_tool` instead). Every face that runs a tool (MCP, HTTP) goes through here: one audit entry each."""
    if not face.hooked:
        return await face.invoke(call, arguments)
    hooks = (await call.host()).hooks
    record = call.context.tool_call(face.name, arguments)
    hooks.before_tool_call(record)
    try:
        value = await face.invoke(call, arguments)
    except BaseException as error:
        hooks.after_tool_call(record, None, error)
        raise
    hooks.after_tool_call(record, value, None)
    return value


def offer(send: Any, item: Any) -> None:
    """Hand a progress event from running work (an engine's or a runtime's callback) to the task forwarding it.

    Progress is dropped, never waited for: a client slower than the work loses some, and once the call is over
    (cancelled: the forwarder is gone) the work's last events, sent while it winds down, must not fail it.
    """
    try:
        send.send_nowait(item)
    except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
        pass
