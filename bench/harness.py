"""Shared pieces of the benchmarks: timing commands and generating large workspaces.

Every benchmark prints a ratio against a peer measured in the same run on the same machine, so the figures
mean something on any machine.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def time_command(argv: list[str], *, runs: int = 9, warmup: int = 2, cwd: Path | None = None, env: dict | None = None) -> float:
    """Median wall time in seconds of running ``argv`` to completion."""
    return time_commands([(argv, cwd, env)], runs=runs, warmup=warmup)[0]


Command = tuple[list[str], "Path | None", "dict | None"]  # argv, working directory, extra environment


def time_commands(commands: list[Command], *, runs: int = 9, warmup: int = 2) -> list[float]:
    """Median wall time in seconds of each command, the commands taking turns run by run.

    Taking turns matters on shared machines, whose speed drifts over seconds: a command and its peer then see the
    same drift, so their ratio holds even when the absolute times do not.
    """
    samples: list[list[float]] = [[] for _ in commands]
    # Measured as installed software runs: with its bytecode cached (the warm-up runs write it), even when the
    # caller's environment says not to write bytecode.
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for index in range(warmup + runs):
        for (argv, cwd, env), own in zip(commands, samples):
            full_env = {**base_env, **(env or {})}
            start = time.perf_counter()
            subprocess.run(argv, cwd=cwd, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            if index >= warmup:
                own.append(time.perf_counter() - start)
    return [statistics.median(own) for own in samples]


def generate_workspace(root: Path, *, chains: int = 200, depth: int = 5, workflows: int = 0) -> list[Path]:
    """A workspace of ``chains * depth`` agents in ``depth``-level inheritance chains; returns the agent files."""
    agents = root / ".parac" / "agents"
    agents.mkdir(parents=True, exist_ok=True)
    (root / ".parac" / "parac.yaml").write_text("default_model: echo\n")
    paths = []
    for chain in range(chains):
        for level in range(depth):
            name = f"c{chain}-l{level}"
            lines = [f"description: agent {level} of chain {chain}"]
            if level:
                lines.append(f"parent: c{chain}-l{level - 1}")
            lines += [f"temperature: 0.{level}", f"system_prompt: You are agent {name}.", "max_iterations: 5"]
            if level == 0:
                lines.append("budget: {per_run_usd: 0.5}")
            path = agents / f"{name}.yaml"
            path.write_text("\n".join(lines) + "\n")
            paths.append(path)
    flows = root / ".parac" / "workflows"
    if workflows:
        flows.mkdir(exist_ok=True)
    for index in range(workflows):
        chain = index % chains
        steps = "\n".join(
            f"  - id: s{level}\n    agent: c{chain}-l{level}\n    task: step {level}"
            + (f"\n    depends_on: [s{level - 1}]" if level else "")
            for level in range(depth)
        )
        (flows / f"w{index}.yaml").write_text(f"description: workflow {index}\nsteps:\n{steps}\n")
    return paths


def byte_compile_parac() -> None:
    """Write parac's ``.pyc`` files, as installing a wheel does (the SDK's were written when it was installed):
    with ``PYTHONDONTWRITEBYTECODE`` set, an editable checkout would otherwise compile every module on every
    spawn, and the bench would time the compiler."""
    import compileall

    import parac.server

    top = Path(parac.server.__file__).resolve().parent.parent
    for package in sorted(path for path in top.iterdir() if (path / "__init__.py").is_file()):
        compileall.compile_dir(package, quiet=1)


def load_average() -> str:
    """The machine's 1, 5 and 15 minute load averages, printed beside figures so a reader can judge them."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def load_figures(load: tuple[float, float, float]) -> str:
    """A load average taken earlier (``os.getloadavg()``), for a before/after line."""
    return " ".join(f"{value:.2f}" for value in load)


def check_ratios(name: str, checks: list[tuple[str, float, float]], extra: dict, *, width: int) -> None:
    """Print each (what, ratio, target) with ``ok`` or its ``MISS``, and write them with ``extra`` to
    bench/.results/NAME.json."""
    import json

    for what, ratio, target in checks:
        verdict = "ok" if ratio <= target else f"MISS (over the target by {ratio / target - 1:.0%})"
        print(f"  {what:<{width}} {ratio:5.2f}x (target <= {target}x) {verdict}")
    results = Path(__file__).resolve().parent / ".results"
    results.mkdir(exist_ok=True)
    data = {**extra, "ratios": {what: ratio for what, ratio, _ in checks}}
    (results / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")


def report(title: str, rows: list[tuple[str, float, str, float, float]]) -> None:
    """Print rows of (what, ours, peer name, peer, target ratio) with the ratio and whether it meets the target."""
    print(f"\n{title} ({load_average()})")
    for what, ours, peer_name, peer, target in rows:
        ratio = ours / peer if peer else float("inf")
        verdict = "ok" if ratio <= target else "OVER TARGET"
        print(f"  {what:<34} {ours * 1000:8.1f} ms   {peer_name:<30} {peer * 1000:8.1f} ms   ratio {ratio:5.2f} (target <= {target}) {verdict}")


class NoopServices:
    """Workflow services whose tool steps return at once, so what a bench times is the engine, its schedulers and
    its checkpoints. ``body`` is ``bare`` (the step returns straight away) or ``invoke_tool`` (through
    :func:`parac.core.tools.invoke_tool`: argument check and call hooks, no plugins)."""

    def __init__(self, body: str = "bare") -> None:
        from parac.core.calls import NO_HOOKS, ToolCall
        from parac.core.tools import Tool, invoke_tool
        from parac.core.workflows import StepOutcome

        self.outcome = StepOutcome(None)

        async def noop() -> None:
            return None

        tool = Tool("noop", "does nothing", {"type": "object", "properties": {}, "additionalProperties": False}, noop)

        async def through_invoke_tool(ctx: Any, name: str, args: dict) -> Any:
            call = ToolCall(tool=name, arguments=args, run_id=ctx.run_id, step=ctx.step_id,
                            idempotency_key=ctx.idempotency_key)
            return StepOutcome(await invoke_tool(tool, call, NO_HOOKS))

        async def bare(ctx: Any, name: str, args: dict) -> Any:
            return self.outcome

        self.call_tool = through_invoke_tool if body == "invoke_tool" else bare

    def needs_approval(self, tool: str, workflow: str) -> bool:
        return False

    def parse_definition(self, definition: dict) -> Any:
        from parac.core.specs import WorkflowSpec

        return WorkflowSpec.model_validate(definition)

    def event(self, name: str, data: dict) -> None:
        return None
