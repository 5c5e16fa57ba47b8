"""Prometheus metrics of one served app: requests, model calls, tokens, dollars, tool calls, runs, steps, budgets.

One :class:`Metrics` per app (``parac mcp serve``'s :class:`~parac.server.mcp.app.ParacApp`, ``parac serve``'s),
each with its own ``CollectorRegistry``: nothing is kept at module level, so two apps in one process (tests, a
server with tenants) count apart. The hosts an app serves report to it (``Host.metrics``, set by :meth:`watch`)
from the governance hooks every call already passes, so a count is exactly what the hooks saw. Budget headroom and
the audit trail's length are read from each watched workspace's database when scraped (on the dbos engine, the
shared chain in Postgres).

Names carry the ``parac_`` prefix and their unit; labels are bounded sets (methods, routes, tools, providers,
models, workflows, agents and outcomes, all named in files), never run ids. prometheus-client is imported when an
app asks for metrics (``--metrics-port``, ``GET /metrics``), not at start.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import weakref
from bisect import bisect_left
from itertools import accumulate
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from parac.core.calls import CallDenied, LLMCall, ToolCall

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from .host import Host

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class Metrics:
    """The instruments of one app, in their own registry."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry: CollectorRegistry = CollectorRegistry()
        r = self.registry
        self.mcp_requests = Histogram(
            "parac_mcp_request_duration_seconds", "MCP requests by method and transport, answered or failed.",
            ["method", "transport"], buckets=LATENCY_BUCKETS, registry=r)
        self.http_requests = _Tally(
            "parac_http_request_duration_seconds", "HTTP requests by route template, method and status class.",
            ("route", "method", "status"), LATENCY_BUCKETS)
        r.register(self.http_requests)
        self.model_calls = Counter(
            "parac_model_calls_total", "Model calls by provider, model and outcome (ok, denied, failed).",
            ["provider", "model", "outcome"], registry=r)
        self.tokens = Counter(
            "parac_model_tokens_total", "Tokens by provider, model and direction (input, output).",
            ["provider", "model", "direction"], registry=r)
        self.dollars = Counter(
            "parac_model_cost_usd_total", "Dollars spent on model calls by provider and model.",
            ["provider", "model"], registry=r)
        self.tool_calls = _Tally(
            "parac_tool_calls_total", "Tool calls by tool and outcome (allowed: ran; denied; failed).",
            ("tool", "outcome"))
        r.register(self.tool_calls)
        self.steps = Histogram(
            "parac_workflow_step_duration_seconds", "Workflow steps' work (retries included) by workflow and status.",
            ["workflow", "status"], buckets=LATENCY_BUCKETS, registry=r)
        self.agent_runs = Counter(
            "parac_agent_runs_total", "Agent runs by agent and status.", ["agent", "status"], registry=r)
        self.workflow_runs = Counter(
            "parac_workflow_runs_total", "Workflow runs that ended, by workflow and status.",
            ["workflow", "status"], registry=r)
        self._hosts: weakref.WeakSet[Host] = weakref.WeakSet()
        r.register(_Workspaces(self._hosts))

    def watch(self, host: Host) -> None:
        """Count what ``host`` does here, and report its workspace's budgets and audit trail when scraped."""
        host.metrics = self
        self._hosts.add(host)

    # -- what the hooks report (PluginHooks) ---------------------------------------------------------------------
    def tool_call(self, call: ToolCall, error: BaseException | None) -> None:
        outcome = "allowed" if error is None else "denied" if isinstance(error, CallDenied) else "failed"
        self.tool_calls.add((call.tool, outcome))

    def llm_call(self, call: LLMCall, response: Any, error: BaseException | None) -> None:
        outcome = "ok" if error is None else "denied" if isinstance(error, CallDenied) else "failed"
        self.model_calls.labels(call.provider, call.model, outcome).inc()
        usage = getattr(response, "usage", None)
        if usage is not None:
            self.tokens.labels(call.provider, call.model, "input").inc(usage.prompt_tokens)
            self.tokens.labels(call.provider, call.model, "output").inc(usage.completion_tokens)
        if call.cost_usd:
            self.dollars.labels(call.provider, call.model).inc(call.cost_usd)

    def event(self, name: str, data: dict[str, Any]) -> None:
        if name == "workflow.step.end" and "duration_s" in data:
            self.steps.labels(str(data.get("workflow")), str(data.get("status"))).observe(data["duration_s"])
        elif name == "agent.run.end":
            self.agent_runs.labels(str(data.get("agent")), str(data.get("status"))).inc()
        elif name == "workflow.run.end":
            self.workflow_runs.labels(str(data.get("workflow")), str(data.get("status"))).inc()

    # -- faces -----------------------------------------------------------------------------------------------------
    def mcp_request(self, method: str, transport: str, seconds: float) -> None:
        self.mcp_requests.labels(method, transport).observe(seconds)

    def http_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """``route`` is the route's template (``/api/v1/runs/{run_id}``), never the path: labels stay bounded."""
        self.http_requests.add((route, method, _STATUS_CLASS.get(status // 100) or f"{status // 100}xx"), seconds)

    def asgi_app(self) -> Any:
        """``GET /metrics`` for an ASGI server: ``Mount("/metrics", metrics.asgi_app())``."""
        from prometheus_client import make_asgi_app

        return make_asgi_app(self.registry)

    def serve(self, port: int, host: str = "127.0.0.1") -> Any:
        """Serve ``/metrics`` on ``host:port`` from a daemon thread (``parac mcp serve --metrics-port``)."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server

    def text(self) -> str:
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode()


_STATUS_CLASS = {n: f"{n}xx" for n in range(1, 6)}


class _Tally:
    """A counter, or with `buckets` a histogram, by label values, kept as plain numbers under one lock and made into
    the client's metric family when scraped, exposed as the client exposes its `Counter` or `Histogram` (`_total`,
    or `_bucket`, `_count` and `_sum`; `_created` unless the client is told not to).

    For what is counted on every request: the client's `Histogram.observe` takes a lock per value it touches through
    a call each, about as much work as the rest of an HTTP request's bookkeeping together; here an observation is
    one bisect and two additions. Labels are bounded (route templates, names in files), so rows are kept for ever,
    as the client keeps its children."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...],
                 buckets: tuple[float, ...] | None = None) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self.bounds = (*buckets, float("inf")) if buckets is not None else None
        self._rows: dict[tuple[str, ...], list[float]] = {}
        """Per label values: each bucket's own count (not cumulative) then the sum; a counter's value alone."""
        self._created: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def add(self, labels: tuple[str, ...], value: float = 1.0) -> None:
        """Count `value` (a counter), or observe it (a histogram)."""
        with self._lock:
            row = self._rows.get(labels)
            if row is None:
                row = self._rows[labels] = [0.0] * (len(self.bounds) + 1 if self.bounds is not None else 1)
                self._created[labels] = time.time()
            if self.bounds is not None:
                row[bisect_left(self.bounds, value)] += 1  # the first bucket whose bound is >= value, as the client
            row[-1] += value

    def describe(self) -> list[Any]:
        return [self._family()]

    def collect(self) -> list[Any]:
        from prometheus_client.metrics import _use_created
        from prometheus_client.samples import Sample
        from prometheus_client.utils import floatToGoString

        with self._lock:
            rows = [(labels, list(row), self._created[labels]) for labels, row in self._rows.items()]
        family = self._family()
        for labels, row, created in rows:
            if self.bounds is None:
                family.add_metric(labels, row[-1], created=created if _use_created else None)
                continue
            counts = list(accumulate(row[:-1]))
            family.add_metric(labels, [(floatToGoString(b), n) for b, n in zip(self.bounds, counts)], row[-1])
            if _use_created:
                family.samples.append(Sample(family.name + "_created", dict(zip(self.labelnames, labels)), created))
        return [family]

    def _family(self) -> Any:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        kind = CounterMetricFamily if self.bounds is None else HistogramMetricFamily
        return kind(self.name, self.documentation, labels=self.labelnames)


class _Workspaces:
    """Read at scrape time from each watched workspace: budget headroom and the audit trail's length."""

    def __init__(self, hosts: weakref.WeakSet[Host]) -> None:
        self.hosts = hosts

    def describe(self) -> list[Any]:
        return []  # read on scrape: nothing to check at registration

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        remaining = GaugeMetricFamily(
            "parac_budget_remaining_usd", "Dollars left under each budget limit (spent and in-flight taken off).",
            labels=["workspace", "limit"])
        limit_usd = GaugeMetricFamily("parac_budget_limit_usd", "Each budget limit.", labels=["workspace", "limit"])
        audit = GaugeMetricFamily("parac_audit_entries", "Entries in the workspace's audit trail.",
                                  labels=["workspace"])
        for host in list(self.hosts):
            workspace = host.workspace
            if workspace is None:
                continue
            name = workspace.root.name
            try:
                for row in _budget_rows(workspace):
                    remaining.add_metric([name, row["limit"]], row["remaining_usd"])
                    limit_usd.add_metric([name, row["limit"]], row["limit_usd"])
                audit.add_metric([name], _audit_entries(workspace.root))
            except Exception as exc:  # a scrape reports what it can
                log.warning("metrics of %s could not be read: %s: %s", name, type(exc).__name__, exc)
        yield remaining
        yield limit_usd
        yield audit


def _budget_rows(workspace: Any) -> list[dict[str, Any]]:
    from parac.core.runtime import budget_status

    return budget_status(workspace)["limits"]


def _audit_entries(root: Any) -> int:
    from parac.core.engines import shared_database_url
    from parac.core.store import db_path

    url = shared_database_url(root)
    if url is not None:  # the dbos engine: every process's entries are in one chain in Postgres
        return _shared_audit_entries(url)
    path = db_path(root)
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT coalesce(max(seq), 0) FROM audit").fetchone()  # seq counts from 1
    except sqlite3.OperationalError:  # no trail written yet
        return 0
    finally:
        conn.close()
    return int(row[0])


def _shared_audit_entries(url: str) -> int:
    from parac.core.engines import pool

    with pool.connection(url) as conn:
        if conn.execute("SELECT to_regclass('parac_audit.audit')").fetchone()[0] is None:  # no trail written yet
            return 0
        return int(conn.execute("SELECT coalesce(max(seq), 0) FROM parac_audit.audit").fetchone()[0])
