"""Input asked of the client in the middle of a call (its model through sampling, its person through elicitation),
in both protocol eras.

The handshake era has a back-channel: the server sends `sampling/createMessage` or `elicitation/create` on the
connection and waits for the answer. The 2026-07-28 era has none: a call that needs input answers
`InputRequiredResult` (the requests, and a `requestState`), and the client calls again with the responses and that
state (the multi-round-trip flow, SEP-2322). parac's work does not start over on each round: an `Exchange` keeps it
running in the server's task group between rounds (an agent waiting for a turn of the client's model, a workflow
gate waiting for a person), and each round hands it the answers and waits until it finishes or asks again.

The state a client carries is only the exchange's id, sealed by the SDK's `RequestStateBoundary` (AES-GCM under a
key of this process; bound to the tool, its arguments and the caller; expiring after `TTL_S`): a client cannot
forge, alter or replay another's. An exchange nobody calls back for `TTL_S` is cancelled (its run is recorded as
cancelled, as a cancelled call's is), and at most `MAX_OPEN` wait at once. SEP-2322 gives a client no message that
abandons a call between rounds (each round is a request of its own, and not retrying is abandoning): besides expiry,
cancelling a retry while it runs (`notifications/cancelled`, or closing its HTTP stream) cancels the work.

A long-running tool's work may ask to go on as a task (`Exchange.hand_over`): the round then ends the rounds with
the task handle (`Exchange.to_task`, SEP-2663's composition: input gathered synchronously, then the task).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import mcp_types as types
from mcp.shared.exceptions import MCPError

from .faces import FaceError

if TYPE_CHECKING:
    from anyio.abc import TaskGroup
    from mcp.server.context import ServerRequestContext

    from .call import Call

log = logging.getLogger("parac.mcp.rounds")

INPUT_REQUIRED_VERSION = "2026-07-28"
TTL_S = 600.0
"""How long a call waiting for input waits for the client to call back (the sealed state expires with it)."""
MAX_OPEN = 256
"""Exchanges waiting at once; beyond that a new one is refused (each holds a running agent or workflow)."""

R = TypeVar("R")
InputRequest = types.CreateMessageRequest | types.ElicitRequest | types.ListRootsRequest


class NoInputChannel(FaceError):
    """The client cannot be asked: it declared neither the capability nor speaks an era where it could answer."""


def input_required_era(ctx: ServerRequestContext[Any, Any] | None) -> bool:
    """True when this request's era answers `InputRequiredResult` instead of sending requests to the client."""
    from mcp_types.version import is_version_at_least

    return ctx is not None and is_version_at_least(ctx.protocol_version, INPUT_REQUIRED_VERSION)


def can_ask(ctx: ServerRequestContext[Any, Any] | None, capability: types.ClientCapabilities) -> bool:
    """Whether the client of this request declared `capability` (per request in 2026-07-28, at the handshake
    before)."""
    if ctx is None:
        return False
    try:
        return bool(ctx.session.check_client_capability(capability))
    except Exception:  # a transport without the check: nothing can be asked
        return False


@dataclass(eq=False)
class _Question:
    request: InputRequest
    answered: anyio.Event = field(default_factory=anyio.Event)
    response: Any = None


