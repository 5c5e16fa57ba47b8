"""Per-step overhead of parac's workflow engine, durable, beside LangGraph's, in one run.

Workloads (no LLM; every step returns at once):
- chains of 1, 10 and 1,000 steps, each step depending on the one before (the short ones show the fixed cost of
  a run, which long workloads hide);
- fan-out: one root, 200 parallel branches, one join (202 steps);
- layers: 10 layers of 100 steps, each depending on two steps of the layer before (1,000 steps).

parac runs each graph through :class:`parac.core.workflows.Engine` with durable checkpoints in a SQLite database on
disk (WAL, every step's start and result committed before its dependents start), from creating the run to its
end: definition stored, inputs bound, every step scheduled, checkpointed and summarised. Two step bodies are
measured: a bare no-op (the engine alone), and a tool step through :func:`parac.core.tools.invoke_tool` (argument
check and call hooks, no plugins).

LangGraph runs the same graphs with ``StateGraph(...).compile().invoke`` (compile time excluded): in memory, and
with its SQLite checkpointer on disk (``langgraph-checkpoint-sqlite``, WAL like parac). Durable figures are compared
at equal durability: both at ``synchronous=NORMAL`` (a commit survives a killed process; parac's default), and both
at ``FULL`` (a commit also survives a power loss: an fsync per commit). LangGraph is installed in its own
environment, ``bench/.venv-langgraph``, created here on first use: it is not a dependency of parac.

Prints one table of microseconds per step, the ratios, the fixed cost of a run (from the 1- and 10-step chains:
``t(n) = fixed + n * per_step``) and the load average before and after. Every figure is given in wall and in CPU
time (all threads): on a loaded machine, wall time also counts waiting for a core, which costs a system that hops
between threads more, so ratios are judged on the larger of the two. Target: parac durable (NORMAL) at most 1/3 of
LangGraph in memory per step on every workload of 10 steps or more; every miss is printed. Not a test: timings vary
with the machine's load, so each figure is the median of several runs, the systems taking turns.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from harness import NoopServices, load_figures

HERE = Path(__file__).resolve().parent
LG_VENV = HERE / ".venv-langgraph"
RESULTS = HERE / ".results"
ROUNDS = 2  # interleaved rounds of (LangGraph, parac)
REPEATS = 3  # runs of each workload per round, at least: short workloads run until they have 300 steps

WORKLOADS: dict[str, list[tuple[str, list[str]]]] = {}


def _chain(n: int) -> list[tuple[str, list[str]]]:
    return [(f"s{i}", [f"s{i - 1}"] if i else []) for i in range(n)]


def _fan_out(width: int) -> list[tuple[str, list[str]]]:
    branches = [(f"b{i}", ["root"]) for i in range(width)]
    return [("root", []), *branches, ("join", [name for name, _ in branches])]


def _layers(depth: int, width: int) -> list[tuple[str, list[str]]]:
    steps = [(f"l0_{i}", []) for i in range(width)]
    for layer in range(1, depth):
        steps += [(f"l{layer}_{i}", [f"l{layer - 1}_{i}", f"l{layer - 1}_{(i + 1) % width}"]) for i in range(width)]
    return steps


WORKLOADS = {
    "chain 1": _chain(1),
    "chain 10": _chain(10),
    "chain 1000": _chain(1000),
    "fan-out 200": _fan_out(200),
    "layers 10x100": _layers(10, 100),
}
REPEATS_OF = {label: max(REPEATS, 300 // len(steps)) for label, steps in WORKLOADS.items()}
SYNCHRONOUS = ("NORMAL", "FULL")
TARGET = 1 / 3
TARGET_FROM_STEPS = 10  # the target's workloads (issue 16): a 1-step chain only shows the fixed cost of a run

LANGGRAPH_SCRIPT = textwrap.dedent(
    """
    import json, statistics, sys, tempfile, time, operator
    from typing import Annotated, TypedDict
    from langgraph.graph import StateGraph, START, END

    class State(TypedDict):
        n: Annotated[int, operator.add]

    def node(state):
        return None

    def build(steps):
        graph = StateGraph(State)
        for name, _ in steps:
            graph.add_node(name, node)
        children = {name: [] for name, _ in steps}
        for name, deps in steps:
            if not deps:
                graph.add_edge(START, name)
            elif len(deps) > 1 and name == "join":
                graph.add_edge(deps, name)
            else:
                for dep in deps:
                    graph.add_edge(dep, name)
            for dep in deps:
                children[dep].append(name)
        for name, kids in children.items():
            if not kids:
                graph.add_edge(name, END)
        return graph

    workloads, repeats, mode = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
    out = {}
    for label, steps in workloads.items():
        config = {"recursion_limit": 100000}
        if mode == "memory":
            app = build(steps).compile()
        else:  # sqlite at this synchronous level
            import sqlite3
            from langgraph.checkpoint.sqlite import SqliteSaver
            folder = tempfile.mkdtemp(dir=sys.argv[4])  # beside parac's databases: the same disk
            conn = sqlite3.connect(folder + "/lg.db", check_same_thread=False)
            conn.execute(f"PRAGMA synchronous = {mode}")
            app = build(steps).compile(checkpointer=SqliteSaver(conn))
        app.invoke({"n": 0}, {**config, "configurable": {"thread_id": "warm"}})
        if mode != "memory":  # what the runs below really used, after the saver's own set-up
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == {"NORMAL": 1, "FULL": 2}[mode]
        times = []
        for i in range(repeats[label]):
            started, cpu = time.perf_counter(), time.process_time()
            app.invoke({"n": 0}, {**config, "configurable": {"thread_id": f"t{i}"}})
            times.append((time.perf_counter() - started, time.process_time() - cpu))
        out[label] = times
    print(json.dumps(out))
    """
)


def ensure_langgraph() -> Path:
    """The LangGraph environment's python, with LangGraph and its SQLite checkpointer (both needed)."""
    python = LG_VENV / "bin" / "python"
    check = [str(python), "-c", "import langgraph.graph, langgraph.checkpoint.sqlite"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print("creating bench/.venv-langgraph (LangGraph, for comparison only) ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(LG_VENV)], check=True)
    proc = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "langgraph", "langgraph-checkpoint-sqlite"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"pip install langgraph langgraph-checkpoint-sqlite failed:\n{proc.stderr[-2000:]}")
    return python


Times = dict[str, list[tuple[float, float]]]  # workload -> (wall, CPU) seconds of each run


def langgraph_times(python: Path, mode: str) -> Times:
    RESULTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=RESULTS) as folder:
        proc = subprocess.run(
            [str(python), "-c", LANGGRAPH_SCRIPT, json.dumps(WORKLOADS), json.dumps(REPEATS_OF), mode, folder],
            capture_output=True, text=True, check=True,
        )
    return json.loads(proc.stdout)


