"""``parac mcp serve --metrics-port`` over real stdio: the Prometheus counters move by exactly what a run did, and
``--log-format json`` lines parse and carry the run's id and trace id (the spans at a real OTLP receiver)."""

from __future__ import annotations

import json
import os
import re
import sys
import time
import urllib.request

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from prometheus_client.parser import text_string_to_metric_families


def _scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _delta(before, after, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def _metrics_url(errlog, timeout=30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"http://127\.0\.0\.1:\d+/metrics", errlog.read_text())
        if found:
            return found.group(0)
        time.sleep(0.05)
    raise AssertionError(f"no metrics address logged: {errlog.read_text()}")


def test_metrics_move_by_what_a_run_did_and_json_logs_tie_to_the_trace(project, receiver, tmp_path):
    settings = project.root / ".parac" / "parac.yaml"
    settings.write_text(settings.read_text() + "budgets: {daily_usd: 10}\n")
    errlog = tmp_path / "stderr.log"
    model = project.model
    results = {}

    async def go():
        params = StdioServerParameters(
            command=sys.executable,
            args=["-P", "-m", "parac.server.cli", "mcp", "serve", "-w", str(project.root), "--metrics-port", "0",
                  "--log-format", "json", "--log-level", "info"],
            env={**os.environ, **receiver.env()}, cwd=str(project.root),
        )
        with errlog.open("w") as err:
            async with stdio_client(params, errlog=err) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                url = _metrics_url(errlog)
                await session.list_tools()  # loads the workspace, so the first scrape has its gauges
                results["before"] = await anyio.to_thread.run_sync(_scrape, url)
                reader = await session.call_tool("run_agent", {"agent": "reader", "task": "Read the notes"})
                results["reader"] = reader.structured_content
                results["middle"] = await anyio.to_thread.run_sync(_scrape, url)
                writer = await session.call_tool("run_agent", {"agent": "writer", "task": "Write"})
                assert not writer.is_error, writer
                await anyio.sleep(0.3)  # the audit writer commits every 50 ms
                results["after"] = await anyio.to_thread.run_sync(_scrape, url)

    anyio.run(go)
    before, middle, after = results["before"], results["middle"], results["after"]
    assert results["reader"]["status"] == "completed"
    run_id = results["reader"]["run_id"]

    # the reader's run: two model calls, 24 + 10 tokens, $0.044, one allowed file_read
    assert _delta(before, middle, "parac_model_calls_total", provider="scripted", model=model, outcome="ok") == 2
    assert _delta(before, middle, "parac_model_tokens_total", provider="scripted", model=model, direction="input") == 24
    assert _delta(before, middle, "parac_model_tokens_total", provider="scripted", model=model, direction="output") == 10
    assert _delta(before, middle, "parac_model_cost_usd_total", provider="scripted", model=model) == pytest.approx(0.044)
    assert _delta(before, middle, "parac_tool_calls_total", tool="file_read", outcome="allowed") == 1
    assert _delta(before, middle, "parac_agent_runs_total", agent="reader", status="completed") == 1
    assert _delta(before, middle, "parac_mcp_request_duration_seconds_count", method="tools/call",
                  transport="stdio") == 1
    gauges = [k for k in after if k[0] == "parac_budget_remaining_usd"]
    assert len(gauges) == 1 and dict(gauges[0][1])["workspace"] == "ws", gauges
    assert before[gauges[0]] - middle[gauges[0]] == pytest.approx(0.044)  # $10 a day, less what the run spent
    # the writer's run: its file_write is denied, nothing is counted as allowed
    assert _delta(middle, after, "parac_tool_calls_total", tool="file_write", outcome="denied") == 1
    assert _delta(middle, after, "parac_tool_calls_total", tool="file_write", outcome="allowed") == 0
    audit = ("parac_audit_entries", (("workspace", "ws"),))
    assert after[audit] > middle[audit] > before[audit]
    assert not any("run_id" in dict(labels) for _, labels in after)  # bounded labels

    # JSON logs: every stderr line is an object; the run's lines carry its id and the trace id of its span
    lines = [json.loads(line) for line in errlog.read_text().splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    spans = receiver.wait_for(lambda s: any(x.name == "invoke_agent reader" for x in s))
    agent = next(s for s in spans if s.name == "invoke_agent reader")
    assert agent.attributes["parac.run_id"] == run_id
    mine = [line for line in lines if line.get("run_id") == run_id and line.get("trace_id")]
    assert mine, lines
    assert {line["trace_id"] for line in mine} == {agent.trace_id}
    assert all(line.get("request_id") for line in mine)
