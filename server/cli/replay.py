"""``parac workflow replay|fork|diff`` and ``parac agents replay``: time travel over recorded runs.

Each is a thin face over :mod:`parac.core.replay`. ``replay`` exits 0 when every step reproduced its record and 1
when one differs (the report says which and why); ``fork`` behaves like ``workflow run`` (it is a new run);
``diff`` always exits 0 (a difference is its answer, not a failure).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from . import names
from .common import ExitCode, State, cli_actor, console, echo_json, pass_state
from .workflow import _inputs, _report, _runner

if TYPE_CHECKING:
    from parac.core.replay import ReplayReport


def _event(state: State, name: str, data: dict[str, Any]) -> None:
    """Replays make no call the hooks would see; the audit trail still records that one was made, and by whom."""
    state.host().hooks.event(name, {**data, "actor": cli_actor()})


@click.command("replay")
@click.argument("run_id", shell_complete=names.runs)
@click.option("--json", "as_json", is_flag=True)
@pass_state
def replay_workflow(state: State, run_id: str, as_json: bool) -> None:
    """Re-execute finished run RUN_ID from its record alone (no model call, no tool run, $0); report steps that
    differ. Exit 1 when one does."""
    import anyio

    from parac.core.replay import replay_workflow as replay

    report = anyio.run(replay, state.open_workspace(), run_id)
    _event(state, "workflow.run.replay", {"run_id": run_id, "identical": report.identical})
    _print_report(report, as_json)


@click.command("fork")
@click.argument("run_id", shell_complete=names.runs)
@click.option("--from", "step", required=True,
              help="The first step to run again; the steps it does not depend on keep their recorded outputs.")
@click.option("--input", "-i", "pairs", multiple=True, metavar="KEY=VALUE",
              help="Replace an input of the run (repeatable).")
@click.option("--model", "-m", help="Run the agent steps from STEP on with this model.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def fork_workflow(
    state: State, run_id: str, step: str, pairs: tuple[str, ...], model: str | None, as_json: bool
) -> None:
    """Start a new run of finished run RUN_ID that reuses its steps before --from STEP and runs STEP on for real."""
    import anyio

    from parac.core.replay import fork_workflow as fork

    inputs = _inputs(pairs)
    with _runner(state) as runner:
        result = anyio.run(lambda: fork(runner, run_id, step, inputs=inputs, model=model, text_inputs=True))
    _report(state, result, as_json)


@click.command("diff")
@click.argument("run_a", shell_complete=names.runs)
@click.argument("run_b", shell_complete=names.runs)
@click.option("--json", "as_json", is_flag=True)
@pass_state
def diff_workflow(state: State, run_a: str, run_b: str, as_json: bool) -> None:
    """Show step by step what changed between two runs: inputs, status, outputs and cost."""
    from parac.core.replay import diff_runs

    with _runner(state) as runner:
        data = diff_runs(runner.conn, run_a, run_b)
    if as_json:
        echo_json(data)
        return
    out = console()
    out.print(f"{run_a} ({data['status']['a']}, ${data['cost']['a']:.6f}) vs {run_b} "
              f"({data['status']['b']}, ${data['cost']['b']:.6f})")
    for key, values in data["inputs"].items():
        out.print(f"  input {key}: {values['a']!r} -> {values['b']!r}", markup=False)
    for side in ("a", "b"):
        if data["reused_cost"][side]:
            out.print(f"  {data[side]} reused steps whose work cost ${data['reused_cost'][side]:.6f} where it was done")
    for step in data["steps"]:
        a, b = step["a"] or {}, step["b"] or {}
        reused = "".join(f" ({name} reused from run {s['reused_from']['run_id']}, $0 here)"
                         for name, s in (("a", a), ("b", b)) if "reused_from" in s)
        if not step["changed"]:
            out.print(f"  {step['id']}: same{reused}", markup=False)
            continue
        parts = [f"{key} {_short(a.get(key))} -> {_short(b.get(key))}" for key in step["changed"]]
        out.print(f"  {step['id']}: " + "; ".join(parts) + reused, markup=False)


@click.command("replay")
@click.argument("agent_run")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def replay_agent(state: State, agent_run: str, as_json: bool) -> None:
    """Re-execute recorded agent run AGENT_RUN from its record (no model call, no tool run, $0). Exit 1 when a
    turn differs."""
    import anyio

    from parac.core.replay import replay_agent as replay

    report = anyio.run(replay, state.open_workspace(), agent_run)
    _event(state, "agent.run.replay", {"run_id": agent_run, "identical": report.identical})
    _print_report(report, as_json)


def _print_report(report: ReplayReport, as_json: bool) -> None:
    if as_json:
        echo_json(report.to_json())
    else:
        out = console()
        verdict = "reproduced every step" if report.identical else "differs"
        out.print(f"replay of {report.kind} run {report.run_id}: {verdict} ({report.model_calls} recorded model "
                  f"call(s) answered, $0)", markup=False)
        for step in report.steps:
            out.print(f"  {step.id}: {'same' if step.same else 'DIFFERS'}", markup=False)
            for line in step.differences:
                out.print(f"    {line}", markup=False)
    if not report.identical:
        raise click.exceptions.Exit(ExitCode.PROBLEMS)


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


@click.command("runs")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_state
def agent_runs(state: State, limit: int, as_json: bool) -> None:
    """Recorded agent runs, newest first: the ids `parac agents replay` takes."""
    from parac.core.replay import agent_runs as recorded

    rows = recorded(state.open_workspace(), limit=limit)
    if as_json:
        echo_json(rows)
        return
    from rich.table import Table

    table = Table("agent run", "agent", "status", "cost", "workflow run / step", box=None)
    for row in rows:
        where = f"{row['run_id']} / {row['step']}" if row["workflow"] else ""
        table.add_row(row["agent_run"], row["agent"], row["status"], f"${row['cost']:.6f}", where)
    console().print(table)