def parac_times(body: str, synchronous: str = "NORMAL") -> Times:
    import anyio

    from parac.core.specs import WorkflowSpec
    from parac.core.store import connect
    from parac.core.workflows import Engine

    RESULTS.mkdir(exist_ok=True)
    out: Times = {}
    with tempfile.TemporaryDirectory(dir=RESULTS) as folder:
        conn = connect(Path(folder) / "parac.db")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == {"NORMAL": 1, "FULL": 2}[synchronous]
        engine = Engine(conn, NoopServices(body))

        async def main() -> None:
            for label, steps in WORKLOADS.items():
                spec = WorkflowSpec.model_validate({
                    "concurrency": 256,
                    "steps": [{"id": name, "tool": "noop", "depends_on": deps} for name, deps in steps],
                })
                await engine.start(label, spec, {})  # warm-up
                times = []
                for _ in range(REPEATS_OF[label]):
                    started, cpu = time.perf_counter(), time.process_time()
                    result = await engine.start(label, spec, {})
                    times.append((time.perf_counter() - started, time.process_time() - cpu))
                    assert result.status == "completed", result.error
                out[label] = times

        anyio.run(main)
        conn.close()
    return out


def main() -> int:
    python = ensure_langgraph()
    load_before = os.getloadavg()
    runs: dict[str, Times] = {}

    def add(column: str, times: Times) -> None:
        for label, values in times.items():
            runs.setdefault(column, {}).setdefault(label, []).extend(values)

    for _ in range(ROUNDS):  # the systems take turns, so that a change in the machine's load hits both
        add("langgraph memory", langgraph_times(python, "memory"))
        add("parac NORMAL", parac_times("bare"))
        add("parac NORMAL +invoke_tool", parac_times("invoke_tool"))
        for level in SYNCHRONOUS:
            add(f"langgraph sqlite {level}", langgraph_times(python, level))
            if level != "NORMAL":
                add(f"parac {level}", parac_times("bare", level))
    load_after = os.getloadavg()

    columns = list(runs)
    # per workload and column: median (wall, CPU) microseconds of a run. CPU counts every thread of the process;
    # on a loaded machine wall time also counts waiting for a core, which costs a system that hops between threads
    # more than one that does not, so a ratio is judged on the larger of the two.
    per_run = {
        label: {c: tuple(statistics.median(run[i] for run in runs[c][label]) * 1e6 for i in (0, 1)) for c in columns}
        for label in WORKLOADS
    }
    comparisons = [("parac NORMAL", "langgraph memory")] + [
        (f"parac {level}", f"langgraph sqlite {level}") for level in SYNCHRONOUS
    ]
    width = max(len(c) for c in columns) + 2
    print(f"workflow overhead, microseconds per step, wall (CPU) (median of at least {ROUNDS * REPEATS} runs each)")
    print(f"load average before {load_figures(load_before)}, after {load_figures(load_after)} (this machine has {os.cpu_count()} CPUs)")
    print(f"{'workload':<15}" + "".join(f"{c:>{width + 8}}" for c in columns))
    for label, steps in WORKLOADS.items():
        cells = [f"{wall / len(steps):.1f} ({cpu / len(steps):.1f})" for wall, cpu in per_run[label].values()]
        print(f"{label:<15}" + "".join(f"{cell:>{width + 8}}" for cell in cells))
    print("ratios per step, parac / LangGraph, wall (CPU)")
    print(f"{'workload':<15}" + "".join(f"{f'{a} / {b}':>{width * 2}}" for a, b in comparisons))
    misses, notes = [], []
    for label, steps in WORKLOADS.items():
        ratios = [tuple(ours / theirs for ours, theirs in zip(per_run[label][a], per_run[label][b]))
                  for a, b in comparisons]
        print(f"{label:<15}" + "".join(f"{f'{wall:.3f} ({cpu:.3f})':>{width * 2}}" for wall, cpu in ratios))
        worst = max(ratios[0])
        if worst > TARGET:
            line = f"{label}: parac NORMAL is {worst:.3f} of LangGraph in memory"
            (misses if len(steps) >= TARGET_FROM_STEPS else notes).append(line)
    print("fixed cost of a run, microseconds wall (CPU) (t(n) = fixed + n * per step, from the 1- and 10-step chains)")
    for column in columns:
        (one_wall, one_cpu), (ten_wall, ten_cpu) = per_run["chain 1"][column], per_run["chain 10"][column]
        step_wall, step_cpu = (ten_wall - one_wall) / 9, (ten_cpu - one_cpu) / 9
        print(f"  {column:<{width}} fixed {one_wall - step_wall:>9.1f} ({one_cpu - step_cpu:>8.1f})"
              f"   per step {step_wall:>9.1f} ({step_cpu:>8.1f})")
    for note in notes:
        print(f"note (a fixed-cost probe; the target is for runs of {TARGET_FROM_STEPS}+ steps): {note}")
    for miss in misses:
        print(f"MISS (target <= {TARGET:.3f} in wall and CPU time): {miss}")
    print(f"target parac durable (NORMAL) <= 1/3 of LangGraph in memory per step, wall and CPU, on every workload of"
          f" {TARGET_FROM_STEPS}+ steps: {'met' if not misses else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
