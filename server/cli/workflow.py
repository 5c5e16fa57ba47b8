"""``parac workflow …``: list, show, plan, run, watch, answer, resume and cancel workflow runs.

Everything goes through :class:`parac.core.workflows.runs.WorkflowRunner`, as the MCP tools do. For people, a run
shows a live table of its steps (rich, on a terminal) and says how to answer a gate it waits at; for scripts,
``--json`` prints ``{run_id, workflow, status, steps: [{id, status, output, error, attempts, cost}], outputs, cost,
error, forked_from}`` and nothing else on stdout. Exit status (:class:`~.common.ExitCode`): 0 when the run completed, 1 when it failed,
was cancelled or was refused, 3 when it stopped at a gate (``--no-wait``) and printed the command that answers it.
"""

from __future__ import annotations

import json
import logging
import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import LazyGroup, names
from .common import ExitCode, Paging, State, cli_actor, console, echo_json, paged, pass_state

if TYPE_CHECKING:
    from parac.core.workflows.engine import RunResult
    from parac.core.workflows.planning import Plan
    from parac.core.workflows.runs import WorkflowRunner

RECENT_RUNS = 20
"""How many runs `parac workflow runs` lists unless asked."""
OFFLINE_MODELS = ("echo", "fixed", "random")
STATUS_STYLE = {
    "pending": "dim",
    "running": "cyan",
    "retrying": "yellow",
    "waiting_approval": "magenta",
    "completed": "green",
    "skipped": "dim",
    "failed": "red",
    "cancelled": "red",
}


def _runner(state: State, on_event: Any = None) -> WorkflowRunner:
    from parac.core.calls import CallContext
    from parac.core.workflows.runs import WorkflowRunner

    host = state.host()
    context = CallContext(actor=cli_actor())
    return WorkflowRunner(state.open_workspace(), hooks=host.hooks, on_event=on_event, context=context)


def _dbos_runs(state: State) -> Any:
    """The dbos engine's client when the workspace runs on it (runs go to ``parac worker`` processes), else None."""
    from parac.core.engines import dbos_runs

    return dbos_runs(state.open_workspace())


def _run_on_dbos(state: State, runs: Any, name: str, pairs: tuple[str, ...], options: Any, as_json: bool) -> None:
    """Check and plan the run here (a budget refusal starts nothing), enqueue it, and wait for the workers."""
    from parac.core.workflows import RunResult

    with _runner(state) as runner:
        run_id, spec, inputs = runner.admit(name, _inputs(pairs), options, text_inputs=True)
    runs.enqueue(run_id, name, spec, inputs, options)
    if not as_json:
        _Progress(True, structured=state.json_logs).say(
            f"run {run_id} enqueued on {runs.queue}; waiting for a worker", "workflow.run.enqueued",
            {"run_id": run_id}, workflow=name, queue=runs.queue)
    _report(state, RunResult(**runs.wait(run_id)), as_json)


def _inputs(pairs: tuple[str, ...]) -> dict[str, str]:
    inputs: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--input")
        inputs[key.strip()] = value
    return inputs


def _dry_run_model(value: str | None) -> str | None:
    """``--dry-run echo|fixed|random|scripted:PATH`` → the offline model id (a script path made absolute)."""
    if value is None:
        return None
    if value == "fixed":
        return "fixed:dry run"
    if value.startswith("scripted:"):
        path = Path(value.partition(":")[2]).expanduser()
        if not path.is_file():
            raise click.BadParameter(f"no script file {str(path)!r}", param_hint="--dry-run")
        return f"scripted:{path.resolve()}"
    if value in OFFLINE_MODELS or value.startswith("fixed:"):
        return value
    raise click.BadParameter(
        f"{value!r} is not an offline provider (echo, fixed, fixed:TEXT, random, scripted:PATH)",
        param_hint="--dry-run",
    )


