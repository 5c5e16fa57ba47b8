"""The way back from a running tool to whoever called it: log lines, progress, and questions for the caller's model
(sampling), person (elicitation) or folders (roots).

A tool reaches it through its :class:`~parac.core.tools.ToolContext` (``await ctx.log(...)``, ``ctx.progress``,
``ctx.sample``, ``ctx.elicit``, ``ctx.roots``) and never learns which face called it. Each face binds a :class:`Channel` to the
call: the MCP face to its client (notifications and server requests in the handshake era, input-required rounds in
the 2026-07-28 era), the CLI to the terminal; code with no caller to ask (an agent's tool call, a workflow step)
gets :data:`UNATTENDED`. A face that cannot ask refuses with :class:`CannotAsk`, saying where the tool can be asked
from, so a tool may catch it and fall back (or let it fail the call with that message).

A question for the caller's model is a model call like an agent's turn on ``client``, so :func:`ask_model` makes it
through :class:`~parac.core.llm.ModelClient`: the governance hooks see it first (a plugin may refuse it, and the
audit trail records it with the tool that asked), the budget reserves and settles it, and the ledger gets its row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .tools import ToolError

if TYPE_CHECKING:
    from .calls import CallContext, CallHooks
    from .providers import Completion, CompletionRequest, TextSink
    from .workspace import Workspace

log = logging.getLogger("parac.tools")


class CannotAsk(ToolError):
    """The caller of this tool cannot be asked what the tool asked (sampling or elicitation): the message says why
    and from where it can."""


@dataclass(frozen=True)
class Root:
    """A folder (or file) the caller works in, as its client names it: a ``file://`` URI, and a name to show."""

    uri: str
    name: str | None = None


@dataclass(frozen=True)
class Elicited:
    """The person's answer to a form: ``accept`` with ``content`` (the form's fields), ``decline``, or ``cancel``
    (dismissed without a choice)."""

    action: Literal["accept", "decline", "cancel"]
    content: dict[str, Any] = field(default_factory=dict)


class Channel(Protocol):
    """What a face offers a tool call; every method may be called any number of times, in any order."""

    async def log(self, level: str, message: str) -> None:
        """``level``: debug, info, notice, warning, error, critical (syslog's, as MCP has them)."""

    async def progress(self, done: float, total: float | None, message: str | None) -> None:
        """``done`` grows from one report to the next; ``total`` when known."""

    def sampling_refusal(self) -> CannotAsk | None:
        """Why the caller's model cannot be asked here (None: it can). :func:`ask_model` asks first, so a question
        that cannot be put is refused as such, before governance sees a model call that never happens."""

    async def sample(self, request: CompletionRequest, key: str | None = None) -> Completion:
        """The caller's own model answers ``request`` (its ``model`` is ignored: the caller picks its model).
        ``key`` names the question where a face shows names (an MCP input request's key)."""

    async def elicit(self, message: str, schema: dict[str, Any], key: str | None = None) -> Elicited:
        """The caller's person fills the form ``schema`` (flat JSON Schema: an object of primitive properties)."""

    async def roots(self, key: str | None = None) -> list[Root]:
        """The folders the caller works in (an MCP client's roots)."""

    async def continue_as_task(self) -> None:
        """The call goes on as a task its caller follows, where the face and the caller can (else: in place)."""

    async def release_connection(self) -> None:
        """Let the caller's connection go while the call keeps working, where the caller comes back for what follows
        (MCP over HTTP with resumable streams); elsewhere nothing happens."""


class CallerModel:
    """The model ``client`` as one tool call's channel answers it: a provider the model call asks, so the question
    goes through everything a model call goes through (see :func:`ask_model`)."""

    name = "client"
    waits_for_caller = True  # the caller answers in its own time, once: no timeout, retry or breaker of parac's

    def __init__(self, channel: Channel, key: str | None) -> None:
        self.channel = channel
        self.key = key

    def accepts(self, model: str) -> bool:
        return model == "client"

    async def complete(self, request: CompletionRequest, on_text: TextSink | None = None) -> Completion:
        return await self.channel.sample(request, self.key)