class Exchange:
    """One call's work, running across the rounds of the client's input."""

    def __init__(self, exchange_id: str, call: Call, *, parks: bool = True) -> None:
        """`parks`: questions wait for a round (or `tasks/update`) to answer them; False sends them on the
        connection (a handshake-era task)."""
        self.id = exchange_id
        self.call = call
        self.parks = parks
        self.questions: dict[str, _Question] = {}
        self.finished = False
        self.cancelled = False
        self.outcome: Any = None
        self.note: str | None = None
        """The work's last progress message (a task's `statusMessage`)."""
        self.run_id: str | None = None
        """The durable run the work started (a workflow run), once it says so (`Call.started`)."""
        self.deadline = anyio.current_time() + TTL_S
        self.offered: dict[str, Any] = {}
        """Responses the client sent with the first call, before anything was asked: a question asked under one of
        their keys takes it at once (a client that knows the questions; others are ignored)."""
        self.to_task: Callable[[Exchange], Awaitable[Any]] | None = None
        """How a round hands this work over to a task when the work asks (`hand_over`): answers the round's
        result (the task handle), or None when this round's client follows no tasks (the work goes on in the
        rounds). None: the call cannot become a task (not a long-running tool)."""
        self.handing_over: anyio.Event | None = None
        """Set while the work waits for a round to hand it over; fired once that round has answered."""
        self.ended = anyio.Event()
        self.asking = 0
        """Questions sent on the connection and not yet answered (a handshake-era task's: its `input_required`)."""
        self._asked = 0
        self._changed = anyio.Event()
        self._scope = anyio.CancelScope()

    async def ask(self, request: InputRequest, key: str | None = None) -> Any:
        """Park the work until a round brings the client's response to `request`, asked under `key` (the work's
        name for it; numbered by method when None)."""
        self._asked += 1
        key = key or f"{request.method.replace('/', '-')}-{self._asked}"
        if key in self.questions:
            raise FaceError(f'the call asks "{key}" twice at once; give each question its own key')
        if key in self.offered:
            return _checked(key, request, self.offered.pop(key))
        question = self.questions[key] = _Question(request)
        self._changed.set()
        try:
            await question.answered.wait()
        finally:
            del self.questions[key]
        return question.response

    async def hand_over(self) -> None:
        """Wait until a round has answered with a task of this work (or, its client following none, without one):
        the questions asked so far were the rounds', the ones asked from now on the task's."""
        if self.to_task is None:
            return
        handed = self.handing_over = anyio.Event()
        self._changed.set()
        await handed.wait()

    def open(self) -> dict[str, InputRequest]:
        return {key: q.request for key, q in self.questions.items() if not q.answered.is_set()}

    def answer(self, responses: dict[str, Any] | None) -> None:
        """Hand the client's responses to the questions they answer; all of them are checked before any is given.

        Keys beside answers to open questions are ignored (SEP-2322: a server ignores what it does not recognise);
        responses that answer nothing asked are refused, naming what was asked (a client answering the wrong id)."""
        if self.finished:
            return  # the work ended meanwhile (cancelled, or it stopped asking): the round reports that
        open_now = self.open()
        given = {key: value for key, value in (responses or {}).items() if key in open_now} or (responses or {})
        unknown = sorted(set(given) - set(open_now))
        if unknown:
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f'inputResponses names "{unknown[0]}", which this call did not ask; it asked: '
                + (", ".join(sorted(open_now)) or "nothing"),
            )
        checked = {key: _checked(key, open_now[key], value) for key, value in given.items()}
        for key, value in checked.items():
            question = self.questions[key]
            question.response = value
            question.answered.set()

    async def settle(self) -> None:
        """Wait until the work finished or asks something not yet answered (and, one turn of the loop later, all
        it asks at once: questions asked together go out in one round)."""
        while not (self.finished or self.open() or self.handing_over):
            self._changed = anyio.Event()
            await self._changed.wait()
        await anyio.lowlevel.checkpoint()

    async def run(self, work: Callable[[], Awaitable[Any]]) -> None:
        with self._scope:
            try:
                self.outcome = await work()
            except Exception as error:  # work maps its own errors to results; anything left is the round's error
                self.outcome = error
        if self._scope.cancelled_caught:
            self.outcome = FaceError("the call was cancelled while it waited for the client's input")
        self.finished = True
        self._changed.set()
        self.ended.set()

    def cancel(self) -> None:
        self.cancelled = True
        self._scope.cancel()


def _checked(key: str, request: InputRequest, value: Any) -> Any:
    """The response as the SDK's type for what was asked (a garbage answer is refused, naming the key)."""
    from pydantic import TypeAdapter, ValidationError

    kind: Any = (
        types.CreateMessageResult | types.CreateMessageResultWithTools
        if isinstance(request, types.CreateMessageRequest)
        else types.ListRootsResult if isinstance(request, types.ListRootsRequest) else types.ElicitResult
    )
    try:
        return TypeAdapter(kind).validate_python(value.model_dump(by_alias=True) if hasattr(value, "model_dump") else value)
    except ValidationError as error:
        raise MCPError(
            code=types.INVALID_PARAMS,
            message=f'inputResponses["{key}"] is not an answer to {request.method}: {error.errors()[0]["msg"]}',
        ) from None


