"""MCP tools for running agents and for what they cost: ``run_agent``, ``cost_report``, ``budget_status``.

``run_agent`` goes through :class:`parac.core.runtime.Runtime`, the same path as ``parac agents run`` and workflow
steps. While it runs, each model turn is a progress notification and each budget threshold a log message; a
client's cancellation stops the run at its next ``await`` (the ledger is settled first). An agent whose model is
``client`` is answered by the client's own model through MCP sampling, when the client offers it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field
from typing_extensions import TypedDict

from parac.core.diagnostics import ParacError
from parac.core.patterns import phase_line
from parac.core.providers import CLIENT_SAMPLER
from parac.server.mcp.call import Call, offer
from parac.server.mcp.channel import can_sample, sampler_for
from parac.server.mcp.faces import FaceError, Faces

if TYPE_CHECKING:
    from parac.core.providers import TextSink
    from parac.core.runtime import AgentResult, EventSink, StepSink


class RunUsage(TypedDict):
    prompt_tokens: int
    completion_tokens: int


class RunResult(TypedDict):
    run_id: str
    agent: str
    model: str
    status: str
    output: str
    error: str | None
    iterations: int
    tool_calls: int
    usage: RunUsage
    cost_usd: float
    cached_calls: int
    phases: list[dict[str, Any]]


class CostTotal(TypedDict):
    calls: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    unpriced_calls: int


class CostRow(CostTotal):
    key: str


class CostReport(TypedDict):
    by: str
    since: str | None
    rows: list[CostRow]
    total: CostTotal


class LimitRow(TypedDict):
    limit: str
    kind: str
    scope: str
    key: str
    limit_usd: float
    spent_usd: float
    in_flight_usd: float
    unsettled_usd: float
    reserved_usd: float
    remaining_usd: float
    percent: float | None


class CapRow(TypedDict):
    scope: str
    kind: str
    limit_usd: float
    source: str


class BudgetStatus(TypedDict):
    limits: list[LimitRow]
    per_scope_limits: list[CapRow]


def confined_model(model: str | None) -> str | None:
    """A model a client may name: ``scripted:PATH`` only with a PATH relative to the workspace (the provider reads
    it beneath the workspace's descriptor), so that a client cannot have any file on the server's disk read."""
    if model is not None and model.startswith("scripted:"):
        path = model.partition(":")[2]
        if path.startswith(("/", "~")) or not path:
            raise FaceError(f"model {model!r}: over MCP, scripted:PATH takes a path relative to the workspace")
    return model


async def agent_run(
    call: Call,
    agent: str,
    task: str,
    *,
    model: str | None = None,
    max_iterations: int | None = None,
    temperature: float | None = None,
    on_event: EventSink | None = None,
    on_text: TextSink | None = None,
    on_step: StepSink | None = None,
) -> AgentResult:
    """Run `agent` for `call`'s caller: what `run_agent` does, and the HTTP face's streamed runs and chats with
    their sinks (`parac.core.runtime.Runtime.run`)."""
    import dataclasses

    from parac.core.runtime import Runtime

    workspace = await call.workspace()
    host = await call.host()
    # Run as a task, the agent's run is the task: the same id in the ledger, the audit trail and tasks/get.
    context = dataclasses.replace(call.context, run_id=call.task_id) if call.task_id else call.context
    with Runtime(workspace, hooks=host.hooks, on_event=on_event) as runtime:
        return await runtime.run(agent, task, model=model, max_iterations=max_iterations, context=context,
                                 on_text=on_text, on_step=on_step, temperature=temperature)


def register(faces: Faces) -> None:
    @faces.tool(
        role="operator",
        read_only=False,
        destructive=True,  # the agent may use any tool it lists
        idempotent=False,
        open_world=True,  # it calls a model provider
        long_running=True,
        output=RunResult,
        title="Run an agent",
    )
    async def run_agent(
        call: Call,
        agent: str,
        task: str,
        model: str | None = None,
        max_iterations: int | None = None,
        wait: bool = True,
    ) -> RunResult:
        """Run an agent of the workspace on a task: its tools are called in a loop (under the workspace's
        policies) until it answers. Returns the answer, usage and cost. Sends progress as it starts, per model
        turn and per tool call. wait=false answers at once with the run's id (status running): the run goes on
        as an MCP task of that id (tasks/get, tasks/result)."""
        import anyio

        model = confined_model(model)
        if not wait and call.background is not None:
            run_id = await call.background()
            usage = RunUsage(prompt_tokens=0, completion_tokens=0)
            return RunResult(run_id=run_id, agent=agent, model=model or "", status="running", output="", error=None,
                             iterations=0, tool_calls=0, usage=usage, cost_usd=0.0, cached_calls=0, phases=[])
        send, receive = anyio.create_memory_object_stream[tuple[str, dict[str, Any]]](100)

        def on_event(name: str, data: dict[str, Any]) -> None:
            if name in ("agent.run.start", "agent.turn", "agent.tool", "agent.phase", "budget.threshold"):
                offer(send, (name, data))

        async def forward() -> None:
            sent = 0  # MCP progress must grow with every notification (nested runs count their own turns)
            tools_run = 0  # tool calls since the last turn: steps between two turns (fractions, so progress grows)
            started = False
            async with receive:
                async for name, data in receive:
                    if name == "agent.turn":
                        tools = ", ".join(data["tool_calls"]) or "answer"
                        sent, tools_run = sent + 1, 0
                        # a plain loop's turns count to max_iterations; with phases or nested runs, no total holds
                        total = data["max_iterations"] if sent == data["iteration"] else None
                        await call.progress(sent, total, f"turn {data['iteration']}: {tools} ({data['agent']})")
                    elif name == "agent.tool":
                        tools_run += 1
                        await call.progress(sent + tools_run / (tools_run + 1), None, f"running {data['tool']}")
                    elif name == "agent.run.start" and not started:  # the run's own start (not a delegate's)
                        started = True
                        await call.progress(0, None, f"{data['agent']} started on {data['model']}")
                    elif name == "agent.phase":
                        sent, tools_run = sent + 1, 0
                        await call.progress(sent, None, phase_line(data))
                    else:
                        await call.log("warning", data["message"])

        result = None
        problem: ParacError | None = None
        sampler = sampler_for(call) if can_sample(call) else None
        token = CLIENT_SAMPLER.set(sampler)
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(forward)
                try:
                    result = await agent_run(call, agent, task, model=model, max_iterations=max_iterations,
                                             on_event=on_event)
                except ParacError as exc:  # raised after the group, so the client sees it, not an ExceptionGroup
                    problem = exc
                finally:
                    send.close()
        finally:
            CLIENT_SAMPLER.reset(token)
        if problem is not None or result is None:
            raise FaceError(str(problem))
        if not result.ok:
            raise FaceError(f"agent run {result.run_id} {result.status}: {result.error}")
        return RunResult(**result.to_json(transcript=False))  # type: ignore[typeddict-item]

    @faces.tool(output=CostReport, title="Cost report")
    async def cost_report(call: Call, by: str = "model", since: str | None = None) -> CostReport:
        """What model calls cost, grouped by agent, model, provider, day, run or workflow; since is 7d, 12h,
        30m or a date (UTC)."""
        from parac.core.runtime import cost_report as report

        workspace = await call.workspace()
        try:
            data = await call.to_thread(report, workspace, by=by, since=since)
        except ValueError as exc:
            raise FaceError(str(exc)) from None
        for row in data["rows"]:
            row["key"] = str(row["key"])
        return CostReport(**data)  # type: ignore[typeddict-item]

    @faces.tool(role="admin", read_only=False, destructive=False, idempotent=True, output=BudgetStatus,
                title="Set a budget")
    async def set_budget(
        call: Call, kind: str, usd: Annotated[float | None, Field(ge=0)], agent: str | None = None
    ) -> BudgetStatus:
        """Set the limit `kind` (per_run, per_workflow, per_agent, daily, monthly, total) to `usd` dollars, for the
        workspace or one agent; usd null removes it (the files' limits apply again). Overrides the files, as
        `parac budget set` does. Returns every budget in force."""
        from parac.core.runtime import budget_status, set_budget as store

        workspace = await call.workspace()
        try:
            await call.to_thread(store, workspace, kind, usd, agent=agent)
        except ValueError as exc:
            raise FaceError(str(exc)) from None
        return BudgetStatus(**await call.to_thread(budget_status, workspace))  # type: ignore[typeddict-item]

    @faces.tool(output=BudgetStatus, title="Budget status")
    async def budget_status(call: Call) -> BudgetStatus:
        """Every budget in force, with dollars settled, in flight, unsettled after a crash, and remaining."""
        from parac.core.runtime import budget_status as status

        workspace = await call.workspace()
        return BudgetStatus(**await call.to_thread(status, workspace))  # type: ignore[typeddict-item]
