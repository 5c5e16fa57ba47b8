"""What tracing costs: per tool call, model call and workflow step, off and on (exporting to an OTLP/HTTP receiver
on 127.0.0.1), and the cold start of ``parac mcp serve`` with tracing off against the same start without the
tracing hook (``start_tracing`` skipped: the start before issue 22).

- per call, four variants of each call path, taking turns in ROUNDS interleaved rounds of BATCH calls:
  - *floor*: the same call path with the tracing hook compiled out: the functions that hold the hook
    (:func:`invoke_tool`, ``ModelClient._chain``, the engine's ``_run_one``) compiled again from their source without
    the ``if`` statements on ``telemetry``/``span`` (their ``else`` kept) and swapped in for the round;
  - *off*: what a user who never asked for traces runs;
  - *on*: the spans with their attributes, batched and exported by the SDK's thread;
  - *bare span*: the floor with a bare OpenTelemetry span (``start_as_current_span``, no attributes) around the
    same work: what any tracing costs, the floor of "on".
  The calls: ``invoke_tool`` of a no-op async tool without governance hooks (measured elsewhere),
  ``ModelClient.complete`` on the offline ``echo`` model, and a 20-step chain of no-op tool steps through the
  durable engine (SQLite on disk; per step). Each figure is the median over rounds of the ratio (or difference)
  within a round. Off is judged on the calling thread's CPU time (every instruction of the off path and the floor
  runs there; a loaded machine's waits for a core are not the hook's), on in wall time (the SDK's exporting thread
  works for it too); both are printed.
- cold start: spawn to the initialize answer, median of SPAWNS, the two commands taking turns.

Targets: off costs nothing: off <= 1.01x the floor (within the floor's own noise, printed as floor vs a second
floor turn); on costs <= 3x the bare span's own cost; cold start off <= 1.02x the start without the hook. A missed
target is printed as such. Figures are written to bench/.results/telemetry.json.
"""

from __future__ import annotations

import ast
import contextlib
import gc
import inspect
import json
import os
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from harness import NoopServices, load_average  # noqa: E402
from mcp_latency import Server  # noqa: E402

ROUNDS, BATCH, STEPS, SPAWNS, WARMUPS = 41, 400, 20, 15, 2
VARIANTS = ("floor", "off", "on", "bare span", "floor again")
SERVE = "import sys; from parac.server.cli import main; sys.argv = ['parac', 'mcp', 'serve']; main()"
NO_HOOK = "import parac.server.mcp.run as run; run.start_tracing = lambda workspace: None; " + SERVE
"""Both launched the same way; the second skips the tracing check at start (importing parac.core.telemetry,
reading parac.yaml for a telemetry: key), as the start was before it."""


class _CompiledOut(ast.NodeTransformer):
    """Leaves out every ``if`` whose test names ``telemetry`` or ``span``, keeping its ``else``."""

    def __init__(self) -> None:
        self.removed = 0

    def visit_If(self, node: ast.If) -> Any:
        self.generic_visit(node)
        names = {n.id for n in ast.walk(node.test) if isinstance(n, ast.Name)}
        if names & {"telemetry", "span"}:
            self.removed += 1
            return node.orelse
        return node


