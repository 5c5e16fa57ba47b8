"""A 2026-07-28 `tools/call` over Streamable HTTP: what a call with arguments costs beside the same call without.

On that revision the SDK checks a `tools/call`'s `Mcp-Param-*` headers against the called tool's input schema (SEP-2243)
whenever the call has arguments or such headers; it finds the schema through the server's `get_tool_input_schema`,
or, when the server has none, by running the server's whole `tools/list` handler for the one call. A call without
arguments skips the check, so `list_agents` with `{}` and with `{"limit": 50}` (the same work: the workspace has
fewer agents than either page) measure what the check costs: their ratio, target <= 1.1x. How many times parac's
`tools/list` handler ran meanwhile (its request metrics, `--metrics-port`) is printed beside it.

One `parac mcp serve --transport http` on a fresh `parac init` workspace, driven by httpx with a kept-alive connection,
the two requests taking turns; p50 and p95 of each, the load average, and the miss if there is one are printed and
written to bench/.results/mcp_http_calls.json.
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from harness import check_ratios, load_average
from mcp_latency import PARAC
from mcp_listing import alternate

ROUNDS, PER_ROUND, WARMUP = 5, 100, 50
VERSION = "2026-07-28"
META = {"io.modelcontextprotocol/protocolVersion": VERSION, "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "0"}}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def list_runs(client: httpx.Client, port: int) -> float:
    """How many `tools/list` requests parac's handlers served so far (`--metrics-port`), the SDK's own included."""
    text = client.get(f"http://127.0.0.1:{port}/metrics").text
    found = re.search(r'parac_mcp_request_duration_seconds_count\{method="tools/list",transport="http"\} (\S+)', text)
    return float(found.group(1)) if found else 0.0


def caller(client: httpx.Client, url: str, arguments: dict) -> Callable[[], None]:
    """One 2026-07-28 `tools/call` of `list_agents` with `arguments`, asserted to succeed."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "list_agents", "arguments": arguments, "_meta": META}}
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
               "MCP-Protocol-Version": VERSION, "Mcp-Method": "tools/call", "Mcp-Name": "list_agents"}

    def call() -> None:
        answer = client.post(url, json=body, headers=headers)
        assert answer.status_code == 200 and '"agents"' in answer.text and '"isError":true' not in answer.text, answer.text

    return call


def main() -> None:
    os.environ["PARAC_LOAD_PLUGINS"] = ""  # built-in plugins only, as on a fresh install
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "fresh"
        subprocess.run([PARAC, "init", str(workspace)], check=True, capture_output=True)
        port, metrics = free_port(), free_port()
        server = subprocess.Popen([PARAC, "mcp", "serve", "--transport", "http", "--port", str(port), "--workspace",
                                   str(workspace), "--metrics-port", str(metrics)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}/mcp"
        try:
            with httpx.Client(timeout=30) as client:
                listening(port)
                bare, with_arguments = caller(client, url, {}), caller(client, url, {"limit": 50})
                for _ in range(WARMUP):
                    bare(), with_arguments()
                plain: list[float] = []
                argued: list[float] = []
                lists_before = list_runs(client, metrics)
                for _ in range(ROUNDS):
                    alternate([(bare, plain), (with_arguments, argued)], PER_ROUND)
                lists = list_runs(client, metrics) - lists_before
        finally:
            server.terminate()
            server.wait(timeout=30)

    def figures(samples: list[float]) -> str:
        cut = statistics.quantiles(samples, n=20)
        return f"p50 {statistics.median(samples) * 1e3:6.2f} ms  p95 {cut[18] * 1e3:6.2f} ms"

    print(f"2026-07-28 tools/call over HTTP, {ROUNDS * PER_ROUND} calls each, in turns ({load_average()})")
    print(f"  list_agents {{}}            {figures(plain)}")
    print(f"  list_agents {{limit: 50}}   {figures(argued)}")
    print(f"  tools/list handler runs while measured (parac's request metrics): {lists:.0f}")
    ratio = statistics.median(argued) / statistics.median(plain)
    check_ratios("mcp_http_calls", [("with arguments / without (p50)", ratio, 1.1)],
                 {"p50_without_ms": statistics.median(plain) * 1e3, "p50_with_ms": statistics.median(argued) * 1e3,
                  "load": os.getloadavg()}, width=32)


if __name__ == "__main__":
    main()
