"""Running agents: the tool-calling loop, and the one Python API every face uses to run an agent.

    from parac.core.runtime import run_agent
    from parac.core.workspace import Workspace

    result = await run_agent(Workspace.open("."), "coder", "Add a --verbose flag")
    print(result.output, result.cost_usd)

The CLI (``parac agents run``), the MCP tool ``run_agent`` and workflow steps all call :meth:`Runtime.run`, so
they share the loop, the governance hooks, the ledger and the budgets. A :class:`Runtime` holds what outlives one
run (the database connection, the model client); :func:`run_agent` makes one for a single run.

The loop: system prompt (the agent's, then each skill's instructions) and the task; the agent's tools offered in
OpenAI's function format; each tool call the model makes runs through :func:`parac.core.tools.invoke_tool` (and
so through the hooks); a call naming an unknown tool, with arguments that are not JSON or fail the tool's schema,
or that a policy denies is answered to the model as an error, never raised; the loop ends when the model
answers without tool calls, or after ``max_iterations`` turns.

The patterns of :mod:`parac.core.patterns` build on that loop: delegates and handoffs are tools it offers, UPEE and
the evaluator loop are turns around it, compaction and the response cache act on each model call
(:meth:`Runtime.complete`).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import anyio

from . import telemetry
from .budgets import Accountant, set_limit
from .budgets import status as budgets_status
from .calls import NO_HOOKS, CallContext, CallDenied, CallHooks
from .costs import ensure_schema, parse_since, report
from .diagnostics import ParacError, suggestion
from .llm import Estimate, ModelClient
from .patterns import delegation, section
from .patterns.cache import ResponseCache
from .patterns.compaction import EXPAND_DEFINITION, EXPAND_TOOL, compact, expand
from .patterns.delegation import Routes, wire_name
from .providers import Completion, Provider, ProviderError, TextSink, ToolCallRequest, Usage
from .recording import Recording, completion_json
from .recording import start as recording_start
from .specs import Budget, ProjectSettings
from .store import connect_workspace
from .tools import Tool, ToolError, invoke_tool

if TYPE_CHECKING:
    from .inheritance import ResolvedAgent
    from .workspace import Workspace

DEFAULT_MAX_ITERATIONS = 10
MAX_TOOL_RESULT_CHARS = 50_000
"""Longer tool results are cut (and say so): one huge file must not fill the model's context."""

EventSink = Callable[[str, dict[str, Any]], None]
StepSink = Callable[[str, dict[str, Any]], None]
"""Sees a run's transcript grow, for a face that shows it live (the HTTP face's SSE): ``thinking`` (``text``: the
model's reasoning, when its provider shows it; sent once its turn is complete), ``tool_call`` (``id``, ``name``,
``arguments``) and ``tool_result`` (``id``, ``name``, ``content``). Unlike ``on_event`` it is not audited: what a
tool returned stays out of the trail."""


@dataclass
class AgentResult:
    """What a run produced. ``status`` is ``completed``, ``max_iterations``, ``denied`` (a hook or a budget
    refused a model call; ``error`` names the rule) or ``failed`` (every model of the chain failed)."""

    run_id: str
    agent: str
    model: str
    status: str
    output: str
    transcript: list[dict[str, Any]]
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    iterations: int = 0
    tool_calls: int = 0
    error: str | None = None
    cached_calls: int = 0  # model calls answered from the response cache
    phases: list[dict[str, Any]] = field(default_factory=list)  # the patterns' steps: critiques, plans, scores

    @property
    def ok(self) -> bool:
        return self.status == "completed"

    def absorb(self, other: AgentResult) -> None:
        """Add a nested run's (a delegate's, a critic's, a handoff's) usage and cost to this one's."""
        self.usage = self.usage + other.usage
        self.cost_usd += other.cost_usd
        self.iterations += other.iterations
        self.tool_calls += other.tool_calls
        self.cached_calls += other.cached_calls

    def to_json(self, *, transcript: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "run_id": self.run_id,
            "agent": self.agent,
            "model": self.model,
            "status": self.status,
            "output": self.output,
            "error": self.error,
            "iterations": self.iterations,
            "tool_calls": self.tool_calls,
            "usage": {"prompt_tokens": self.usage.prompt_tokens, "completion_tokens": self.usage.completion_tokens},
            "cost_usd": round(self.cost_usd, 8),
            "cached_calls": self.cached_calls,
            "phases": self.phases,
        }
        if transcript:
            data["transcript"] = self.transcript
        return data