def compiled_out(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` compiled again from its source without its tracing hook, in its own module's globals."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    stripper = _CompiledOut()
    tree = ast.fix_missing_locations(stripper.visit(tree))
    assert stripper.removed, f"no tracing hook found in {function.__qualname__}: the bench is out of date"
    assert "telemetry" not in ast.unparse(tree), ast.unparse(tree)
    namespace = dict(function.__globals__)
    exec(compile(tree, inspect.getsourcefile(function) or "<floor>", "exec"), namespace)
    return namespace[function.__name__]


@contextlib.contextmanager
def swapped(owner: Any, name: str, replacement: Any) -> Iterator[None]:
    original = owner.__dict__[name]
    setattr(owner, name, replacement)
    try:
        yield
    finally:
        setattr(owner, name, original)


def per_call() -> dict[str, Any]:
    import anyio
    from opentelemetry import trace

    from parac.core import llm, telemetry, tools
    from parac.core.calls import NO_HOOKS, CallContext
    from parac.core.store import connect
    from parac.core.specs import WorkflowSpec
    from parac.core.workflows import Engine, engine as engine_module
    from parac.plugins.offline import OfflineProvider
    from support import otlp_receiver

    receiver, server = otlp_receiver.start()
    # a queue that holds every span of a batch: dropping spans would spare the exporting thread work, and flatter "on"
    os.environ.update(receiver.env(), OTEL_BSP_MAX_QUEUE_SIZE="65536")
    assert telemetry.configure()
    tracer = telemetry.tracing.tracer
    bare = trace.get_tracer("bench")
    provider = OfflineProvider("echo")
    client = llm.ModelClient(lambda model: provider)
    context = CallContext(actor="bench", agent="bench", run_id="r1")
    messages = [{"role": "user", "content": "hello"}]

    async def noop() -> str:
        return "ok"

    tool = tools.Tool("noop", "does nothing", {"type": "object", "properties": {}}, noop)
    floor_invoke = compiled_out(tools.invoke_tool)
    floor_chain = compiled_out(llm.ModelClient._chain)
    floor_run_one = compiled_out(engine_module._Execution._run_one)
    folder = tempfile.TemporaryDirectory()
    engine = Engine(connect(Path(folder.name) / "parac.db"), NoopServices("bare"))
    chain = WorkflowSpec.model_validate({"concurrency": 1, "steps": [
        {"id": f"s{i}", "tool": "noop", "depends_on": [f"s{i - 1}"] if i else []} for i in range(STEPS)]})

    async def tool_call(variant: str) -> None:
        invoke = floor_invoke if variant.startswith(("floor", "bare")) else tools.invoke_tool
        call = context.tool_call("noop", {})
        if variant == "bare span":
            with bare.start_as_current_span("floor"):
                await invoke(tool, call, NO_HOOKS)
        else:
            await invoke(tool, call, NO_HOOKS)

    async def model_call(variant: str) -> None:
        if variant == "bare span":
            with bare.start_as_current_span("floor"):
                await client.complete("echo", messages, context=context)
        else:
            await client.complete("echo", messages, context=context)

    async def workflow_steps(variant: str) -> None:
        result = await engine.start("chain", chain, {})
        assert result.status == "completed", result.error

    original_step = engine_module._Execution._step

    async def bare_step(self: Any, step: Any) -> Any:
        with bare.start_as_current_span("floor"):
            return await original_step(self, step)

    @contextlib.contextmanager
    def variant_of(what: str, variant: str) -> Iterator[None]:
        """The switch and the swapped functions of one variant (the tool call picks its function itself)."""
        telemetry.tracing.tracer = tracer if variant == "on" else None
        telemetry.tracing.update()
        with contextlib.ExitStack() as stack:
            if variant != "off" and variant != "on":  # the floors, and the bare span over the floor
                if what == "model call":
                    stack.enter_context(swapped(llm.ModelClient, "_chain", floor_chain))
                if what == "workflow step":
                    stack.enter_context(swapped(engine_module._Execution, "_run_one", floor_run_one))
                    if variant == "bare span":
                        stack.enter_context(swapped(engine_module._Execution, "_step", bare_step))
            yield

    async def batch(call: Callable[[str], Awaitable[None]], variant: str, count: int) -> tuple[float, float]:
        """Wall time and this thread's CPU time of one call (all of the off path and the floor run here)."""
        began, cpu = time.perf_counter(), time.thread_time()
        for _ in range(count):
            await call(variant)
        return (time.perf_counter() - began) / count, (time.thread_time() - cpu) / count

    async def measure() -> dict[str, Any]:
        figures: dict[str, Any] = {}
        plan = (("tool call", tool_call, BATCH, 1), ("model call", model_call, BATCH, 1),
                ("workflow step", workflow_steps, max(1, BATCH // 40), STEPS))
        for what, call, count, per in plan:
            wall: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
            cpu: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
            for index in range(ROUNDS + 1):
                order = VARIANTS if index % 2 else VARIANTS[::-1]  # who goes first alternates
                for variant in order:
                    with variant_of(what, variant):
                        elapsed, used = await batch(call, variant, count)
                    # the spans of "on" are exported before the next turn (the SDK's thread would slow it), and
                    # each turn starts without the garbage of the one before
                    telemetry.flush()
                    gc.collect()
                    if index:  # the first round warms up
                        wall[variant].append(elapsed / per)
                        cpu[variant].append(used / per)

            def ratio(times: dict[str, list[float]], variant: str) -> float:
                return statistics.median(v / f for v, f in zip(times[variant], times["floor"]))

            def cost(times: dict[str, list[float]], variant: str) -> float:
                return statistics.median(v - f for v, f in zip(times[variant], times["floor"])) * 1e6

            figures[what] = {
                **{f"{variant}_us": statistics.median(values) * 1e6 for variant, values in wall.items()},
                **{f"{variant}_cpu_us": statistics.median(values) * 1e6 for variant, values in cpu.items()},
                "off_ratio": ratio(cpu, "off"), "noise_ratio": ratio(cpu, "floor again"),
                "off_wall_ratio": ratio(wall, "off"), "noise_wall_ratio": ratio(wall, "floor again"),
                # on: wall time, since the SDK's exporting thread works for it too
                "on_cost_us": cost(wall, "on"), "bare_cost_us": cost(wall, "bare span"),
            }
        return figures

    try:
        figures = anyio.run(measure)
        telemetry.flush()
        figures["exported"] = {"spans": float(len(receiver.spans))}
    finally:
        server.shutdown()
        engine.conn.close()
        folder.cleanup()
    return figures


def start_hook_cost() -> float:
    """The start's tracing check measured in this process (find the workspace, read parac.yaml, look for a
    telemetry: key), in seconds: what the spawned comparison below can only see through the noise of a start."""
    import timeit

    from parac.server.mcp.run import start_tracing

    workspace = _workspace()
    return min(timeit.repeat(lambda: start_tracing(workspace), number=200, repeat=5)) / 200


def _workspace() -> Path:
    workspace = Path(os.environ.get("TMPDIR", "/tmp")) / "parac-bench-telemetry"
    (workspace / ".parac").mkdir(parents=True, exist_ok=True)
    (workspace / ".parac" / "parac.yaml").write_text("name: bench\ndefault_model: echo\n")
    return workspace


def cold_start() -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "PYTHONDONTWRITEBYTECODE"}
    workspace = _workspace()
    commands = {"tracing off": [sys.executable, "-c", SERVE], "without the hook": [sys.executable, "-c", NO_HOOK]}
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for index in range(WARMUPS + SPAWNS):
        order = list(commands.items())
        for name, argv in order if index % 2 else reversed(order):  # who goes first alternates
            server = _spawn(argv, env, workspace)
            elapsed = server.initialize()
            server.shutdown()
            if index >= WARMUPS:
                samples[name].append(elapsed)
    return {name: statistics.median(values) for name, values in samples.items()}


def _spawn(argv: list[str], env: dict[str, str], cwd: Path) -> Server:
    previous = os.getcwd()
    os.chdir(cwd)  # Server spawns in the current directory: the workspace is found from there
    try:
        return Server(argv, env=env)
    finally:
        os.chdir(previous)


def main() -> None:
    print(f"telemetry overhead ({load_average()})")
    results: dict[str, object] = {}
    hook = start_hook_cost()  # first: per_call() turns tracing on in this process
    calls = per_call()
    for name in ("tool call", "model call", "workflow step"):
        f = calls[name]
        print(f"  {name}: floor {f['floor_us']:.2f} us (CPU {f['floor_cpu_us']:.2f}), off {f['off_us']:.2f} us "
              f"(CPU {f['off_cpu_us']:.2f}), on {f['on_us']:.2f} us, bare span {f['bare span_us']:.2f} us")
        met = f["off_ratio"] <= 1.01
        print(f"    off: {f['off_ratio']:.4f}x the floor in CPU time (the floor against itself: "
              f"{f['noise_ratio']:.4f}x; wall {f['off_wall_ratio']:.4f}x, itself {f['noise_wall_ratio']:.4f}x) "
              f"{'(target <= 1.01x: met)' if met else '(target <= 1.01x: MISSED)'}")
        ratio = f["on_cost_us"] / f["bare_cost_us"] if f["bare_cost_us"] > 0 else float("inf")
        print(f"    on: +{f['on_cost_us']:.2f} us, a bare span +{f['bare_cost_us']:.2f} us: tracing costs {ratio:.2f}x "
              f"the bare span {'(target <= 3x: met)' if ratio <= 3 else '(target <= 3x: MISSED)'}")
    print(f"  spans exported to the receiver: {int(calls['exported']['spans'])}")
    starts = cold_start()
    ratio = starts["tracing off"] / starts["without the hook"]
    print(f"  cold start to initialize: tracing off {starts['tracing off'] * 1000:.1f} ms, without the hook "
          f"{starts['without the hook'] * 1000:.1f} ms: {ratio:.3f}x "
          f"{'(target <= 1.02x: met)' if ratio <= 1.02 else '(target <= 1.02x: MISSED)'}")
    print(f"  the start's tracing check alone, in process: {hook * 1e6:.0f} us "
          f"({hook / starts['without the hook']:.3%} of the start)")
    print(f"  ({load_average()})")
    results.update(calls=calls, cold_start=starts, cold_start_ratio=ratio, start_hook_s=hook)
    out = HERE / ".results" / "telemetry.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
