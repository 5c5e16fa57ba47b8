"""MCP tool profiles and tasks (issue 18): `tools/list` per profile beside an SDK server, and the first answer of a
task-augmented `run_agent` beside a plain `list_agents`.

- tools/list p50, per profile (`all`, `minimal`, `authoring`, `operations`): `parac mcp serve --profile P` against
  a low-level SDK server offering the same tools (that profile's list, taken from parac's own answer; their
  models built once at start: bench/floors/sdk_tools_server.py). Target: <= 1.0x, as issue 16 sets for the full
  list. The answer's size is printed beside it. Both servers answer the same request again and again, as clients
  do: parac from the SDK's wire form of its last answer while nothing changed (`Handlers.answered_lists`), the
  SDK server by validating and serialising its models each time, the SDK's default. Profiled, that per-request
  validation and serialisation was most of either server's time; with it on every request parac measured 1.00x
  here (1.41x in an earlier run) for the minimal profile's 12 tools, where a fixed cost per request shows most.
- A task-augmented `run_agent` (handshake era, `params.task`; model `echo`) until the `CreateTaskResult` is
  answered, against a plain `list_agents` call on the same server. Target: <= 1.2x. Each task is then awaited
  (`tasks/result`), so its run never competes with the next sample, and that whole time is printed beside a plain
  `run_agent` call: what the early answer costs the result.

Samples are taken call by call in turns over raw JSON-RPC on pipes (the driver of bench/mcp_latency.py). Prints the
load average and every miss; writes bench/.results/mcp_tasks.json.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import check_ratios
from mcp_latency import PARAC, PYTHON, Server
from mcp_listing import alternate, ask, started

HERE = Path(__file__).resolve().parent
PROFILES = ("all", "minimal", "authoring", "operations")
ROUNDS, PER_ROUND = 6, 40
TASK_ROUNDS, TASKS_PER_ROUND = 6, 15


def start_task(server: Server) -> str:
    """The timed part: a task-augmented run_agent until its task is answered."""
    server.next_id += 1
    params = {"name": "run_agent", "arguments": {"agent": "coder", "task": "hi", "model": "echo"}, "task": {}}
    server.send({"jsonrpc": "2.0", "id": server.next_id, "method": "tools/call", "params": params})
    reply = server.receive()
    assert "task" in reply.get("result", {}), reply
    return reply["result"]["task"]["taskId"]


def finish(server: Server, task_id: str) -> None:
    assert not ask(server, "tasks/result", {"taskId": task_id}).get("isError")


def main() -> None:
    os.environ["PARAC_LOAD_PLUGINS"] = ""  # built-in plugins only, as on a fresh install
    samples: dict[str, list[float]] = {}
    sizes: dict[str, tuple[int, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "fresh"
        subprocess.run([PARAC, "init", str(fresh)], check=True, capture_output=True)
        pairs = []
        servers: list[Server] = []
        for profile in PROFILES:
            parac = started([PARAC, "mcp", "serve", "--workspace", str(fresh), "--profile", profile])
            answer = ask(parac, "tools/list", {})
            sizes[profile] = (len(answer["tools"]), len(json.dumps(answer, separators=(",", ":")).encode()))
            listed = Path(tmp) / f"{profile}.json"
            listed.write_text(json.dumps(answer["tools"]))
            sdk = started([PYTHON, str(HERE / "floors/sdk_tools_server.py"), str(listed)])
            assert len(ask(sdk, "tools/list", {})["tools"]) == len(answer["tools"])
            servers += [parac, sdk]
            samples[f"parac {profile}"], samples[f"sdk {profile}"] = [], []
            pairs += [
                (lambda s=parac: ask(s, "tools/list", {}), samples[f"parac {profile}"]),
                (lambda s=sdk: ask(s, "tools/list", {}), samples[f"sdk {profile}"]),
            ]
        for _ in range(2):  # warm every path once before measuring
            for fn, _samples in pairs:
                fn()
        for _ in range(ROUNDS):
            alternate(pairs, PER_ROUND)

        runner = started([PARAC, "mcp", "serve", "--workspace", str(fresh)])
        servers.append(runner)
        for _ in range(2):
            finish(runner, start_task(runner)), ask(runner, "tools/call", {"name": "list_agents", "arguments": {}})
        for name in ("task", "task done", "list_agents", "run_agent"):
            samples[name] = []
        plain = {"name": "run_agent", "arguments": {"agent": "coder", "task": "hi", "model": "echo"}}
        for _ in range(TASK_ROUNDS * TASKS_PER_ROUND):  # in turns
            begin = time.perf_counter()
            task_id = start_task(runner)
            samples["task"].append(time.perf_counter() - begin)
            finish(runner, task_id)  # to its end: what the task costs in all, beside a plain call
            samples["task done"].append(time.perf_counter() - begin)
            begin = time.perf_counter()
            ask(runner, "tools/call", {"name": "list_agents", "arguments": {}})
            samples["list_agents"].append(time.perf_counter() - begin)
            begin = time.perf_counter()
            ask(runner, "tools/call", plain)
            samples["run_agent"].append(time.perf_counter() - begin)
        for server in servers:
            server.shutdown()

    figures = {name: statistics.median(values) * 1000 for name, values in samples.items()}
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs); p50 in ms")
    checks = []
    for profile in PROFILES:
        count, size = sizes[profile]
        parac, sdk = figures[f"parac {profile}"], figures[f"sdk {profile}"]
        print(f"  tools/list {profile:<10} ({count:2d} tools, {size:>7,} B): parac {parac:.3f}, SDK server {sdk:.3f}")
        checks.append((f"tools/list {profile} vs the SDK server", parac / sdk, 1.0))
    print(f"  run_agent with a task, to its first answer {figures['task']:.3f}; list_agents {figures['list_agents']:.3f}")
    print(f"  run_agent with a task, to its result (tasks/result) {figures['task done']:.3f}; a plain run_agent call "
          f"{figures['run_agent']:.3f} ({figures['task done'] / figures['run_agent']:.2f}x; no target: the task's "
          "work starts tasks.HANDLE_FIRST_S after its answer, and its result is one more request)")
    checks.append(("task-augmented run_agent vs list_agents", figures["task"] / figures["list_agents"], 1.2))
    check_ratios("mcp_tasks", checks, {"load": load, "p50_ms": figures, "profiles": sizes}, width=42)


if __name__ == "__main__":
    sys.exit(main())