class Runtime:
    """Runs agents of one workspace. Reuse it for many runs; :meth:`close` it (or use ``with``) when done.

    ``hooks`` are the host's governance hooks; ``on_event`` receives progress (``agent.turn``, ``agent.tool``) and
    budget events (``budget.threshold``) besides the hooks, for a CLI to print or an MCP server to notify.
    ``providers`` adds providers the catalog does not hold (tests, embedding applications).
    """

    def __init__(
        self,
        workspace: Workspace,
        *,
        hooks: CallHooks = NO_HOOKS,
        on_event: EventSink | None = None,
        providers: Sequence[Provider] = (),
        connection: sqlite3.Connection | None = None,
    ) -> None:
        self.workspace = workspace
        self.hooks = hooks
        self.on_event = on_event
        self.extra_providers = list(providers)
        self._conn = connection
        self._own_conn = connection is None
        self._agent_budgets: dict[str, Budget | None] = {}
        self._client: ModelClient | None = None

    # -- plumbing -------------------------------------------------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = connect_workspace(self.workspace.root)
        return self._conn

    @property
    def client(self) -> ModelClient:
        if self._client is None:
            settings = spending_settings(self.workspace)
            accountant = Accountant(self.conn, settings.budgets, self._agent_budgets, on_event=self._emit)
            self._client = ModelClient(self.provider_for, settings, accountant, self.hooks, self.workspace.root,
                                       cache=ResponseCache(self.conn))
        return self._client

    @property
    def _accountant(self) -> Accountant:
        accountant = self.client.accountant
        assert accountant is not None  # the runtime always gives its client one
        return accountant

    def provider_for(self, model: str) -> Provider | None:
        for provider in self.extra_providers:
            if provider.accepts(model):
                return provider
        catalog = self.workspace.catalog
        return catalog.provider_for(model) if catalog is not None else None

    def close(self) -> None:
        """Write every ledger row (see :mod:`parac.core.ledger`), then close the connection if it is ours."""
        if self._client is not None and self._client.accountant is not None:
            self._client.accountant.close()
        if self._conn is not None and self._own_conn:
            self._conn.close()
        self._conn = None
        self._client = None

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _emit(self, name: str, data: dict[str, Any]) -> None:
        telemetry.event(name, data)
        self.hooks.event(name, data)
        if self.on_event is not None:
            self.on_event(name, data)

    # -- preparing a run ------------------------------------------------------------------------------------
    def agent(self, name: str) -> ResolvedAgent:
        names = self.workspace.agent_names()
        if name not in names:
            raise ParacError(f'unknown agent "{name}"{suggestion(name, names)}')
        resolved = self.workspace.resolve_agent(name)
        self._agent_budgets[name] = _as_budget(resolved.fields.get("budget"))
        return resolved

    def tools_of(self, resolved: ResolvedAgent) -> dict[str, Tool]:
        """The agent's tools by the name the model sees (OpenAI names allow only letters, digits, ``_``, ``-``)."""
        catalog = self.workspace.catalog
        available = catalog.tools if catalog is not None else {}
        out: dict[str, Tool] = {}
        missing = []
        for name in resolved.fields.get("tools") or []:
            contribution = available.get(name)
            if contribution is None:
                missing.append(name)
                continue
            out[wire_name(name)] = contribution.value
        if missing:
            raise ParacError(f'agent "{resolved.name}" names tools that no plugin provides: {", ".join(missing)}')
        return out

    def system_prompt(self, resolved: ResolvedAgent) -> str:
        """The agent's system prompt followed by the instructions of each of its skills."""
        parts = [str(resolved.fields.get("system_prompt") or "").strip()]
        skills = self.workspace.skills
        for name in resolved.fields.get("skills") or []:
            contribution = skills.get(name)
            if contribution is None and name in self.workspace.skill_entries:  # there, but does not load
                problems = self.workspace.skill_entries[name].problems
                raise ParacError(f'agent "{resolved.name}" names skill "{name}", which has errors', problems)
            if contribution is None:
                raise ParacError(f'agent "{resolved.name}" names skill "{name}", which does not exist')
            skill = contribution.value
            parts.append(f"## Skill: {skill.name}\n{skill.spec.description}\n\n{skill.instructions.strip()}")
        return "\n\n".join(p for p in parts if p)

    def model_of(self, resolved: ResolvedAgent, override: str | None = None) -> str:
        model = override or resolved.fields.get("model") or spending_settings(self.workspace).default_model
        if not model:
            raise ParacError(
                f'agent "{resolved.name}" has no model: set model: in its file or default_model: in parac.yaml'
            )
        return str(model)

    def messages_for(
        self, resolved: ResolvedAgent, task: str, history: Sequence[dict[str, Any]] = ()
    ) -> list[dict[str, Any]]:
        """The agent's system prompt, the conversation it continues (without its system prompt), then the task."""
        system = "\n\n".join(p for p in (self.system_prompt(resolved), self.recalled(resolved, task)) if p)
        messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
        messages.extend(dict(m) for m in history if m.get("role") != "system")
        if task or not history:
            messages.append({"role": "user", "content": task})
        return messages

    def recalled(self, resolved: ResolvedAgent, task: str, conn: sqlite3.Connection | None = None) -> str:
        """The memory entries the agent's ``memory:`` spec recalls for ``task``, as a system prompt section
        (searched in ``conn``'s database, this runtime's by default)."""
        if not resolved.fields.get("memory"):
            return ""
        from .memory import open_memory
        from .memory.episodes import context_section, memory_spec, recall

        spec = memory_spec(resolved.fields["memory"])
        if not spec.get("recall", 5):
            return ""
        memory = open_memory(self.workspace, conn or self.conn)
        return context_section(recall(memory, resolved.name, spec, task))

    def _remember(self, resolved: ResolvedAgent, task: str, result: AgentResult) -> None:
        """Leave the run's episode in memory when the agent's spec asks for episodes."""
        from .memory.episodes import memory_spec

        spec = memory_spec(resolved.fields.get("memory"))
        if not spec.get("episodic"):
            return
        from .memory import open_memory
        from .memory.episodes import agent_episode

        tools = [call["function"]["name"] for message in result.transcript for call in message.get("tool_calls") or []]
        agent_episode(open_memory(self.workspace, self.conn, sync=False), agent=result.agent, run_id=result.run_id,
                      task=task, status=result.status, output=result.output, cost_usd=result.cost_usd, tools=tools,
                      error=result.error, ttl_days=spec.get("ttl_days"))

    def estimate(self, name: str, task: str, *, model: str | None = None) -> Estimate:
        """The most the first turn of a run may cost (for plans); later turns depend on what the model does."""
        resolved = self.agent(name)
        tools = self.tools_of(resolved)
        return self.client.estimate(
            self.model_of(resolved, model),
            self.messages_for(resolved, task),
            tools=[_tool_definition(wire, tool) for wire, tool in tools.items()],
            max_tokens=resolved.fields.get("max_tokens"),
        )

    # -- the loop -------------------------------------------------------------------------------------------
    async def run(
        self,
        name: str,
        task: str,
        *,
        model: str | None = None,
        fallbacks: Sequence[str] = (),
        on_text: TextSink | None = None,
        context: CallContext | None = None,
        max_iterations: int | None = None,
        run_limit_usd: float | None = None,
        history: Sequence[dict[str, Any]] = (),
        depth: int = 0,
        on_step: StepSink | None = None,
        temperature: float | None = None,
    ) -> AgentResult:
        """Run agent ``name`` on ``task`` and return its result.

        ``context`` is the caller's, built where the request came in: its actor, and for a workflow step its
        ``run_id``, ``workflow`` and ``step``, tie the run's calls to the caller and the workflow run in the ledger,
        the budgets and the audit trail (a run of its own gets a fresh ``run_id``); ``run_limit_usd`` is the
        workflow's ``budget_usd`` for that run. ``history`` continues an earlier conversation (its system prompt is
        replaced by this agent's; an empty ``task`` adds no message), ``depth`` is how deeply this run is nested in
        delegations and handoffs (see :mod:`parac.core.patterns.delegation`). ``on_step`` sees the transcript grow
        (:data:`StepSink`); ``temperature`` overrides the agent's.
        Raises :class:`ParacError` when the agent cannot run at all (unknown agent, no model, missing tool). A
        refused model call (hook or budget) ends the run with ``status="denied"``, a model that keeps failing
        with ``status="failed"``; the transcript and the cost so far are kept either way. Cancellation
        propagates once the ledger is settled.
        """
        resolved = self.agent(name)
        chosen = self.model_of(resolved, model)
        tools = self.tools_of(resolved)
        routes = delegation.routes(resolved.fields, depth, self._description)
        definitions = [_tool_definition(wire, tool) for wire, tool in tools.items()] + routes.definitions
        if section(resolved.fields, "memory").get("context_tokens"):
            definitions.append(EXPAND_DEFINITION)
        messages = self.messages_for(resolved, task, history)
        limit = max_iterations or resolved.fields.get("max_iterations") or DEFAULT_MAX_ITERATIONS
        context = context or CallContext()
        if context.run_id is None and run_limit_usd is None and _nests(resolved.fields):
            # a run of its own that runs other agents: its per_run_usd bounds them too (they share the run id)
            run_limit_usd = section(resolved.fields, "budget").get("per_run_usd")
        context = replace(context, agent=name, run_id=context.run_id or uuid.uuid4().hex)
        actor = context.actor
        result = AgentResult(context.run_id or "", name, chosen, "running", "", messages)
        recording = recording_start(
            self.conn, self.workspace.current_policies().redactor().value, agent=name, task=task, model=chosen,
            run_id=context.run_id, workflow=context.workflow, step=context.step, nested=depth > 0,
        )
        turns = Turns(resolved, tools, definitions, routes, context, limit, fallbacks, on_text, run_limit_usd, depth,
                      result, task, model, recording=recording, on_step=on_step or _no_step,
                      temperature=temperature)
        self._emit(
            "agent.run.start",
            {"run_id": result.run_id, "agent": name, "model": chosen, "workflow": context.workflow,
             "step": context.step, "actor": actor, "depth": depth},
        )
        try:
            with telemetry.agent_run(result, context):
                await self._drive(turns)
        except ProviderError as exc:
            result.status, result.error = "failed", str(exc)
        except CallDenied as exc:
            result.status, result.error = "denied", str(exc)
        except BaseException as exc:
            result.status = "cancelled" if isinstance(exc, anyio.get_cancelled_exc_class()) else "failed"
            result.error = str(exc) or type(exc).__name__
            recording.end(result.status, result.output, result.error, result.cost_usd)
            self._emit("agent.run.end", _run_event(result, actor))
            self._accountant.flush()  # cancelled: no await is possible; wait for the rows in this thread
            raise
        recording.end(result.status, result.output, result.error, result.cost_usd)
        self._remember(resolved, task, result)
        await self._accountant.flushed()  # the run's costs are on disk before anyone is told about them
        self._emit("agent.run.end", _run_event(result, actor))
        return result

    async def _drive(self, turns: Turns) -> None:
        """The agent's loop (plain or UPEE), then a handoff it asked for, then its evaluator loop."""
        fields = turns.resolved.fields
        if fields.get("loop") == "upee":
            from .patterns import upee

            await upee.run(self, turns)
        else:
            await self.loop(turns)
        if turns.handoff is not None:
            await self._hand_off(turns)
        elif fields.get("reflect") and turns.result.status == "completed":
            from .patterns import reflection

            await reflection.run(self, turns)

    async def complete(self, turns: Turns, *, tools: bool = True) -> Completion:
        """One model call of the run on its conversation so far (compacted past ``memory.context_tokens``), its
        usage and cost added to the result; the answer is appended to the transcript by the caller."""
        result = turns.result
        fields = turns.resolved.fields
        messages = result.transcript
        budget = section(fields, "memory").get("context_tokens")
        if budget:
            compacted = compact(messages, budget)
            if compacted.saved:
                self.phase(turns, "compact", tokens_before=compacted.tokens_before, tokens_after=compacted.tokens_after)
            messages = compacted.messages
        offered = turns.definitions if tools or any(m.get("role") == "tool" for m in messages) else []
        answer = await self.client.complete(
            result.model,
            messages,
            tools=offered,
            temperature=fields.get("temperature") if turns.temperature is None else turns.temperature,
            max_tokens=fields.get("max_tokens"),
            on_text=turns.on_text,
            context=turns.context,
            fallbacks=turns.fallbacks,
            run_limit_usd=turns.run_limit_usd,
            cache_ttl_s=section(fields, "cache").get("ttl_s"),
        )
        result.iterations += 1
        result.usage = result.usage + answer.completion.usage
        result.cost_usd += answer.cost_usd
        result.model = answer.model
        if answer.cached:
            result.cached_calls += 1
        if answer.completion.reasoning:
            turns.on_step("thinking", {"text": answer.completion.reasoning})
        return answer.completion

    async def loop(self, turns: Turns) -> None:
        """The tool-calling loop: model turns until one answers without tool calls, a handoff, or ``limit``."""
        result = turns.result
        messages = result.transcript
        fields = turns.resolved.fields
        params = {"tools": [d["function"]["name"] for d in turns.definitions],
                  "temperature": fields.get("temperature") if turns.temperature is None else turns.temperature,
                  "max_tokens": fields.get("max_tokens")}
        for iteration in range(1, turns.limit + 1):
            asked, spent = len(messages), result.cost_usd
            completion = await self.complete(turns)
            messages.append(completion.to_message())
            self._emit(
                "agent.turn",
                {"run_id": result.run_id, "agent": result.agent, "iteration": iteration,
                 "max_iterations": turns.limit, "tool_calls": [c.name for c in completion.tool_calls],
                 "cost_usd": result.cost_usd, "actor": turns.context.actor},
            )
            results: dict[str, str] = {}
            for request in completion.tool_calls:
                result.tool_calls += 1
                turns.on_step("tool_call", {"id": request.id, "name": request.name, "arguments": request.arguments})
                results[request.id] = await self._run_tool(request, turns)
                messages.append({"role": "tool", "tool_call_id": request.id, "content": results[request.id]})
                turns.on_step("tool_result", {"id": request.id, "name": request.name, "content": results[request.id]})
            if turns.recording is not None:
                turns.recording.turn(result.model, messages, asked, params, completion_json(completion),
                                     result.cost_usd - spent, results)
            if not completion.tool_calls:
                result.status, result.output = "completed", completion.text
                return
            result.output = completion.text
            if turns.handoff is not None:
                return
        result.status = "max_iterations"
        result.error = (
            f'agent "{result.agent}" was still calling tools after max_iterations={turns.limit} turns; '
            "raise max_iterations or narrow the task"
        )

    def phase(self, turns: Turns, phase: str, **data: Any) -> None:
        """Record one step of a pattern in the result and announce it (``agent.phase``): the CLI's
        ``--show-thinking``, MCP progress and the audit trail all read the event."""
        entry = {"phase": phase, **data}
        turns.result.phases.append(entry)
        text = data.get("text")
        event = {**entry, "text": _excerpt(text)} if isinstance(text, str) else entry
        self._emit("agent.phase", {"run_id": turns.result.run_id, "agent": turns.result.agent,
                                   "actor": turns.context.actor, **event})

    def phase_start(self, turns: Turns, phase: str) -> None:
        """Announce that a phase begins (``agent.phase.start``); :meth:`phase` announces its end."""
        self._emit("agent.phase.start", {"run_id": turns.result.run_id, "agent": turns.result.agent,
                                         "actor": turns.context.actor, "phase": phase})

    async def _hand_off(self, turns: Turns) -> None:
        """Let the agent the model handed off to carry on with the conversation; its answer is the run's."""
        result, target = turns.result, turns.handoff
        assert target is not None
        self.phase(turns, "handoff", to=target)
        other = await self.run(
            target, "", model=turns.model_override, fallbacks=turns.fallbacks, on_text=turns.on_text,
            context=turns.context, run_limit_usd=turns.run_limit_usd, history=result.transcript,
            depth=turns.depth + 1, on_step=turns.on_step, temperature=turns.temperature,
        )
        result.absorb(other)
        result.status, result.output, result.error = other.status, other.output, other.error
        result.transcript[:] = other.transcript
        result.phases.extend(other.phases)

    async def delegate(self, turns: Turns, name: str, task: str) -> str:
        """Run delegate ``name`` on ``task`` inside this run (same run id and budget); its answer as tool text."""
        self.phase(turns, "delegate", to=name, task=task)
        other = await self.run(
            name, task, model=turns.model_override, fallbacks=turns.fallbacks, context=turns.context,
            run_limit_usd=turns.run_limit_usd, depth=turns.depth + 1,
        )
        turns.result.absorb(other)
        self.phase(turns, "delegated", to=name, status=other.status, cost_usd=round(other.cost_usd, 8))
        if not other.ok:
            return json.dumps({"error": f'agent "{name}" {other.status}: {other.error}', "agent": name})
        return other.output

    async def _run_tool(self, request: ToolCallRequest, turns: Turns) -> str:
        """Run one tool call; every failure becomes a message the model can read and act on."""
        tools, context = turns.tools, turns.context
        routes = turns.routes
        if request.name in routes.handoffs and turns.handoff is None:
            turns.handoff = routes.handoffs[request.name]
            return json.dumps({"handoff": turns.handoff})
        tool = tools.get(request.name)
        special = request.name in routes.delegates or request.name == EXPAND_TOOL
        if tool is None and not special:
            offered = ", ".join(sorted(d["function"]["name"] for d in turns.definitions)) or "none"
            return _tool_error(request, f'unknown tool "{request.name}"; the tools you may call are: {offered}')
        try:
            arguments = json.loads(request.arguments or "{}")
        except ValueError as exc:
            return _tool_error(request, f"the arguments are not valid JSON ({exc})")
        if not isinstance(arguments, dict):
            return _tool_error(request, "the arguments must be a JSON object")
        if request.name in routes.delegates:
            task = arguments.get("task")
            if not isinstance(task, str) or not task.strip():
                return _tool_error(request, 'give the agent a "task" (a non-empty string)')
            return await self.delegate(turns, routes.delegates[request.name], task)
        if tool is None:  # expand_output: the full text of an output compaction cut
            return expand(turns.result.transcript, arguments.get("ref"))
        call = context.tool_call(tool.name, arguments, idempotency_key=f"{context.run_id}:{request.id}")
        # Progress, not the call itself: governance's after-call hook records that as a ``tool.call`` entry.
        self._emit("agent.tool", {"run_id": context.run_id, "agent": context.agent, "tool": tool.name,
                                  "actor": context.actor})
        try:
            value = await invoke_tool(tool, call, self.hooks, workspace=self.workspace)
        except (ToolError, CallDenied) as exc:
            return _tool_error(request, str(exc))
        except Exception as exc:  # a tool's own bug: the model hears about it, the run goes on
            return _tool_error(request, f"the tool failed: {type(exc).__name__}: {exc}")
        return _tool_text(value)

    def _description(self, name: str) -> str:
        """An agent's one-line description, for the tool that offers it (empty when it has none or is unknown)."""
        try:
            return str(self.workspace.resolve_agent(name).fields.get("description") or "")
        except ParacError:
            return ""


