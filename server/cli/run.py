"""``parac agents run NAME --task TEXT``: run an agent from the command line.

The run goes through :class:`parac.core.runtime.Runtime` with the host's governance hooks, exactly as MCP's
``run_agent`` and workflow steps do. Text goes to stdout (as it arrives with ``--stream``); warnings (budget
thresholds) and the summary go to stderr, so ``--json`` output and piped text stay clean.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from parac.server.startup import loading

from . import names
from .common import ExitCode, State, echo_json, pass_state


@click.command("run")
@click.argument("name", shell_complete=names.agents)
@click.option("--task", "-t", required=True, help="What the agent should do; '-' reads it from stdin.")
@click.option("--model", "-m", help="Use this model instead of the agent's.")
@click.option("--fallback", "fallbacks", multiple=True, help="A model to try when the model fails (repeatable).")
@click.option("--max-iterations", type=click.IntRange(1, 1000), help="Override the agent's max_iterations.")
@click.option("--stream", is_flag=True, help="Print the answer as it arrives.")
@click.option("--show-thinking", is_flag=True, help="Print each phase of the agent's patterns (plans, critiques, scores, delegations) on stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print the result (output, usage, cost, transcript) as JSON.")
@pass_state
def run(
    state: State,
    name: str,
    task: str,
    model: str | None,
    fallbacks: tuple[str, ...],
    max_iterations: int | None,
    stream: bool,
    show_thinking: bool,
    as_json: bool,
) -> None:
    """Run agent NAME on a task; exit 1 unless it completes."""
    with loading():
        import anyio

        from parac.core.patterns import phase_line
        from parac.core.runtime import Runtime

    if task == "-":
        task = sys.stdin.read()
    if not task.strip():
        raise click.BadParameter("the task is empty", param_hint="--task")
    host = state.host()
    workspace = state.open_workspace()

    def on_event(event: str, data: dict[str, Any]) -> None:
        if event == "budget.threshold":
            click.echo(f"warning: {data['message']}", err=True)
        elif event == "agent.phase" and show_thinking:
            click.echo(phase_line(data), err=True)

    def on_text(text: str) -> None:
        click.echo(text, nl=False)

    async def main() -> Any:
        with Runtime(workspace, hooks=host.hooks, on_event=on_event) as runtime:
            return await runtime.run(
                name,
                task,
                model=model,
                fallbacks=fallbacks,
                max_iterations=max_iterations,
                on_text=on_text if stream and not as_json else None,
            )

    result = anyio.run(main)
    if as_json:
        echo_json(result.to_json())
    else:
        if stream:
            click.echo()
        elif result.output:
            click.echo(result.output)
        tokens = result.usage.prompt_tokens + result.usage.completion_tokens
        click.echo(
            f"{result.status}: {result.iterations} turn(s), {result.tool_calls} tool call(s), {tokens} tokens, "
            f"${result.cost_usd:.6f} ({result.model}, run {result.run_id})",
            err=True,
        )
        if result.error:
            click.echo(f"error: {result.error}", err=True)
    if not result.ok:
        raise click.exceptions.Exit(ExitCode.PROBLEMS)