class Rounds:
    """The exchanges waiting for their clients, by id; the server's task group runs their work."""

    def __init__(self) -> None:
        self.group: TaskGroup | None = None  # the server's lifespan group (set by `build_server`)
        self._open: dict[str, Exchange] = {}

    async def serve(
        self,
        ctx: ServerRequestContext[Any, Any],
        params: types.InputResponseRequestParams,
        call: Call,
        work: Callable[[Call], Awaitable[R]],
        to_task: Callable[[Exchange], Awaitable[Any]] | None = None,
    ) -> R | types.InputRequiredResult | Any:
        """One round of a call (`tools/call`, or `prompts/get` of a prompt that asks) that may ask the client: start
        its work (first round) or hand the client's responses to it (a retry), then answer with its result, with
        what it asks now, or, once the work asks to go on as a task, with what `to_task` makes of it (SEP-2663:
        the rounds gather input synchronously, then the task handle ends them; see `Exchange.to_task`)."""
        self._expire()
        if params.request_state is None:
            if len(self._open) >= MAX_OPEN:
                raise MCPError(code=types.INTERNAL_ERROR, message=f"too many calls wait for input ({MAX_OPEN})")
            assert self.group is not None, "the server's lifespan has not started"
            exchange = Exchange(secrets.token_urlsafe(16), call)
            exchange.offered = dict(params.input_responses or {})
            exchange.to_task = to_task
            call.exchange = exchange
            self._open[exchange.id] = exchange
            self.group.start_soon(exchange.run, lambda: work(call))
        else:
            found = self._open.get(params.request_state)
            if found is None:
                raise MCPError(
                    code=types.INVALID_PARAMS,
                    message="the call this requestState continues is over (answered, cancelled, expired, or the "
                    "server restarted); call again without it",
                )
            exchange = found
            exchange.answer(params.input_responses)
            exchange.call.request = ctx  # progress and logs of this round go to this request
        round_id = exchange.id
        try:
            while True:
                await exchange.settle()
                handing = exchange.handing_over
                if handing is None or exchange.to_task is None:
                    break
                exchange.handing_over = None
                try:
                    handed = await exchange.to_task(exchange)
                finally:
                    handing.set()
                if handed is not None:  # the work goes on as a task: this call's rounds are over
                    self._open.pop(round_id, None)
                    return handed
        except BaseException:  # the round was cancelled by its client, or cannot go on: so is the work
            exchange.cancel()
            self._open.pop(round_id, None)
            raise
        if exchange.finished:
            self._open.pop(exchange.id, None)
            if isinstance(exchange.outcome, BaseException):
                raise exchange.outcome
            return exchange.outcome
        exchange.deadline = anyio.current_time() + TTL_S
        return types.InputRequiredResult(input_requests=exchange.open(), request_state=exchange.id)

    async def sweep(self) -> None:
        """Cancel, now and then, the exchanges whose clients never called back (run in the lifespan group)."""
        while True:
            await anyio.sleep(TTL_S / 10)
            self._expire()

    def _expire(self) -> None:
        now = anyio.current_time()
        for exchange_id, exchange in list(self._open.items()):
            if exchange.deadline < now and not exchange.finished:
                log.info("a call waiting for input was not called back within %ss; cancelled", TTL_S)
                exchange.cancel()
                del self._open[exchange_id]


def seal_state(server: Any) -> None:
    """Seal every `requestState` this server gives out: the SDK's boundary, with a key of this process, bound to
    the caller `parac.server.auth` established over HTTP (role, name, tenant; stdio has one caller). Built on the first tool call
    (the cipher's import stays out of the cold start)."""
    boundary: Any = None

    def principal(ctx: ServerRequestContext[Any, Any]) -> str | None:
        scope = getattr(ctx.request, "scope", None)
        caller = scope.get("state", {}).get("caller") if isinstance(scope, dict) else None
        if caller is None:  # stdio (one client), or HTTP with no credentials configured (the local caller)
            return None
        return f"{caller.role}|{caller.actor}|{getattr(caller, 'tenant', None) or ''}"

    async def sealed(ctx: ServerRequestContext[Any, Any], call_next: Any) -> Any:
        nonlocal boundary
        if ctx.method not in ("tools/call", "prompts/get"):  # only these ask parac's clients for input
            return await call_next(ctx)
        if boundary is None:
            from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity

            security = RequestStateSecurity(keys=[secrets.token_bytes(32)], ttl=TTL_S, bind_principal=principal)
            boundary = RequestStateBoundary(security, default_audience="parac")
        return await boundary(ctx, call_next)

    server.middleware.append(sealed)
