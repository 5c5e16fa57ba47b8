"""Tools: what a plugin registers, and the one way every caller runs one.

Agents, workflows, ``parac tools call`` and the MCP face all call :func:`invoke_tool`, so argument checking and
the governance hooks cannot be skipped by any of them.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from . import telemetry
from .calls import NO_HOOKS, CallContext, CallHooks, ToolCall
from .errors import ParacBaseError

if TYPE_CHECKING:
    from .channels import Channel, Elicited, Root
    from .policy import Policies
    from .providers import Completion
    from .workspace import Workspace


class ToolError(ParacBaseError):
    """A tool failed in a way the caller should see (reported as an error result, not a crash)."""

    public = True


class CallerContext:
    """The way back to whoever called (``log``, ``progress``, ``sample``, ``elicit``, ``roots``), as a tool's and a
    plugin prompt's contexts offer it: through the face that called (see :mod:`parac.core.channels`); a caller
    that cannot be asked makes the questions raise ``CannotAsk``, a :class:`ToolError` saying from where it can
    be. They are coroutines: sync code (run in a worker thread) calls them with ``anyio.from_thread.run``.

    ``sample`` is a model call like any other (:func:`parac.core.channels.ask_model`): ``hooks`` see it on behalf
    of ``_on_behalf``, and a ``workspace``'s budgets and ledger count it."""

    channel: Channel | None
    workspace: Workspace | None
    hooks: CallHooks
    _caller_of: str  # what was called (a tool's or a prompt's name), as refusals name it
    _on_behalf: CallContext  # the caller, and what was called, as the model call of ``sample`` names them

    @property
    def _channel(self) -> Channel:
        if self.channel is not None:
            return self.channel
        from .channels import Unattended

        return Unattended(self._caller_of)

    async def log(self, level: str, message: str) -> None:
        """Tell the caller (an MCP log message; the server's log) at ``level``: debug, info, warning, error..."""
        await self._channel.log(level, message)

    async def progress(self, done: float, total: float | None = None, message: str | None = None) -> None:
        """Report progress: ``done`` of ``total`` (when known), growing with every report."""
        await self._channel.progress(done, total, message)

    async def sample(
        self,
        prompt: str | list[dict[str, Any]],
        *,
        system: str | None = None,
        max_tokens: int = 1024,
        temperature: float | None = None,
        key: str | None = None,
    ) -> Completion:
        """Ask the caller's own model: ``prompt`` is a user message, or chat messages (``{"role", "content"}``).
        Its ``text`` is the answer; ``model`` names the model the caller used. ``key`` names the question, unique
        among those the call asks at once (an MCP client sees it as the input request's key)."""
        from .channels import ask_model

        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else [dict(m) for m in prompt]
        if system is not None:
            messages.insert(0, {"role": "system", "content": system})
        return await ask_model(self._channel, messages, key=key, max_tokens=max_tokens, temperature=temperature,
                               workspace=self.workspace, hooks=self.hooks, context=self._on_behalf)

    async def elicit(self, message: str, schema: dict[str, Any], *, key: str | None = None) -> Elicited:
        """Ask the person calling to fill a form: ``schema`` is a JSON Schema object of primitive properties
        (string, number, integer, boolean; enums; ``default`` values shown as such); ``key`` as for ``sample``."""
        return await self._channel.elicit(message, schema, key)

    async def roots(self, *, key: str | None = None) -> list[Root]:
        """The folders the caller works in, as its client names them (``file://`` URIs); ``key`` as for
        ``sample``."""
        return await self._channel.roots(key)