@click.group(cls=LazyGroup, lazy={
    "new": ("parac.server.cli.scaffold:new_workflow", "Create a workflow from a template."),
    "replay": ("parac.server.cli.replay:replay_workflow", "Re-execute a finished run from its record ($0)."),
    "fork": ("parac.server.cli.replay:fork_workflow", "Start a new run from a step of a finished run."),
    "diff": ("parac.server.cli.replay:diff_workflow", "Compare two runs step by step."),
})
def workflow() -> None:
    """Create, run, plan, approve and resume workflows."""


@workflow.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@paged
def list_workflows(state: State, as_json: bool, paging: Paging) -> None:
    """List the workflows of the workspace and of plugins."""
    workspace = state.open_workspace()
    catalog = workspace.catalog
    rows = []
    for name, entry in sorted(workspace.workflows.items()):
        spec = entry.spec
        rows.append({"name": name, "description": spec.description if spec else None,
                     "steps": _size(spec) if spec else None, "origin": "workspace",
                     "file": str(entry.path) if entry.path else None, "ok": spec is not None})
    for name, contribution in sorted((catalog.workflows if catalog else {}).items()):
        if name not in workspace.workflows:
            spec = contribution.value
            rows.append({"name": name, "description": spec.description, "steps": _size(spec),
                         "origin": contribution.origin, "file": None, "ok": True})
    span = paging.span([f"{row['origin'] != 'workspace':d}:{row['name']}" for row in rows], "workflow list")  # in order
    rows = rows[span.start : span.stop]
    if as_json:
        paging.echo("workflows", rows, span)
        return
    from rich.table import Table

    table = Table("workflow", "steps", "from", "description", box=None)
    for row in rows:
        table.add_row(row["name"], str(row["steps"] or "?"), row["origin"], row["description"] or "")
    console().print(table)


def _size(spec: Any) -> int:
    """Steps of a DAG, states of a state machine."""
    return len(spec.steps) + len(spec.states or {})


@workflow.command("show")
@click.argument("name", shell_complete=names.workflows)
@click.option("--json", "as_json", is_flag=True)
@pass_state
def show_workflow(state: State, name: str, as_json: bool) -> None:
    """Show a workflow: inputs, steps with their dependencies, outputs."""
    from parac.core.workflows.services import workflow_spec

    spec = workflow_spec(state.open_workspace(), name)
    data = {"name": name, **spec.model_dump(mode="json", exclude_none=True)}
    if as_json:
        echo_json(data)
        return
    from rich.text import Text

    out = console()
    out.print(Text.assemble((name, "bold"), f": {spec.description or ''}"))
    for input_name, declared in spec.inputs.items():
        required = "required" if declared.required else f"default {declared.default!r}"
        out.print(Text.assemble("  input ", (input_name, "cyan"), f" ({declared.type}, {required})"))
    for step in spec.steps:
        target = " " + (step.agent_name or step.tool or step.workflow) if step.type != "approval" else ""
        after = f" after {', '.join(step.depends_on)}" if step.depends_on else ""
        when = f" when {step.when}" if step.when else ""
        out.print(Text.assemble("  step ", (step.id, "bold"), f" ({step.type}{target}){after}{when}"))
    for state_name, held in (spec.states or {}).items():
        first = " (initial)" if state_name == spec.initial else ""
        if held.final:
            out.print(Text.assemble("  state ", (state_name, "bold"), f"{first} final"))
            continue
        target = held.agent or held.tool or held.workflow or held.assign or (state_name if held.type == "agent" else "")
        ways = ", ".join(t.to + (f" when {t.when}" if t.when else "") for t in held.transitions)
        out.print(Text.assemble("  state ", (state_name, "bold"), f"{first} ({held.type} {target}) -> {ways}"))
    if spec.planner:
        out.print(Text.assemble("  planner ", (spec.planner, "bold"), f" for: {spec.goal}; fallback {spec.fallback}"))
    if spec.root is not None:
        from parac.core.workflows.behavior_tree import walk

        for loc, node in walk(spec.root):
            depth = sum(isinstance(part, int) or part in ("child", "invert") for part in loc)
            what = node.action.id if node.action else node.condition if node.condition is not None else node.kind
            out.print("  " + "  " * depth + (f"{node.kind} " if node.kind in ("action", "condition") else "") + str(what))