def _no_step(name: str, data: dict[str, Any]) -> None:
    return None


@dataclass
class Turns:
    """One run in progress: what the agent was given and what it has done so far (``result``), which the loop and
    the patterns (:mod:`parac.core.patterns`) share."""

    resolved: ResolvedAgent
    tools: dict[str, Tool]
    definitions: list[dict[str, Any]]
    routes: Routes
    context: CallContext
    limit: int
    fallbacks: Sequence[str]
    on_text: TextSink | None
    run_limit_usd: float | None
    depth: int
    result: AgentResult
    task: str
    model_override: str | None = None
    handoff: str | None = None  # the agent the model handed the conversation to
    recording: Recording | None = None  # the record replays and forks read (:mod:`parac.core.recording`)
    on_step: StepSink = _no_step
    temperature: float | None = None  # the caller's, over the agent's


async def run_agent(
    workspace: Workspace,
    name: str,
    task: str,
    *,
    hooks: CallHooks = NO_HOOKS,
    on_event: EventSink | None = None,
    providers: Sequence[Provider] = (),
    **options: Any,
) -> AgentResult:
    """Run one agent once (see :meth:`Runtime.run` for ``options``)."""
    with Runtime(workspace, hooks=hooks, on_event=on_event, providers=providers) as runtime:
        return await runtime.run(name, task, **options)


