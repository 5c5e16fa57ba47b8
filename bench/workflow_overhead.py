"""Per-step overhead of parac's workflow engine, durable, beside LangGraph's in-memory ``invoke``, in one run.

Workloads (no LLM; every step returns at once):
- chain: 1,000 steps, each depending on the one before;
- fan-out: one root, 200 parallel branches, one join (202 steps);
- layers: 10 layers of 100 steps, each depending on two steps of the layer before (1,000 steps).

parac runs each graph through :class:`parac.core.workflows.Engine` with durable checkpoints in a SQLite database on
disk (WAL, every step's start and result committed before its dependents start), from creating the run to its
end: definition stored, inputs bound, every step scheduled, checkpointed and summarised. Two step bodies are
measured: a bare no-op (the engine alone), and a tool step through :func:`parac.core.tools.invoke_tool` (argument
check and call hooks, no plugins).

LangGraph runs the same graphs with ``StateGraph(...).compile().invoke`` (in memory; compile time excluded), and,
when ``langgraph-checkpoint-sqlite`` installs, with its SQLite checkpointer on disk. It is installed in its own
environment, ``bench/.venv-langgraph``, created here on first use: it is not a dependency of parac.

Prints one table and the ratio parac / LangGraph-in-memory per workload (target: at most 1/3). Not a test:
timings vary with the machine's load, so each figure is the median of several runs, interleaved.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LG_VENV = HERE / ".venv-langgraph"
RESULTS = HERE / ".results"
ROUNDS = 2  # interleaved rounds of (LangGraph, parac)
REPEATS = 3  # runs of each workload per round

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


WORKLOADS = {"chain 1000": _chain(1000), "fan-out 200": _fan_out(200), "layers 10x100": _layers(10, 100)}

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

    workloads, repeats, mode = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    out = {}
    for label, steps in workloads.items():
        config = {"recursion_limit": 100000}
        if mode == "sqlite":
            import sqlite3
            from langgraph.checkpoint.sqlite import SqliteSaver
            folder = tempfile.mkdtemp()
            saver = SqliteSaver(sqlite3.connect(folder + "/lg.db", check_same_thread=False))
            app = build(steps).compile(checkpointer=saver)
        else:
            app = build(steps).compile()
        app.invoke({"n": 0}, {**config, "configurable": {"thread_id": "warm"}})
        times = []
        for i in range(repeats):
            started = time.perf_counter()
            app.invoke({"n": 0}, {**config, "configurable": {"thread_id": f"t{i}"}})
            times.append(time.perf_counter() - started)
        out[label] = times
    print(json.dumps(out))
    """
)


def ensure_langgraph() -> tuple[Path, bool]:
    """The LangGraph environment's python, and whether its SQLite checkpointer is there."""
    python = LG_VENV / "bin" / "python"
    if not python.exists():
        print("creating bench/.venv-langgraph (LangGraph, for comparison only) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(LG_VENV)], check=True)
        _pip(python, "langgraph", required=True)
        _pip(python, "langgraph-checkpoint-sqlite", required=False)
    has_sqlite = subprocess.run([str(python), "-c", "import langgraph.checkpoint.sqlite"],
                                capture_output=True).returncode == 0
    return python, has_sqlite


def _pip(python: Path, package: str, *, required: bool) -> None:
    proc = subprocess.run([str(python), "-m", "pip", "install", "--quiet", package], capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"pip install {package} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        if required:
            raise SystemExit(1)


def langgraph_times(python: Path, mode: str) -> dict[str, list[float]]:
    proc = subprocess.run(
        [str(python), "-c", LANGGRAPH_SCRIPT, json.dumps(WORKLOADS), str(REPEATS), mode],
        capture_output=True, text=True, check=True,
    )
    return json.loads(proc.stdout)


class NoopServices:
    """Steps that return at once: what is measured is the engine and its checkpoints."""

    def __init__(self, body: str) -> None:
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


def parac_times(body: str) -> dict[str, list[float]]:
    import anyio

    from parac.core.specs import WorkflowSpec
    from parac.core.store import connect
    from parac.core.workflows import Engine

    RESULTS.mkdir(exist_ok=True)
    out: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(dir=RESULTS) as folder:
        conn = connect(Path(folder) / "parac.db")
        engine = Engine(conn, NoopServices(body))

        async def main() -> None:
            for label, steps in WORKLOADS.items():
                spec = WorkflowSpec.model_validate({
                    "concurrency": 256,
                    "steps": [{"id": name, "tool": "noop", "depends_on": deps} for name, deps in steps],
                })
                await engine.start(label, spec, {})  # warm-up
                times = []
                for _ in range(REPEATS):
                    started = time.perf_counter()
                    result = await engine.start(label, spec, {})
                    times.append(time.perf_counter() - started)
                    assert result.status == "completed", result.error
                out[label] = times

        anyio.run(main)
        conn.close()
    return out


def main() -> int:
    python, has_sqlite = ensure_langgraph()
    runs: dict[str, dict[str, list[float]]] = {}

    def add(column: str, times: dict[str, list[float]]) -> None:
        for label, values in times.items():
            runs.setdefault(column, {}).setdefault(label, []).extend(values)

    for _ in range(ROUNDS):
        add("langgraph (memory)", langgraph_times(python, "memory"))
        add("parac durable", parac_times("bare"))
        add("parac durable + invoke_tool", parac_times("invoke_tool"))
    if has_sqlite:
        add("langgraph (sqlite)", langgraph_times(python, "sqlite"))

    columns = list(runs)
    print(f"per-step overhead, microseconds (median of {ROUNDS * REPEATS} runs each)")
    print(f"{'workload':<16}" + "".join(f"{c:>30}" for c in columns) + f"{'parac / LangGraph-memory':>28}")
    ratios = []
    for label, steps in WORKLOADS.items():
        per_step = {c: statistics.median(runs[c][label]) / len(steps) * 1e6 for c in columns}
        ratio = per_step["parac durable"] / per_step["langgraph (memory)"]
        ratios.append(ratio)
        print(f"{label:<16}" + "".join(f"{per_step[c]:>30.1f}" for c in columns) + f"{ratio:>28.3f}")
    verdict = "met" if max(ratios) <= 1 / 3 else "NOT met"
    print(f"target parac durable <= 1/3 of LangGraph in memory on every workload: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