def _print_plan(plan: Plan) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table("step", "type", "agent", "model", "tokens in", "tokens out (max)", "USD", box=None)
    for step in plan.steps:
        usd = f"{step.usd:.4f}" if step.priced else "unpriced"
        table.add_row(
            step.id + (" (if)" if step.conditional else ""), step.kind, step.agent or "", step.model or "",
            str(step.prompt_tokens or ""), str(step.max_completion_tokens or ""), usd if step.kind == "agent" else "",
        )
    out = console()
    out.print(table)
    out.print(f"total (first turn of every agent step): ${plan.total_usd:.4f}")
    for check in plan.budgets:
        mark = ("ok", "green") if check.ok else ("would break", "red")
        out.print(Text.assemble(
            f"  {check.limit}: spent ${check.spent_usd:.4f} + planned ${check.planned_usd:.4f}"
            f" of ${check.limit_usd:.4f} ", mark
        ))


def _plan(state: State, name: str, pairs: tuple[str, ...], dry_run: str | None, as_json: bool) -> None:
    with _runner(state) as runner:
        plan = runner.plan(name, _inputs(pairs), model=_dry_run_model(dry_run), text_inputs=True)
    if as_json:
        echo_json(plan.to_json())
    else:
        _print_plan(plan)
    refusal = plan.refusal()
    if refusal:
        click.echo(f"error: {refusal}", err=True)
        raise click.exceptions.Exit(ExitCode.PROBLEMS)


_input_option = click.option("--input", "-i", "pairs", multiple=True, metavar="KEY=VALUE",
                             help="A workflow input (repeatable); converted to the input's declared type.")
_dry_run_option = click.option("--dry-run", metavar="echo|fixed|random|scripted:PATH",
                               help="Run every agent step on this offline provider.")


@workflow.command("plan")
@click.argument("name", shell_complete=names.workflows)
@_input_option
@_dry_run_option
@click.option("--json", "as_json", is_flag=True)
@pass_state
def plan_command(state: State, name: str, pairs: tuple[str, ...], dry_run: str | None, as_json: bool) -> None:
    """Estimate tokens and dollars per step and check every budget, without calling a model."""
    _plan(state, name, pairs, dry_run, as_json)


@workflow.command("run")
@click.argument("name", shell_complete=names.workflows)
@_input_option
@_dry_run_option
@click.option("--plan", "plan_only", is_flag=True, help="Print the plan and stop (nothing runs).")
@click.option("--yes", "-y", is_flag=True, help="Approve every gate (for CI).")
@click.option("--no-wait", is_flag=True, help="Stop at the first gate nobody answered (exit 3); `approve` continues.")
@click.option("--concurrency", type=click.IntRange(1, 256), help="Steps that may run at once.")
@click.option("--show-thinking", is_flag=True, help="Print agents' phases (plans, critiques, scores) and council answers on stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON when it ends.")
@pass_state
def run_command(
    state: State, name: str, pairs: tuple[str, ...], dry_run: str | None, plan_only: bool, yes: bool,
    no_wait: bool, concurrency: int | None, show_thinking: bool, as_json: bool,
) -> None:
    """Run workflow NAME and wait for it (gates included) to finish."""
    if plan_only:
        _plan(state, name, pairs, dry_run, as_json)
        return
    from parac.core.workflows import RunOptions

    options = RunOptions(model=_dry_run_model(dry_run), auto_approve=yes, max_concurrency=concurrency,
                         pause_on_approval=no_wait)
    runs = _dbos_runs(state)
    if runs is not None:
        try:
            _run_on_dbos(state, runs, name, pairs, options, as_json)
        finally:
            runs.close()
        return
    progress = _Progress(not as_json, structured=state.json_logs, auto_approve=yes, show_thinking=show_thinking,
                         announce_gates=not no_wait)
    with _runner(state, progress.on_event) as runner:
        run_id = runner.create(name, _inputs(pairs), options, text_inputs=True)
        progress.begin(run_id, name)
        result = progress.drive(lambda: runner.execute(run_id))
    _report(state, result, as_json)