def _tool_definition(wire_name: str, tool: Tool) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": wire_name, "description": tool.description, "parameters": tool.input_schema},
    }


def _tool_error(request: ToolCallRequest, message: str) -> str:
    return json.dumps({"error": message, "tool": request.name})


def _tool_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > MAX_TOOL_RESULT_CHARS:
        cut = len(text) - MAX_TOOL_RESULT_CHARS
        text = text[:MAX_TOOL_RESULT_CHARS] + f"\n[... {cut} more characters cut]"
    return text


def _nests(fields: dict[str, Any]) -> bool:
    """Whether an agent runs other agents inside its run (delegates, handoffs, a critic)."""
    return bool(fields.get("delegates") or fields.get("handoffs") or fields.get("reflect"))


def _excerpt(text: str, limit: int = 500) -> str:
    """Phase texts in events are excerpts: the transcript holds them whole."""
    return text if len(text) <= limit else text[:limit] + f" [... {len(text) - limit} more characters]"


def _run_event(result: AgentResult, actor: str) -> dict[str, Any]:
    return {
        "actor": actor,
        "run_id": result.run_id,
        "agent": result.agent,
        "model": result.model,
        "status": result.status,
        "iterations": result.iterations,
        "tool_calls": result.tool_calls,
        "cost_usd": round(result.cost_usd, 8),
        "error": result.error,
    }