async def ask_model(
    channel: Channel,
    messages: list[dict[str, Any]],
    *,
    key: str | None,
    max_tokens: int,
    temperature: float | None,
    workspace: Workspace | None,
    hooks: CallHooks,
    context: CallContext,
) -> Completion:
    """Ask the caller's own model through ``channel``, governed as an agent's turn on ``client`` is: the hooks may
    refuse it before the caller is asked; in a workspace the budget reserves its estimate (a client's model costs
    parac $0: its tokens are counted, as estimated from the text) and the ledger records it; the audit entry names
    ``context``'s caller and the tool that asked (``context.tool``). A channel that cannot sample refuses before
    any of that (:class:`CannotAsk`): no model call was made, so none is recorded, and the caller learns what it
    lacks rather than a budget's or a policy's verdict on a call that could not happen.

    The caller's model is asked once, for as long as the face lets its caller take (``CallerModel.waits_for_caller``):
    not under a provider's timeout, retries or circuit breaker."""
    from .llm import ModelClient
    from .runtime import Runtime

    refusal = channel.sampling_refusal()
    if refusal is not None:
        raise refusal
    provider = CallerModel(channel, key)
    if workspace is None:  # no ledger, no budgets: the hooks alone decide and observe
        client = ModelClient(lambda model: provider if provider.accepts(model) else None, hooks=hooks)
        answer = await client.complete("client", messages, max_tokens=max_tokens, temperature=temperature,
                                       context=context)
        return answer.completion
    with Runtime(workspace, hooks=hooks, providers=[provider]) as runtime:
        answer = await runtime.client.complete("client", messages, max_tokens=max_tokens, temperature=temperature,
                                               context=context)
    return answer.completion


class Unattended:
    """Nobody to ask: questions are refused; logs and progress go to parac's log, or as lines to ``echo`` (a
    terminal's stderr).

    ``where`` names the face in the refusal (``parac tools call``); ``hint`` how else the tool can be asked."""

    def __init__(
        self, tool: str, where: str = "this call", hint: str = "", echo: Callable[[str], None] | None = None
    ) -> None:
        self.tool = tool
        self.where = where
        self.hint = hint or "call the tool from an MCP client that offers it"
        self.echo = echo
        self._log = logging.getLogger(f"parac.tools.{tool}")

    async def log(self, level: str, message: str) -> None:
        if self.echo is not None:
            self.echo(f"{level}: {message}")
        else:
            self._log.log(python_level(level), message)

    async def progress(self, done: float, total: float | None, message: str | None) -> None:
        line = f"progress {done:g}" + (f"/{total:g}" if total is not None else "") + (f": {message}" if message else "")
        if self.echo is not None:
            self.echo(line)
        else:
            self._log.debug("%s", line)

    def sampling_refusal(self) -> CannotAsk:
        return self.refusal("the caller's model (sampling)")

    async def sample(self, request: CompletionRequest, key: str | None = None) -> Completion:
        raise self.sampling_refusal()

    async def elicit(self, message: str, schema: dict[str, Any], key: str | None = None) -> Elicited:
        raise self.refusal("the person calling (elicitation)")

    async def roots(self, key: str | None = None) -> list[Root]:
        raise self.refusal("the caller's roots (roots/list)")

    async def continue_as_task(self) -> None:
        """Nobody follows a task here: the call goes on as it is."""

    async def release_connection(self) -> None:
        """No connection to let go: the caller waits in this process."""

    def refusal(self, what: str) -> CannotAsk:
        return CannotAsk(f'tool "{self.tool}" asks {what}, and no one can be asked during {self.where}; {self.hint}')


_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "notice": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR, "critical": logging.CRITICAL, "alert": logging.CRITICAL,
           "emergency": logging.CRITICAL}


def python_level(level: str) -> int:
    """An MCP (syslog) level as the nearest of Python's logging levels; an unknown one as INFO."""
    return _LEVELS.get(level.lower(), logging.INFO)