@workflow.command("resume")
@click.argument("run_id", required=False, shell_complete=names.runs)
@click.option("--all", "every", is_flag=True, help="Resume every run that no process is running (e.g. at start-up).")
@click.option("--yes", "-y", is_flag=True, help="Approve every gate still to come.")
@click.option("--no-wait", is_flag=True, help="Stop again at a gate nobody answered.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def resume_command(state: State, run_id: str | None, every: bool, yes: bool, no_wait: bool, as_json: bool) -> None:
    """Continue a run that was stopped (killed, or paused at a gate); finished steps are not run again."""
    from parac.core.workflows import checkpoints as cp

    if bool(run_id) == every:
        raise click.UsageError("give either a RUN_ID or --all")
    runs = _dbos_runs(state)
    if runs is not None:  # workers recover interrupted runs by themselves: a cancelled one is resumed
        if every or run_id is None:
            runs.close()
            raise click.UsageError("on the dbos engine, workers recover interrupted runs: resume one cancelled RUN_ID")
        from parac.core.workflows import RunResult

        try:
            runs.resume(run_id)
            _report(state, RunResult(**runs.wait(run_id)), as_json)
        finally:
            runs.close()
        return
    # one paused run: `_report` says how
    progress = _Progress(not as_json, structured=state.json_logs, announce_gates=every or not no_wait)
    results = []
    with _runner(state, progress.on_event) as runner:
        targets = [run.run_id for run in cp.interrupted_runs(runner.conn)] if every else [run_id]
        for target in targets:
            pause = no_wait or (every and not yes)  # unattended: never block on a gate
            results.append(_resume(runner, progress, target, yes=yes, pause=pause))
    if not every:
        _report(state, results[0], as_json)
        return
    if as_json:
        echo_json([result.to_json() for result in results])
    else:
        for result in results:
            _print_result(result)
        if not results:
            click.echo("no interrupted runs")
    if any(result.status not in ("completed", "waiting_approval") for result in results):
        raise click.exceptions.Exit(ExitCode.PROBLEMS)


def _resume(runner: WorkflowRunner, progress: _Progress, run_id: str, *, yes: bool, pause: bool | None) -> RunResult:
    """Drive a stopped run on with the options it was started with (``pause=None`` keeps its own gate rule)."""
    from parac.core.workflows import RunOptions
    from parac.core.workflows import checkpoints as cp

    run = cp.get_run(runner.conn, run_id)
    options = RunOptions.from_json(run.options)
    options.auto_approve = options.auto_approve or yes
    if pause is not None:
        options.pause_on_approval = pause
    progress.begin(run_id, run.workflow)
    return progress.drive(lambda: runner.resume(run_id, options))


@workflow.command("status")
@click.argument("run_id", shell_complete=names.runs)
@click.option("--json", "as_json", is_flag=True)
@pass_state
def status_command(state: State, run_id: str, as_json: bool) -> None:
    """Show a run: its status, each step's status, output, error, attempts and cost."""
    runs = _dbos_runs(state)
    if runs is not None:
        from parac.core.workflows import RunResult

        try:
            result, waiting = RunResult(**runs.status(run_id)), runs.waiting(run_id)
        finally:
            runs.close()
    else:
        with _runner(state) as runner:
            result = runner.status(run_id)
            waiting = runner.waiting(run_id)
    if as_json:
        echo_json(result.to_json())
        return
    _print_result(result)
    for gate in waiting:
        click.echo(f"waiting: parac workflow approve {gate['run_id']} {gate['step_id']}  ({gate['message']})")


@workflow.command("runs")
@click.option("--workflow", "name", help="Only runs of this workflow.")
@click.option("--limit", type=click.IntRange(1, 10_000), help=f"At most this many runs (default {RECENT_RUNS}).")
@click.option("--cursor", help="The runs after the page whose next_cursor this is (with --json).")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def runs_command(state: State, name: str | None, limit: int | None, cursor: str | None, as_json: bool) -> None:
    """List recent runs, newest first. With --json and --limit or --cursor, a page: {runs, next_cursor}."""
    from parac.core.workflows.checkpoints import RunFilter

    from .common import CURSOR_KEY

    runs = _dbos_runs(state)
    if runs is not None:
        try:
            rows, next_cursor = runs.runs(limit=limit or RECENT_RUNS, where=RunFilter(workflow=name), cursor=cursor)
        finally:
            runs.close()
    else:
        with _runner(state) as runner:
            rows, next_cursor = runner.runs_page(limit=limit or RECENT_RUNS, where=RunFilter(workflow=name),
                                                 cursor=cursor, secret=CURSOR_KEY)
    if as_json and (limit is not None or cursor is not None):
        echo_json({"runs": rows, "next_cursor": next_cursor})
        return
    if as_json:
        echo_json(rows)
        return
    from rich.table import Column, Table

    # the error takes the width that is left: a run's status and start time are never cut or wrapped
    fixed = [Column(header, no_wrap=True) for header in ("run", "workflow", "status", "started")]
    table = Table(*fixed, "error", box=None)
    for row in rows:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["created_at"]))
        table.add_row(row["run_id"], row["workflow"], _status(row["status"]), started, row["error"] or "")
    console().print(table)


