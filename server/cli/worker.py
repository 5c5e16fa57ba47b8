"""``parac worker`` and ``parac workers``: the worker processes of the dbos engine (``engine: {kind: dbos}``).

A worker serves one queue of the workspace's project: it takes runs and their steps from Postgres, beats a
heartbeat, and recovers the runs of workers whose heartbeat stopped (:mod:`parac.core.engines.dbos`).
"""

from __future__ import annotations

import signal
import threading

from typing import TYPE_CHECKING

import click

from .common import cli_actor, echo_json, pass_state

if TYPE_CHECKING:
    from .common import State


def dbos_choice(state: State):
    """The workspace's dbos engine setting, or a clear refusal when the workspace runs the embedded engine."""
    from parac.core.diagnostics import ParacError
    from parac.core.engines import engine_choice

    choice = engine_choice(state.open_workspace())
    if choice.kind != "dbos":
        raise ParacError("this workspace runs the embedded engine: set engine: {kind: dbos, database_url: ...} in "
                         "parac.yaml (or PARAC_DATABASE_URL) to use workers")
    return choice


@click.command("worker")
@click.option("--queue", help="The queue to serve (default: engine.queue of parac.yaml, else parac).")
@click.option("--concurrency", type=click.IntRange(1, 1024), default=8, show_default=True,
              help="Runs, and steps, this worker executes at once.")
@click.option("--id", "executor_id", help="A stable executor id (default HOST:QUEUE:N, the lowest N free).")
@pass_state
def worker(state: State, queue: str | None, concurrency: int, executor_id: str | None) -> None:
    """Execute workflow runs from the database's queue until stopped (SIGTERM or Ctrl-C)."""
    from parac.core.calls import CallContext
    from parac.core.engines.dbos import Worker
    from parac.core.workflows.services import WorkspaceServices

    from parac.core.engines.dbos import check_database
    from parac.core.engines.spend import SharedSpend
    from parac.core.runtime import agent_budgets, spending_settings

    choice = dbos_choice(state)
    url = choice.database_url or ""
    check_database(url)
    host = state.host()
    workspace = state.open_workspace()
    spend = SharedSpend(host.hooks, url, spending_settings(workspace).budgets, agent_budgets=agent_budgets(workspace))
    services = WorkspaceServices(workspace, hooks=spend, context=CallContext(actor=cli_actor()))
    process = Worker(url, services, queue=queue or choice.queue, concurrency=concurrency, executor_id=executor_id,
                     spend=spend)
    process.launch()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    click.echo(f"worker {process.executor_id} serving queue {process.queue} (concurrency {concurrency})", err=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        process.close()
        services.close()
        spend.close()


@click.command("workers")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def workers(state: State, as_json: bool) -> None:
    """List the workers of the workspace's database, live or lately gone, with their load."""
    from parac.core.engines import dbos_runs

    dbos_choice(state)  # or the refusal of an embedded workspace
    runs = dbos_runs(state.open_workspace())
    try:
        rows = runs.workers()
    finally:
        runs.close()
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        state_word = "alive" if row["alive"] else f"silent {row['heartbeat_age_s']}s"
        click.echo(f"{row['executor_id']}  pid {row['pid']}  queue {row['queue']}  load {row['load']}/"
                   f"{row['concurrency']}  parac {row['version']}  {state_word}")