# -- reports shared by the CLI and MCP ------------------------------------------------------------------------------
def agent_budgets(workspace: Workspace) -> dict[str, Budget]:
    """The resolved ``budget:`` of every agent that has one (agents that do not resolve are skipped)."""
    out: dict[str, Budget] = {}
    for name in workspace.agent_names():
        try:
            budget = workspace.resolve_agent(name).fields.get("budget")
        except ParacError:
            continue
        if budget:
            out[name] = _as_budget(budget)
    return out


def _as_budget(value: Any) -> Budget | None:
    """A resolved ``budget:`` is a merged mapping (parents' limits deep-merged with the agent's)."""
    return Budget.model_validate(value) if isinstance(value, dict) else value


def spending_settings(workspace: Workspace) -> ProjectSettings:
    """``parac.yaml``'s settings, for whatever spends or reports budgets: a ``parac.yaml`` that does not load is an
    error here, not empty settings, or its budgets would silently stop applying (and a run would blame the agent for
    having no model)."""
    entry = workspace.settings_entry
    if entry is None or entry.spec is not None:
        return workspace.settings
    first, *rest = entry.problems or [None]
    where = first.format() if first is not None else str(entry.path)
    raise ParacError(f"parac.yaml does not load, so its budgets would not apply: {where}", rest)