def _decide(
    state: State, run_id: str, step: str, approved: bool, comment: str | None, as_json: bool, resume: bool = False
) -> None:
    """Record the decision; with ``resume``, also drive the run on when no process is running it (one command for
    a gate a ``run --no-wait`` stopped at). A process that is running it goes on by itself. With the dbos engine
    the decision is a message to the waiting gate, which goes on on whichever worker holds it."""
    runs = _dbos_runs(state)
    if runs is not None:
        try:
            data = runs.decide(run_id, step, approved=approved, actor=cli_actor(), comment=comment)
        finally:
            runs.close()
        if as_json:
            echo_json(data)
        else:
            click.echo(f"step {step} of run {run_id} {data['status']} by {data['by']}")
        return
    progress = _Progress(not as_json, structured=state.json_logs)
    with _runner(state, progress.on_event) as runner:
        data = runner.decide(run_id, step, approved=approved, comment=comment)
        if not as_json:
            click.echo(f"step {step} of run {run_id} {data['status']} by {data['by']}")
        if resume and data["resumable"]:
            result = _resume(runner, progress, run_id, yes=False, pause=None)
            _report(state, result, as_json)
            return
    if as_json:
        echo_json(data)
    elif data["resumable"]:
        click.echo(f"no process is running it now: continue with `{_command(state, 'resume', run_id)}`")


@workflow.command("approve")
@click.argument("run_id", shell_complete=names.runs)
@click.argument("step")
@click.option("--comment", "-c", help="Why (kept with the decision and in the audit trail).")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Continue the run here when no process is running it (--no-resume only records the decision).")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON when it ends (the decision with --no-resume).")
@pass_state
def approve_command(state: State, run_id: str, step: str, comment: str | None, resume: bool, as_json: bool) -> None:
    """Approve a gate a run waits at, and continue the run."""
    _decide(state, run_id, step, True, comment, as_json, resume)


@workflow.command("reject")
@click.argument("run_id", shell_complete=names.runs)
@click.argument("step")
@click.option("--comment", "-c", help="Why (kept with the decision and in the audit trail).")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def reject_command(state: State, run_id: str, step: str, comment: str | None, as_json: bool) -> None:
    """Reject a gate a run waits at; the gate's step fails, and so do the steps after it."""
    _decide(state, run_id, step, False, comment, as_json)


