"""What tracing costs: per model call and per tool call, off and on (exporting to an OTLP/HTTP receiver on
127.0.0.1), and the cold start of ``parac mcp serve`` with tracing off against the same start without the tracing
hook (``start_tracing`` skipped: the start before issue 22).

- per call: ``ModelClient.complete`` on the offline ``echo`` model and ``invoke_tool`` of a no-op async tool,
  without governance hooks (they are measured elsewhere), in interleaved rounds of ROUNDS x BATCH calls: off, on,
  and the floor of "on", a bare OpenTelemetry span (``start_as_current_span`` with no attributes) around the same
  call. Off is what a user who never asked for traces gets (the check of one attribute); on is the spans with their
  attributes, batched and exported by the SDK's thread.
- cold start: spawn to the initialize answer, median of SPAWNS, the two commands taking turns.

Targets: off adds <= 2 % to a call; on costs <= 3x the bare span's own cost (the floor); cold start off <= 1.02x the
start without the hook. A missed target is printed as such. Figures are written to bench/.results/telemetry.json.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from harness import load_average  # noqa: E402
from mcp_latency import Server  # noqa: E402

ROUNDS, BATCH, SPAWNS, WARMUPS = 15, 400, 15, 2
SERVE = "import sys; from parac.server.cli import main; sys.argv = ['parac', 'mcp', 'serve']; main()"
NO_HOOK = "import parac.server.mcp.run as run; run.start_tracing = lambda workspace: None; " + SERVE
"""Both launched the same way; the second skips the tracing check at start (importing parac.core.telemetry,
reading parac.yaml for a telemetry: key), as the start was before it."""


def per_call() -> dict[str, dict[str, float]]:
    import anyio
    from opentelemetry import trace

    from parac.core import telemetry
    from parac.core.calls import NO_HOOKS, CallContext
    from parac.core.llm import ModelClient
    from parac.core.tools import Tool, invoke_tool
    from parac.plugins.offline import OfflineProvider
    from support import otlp_receiver

    receiver, server = otlp_receiver.start()
    # a queue that holds every span of a batch: dropping spans would spare the exporting thread work, and flatter "on"
    os.environ.update(receiver.env(), OTEL_BSP_MAX_QUEUE_SIZE="65536")
    assert telemetry.configure()
    tracer = telemetry._STATE.tracer
    bare = trace.get_tracer("bench")
    provider = OfflineProvider("echo")
    client = ModelClient(lambda model: provider)
    context = CallContext(actor="bench", agent="bench", run_id="r1")
    messages = [{"role": "user", "content": "hello"}]

    async def noop() -> str:
        return "ok"

    tool = Tool("noop", "does nothing", {"type": "object", "properties": {}}, noop)

    async def model_call() -> None:
        await client.complete("echo", messages, context=context)

    async def tool_call() -> None:
        await invoke_tool(tool, context.tool_call("noop", {}), NO_HOOKS)

    def floor(call):
        async def wrapped() -> None:
            with bare.start_as_current_span("floor"):
                await call()
        return wrapped

    async def batch(call) -> float:
        began = time.perf_counter()
        for _ in range(BATCH):
            await call()
        return (time.perf_counter() - began) / BATCH

    async def measure() -> dict[str, dict[str, float]]:
        figures: dict[str, dict[str, float]] = {}
        for name, call in (("model call", model_call), ("tool call", tool_call)):
            off, on, floored = [], [], []
            for index in range(ROUNDS + 1):
                telemetry._STATE.tracer = None  # off: what the hooks see when nobody asked for traces
                a = await batch(call)
                c = await batch(floor(call))  # the bare span exists whatever parac's switch says
                telemetry._STATE.tracer = tracer
                b = await batch(call)
                if index:  # the first round warms up
                    off.append(a), on.append(b), floored.append(c)
            figures[name] = {"off_us": statistics.median(off) * 1e6, "on_us": statistics.median(on) * 1e6,
                             "bare_span_us": statistics.median(floored) * 1e6}
        return figures

    try:
        figures = anyio.run(measure)
        telemetry.flush()
        figures["exported"] = {"spans": float(len(receiver.spans))}
    finally:
        server.shutdown()
    return figures


def off_cost() -> dict[str, float]:
    """The off path alone: a hook's check against the same call site without it (a model call's span helper)."""
    import timeit

    from parac.core import telemetry
    from parac.core.calls import CallContext

    telemetry._STATE.tracer = None
    context = CallContext()
    call = context.tool_call("noop", {})
    n = 200_000
    empty = timeit.timeit(lambda: None, number=n) / n
    model = timeit.timeit(lambda: telemetry.model_call("echo", "echo", context).__enter__(), number=n) / n

    def tool_hooks() -> None:  # what invoke_tool calls when tracing is off
        with telemetry.tool_call(call, None) as span:
            telemetry.allowed(span)
            telemetry.tool_result(span, call, None, None)

    tool = timeit.timeit(tool_hooks, number=n) / n
    return {"model_hook_ns": (model - empty) * 1e9, "tool_hook_ns": (tool - empty) * 1e9}


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
    for name in ("model call", "tool call"):
        f = calls[name]
        on_cost, floor_cost = f["on_us"] - f["off_us"], f["bare_span_us"] - f["off_us"]
        ratio = on_cost / floor_cost if floor_cost > 0 else float("inf")
        print(f"  {name}: off {f['off_us']:.1f} us, on {f['on_us']:.1f} us (+{on_cost:.1f} us), "
              f"bare span {f['bare_span_us']:.1f} us (+{floor_cost:.1f} us); tracing costs {ratio:.2f}x the bare "
              f"span {'(target <= 3x: met)' if ratio <= 3 else '(target <= 3x: MISSED)'}")
    print(f"  spans exported to the receiver: {int(calls['exported']['spans'])}")
    off = off_cost()
    telemetry_off = ((off["model_hook_ns"], "model call"), (off["tool_hook_ns"], "tool call"))
    for cost, name in telemetry_off:
        share = cost / (calls[name]["off_us"] * 1000)
        print(f"  off: the hooks of a {name} cost {cost:.0f} ns, {share:.2%} of the call "
              f"{'(target <= 2 %: met)' if share <= 0.02 else '(target <= 2 %: MISSED)'}")
    starts = cold_start()
    ratio = starts["tracing off"] / starts["without the hook"]
    print(f"  cold start to initialize: tracing off {starts['tracing off'] * 1000:.1f} ms, without the hook "
          f"{starts['without the hook'] * 1000:.1f} ms: {ratio:.3f}x "
          f"{'(target <= 1.02x: met)' if ratio <= 1.02 else '(target <= 1.02x: MISSED)'}")
    print(f"  the start's tracing check alone, in process: {hook * 1e6:.0f} us "
          f"({hook / starts['without the hook']:.3%} of the start)")
    print(f"  ({load_average()})")
    results.update(calls=calls, off=off, cold_start=starts, cold_start_ratio=ratio, start_hook_s=hook)
    out = HERE / ".results" / "telemetry.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
