"""MCP tools for time travel over recorded runs: ``replay_run``, ``fork_run``, ``diff_runs``, ``replay_agent_run``.

The same core calls as ``parac workflow replay|fork|diff`` and ``parac agents replay`` (:mod:`parac.core.replay`).
A replay calls no model and runs no tool; a fork is a new run, started and driven inside the call like
``run_workflow`` with ``wait=true``.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict

from parac.server.mcp.call import Call
from parac.server.mcp.faces import Faces

from .workflows_run import RunStatus, _runner, run_link, run_status


class StepReport(TypedDict):
    id: str
    same: bool
    recorded: dict[str, Any]
    replayed: dict[str, Any]
    differences: list[str]


class ReplayReport(TypedDict):
    run_id: str
    kind: str
    identical: bool
    steps: list[StepReport]
    model_calls: int
    cost_usd: float


class RunDiff(TypedDict):
    a: str
    b: str
    workflows: list[str]
    inputs: dict[str, Any]
    status: dict[str, Any]
    cost: dict[str, Any]
    reused_cost: dict[str, Any]
    """Per run, the cost of the steps it reused from another (spent there, not in ``cost``)."""
    same: bool
    steps: list[dict[str, Any]]


def register(faces: Faces) -> None:
    @faces.tool(output=ReplayReport, title="Replay a workflow run", links=run_link)
    async def replay_run(call: Call, run_id: str) -> ReplayReport:
        """Re-execute a finished workflow run from its record alone (no model call, no tool run, $0) and report
        each step whose result differs from the record, and why."""
        from parac.core.replay import replay_workflow

        report = await replay_workflow(await call.workspace(), run_id)
        (await call.host()).hooks.event(
            "workflow.run.replay", {"run_id": run_id, "identical": report.identical, "actor": call.actor})
        return ReplayReport(**report.to_json())  # type: ignore[typeddict-item]

    @faces.tool(output=ReplayReport, title="Replay an agent run")
    async def replay_agent_run(call: Call, agent_run: str) -> ReplayReport:
        """Re-execute a recorded agent run from its record (no model call, no tool run, $0), turn by turn."""
        from parac.core.replay import replay_agent

        report = await replay_agent(await call.workspace(), agent_run)
        (await call.host()).hooks.event(
            "agent.run.replay", {"run_id": agent_run, "identical": report.identical, "actor": call.actor})
        return ReplayReport(**report.to_json())  # type: ignore[typeddict-item]

    @faces.tool(role="operator", read_only=False, destructive=False, idempotent=False, open_world=True,
                long_running=True, output=RunStatus, title="Fork a workflow run", links=run_link)
    async def fork_run(
        call: Call, run_id: str, step: str, inputs: dict[str, Any] | None = None, model: str | None = None
    ) -> RunStatus:
        """Start a new run of a finished run's workflow that reuses the recorded outputs of the steps before
        `step` (no model call for them) and runs `step` and what follows for real, with inputs and the model
        optionally replaced. The new run names its parent (forked_from)."""
        from parac.core.replay import fork_workflow

        runner = await _runner(call)
        try:
            return run_status(await fork_workflow(runner, run_id, step, inputs=inputs, model=model))
        finally:
            runner.close()

    @faces.tool(output=RunDiff, title="Compare two workflow runs")
    async def diff_runs(call: Call, run_a: str, run_b: str) -> RunDiff:
        """Step by step, what changed between two workflow runs: inputs, status, outputs and cost."""
        from parac.core.replay import diff_runs as diff

        runner = await _runner(call)
        try:
            return RunDiff(**diff(runner.conn, run_a, run_b))  # type: ignore[typeddict-item]
        finally:
            runner.close()
