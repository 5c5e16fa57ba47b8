"""MCP listings: `tools/list` beside an SDK server offering the same tools, and `list_agents` at scale.

- tools/list p50: `parac mcp serve` (a fresh workspace, built-in plugins) against a low-level SDK server offering
  the same tools, taken from parac's own answer, their models built once at start (bench/floors/sdk_tools_server.py).
  Target (issue 16): <= 1.0x. Beside it, the size of the tools/list answer per tool profile (issue 18; no target:
  the figure a client's tool cap and model context pay).
- list_agents p50 at 1,000 agents against 10 agents (same shape: 5-level inheritance chains), default page size.
  Target: <= 2x.
- walking all 1,000 agents by cursor (default page size) against one unpaginated answer (limit=1000) from the same
  server: the peer is parac's cached answer, faster than the uncached answer of before. Target: <= 1.5x. Two
  floors are printed beside it: one answer plus, for every further page, the cost of a call that returns one row
  (what a tools/call costs through the SDK and the governance hooks, whatever it answers); and the dependency
  floor, one answer plus, for every further page, a `tools/call` round trip of a bare SDK server's echo tool
  (bench/floors/bare_sdk_server.py, taking turns with the rest): what any server on the SDK pays per page.

Samples are taken call by call in turns (one request to each server, again and again) over raw JSON-RPC on pipes (the driver of
bench/mcp_latency.py), so the servers, not a client library, are measured. Prints the load average and every miss;
writes bench/.results/mcp_listing.json.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness import check_ratios, generate_workspace
from parac.core.pages import DEFAULT_LIMIT
from mcp_latency import PARAC, PYTHON, Server

HERE = Path(__file__).resolve().parent
ROUNDS, PER_ROUND, WALKS_PER_ROUND = 6, 60, 6


def ask(server: Server, method: str, params: dict) -> dict:
    server.next_id += 1
    server.send({"jsonrpc": "2.0", "id": server.next_id, "method": method, "params": params})
    reply = server.receive()
    assert "result" in reply and not reply["result"].get("isError"), reply
    return reply["result"]


def agents(server: Server, **arguments: object) -> dict:
    return ask(server, "tools/call", {"name": "list_agents", "arguments": arguments})["structuredContent"]


def walk(server: Server) -> int:
    """Every agent by cursor, default page size; returns how many were seen."""
    seen, cursor = 0, None
    while True:
        page = agents(server, **({"cursor": cursor} if cursor else {}))
        seen += len(page["agents"])
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def alternate(pairs: list[tuple[Callable[[], object], list[float]]], count: int) -> None:
    """Time each function `count` times, taking turns call by call: drift in the machine's speed (it is shared)
    then falls on every figure alike."""
    for _ in range(count):
        for fn, samples in pairs:
            begin = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - begin)


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def started(command: list[str]) -> Server:
    server = Server(command)
    server.initialize()
    return server


def main() -> None:
    os.environ["PARAC_LOAD_PLUGINS"] = ""  # built-in plugins only, as on a fresh install
    with tempfile.TemporaryDirectory() as tmp:
        fresh, small, large = Path(tmp) / "fresh", Path(tmp) / "small", Path(tmp) / "large"
        subprocess.run([PARAC, "init", str(fresh)], check=True, capture_output=True)
        generate_workspace(small, chains=2, depth=5)
        generate_workspace(large, chains=200, depth=5)
        parac = started([PARAC, "mcp", "serve", "--workspace", str(fresh)])
        tools = ask(parac, "tools/list", {})
        assert "nextCursor" not in tools, "parac's tools no longer fit in one default page"
        listed = Path(tmp) / "tools.json"
        listed.write_text(json.dumps(tools["tools"]))
        sdk = started([PYTHON, str(HERE / "floors/sdk_tools_server.py"), str(listed)])
        bare = started([PYTHON, str(HERE / "floors/bare_sdk_server.py")])
        assert len(ask(sdk, "tools/list", {})["tools"]) == len(tools["tools"])
        ten = started([PARAC, "mcp", "serve", "--workspace", str(small)])
        thousand = started([PARAC, "mcp", "serve", "--workspace", str(large)])
        assert walk(thousand) == 1000 and len(agents(thousand, limit=1000)["agents"]) == 1000
        assert len(agents(ten)["agents"]) == 10
        sizes = {}
        for profile in ("all", "minimal", "authoring", "operations"):
            server = started([PARAC, "mcp", "serve", "--workspace", str(fresh), "--profile", profile])
            answer = ask(server, "tools/list", {})
            sizes[profile] = (len(answer["tools"]), len(json.dumps(answer, separators=(",", ":")).encode()))
            server.shutdown()

        samples: dict[str, list[float]] = {
            k: []
            for k in ("parac tools/list", "sdk tools/list", "list_agents 10", "list_agents 1000", "walk", "one", "call",
                      "sdk call")
        }
        for _ in range(2):  # warm every path once before measuring
            ask(parac, "tools/list", {}), ask(sdk, "tools/list", {}), agents(ten), agents(thousand), walk(thousand)
        for _ in range(ROUNDS):
            alternate(
                [
                    (lambda: ask(parac, "tools/list", {}), samples["parac tools/list"]),
                    (lambda: ask(sdk, "tools/list", {}), samples["sdk tools/list"]),
                    (lambda: agents(ten), samples["list_agents 10"]),
                    (lambda: agents(thousand), samples["list_agents 1000"]),
                    (lambda: agents(thousand, limit=1), samples["call"]),
                    (lambda: ask(bare, "tools/call", {"name": "echo", "arguments": {"text": "hi"}}), samples["sdk call"]),
                ],
                PER_ROUND,
            )
            alternate(
                [(lambda: walk(thousand), samples["walk"]), (lambda: agents(thousand, limit=1000), samples["one"])],
                WALKS_PER_ROUND,
            )
        for server in (parac, sdk, bare, ten, thousand):
            server.shutdown()

    figures = {name: p50(values) * 1000 for name, values in samples.items()}
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs); p50 in ms")
    print(f"  tools/list ({len(tools['tools'])} tools): parac {figures['parac tools/list']:.3f}, "
          f"SDK server with the same tools {figures['sdk tools/list']:.3f}")
    print("  tools/list bytes per profile: " + ", ".join(f"{p} {n} tools {b:,} B" for p, (n, b) in sizes.items()))
    print(f"  list_agents (default page): 10 agents {figures['list_agents 10']:.3f}, "
          f"1,000 agents {figures['list_agents 1000']:.3f}")
    print(f"  1,000 agents: walk by cursor {figures['walk']:.3f}, one unpaginated answer {figures['one']:.3f}")
    pages = -(-1000 // DEFAULT_LIMIT)
    floor = (figures["one"] + (pages - 1) * figures["call"]) / figures["one"]
    print(f"  floor of the walk: one answer + {pages - 1} more calls at the per-call cost (list_agents limit=1: "
          f"{figures['call']:.3f}) = {floor:.2f}x one answer")
    sdk_floor = (figures["one"] + (pages - 1) * figures["sdk call"]) / figures["one"]
    print(f"  dependency floor: one answer + {pages - 1} bare SDK tools/call round trips ({figures['sdk call']:.3f}) = "
          f"{sdk_floor:.2f}x one answer{'' if sdk_floor <= 1.5 else ': the 1.5x target is below what the SDK alone costs'}")
    checks = [
        ("tools/list vs the SDK server", figures["parac tools/list"] / figures["sdk tools/list"], 1.0),
        ("list_agents 1,000 vs 10 agents", figures["list_agents 1000"] / figures["list_agents 10"], 2.0),
        ("walk by cursor vs one answer", figures["walk"] / figures["one"], 1.5),
    ]
    check_ratios("mcp_listing", checks, {"load": load, "p50_ms": figures, "profiles": sizes}, width=32)


if __name__ == "__main__":
    sys.exit(main())
