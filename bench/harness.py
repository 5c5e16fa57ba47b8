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


def report(title: str, rows: list[tuple[str, float, str, float, float]]) -> None:
    """Print rows of (what, ours, peer name, peer, target ratio) with the ratio and whether it meets the target."""
    print(f"\n{title} ({load_average()})")
    for what, ours, peer_name, peer, target in rows:
        ratio = ours / peer if peer else float("inf")
        verdict = "ok" if ratio <= target else "OVER TARGET"
        print(f"  {what:<34} {ours * 1000:8.1f} ms   {peer_name:<30} {peer * 1000:8.1f} ms   ratio {ratio:5.2f} (target <= {target}) {verdict}")