@workflow.command("answer")
@click.argument("run_id", shell_complete=names.runs)
@click.argument("step")
@click.option("--data", "data_text", required=True, help="The answer: a JSON object that satisfies the task's form.")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Continue the run here when no process is running it (--no-resume only records the answer).")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON when it ends (the task with --no-resume).")
@pass_state
def answer_command(state: State, run_id: str, step: str, data_text: str, resume: bool, as_json: bool) -> None:
    """Answer a human task a run waits at (checked against its form; a refused answer leaves it open)."""
    try:
        data = json.loads(data_text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--data") from None
    progress = _Progress(not as_json, structured=state.json_logs)
    with _runner(state, progress.on_event) as runner:
        done = runner.answer(run_id, step, data)
        if not as_json:
            click.echo(f"task {step} of run {run_id} answered by {done['actor']}")
        if resume and done["resumable"]:
            _report(state, _resume(runner, progress, run_id, yes=False, pause=None), as_json)
            return
    if as_json:
        echo_json(done)
    elif done["resumable"]:
        click.echo(f"no process is running it now: continue with `{_command(state, 'resume', run_id)}`")


@workflow.command("tasks")
@click.option("--role", help="Only tasks this role holds now.")
@click.option("--run", "run_id", help="Only tasks of this run.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def tasks_command(state: State, role: str | None, run_id: str | None, as_json: bool) -> None:
    """List open human tasks, oldest first (escalated first when their time has come)."""
    with _runner(state) as runner:
        tasks = runner.tasks(role, run_id)
    if as_json:
        echo_json(tasks)
        return
    for task in tasks:
        click.echo(f"{task['run_id']} {task['step_id']} [{task['role']}] {task['message'] or ''}\n"
                   f"  answer with: {_command(state, 'answer', task['run_id'], task['step_id'], '--data', '{...}')}")
    if not tasks:
        click.echo("no open tasks")


@workflow.command("cancel")
@click.argument("run_id", shell_complete=names.runs)
@click.option("--json", "as_json", is_flag=True)
@pass_state
def cancel_command(state: State, run_id: str, as_json: bool) -> None:
    """Stop a run: the process running it stops its steps cleanly; a run nobody runs is cancelled at once."""
    runs = _dbos_runs(state)
    if runs is not None:
        try:
            runs.cancel(run_id)
        finally:
            runs.close()
        click.echo(f"run {run_id} cancelled")
        return
    with _runner(state) as runner:
        result = runner.cancel(run_id)
    if as_json:
        echo_json(result.to_json())
    elif result.status == "cancelled":
        click.echo(f"run {run_id} cancelled")
    else:
        click.echo(f"run {run_id}: cancellation requested; the process running it will stop it")


def _command(state: State, *words: str) -> str:
    """A ``parac workflow …`` command line to paste, naming the workspace when one was given."""
    workspace = ("-w", state.workspace) if state.workspace else ()
    return shlex.join(["parac", *workspace, "workflow", *words])


def _report(state: State, result: RunResult, as_json: bool) -> None:
    if as_json:
        echo_json(result.to_json())
    else:
        _print_result(result)
    if result.status == "waiting_approval":
        for step in result.steps:
            if step["status"] != "waiting_approval":
                continue
            if "task" in step:  # on stderr: a script reading --json must still be told
                click.echo(f"waiting for {step['task']['role']}; answer with: "
                           f"{_command(state, 'answer', result.run_id, step['id'], '--data', '{...}')}", err=True)
            else:
                click.echo(f"waiting for a person; approve with: {_command(state, 'approve', result.run_id, step['id'])}"
                           f"  (or reject)", err=True)
        raise click.exceptions.Exit(ExitCode.WAITING)
    if result.status != "completed":
        raise click.exceptions.Exit(ExitCode.PROBLEMS)


def _print_result(result: RunResult) -> None:
    """The run, each step with the start of its output, then the workflow's outputs in full: what a person ran it for."""
    from rich.text import Text

    out = console()
    out.print(Text.assemble(f"run {result.run_id} ({result.workflow}): ", _status(result.status),
                            f" cost ${result.cost:.6f}"))
    if result.forked_from:
        fork = result.forked_from
        out.print(f"  forked from run {fork['run_id']} at step {fork['step']}; its reused steps cost"
                  f" ${fork.get('reused_cost', 0.0):.6f} there, not counted here")
    path = [step["state"] for step in result.steps if "state" in step]
    if path:
        out.print("path: " + " -> ".join(path))
    for step in result.steps:
        line = Text.assemble(f"  {step['id']}: ", _status(step["status"]))
        if step["attempts"] > 1:
            line.append(f" after {step['attempts']} attempts")
        if step["cost"]:
            line.append(f" ${step['cost']:.6f}")
        if "reused_from" in step:
            there = step["reused_from"]["cost"]
            line.append(f" reused from run {step['reused_from']['run_id']}"
                        + (f" (${there:.6f} there)" if there is not None else ""))
        if step["error"]:
            line.append(f" ({step['error']})")
        elif step["output"] is not None:
            line.append(f"  {_first_line(step['output'])}")
        out.print(line)
    if isinstance(result.outputs, dict) and result.outputs:
        out.print("outputs:")
        for name, value in result.outputs.items():
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
            out.print(f"  {name}: " + text.rstrip().replace("\n", "\n    "))
    if result.error:
        out.print(f"error: {result.error}")


def _status(status: str) -> Any:
    from rich.text import Text

    return Text(status, style=STATUS_STYLE.get(status, ""))


def _first_line(value: Any, width: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    line = text.strip().split("\n", 1)[0]
    return line if len(line) <= width and line == text.strip() else line[: width - 1].rstrip() + "…"


class _Progress:
    """Step-by-step progress on stderr: a live table on a terminal, one line per event otherwise, and with
    ``--log-format json`` one JSON object per event (``structured``: the logger ``parac.cli.progress``, the event's
    name, run id, step and status as fields beside the message).

    With ``--json`` only the approval prompts are printed (still on stderr): a gate must say how to answer it,
    unless the run stops at it (``announce_gates=False``: the report that ends the command says how, once).
    """

    def __init__(
        self, enabled: bool, *, structured: bool = False, auto_approve: bool = False, show_thinking: bool = False,
        announce_gates: bool = True,
    ) -> None:
        self.enabled = enabled
        self.structured = structured
        self.auto_approve = auto_approve  # --yes answers every gate: nobody needs telling how
        self.show_thinking = show_thinking  # --show-thinking: agents' phases and council answers, on stderr
        self.announce_gates = announce_gates
        self.run_id = ""
        self.rows: dict[str, dict[str, Any]] = {}
        self.live: Any = None
        self.err: Any = None

    def begin(self, run_id: str, name: str) -> None:
        from rich.console import Console

        self.run_id = run_id
        self.err = Console(stderr=True, highlight=False)
        if self.enabled:
            self.say(f"run {run_id} of workflow {name}", "workflow.run.start", {"run_id": run_id}, workflow=name)

    def drive(self, run: Any) -> RunResult:
        import anyio

        if self.enabled and not self.structured and self.err.is_terminal:
            from rich.live import Live

            # rebuilt at each refresh, so the time of a running step keeps counting between events
            with Live(console=self.err, refresh_per_second=4, get_renderable=self._table) as self.live:
                return anyio.run(run)
        return anyio.run(run)

    def say(self, text: str, event: str, data: dict[str, Any], **more: Any) -> None:
        """One line of progress: text, or under ``--log-format json`` an event whose fields name the run and step."""
        if not self.structured:
            if self.err is None:
                from rich.console import Console

                self.err = Console(stderr=True, highlight=False)
            self.err.print(text, markup=False)
            return
        fields = {"event": event, "run_id": data.get("run_id") or self.run_id, "step": data.get("step"), **more}
        logging.getLogger("parac.cli.progress").info(
            text.strip(), extra={"fields": {key: value for key, value in fields.items() if value is not None}}
        )

    def on_event(self, name: str, data: dict[str, Any]) -> None:
        if self.err is None:
            return
        if self.show_thinking:
            self._thinking(name, data)
        if name == "workflow.approval.requested" and self.auto_approve:
            if self.enabled:
                self.say(f"  {data.get('step')}: approved with --yes ({data.get('message')})", name, data,
                          status="approved")
        elif name == "workflow.approval.requested" and self.announce_gates:  # say how, even to scripts (on stderr)
            answer = f"parac workflow approve {data.get('run_id')} {data.get('step')}"
            self.say(f"waiting for approval: {data.get('message')}\n  answer with: {answer}   (or reject)", name, data,
                      status="waiting_approval", answer=answer)
        elif name == "workflow.task.assigned":
            answer = f"parac workflow answer {data.get('run_id')} {data.get('step')} --data '{{...}}'"
            self.say(f"waiting for {data.get('role')}: {data.get('message')}\n  answer with: {answer}", name, data,
                      status="waiting", role=data.get("role"), answer=answer)
        if not self.enabled:
            return
        if name == "budget.threshold":
            self.say(f"warning: {data['message']}", name, data)
        step = data.get("step")
        if not name.startswith("workflow.") or step is None:
            return
        row = self.rows.setdefault(f"{data.get('run_id')}/{step}", {"started": time.monotonic()})
        row.update(step=step, run=data.get("run_id"))
        status = {"workflow.step.start": "running", "workflow.step.retry": "retrying",
                  "workflow.approval.requested": "waiting_approval"}.get(name, data.get("status"))
        if status:
            row["status"] = status
        if name == "workflow.step.start":
            row["started"] = time.monotonic()
            row["attempt"] = data.get("attempt", 1)
        if name in ("workflow.step.end", "workflow.step.skip"):
            row["seconds"] = time.monotonic() - row["started"]
        if self.live is None:
            self._line(name, data, row)

    def _thinking(self, name: str, data: dict[str, Any]) -> None:
        from parac.core.patterns import phase_line

        if name == "agent.phase":
            self.say(f"  {phase_line(data)}", name, data)
        elif name == "workflow.council.answer":
            answer = _first_line(data.get("answer") or data.get("error") or "")
            self.say(f"  {data.get('step')}: {data.get('agent')} (round {data.get('round')}): {answer}", name, data)
        elif name == "workflow.council.decision":
            self.say(f"  {data.get('step')}: decided ({data.get('strategy')}): {_first_line(data.get('decision'))}",
                      name, data)

    def _line(self, name: str, data: dict[str, Any], row: dict[str, Any]) -> None:
        step = row["step"]
        if name == "workflow.step.start":
            attempt = f" (attempt {row['attempt']})" if row.get("attempt", 1) > 1 else ""
            self.say(f"  {step}: running{attempt}", name, data, status="running", attempt=row.get("attempt", 1))
        elif name == "workflow.step.retry":
            self.say(f"  {step}: retrying in {data.get('delay_s', 0):.1f}s: {data.get('error')}", name, data,
                      status="retrying", delay_s=data.get("delay_s"), error=data.get("error"))
        elif name in ("workflow.step.end", "workflow.step.skip"):
            error = f": {data['error']}" if data.get("error") else ""
            self.say(f"  {step}: {row['status']} ({row.get('seconds', 0):.1f}s){error}", name, data,
                      status=row["status"], seconds=round(row.get("seconds", 0), 3), error=data.get("error"))

    def _table(self) -> Any:
        from rich.table import Table

        table = Table("step", "status", "attempt", "time", box=None)
        for row in list(self.rows.values()):  # the refresh thread reads while events write
            status = row.get("status", "pending")
            seconds = row.get("seconds", time.monotonic() - row["started"])
            label = row["step"] if row["run"] == self.run_id else f"{row['run'].rpartition('.')[2]}/{row['step']}"
            table.add_row(label, _status(status), str(row.get("attempt", "")),
                          f"{seconds:.1f}s")
        return table
