"""`parac serve` observed: `/metrics` (the server's own registry) moves by exactly what a REST agent run did, a
request's `traceparent` reaches the OTLP receiver as its server span's parent and comes back, JSON log lines carry
the request id, and once a credential exists `/metrics` needs one too."""

from __future__ import annotations

import json
import time
import httpx
from prometheus_client.parser import text_string_to_metric_families

from support.auth_server import token
from support.parac_serve import parac_serve

RUNS = "/api/v1/agents/{name}/runs"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _total(samples: dict, name: str, **labels: str) -> float:
    return sum(value for (n, have), value in samples.items()
               if n == name and labels.items() <= dict(have).items())


def test_metrics_move_by_exactly_what_a_rest_run_did(project):
    with parac_serve(project.root) as served, httpx.Client(base_url=served.url, timeout=60) as http:
        scraped = http.get("/metrics")
        described = http.get("/openapi.json").json()["paths"]["/metrics"]["get"]
        before = _samples(scraped.text)
        run = http.post("/api/v1/agents/reader/runs", json={"task": "read the notes"})
        deadline = time.monotonic() + 10
        while True:  # the request is counted once its answer went out: the next scrape may come first
            after = _samples(http.get("/metrics").text)
            if _total(after, "parac_http_request_duration_seconds_count", route=RUNS) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    # what the route answers is what /openapi.json says it answers: the classic text format every Prometheus reads
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert list(described["responses"]["200"]["content"]) == [scraped.headers["content-type"]]
    assert run.status_code == 200 and run.json()["status"] == "completed", run.text

    def moved(name: str, **labels: str) -> float:
        return _total(after, name, **labels) - _total(before, name, **labels)

    assert moved("parac_agent_runs_total", agent="reader", status="completed") == 1
    assert moved("parac_agent_runs_total") == 1
    assert moved("parac_model_calls_total", outcome="ok") == 2 and moved("parac_model_calls_total") == 2
    assert moved("parac_model_tokens_total", direction="input") == 24
    assert moved("parac_model_tokens_total", direction="output") == 10
    assert moved("parac_tool_calls_total", tool="file_read", outcome="allowed") == 1
    assert moved("parac_tool_calls_total", tool="run_agent", outcome="allowed") == 1  # the route is that tool
    assert moved("parac_tool_calls_total") == 2
    assert moved("parac_http_request_duration_seconds_count", route=RUNS, method="POST", status="2xx") == 1
    assert _total(after, "parac_http_request_duration_seconds_count", route="/metrics", method="GET") >= 1
    assert not any(dict(labels).get("route", "").startswith("/api/v1/agents/reader") for _, labels in after)
    assert _total(after, "parac_audit_entries", workspace=project.root.name) > 0  # read from the workspace when scraped


def test_traceparent_in_and_out_and_json_logs_with_the_request_id(project, receiver):
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    with parac_serve(project.root, args=("--log-format", "json", "--log-level", "info"),
                     env=receiver.env()) as served:
        answer = httpx.get(f"{served.api}/agents/reader", timeout=30,
                           headers={"traceparent": f"00-{trace_id}-{parent}-01", "x-request-id": "req-glue-1"})
        fresh = httpx.get(f"{served.api}/agents", timeout=30)
        spans = receiver.wait_for(lambda got: any(s.trace_id == trace_id and s.kind == 2 for s in got))
        deadline = time.monotonic() + 10
        while "req-glue-1" not in served.log() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert answer.status_code == 200 and answer.headers["x-request-id"] == "req-glue-1"
    _version, returned_trace, own_span, _flags = answer.headers["traceparent"].split("-")
    assert returned_trace == trace_id and own_span != parent
    assert len(fresh.headers["x-request-id"]) == 16  # none given: one made up, and said
    [server_span] = [s for s in spans if s.trace_id == trace_id and s.kind == 2]
    assert server_span.name == "GET /api/v1/agents/{name}" and server_span.parent_id == parent
    assert server_span.span_id == own_span and server_span.attributes["http.route"] == "/api/v1/agents/{name}"
    lines = [json.loads(line) for line in served.log().splitlines() if line.startswith("{")]
    [access] = [line for line in lines if line.get("request_id") == "req-glue-1" and line["logger"] == "parac.http.access"]
    assert access["message"].startswith("GET /api/v1/agents/{name} 200 ") and access["level"] == "info"
    assert access["trace_id"] == trace_id and access["span_id"] == own_span
    assert {"time", "level", "logger", "message"} <= set(access)


def test_metrics_need_a_credential_once_one_exists(project, parac):
    secret = token(parac, project.root, "scraper", role="viewer")
    with parac_serve(project.root) as served:  # the health probes stay public
        bare = httpx.get(served.url + "/metrics")
        scraped = httpx.get(served.url + "/metrics", headers={"Authorization": f"Bearer {secret}"})
    assert bare.status_code == 401 and bare.headers["content-type"] == "application/problem+json"
    assert "parac_" not in bare.text
    assert scraped.status_code == 200 and "parac_http_request_duration_seconds" in scraped.text