@dataclass
class ToolContext(CallerContext):
    """What a tool may need to know about the call, and its way back to the caller; a tool receives it in the
    parameter named ``ctx`` or annotated ``ToolContext``.

    ``log``, ``progress``, ``sample``, ``elicit`` and ``roots`` reach whoever called (:class:`CallerContext`): an
    MCP client gets notifications and is asked for its model's answer or its person's, in either protocol era. A
    sync tool calls them with ``anyio.from_thread.run(ctx.log, "info", "...")``.
    """

    call: ToolCall
    workspace_root: Path | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    #: The workspace's policies as of this call (None outside a workspace): the confinement a tool acts under.
    policies: Policies | None = None
    #: The workspace the call runs in (None outside one): for tools over the workspace's own state (memory).
    workspace: Workspace | None = None
    #: Set when the call is cancelled: a blocking tool that watches it stops its work (``shell_run`` kills its
    #: command), so the cancelled call's thread ends soon rather than at the tool's own time limit.
    cancelled: threading.Event = field(default_factory=threading.Event)
    #: The face's way back to the caller (None: nobody to report to or ask, see ``parac.core.channels``).
    channel: Channel | None = None
    #: The hooks the call runs between: the caller's model, asked by ``sample``, is governed by them too.
    hooks: CallHooks = NO_HOOKS

    @property
    def _caller_of(self) -> str:
        return self.call.tool

    @property
    def _on_behalf(self) -> CallContext:
        call = self.call
        return CallContext(actor=call.actor, agent=call.agent, workflow=call.workflow, run_id=call.run_id,
                           step=call.step, tool=call.tool)

    def note(self, name: str, value: Any) -> None:
        """Report a fact about how the call ran (how it was confined, say); the audit entry of the call keeps it."""
        self.call.notes[name] = value

    async def continue_as_task(self) -> None:
        """From here on, the call may run as a task its caller follows, rather than in the request: for a tool
        registered ``asks_first``, which asks its questions first (answered in the call itself) and then does its
        long part. Returns once the caller has the task (an MCP client of the 2026-07-28 revision that follows
        tasks); where the call is a task already, or the caller follows none, the call simply goes on."""
        await self._channel.continue_as_task()

    async def release_connection(self) -> None:
        """Let the caller's connection go while this call keeps working: a long call need not hold a connection
        open (proxies cut idle ones). The caller comes back shortly and gets everything sent meanwhile, the result
        included; an MCP client over HTTP does (SEP-1699: the server closes the SSE stream, the client polls with
        ``Last-Event-ID``). Where the caller cannot come back (stdio, a 2026-07-28 request, a REST call, the CLI)
        nothing happens."""
        await self._channel.release_connection()


@dataclass
class PromptContext(CallerContext):
    """What a plugin prompt's render function gets in its parameter named ``ctx`` or annotated
    ``PromptContext``: the same way back to the caller as a tool's (a prompt may ask the person or the model
    before it renders: an MCP client is asked in either protocol era)."""

    prompt: str
    channel: Channel | None = None
    #: The workspace, hooks and caller of the request that renders the prompt: ``sample`` is governed by them.
    workspace: Workspace | None = None
    hooks: CallHooks = NO_HOOKS
    context: CallContext = field(default_factory=CallContext)

    @property
    def _caller_of(self) -> str:
        return self.prompt

    @property
    def _on_behalf(self) -> CallContext:
        return replace(self.context, tool=f"prompt:{self.prompt}")


@dataclass(eq=False)
class Tool:
    """A callable with a JSON Schema for its arguments.

    ``fn`` is called with the arguments as keywords, plus a :class:`ToolContext` when it declares a parameter for
    one (see :func:`context_parameter`). It may be sync (run in a worker thread, so it cannot block the event loop) or async.
    """

    name: str
    description: str
    input_schema: dict[str, Any]
    fn: Callable[..., Any]
    output_schema: dict[str, Any] | None = None
    needs_approval: bool = False
    read_only: bool = False
    source: str | None = None  # "path:line" where the tool is defined, for go-to-definition
    title: str | None = None
    """A short human-readable name for menus and approval prompts (MCP ``title``)."""
    destructive: bool | None = None
    """May it delete or overwrite what was there (not only add)? None: not said (clients then assume yes)."""
    idempotent: bool | None = None
    """Does calling it again with the same arguments change nothing more? None: not said (assumed no)."""
    open_world: bool | None = None
    """Does it reach beyond the workspace (the network, a remote)? None: not said (assumed yes)."""
    links: Callable[[Any], list[str]] | None = None
    """The resources a result names (a written file as a workspace-relative path, or a URI): MCP answers carry
    them as resource links, so a client can open what the call made."""
    long_running: bool = False
    """It may take longer than a client waits for an answer: MCP clients may run a call of it as a task (polled
    for its status and result) instead of holding the request open."""
    needs_task: bool = False
    """It can only be run as a task (MCP `taskSupport: "required"`; implies ``long_running``): a client that
    cannot follow a task is refused rather than held open."""
    asks_first: bool = False
    """It asks its caller before its long part (implies ``long_running``): a call of it is not made a task at
    once, but where the tool says so (``await ctx.continue_as_task()``), its questions so far answered in the
    call itself (an MCP client of the 2026-07-28 revision: input-required rounds, then the task handle)."""

    def __post_init__(self) -> None:
        # the implications hold for every Tool, however made: else continue_as_task() and taskSupport "required"
        # would silently mean nothing for a tool that is not also marked long_running
        self.long_running = self.long_running or self.needs_task or self.asks_first

    @cached_property
    def context_parameter(self) -> str | None:
        """The parameter that receives the :class:`ToolContext`, if ``fn`` has one."""
        return context_parameter(self.fn)

    @cached_property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.fn)

    @cached_property
    def _validator(self) -> Any:
        import jsonschema  # ~50 ms; only when a tool is first called

        cls = jsonschema.validators.validator_for(self.input_schema)
        return cls(self.input_schema)

    def check_arguments(self, arguments: dict[str, Any]) -> None:
        """Raise :class:`ToolError` naming the first argument that fails the schema."""
        error = next(iter(self._validator.iter_errors(arguments)), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "arguments"
            raise ToolError(f'invalid arguments for tool "{self.name}" at {where}: {error.message}')

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_schema,
            "output_schema": self.output_schema,
            "needs_approval": self.needs_approval,
        }


