"""The HTTP middleware ``parac serve`` mounts, on a real uvicorn: W3C traceparent in and out, one server span per
request named by its route template, the latency histogram by route, request ids on responses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

HERE = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_traceparent_in_and_out_and_route_metrics(receiver):
    port = _free_port()
    server = subprocess.Popen([sys.executable, str(HERE / "http_app.py"), str(port)],
                              env={**os.environ, **receiver.env()})
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/metrics", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, "the app did not start"
                time.sleep(0.1)
        trace_id, parent = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
        answer = httpx.get(f"{base}/items/42", headers={"traceparent": f"00-{trace_id}-{parent}-01",
                                                         "x-request-id": "req-1"})
        assert answer.status_code == 200 and answer.headers["x-request-id"] == "req-1"
        version, returned_trace, own_span, _flags = answer.headers["traceparent"].split("-")
        assert returned_trace == trace_id and own_span != parent
        assert answer.json()["trace"] == [trace_id, own_span]  # the handler ran inside the request's span
        httpx.get(f"{base}/items/43")
        text = httpx.get(f"{base}/metrics/").text
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for f in text_string_to_metric_families(text) for s in f.samples}
        key = ("parac_http_request_duration_seconds_count",
               (("method", "GET"), ("route", "/items/{item_id}"), ("status", "2xx")))
        assert samples[key] == 2  # two paths, one route template
        spans = receiver.wait_for(lambda s: len([x for x in s if x.name == "GET /items/{item_id}"]) == 2)
        first = next(s for s in spans if s.trace_id == trace_id)
        assert first.parent_id == parent and first.span_id == own_span and first.kind == 2  # SERVER
        assert first.attributes["http.route"] == "/items/{item_id}"
        assert first.attributes["http.response.status_code"] == 200
    finally:
        server.terminate()
        server.wait(10)
