"""Every route of `/api/v1`, written once as the request it sends, served by `Client` (sync) and `AsyncClient`.

A route is a function that builds a `Request` from its typed arguments, under one of three decorators that say
what a client does with it: `endpoint` (the JSON or text answer), `stream` (Server-Sent Events) or `pages` (every
item of a cursor-paginated listing, fetching page after page). The decorator binds it to the client it is read
from, so `Client().get_agent("coder")` returns an `AgentDetail` and `AsyncClient().get_agent("coder")` an
awaitable of one; the arguments, their names and the docstrings are the route function's own.

The answers are typed with the TypedDicts the server's tools declare as their results (and `/openapi.json`
publishes): imported for type checkers only, so importing the client loads none of the server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import update_wrapper
from typing import TYPE_CHECKING, Any, Generic, Literal, ParamSpec, TypeVar, overload

if TYPE_CHECKING:
    from parac.mcp_tools.agents_run import BudgetStatus, CostReport, RunResult
    from parac.mcp_tools.governance import AuditPage, PolicyDecision, VerifyResult
    from parac.mcp_tools.registry import PluginList, PluginRow, ToolList, ToolRow
    from parac.mcp_tools.workflows_replay import ReplayReport, RunDiff
    from parac.mcp_tools.workflows_run import GateDecision, PlanResult, RunStatus, TaskAnswer, TaskList
    from parac.plugins.memory import Forgotten, Found, MemoryEntry
    from parac.mcp_tools.workspace import (AgentDetail, AgentList, AgentRow, NamedRow, SkillList, WorkflowDetail,
                                           WorkflowList)

    from .clients import AsyncClient, Client
    from .events import AsyncEventStream, EventStream

P = ParamSpec("P")
T = TypeVar("T")
JSON = Any


@dataclass(frozen=True)
class Request(Generic[T]):
    """One call of a route: `path` under `/api/v1` (segments already quoted), query `params` (None values are left
    out), a JSON `body`, extra `headers`; `text` for a plain-text answer; `resumable` for an event stream the
    server resumes after `Last-Event-ID`."""

    method: str
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    body: JSON = None
    headers: Mapping[str, str] = field(default_factory=dict)
    text: bool = False
    resumable: bool = False


@dataclass(frozen=True)
class Page(Request[T]):
    """The first page of a listing whose items are at `items` and whose next page is at `next_cursor`."""

    items: str = ""


class Route(Generic[P, T]):
    """A route function bound to the client it is read from (see the module's docstring)."""

    def __init__(self, build: Callable[P, Request[T]]) -> None:
        self.build = build
        update_wrapper(self, build)  # type: ignore[arg-type]

    def __get__(self, client: Any, owner: type | None = None) -> Any:
        if client is None:
            return self
        build, send = self.build, getattr(client, self.sender)

        def call(*args: Any, **kwargs: Any) -> Any:
            return send(build(*args, **kwargs))

        return update_wrapper(call, build)

    sender = "_send"


class endpoint(Route[P, T]):
    """A route answered with JSON (or text)."""

    @overload
    def __get__(self, client: Client, owner: type | None = None) -> Callable[P, T]: ...
    @overload
    def __get__(self, client: AsyncClient, owner: type | None = None) -> Callable[P, Awaitable[T]]: ...
    def __get__(self, client: Any, owner: type | None = None) -> Any:
        return super().__get__(client, owner)


class stream(Route[P, T]):
    """A route answered with Server-Sent Events."""

    sender = "_stream"

    @overload
    def __get__(self, client: Client, owner: type | None = None) -> Callable[P, EventStream]: ...
    @overload
    def __get__(self, client: AsyncClient, owner: type | None = None) -> Callable[P, AsyncEventStream]: ...
    def __get__(self, client: Any, owner: type | None = None) -> Any:
        return super().__get__(client, owner)


class pages(Route[P, T]):
    """Every item of a listing, page after page (`T` is the item's type)."""

    sender = "_pages"

    @overload
    def __get__(self, client: Client, owner: type | None = None) -> Callable[P, Iterator[T]]: ...
    @overload
    def __get__(self, client: AsyncClient, owner: type | None = None) -> Callable[P, AsyncIterator[T]]: ...
    def __get__(self, client: Any, owner: type | None = None) -> Any:
        return super().__get__(client, owner)


def _q(segment: str) -> str:
    """A path segment, quoted (a name with `/` or `?` stays one segment)."""
    from urllib.parse import quote

    return quote(segment, safe="")


def _fields(**given: Any) -> dict[str, Any]:
    """A JSON body of the arguments given (None: left to the server's default)."""
    return {name: value for name, value in given.items() if value is not None}


Order = Literal["agent", "model", "provider", "day", "run", "workflow"]


class Routes:
    """The routes, shared by `Client` and `AsyncClient` (route functions take no `self`: the decorator binds)."""

    # -- agents ------------------------------------------------------------------------------------------------

    @endpoint
    def list_agents(limit: int | None = None, cursor: str | None = None) -> Request[AgentList]:
        """One page of agents (`next_cursor` fetches the next; `iter_agents` walks them all)."""
        return Request("GET", "/agents", {"limit": limit, "cursor": cursor})

    @pages
    def iter_agents(limit: int | None = None) -> Page[AgentRow]:
        """Every agent, `limit` a page."""
        return Page("GET", "/agents", {"limit": limit}, items="agents")

    @endpoint
    def get_agent(name: str) -> Request[AgentDetail]:
        """An agent resolved through its inheritance chain, with each field's provenance."""
        return Request("GET", f"/agents/{_q(name)}")

    @endpoint
    def agent_source(name: str) -> Request[str]:
        """The agent's file as written."""
        return Request("GET", f"/agents/{_q(name)}/source", text=True)

    @endpoint
    def run_agent(name: str, task: str, *, model: str | None = None,
                  max_iterations: int | None = None) -> Request[RunResult]:
        """Run an agent to its end and answer its result."""
        return Request("POST", f"/agents/{_q(name)}/runs", body=_fields(task=task, model=model,
                                                                         max_iterations=max_iterations))

    @stream
    def stream_agent_run(name: str, task: str, *, model: str | None = None,
                         max_iterations: int | None = None, cancel_on_disconnect: bool = False) -> Request[None]:
        """Run an agent, streamed: `thinking`, `content`, `tool_call`, `tool_result`, `complete`, `done` (a failed
        run raises `ApiError` from the stream). The run goes on if you leave, unless `cancel_on_disconnect`."""
        return Request("POST", f"/agents/{_q(name)}/runs", body=_fields(
            task=task, model=model, max_iterations=max_iterations, stream=True,
            cancel_on_disconnect=cancel_on_disconnect or None))

    # -- chat --------------------------------------------------------------------------------------------------

    @stream
    def chat(message: str, *, model: str | None = None, temperature: float | None = None,
             show_thinking: bool = False, files: Mapping[str, str] | None = None, agent: str | None = None,
             cancel_on_disconnect: bool = False) -> Request[None]:
        """A chat answered by one agent run (the workspace's `chat` agent, else `base`, unless `agent`), streamed
        as `stream_agent_run` is; `files` ({name: content}) are attached to the message; `thinking` events only
        with `show_thinking`."""
        attached = [{"name": name, "content": content} for name, content in (files or {}).items()] or None
        return Request("POST", "/chat/stream", body=_fields(
            message=message, model=model, temperature=temperature, show_thinking=show_thinking or None,
            files=attached, agent=agent, cancel_on_disconnect=cancel_on_disconnect or None))

    @endpoint
    def chat_models() -> Request[dict[str, Any]]:
        """`{"models": [...]}`: the models in use, their providers and whether each is reachable."""
        return Request("GET", "/chat/models")

    # -- workflows and their runs ------------------------------------------------------------------------------

    @endpoint
    def list_workflows(limit: int | None = None, cursor: str | None = None) -> Request[WorkflowList]:
        return Request("GET", "/workflows", {"limit": limit, "cursor": cursor})

    @pages
    def iter_workflows(limit: int | None = None) -> Page[NamedRow]:
        return Page("GET", "/workflows", {"limit": limit}, items="workflows")

    @endpoint
    def get_workflow(name: str) -> Request[WorkflowDetail]:
        """A workflow as parsed, with its problems."""
        return Request("GET", f"/workflows/{_q(name)}")

    @endpoint
    def plan_workflow(name: str, inputs: Mapping[str, Any] | None = None, *,
                      model: str | None = None, dry_run: str | None = None) -> Request[PlanResult]:
        """Each step's estimated tokens and dollars, checked against every budget (no model is called)."""
        return Request("POST", f"/workflows/{_q(name)}/plan", body=_fields(inputs=inputs, model=model,
                                                                            dry_run=dry_run))

    @endpoint
    def run_workflow(name: str, inputs: Mapping[str, Any] | None = None, *,
                     model: str | None = None, dry_run: str | None = None,
                     auto_approve: bool = False) -> Request[RunStatus]:
        """Start a run; answers at once with its `run_id` and status (watch it with `run_events`)."""
        return Request("POST", f"/workflows/{_q(name)}/runs", body=_fields(
            inputs=inputs, model=model, dry_run=dry_run, auto_approve=auto_approve or None))

    @endpoint
    def list_runs(limit: int | None = None, cursor: str | None = None, *, status: str | None = None,
                  workflow: str | None = None, agent: str | None = None, since: str | None = None,
                  until: str | None = None) -> Request[dict[str, Any]]:
        """One page of workflow runs, newest first, that every filter given lets through: `{"runs": [...],
        "next_cursor": ...}` (the cursor keeps the filter). `since`/`until`: 7d, 12h, 30m or an ISO date."""
        return Request("GET", "/runs", {"limit": limit, "cursor": cursor, "status": status, "workflow": workflow,
                                        "agent": agent, "since": since, "until": until})

    @pages
    def iter_runs(limit: int | None = None, *, status: str | None = None, workflow: str | None = None,
                  agent: str | None = None, since: str | None = None, until: str | None = None) -> Page[dict[str, Any]]:
        return Page("GET", "/runs", {"limit": limit, "status": status, "workflow": workflow, "agent": agent,
                                     "since": since, "until": until}, items="runs")

    @endpoint
    def get_run(run_id: str) -> Request[RunStatus]:
        """A run's status and each step's."""
        return Request("GET", f"/runs/{_q(run_id)}")

    @stream
    def run_events(run_id: str, last_event_id: str | None = None) -> Request[None]:
        """A run's events (`workflow.*`, each with its id) as they happen, from its start or after `last_event_id`
        (a stream's `last_event_id` where you left it), ending with `done` once the run has finished. A broken
        connection is resumed by itself (after the last event received)."""
        return Request("GET", f"/runs/{_q(run_id)}/events", resumable=True,
                       headers={"Last-Event-ID": last_event_id} if last_event_id is not None else {})

    @endpoint
    def approve_step(run_id: str, step: str, comment: str | None = None, *,
                     resume: bool = True) -> Request[GateDecision]:
        """Approve the gate a run waits at; the run goes on (unless `resume=False`)."""
        return Request("POST", f"/runs/{_q(run_id)}/steps/{_q(step)}/approve",
                       body=_fields(comment=comment, resume=None if resume else False))

    @endpoint
    def reject_step(run_id: str, step: str, comment: str | None = None) -> Request[GateDecision]:
        """Reject the gate a run waits at: the step fails, and the steps that depend on it."""
        return Request("POST", f"/runs/{_q(run_id)}/steps/{_q(step)}/reject", body=_fields(comment=comment))

    @endpoint
    def workflow_tasks(role: str | None = None, run_id: str | None = None) -> Request[TaskList]:
        """The open human tasks (`type: human` steps waiting for an answer), for one role or run if given."""
        return Request("GET", "/tasks", {"role": role, "run_id": run_id})

    @endpoint
    def answer_task(run_id: str, step: str, data: dict[str, Any], *, resume: bool = True) -> Request[TaskAnswer]:
        """Answer a human task with `data`, checked against its form (a 422 lists what the form refused; the task
        stays open); the run goes on (unless `resume=False`)."""
        return Request("POST", f"/runs/{_q(run_id)}/steps/{_q(step)}/answer",
                       body=_fields(data=data, resume=None if resume else False))

    @endpoint
    def cancel_run(run_id: str) -> Request[RunStatus]:
        return Request("POST", f"/runs/{_q(run_id)}/cancel")

    @endpoint
    def resume_run(run_id: str) -> Request[RunStatus]:
        """Continue a stopped run; answers at once."""
        return Request("POST", f"/runs/{_q(run_id)}/resume")

    # -- governance --------------------------------------------------------------------------------------------

    @endpoint
    def cost_report(by: Order = "model", since: str | None = None) -> Request[CostReport]:
        """What model calls cost, grouped `by`, since a date or a duration (`7d`)."""
        return Request("GET", "/costs", {"by": by, "since": since})

    @endpoint
    def budget_status() -> Request[BudgetStatus]:
        return Request("GET", "/budgets")

    @endpoint
    def set_budget(kind: str, usd: float | None, *, agent: str | None = None) -> Request[BudgetStatus]:
        """Set a budget (`usd=None` removes the override) that takes precedence over the files."""
        return Request("PUT", f"/budgets/{_q(kind)}", body={"usd": usd, **_fields(agent=agent)})

    @endpoint
    def list_audit_entries(limit: int | None = None, cursor: str | None = None, *, actor: str | None = None,
                           action: str | None = None, subject: str | None = None, outcome: str | None = None,
                           since: str | None = None, until: str | None = None) -> Request[AuditPage]:
        """One page of the audit trail, newest first, that every filter given lets through."""
        return Request("GET", "/audit", {"limit": limit, "cursor": cursor, "actor": actor, "action": action,
                                         "subject": subject, "outcome": outcome, "since": since, "until": until})

    @pages
    def iter_audit_entries(limit: int | None = None, *, actor: str | None = None, action: str | None = None,
                           subject: str | None = None, outcome: str | None = None, since: str | None = None,
                           until: str | None = None) -> Page[dict[str, Any]]:
        """The audit trail, newest first, filtered."""
        return Page("GET", "/audit", {"limit": limit, "actor": actor, "action": action, "subject": subject,
                                      "outcome": outcome, "since": since, "until": until}, items="entries")

    @endpoint
    def verify_audit() -> Request[VerifyResult]:
        return Request("GET", "/audit/verify")

    @endpoint
    def policy_check(tool: str, *, agent: str | None = None,
                     workflow: str | None = None) -> Request[PolicyDecision]:
        """Whether the policies let `tool` run (for an agent, in a workflow), and by which rule."""
        return Request("POST", "/policy/check", body=_fields(tool=tool, agent=agent, workflow=workflow))

    # -- plugins, tools and skills -----------------------------------------------------------------------------

    @endpoint
    def list_tools(limit: int | None = None, cursor: str | None = None) -> Request[ToolList]:
        return Request("GET", "/tools", {"limit": limit, "cursor": cursor})

    @pages
    def iter_tools(limit: int | None = None) -> Page[ToolRow]:
        return Page("GET", "/tools", {"limit": limit}, items="tools")

    @endpoint
    def call_tool(name: str, arguments: Mapping[str, Any] | None = None) -> Request[JSON]:
        """Call a plugin tool under the workspace's policies."""
        return Request("POST", f"/tools/{_q(name)}/call", body=dict(arguments or {}))

    # -- memory ----------------------------------------------------------------------------------------------------

    @endpoint
    def memory_add(content: str, *, namespace: str | None = None, title: str | None = None,
                   metadata: Mapping[str, Any] | None = None, ttl_days: float | None = None) -> Request[MemoryEntry]:
        """Remember a fact in a namespace (`workspace` by default); the caller needs a policy grant for
        `memory_add`, as an agent does."""
        return Request("POST", "/memory", body=_fields(content=content, namespace=namespace, title=title,
                                                       metadata=metadata, ttl_days=ttl_days))

    @endpoint
    def memory_search(query: str, *, namespaces: list[str] | None = None, limit: int | None = None,
                      fts: bool = False) -> Request[Found]:
        """`{"entries": [...]}`, best match first; `fts`: the query is FTS5 syntax (a syntax error is a 422)."""
        return Request("POST", "/memory/search", body=_fields(query=query, namespaces=namespaces, limit=limit,
                                                              fts=fts or None))

    @endpoint
    def memory_forget(ids: list[int] | None = None, *, namespace: str | None = None) -> Request[Forgotten]:
        """Forget entries by id, or a whole namespace."""
        return Request("POST", "/memory/forget", body=_fields(ids=ids, namespace=namespace))

    @endpoint
    def memory_namespaces() -> Request[list[dict[str, Any]]]:
        """Every namespace with its entry count."""
        return Request("GET", "/memory/namespaces")

    @endpoint
    def memory_namespace(name: str) -> Request[list[dict[str, Any]]]:
        """The newest entries of a namespace."""
        return Request("GET", f"/memory/namespaces/{_q(name)}")

    @endpoint
    def memory_entry(entry_id: int) -> Request[dict[str, Any]]:
        return Request("GET", f"/memory/entries/{entry_id}")

    # -- time travel -----------------------------------------------------------------------------------------------

    @endpoint
    def replay_run(run_id: str) -> Request[ReplayReport]:
        """Re-execute a finished workflow run from its record ($0) and say which steps differ."""
        return Request("POST", f"/runs/{_q(run_id)}/replay")

    @endpoint
    def fork_run(run_id: str, step: str, *, inputs: Mapping[str, Any] | None = None,
                 model: str | None = None) -> Request[RunStatus]:
        """A new run reusing the recorded steps before `step` (a run in flight is a 409)."""
        return Request("POST", f"/runs/{_q(run_id)}/fork", body=_fields(step=step, inputs=inputs, model=model))

    @endpoint
    def diff_runs(run_a: str, run_b: str) -> Request[RunDiff]:
        return Request("GET", f"/runs/{_q(run_a)}/diff/{_q(run_b)}")

    @endpoint
    def replay_agent_run(agent_run: str) -> Request[ReplayReport]:
        return Request("POST", f"/agent-runs/{_q(agent_run)}/replay")

    @endpoint
    def list_plugins(limit: int | None = None, cursor: str | None = None) -> Request[PluginList]:
        return Request("GET", "/plugins", {"limit": limit, "cursor": cursor})

    @pages
    def iter_plugins(limit: int | None = None) -> Page[PluginRow]:
        return Page("GET", "/plugins", {"limit": limit}, items="plugins")

    @endpoint
    def list_skills(limit: int | None = None, cursor: str | None = None) -> Request[SkillList]:
        return Request("GET", "/skills", {"limit": limit, "cursor": cursor})

    @pages
    def iter_skills(limit: int | None = None) -> Page[NamedRow]:
        return Page("GET", "/skills", {"limit": limit}, items="skills")