def context_parameter(fn: Callable[..., Any], kind: type[CallerContext] = ToolContext) -> str | None:
    """The parameter of ``fn`` that takes its context (a :class:`ToolContext`, or ``kind``): the one annotated so (a
    string annotation too, under ``from __future__ import annotations``), else one named ``ctx``; it is not an
    argument of the tool (or prompt)."""
    parameters = inspect.signature(fn).parameters
    for parameter in parameters.values():
        annotation = parameter.annotation
        if annotation is kind or (isinstance(annotation, str) and annotation.rpartition(".")[2] == kind.__name__):
            return parameter.name
    return "ctx" if "ctx" in parameters else None


async def invoke_tool(
    tool: Tool,
    call: ToolCall,
    hooks: CallHooks,
    *,
    workspace: Workspace | None = None,
    channel: Channel | None = None,
) -> Any:
    """Check the arguments, let the hooks veto, run the tool, let the hooks observe. Raises what went wrong.

    A tool that takes a context is told the ``workspace``'s root, settings and policies, and given the face's
    ``channel`` back to the caller. Traced, the call runs again inside its ``execute_tool`` span, its hooks wrapped
    to fill the span in; off, it pays for reading one flag."""
    if telemetry.tracing.on and not isinstance(hooks, telemetry.ToolSpan):
        with telemetry.tool_call(call, workspace) as span:
            return await invoke_tool(tool, call, telemetry.ToolSpan(hooks, span, workspace), workspace=workspace,
                                     channel=channel)
    try:
        tool.check_arguments(call.arguments)
    except ToolError as exc:  # bad input is an outcome the audit records, though no policy was asked
        hooks.after_tool_call(call, None, exc)
        raise
    kwargs = dict(call.arguments)
    ctx: ToolContext | None = None
    if tool.context_parameter is not None:
        ctx = (ToolContext(call, channel=channel, hooks=hooks) if workspace is None else
               ToolContext(call, workspace.root, workspace.settings.settings, workspace.current_policies(),
                           workspace, channel=channel, hooks=hooks))
        kwargs[tool.context_parameter] = ctx
    try:
        hooks.before_tool_call(call)  # a veto is an outcome too: the after hooks see it (audit records denials)
        if tool.is_async:
            result = await tool.fn(**kwargs)
        else:
            result = await _in_thread(lambda: tool.fn(**kwargs), ctx)
    except BaseException as exc:
        hooks.after_tool_call(call, None, exc)
        raise
    hooks.after_tool_call(call, result, None)
    return result


async def _in_thread(fn: Callable[[], Any], ctx: ToolContext | None) -> Any:
    """Run a blocking tool in a worker thread. Cancelled, the call tells the tool (``ctx.cancelled``) and still
    waits for the thread to end, so the after-call hooks see a tool that has stopped; one that does not watch
    ``ctx.cancelled`` runs to its own end, as before. Cancelled before a worker thread took it up (all busy, or
    the thread limiter full), the tool never starts, and there is nothing to wait for."""
    started, done = threading.Event(), threading.Event()
    claim = threading.Lock()  # the worker starting the tool, or the cancelled call dropping it: whichever is first

    def work() -> Any:
        with claim:
            if done.is_set():  # dropped by the cancelled call: never start the tool
                return None
            started.set()
        try:
            return fn()
        finally:
            done.set()

    try:
        return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
    except anyio.get_cancelled_exc_class():
        with claim:
            if not started.is_set():
                done.set()
        if ctx is not None:
            ctx.cancelled.set()
        if not done.is_set():
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(done.wait)
        raise