def budget_status(workspace: Workspace, conn: sqlite3.Connection | None = None) -> dict[str, Any]:
    """Every limit that applies now, with spent, reserved and remaining dollars (``parac budget show``)."""
    if conn is None and (url := _shared_url(workspace)):
        from .engines.spend import shared_budget_status

        return shared_budget_status(url, spending_settings(workspace).budgets)
    own = conn is None
    conn = conn or connect_workspace(workspace.root)
    try:
        budgets = agent_budgets(workspace)
        accountant = Accountant(conn, spending_settings(workspace).budgets, budgets)
        return budgets_status(accountant, sorted(budgets))
    finally:
        if own:
            conn.close()


def set_budget(workspace: Workspace, kind: str, usd: float | None, *, agent: str | None = None) -> None:
    """Store (``usd=None``: remove) a limit that overrides the files' (``parac budget set``, ``PUT /budgets``)."""
    names = workspace.agent_names()
    if agent and agent not in names:
        raise ParacError(f'unknown agent "{agent}"{suggestion(agent, names)}')
    conn = connect_workspace(workspace.root)
    try:
        set_limit(conn, kind, usd, agent=agent)
    finally:
        conn.close()


def _shared_url(workspace: Workspace) -> str | None:
    """The dbos engine's database, where every worker's spending is, when the workspace runs on it."""
    from .engines import engine_choice

    choice = engine_choice(workspace)
    return choice.database_url if choice.kind == "dbos" else None


def cost_report(
    workspace: Workspace, *, by: str = "model", since: str | None = None, conn: sqlite3.Connection | None = None
) -> dict[str, Any]:
    """The ledger grouped ``by`` agent, model, provider, day, run or workflow, from ``since`` (``7d``, a date)."""
    start = parse_since(since) if since else None
    if conn is None and (url := _shared_url(workspace)):
        from .engines.spend import shared_cost_report

        return shared_cost_report(url, by=by, since=start)
    own = conn is None
    conn = conn or connect_workspace(workspace.root)
    try:
        return report(ensure_schema(conn), by=by, since=start)
    finally:
        if own:
            conn.close()
