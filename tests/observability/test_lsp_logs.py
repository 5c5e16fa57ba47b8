"""``parac lsp --log-format json``: the language server's log lines on stderr are JSON objects."""

from __future__ import annotations

import json
import subprocess
import sys


def _frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def test_lsp_logs_json_lines(project):
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                  "params": {"processId": None, "rootUri": project.root.as_uri(), "capabilities": {}}}
    messages = [initialize, {"jsonrpc": "2.0", "method": "initialized", "params": {}},
                {"jsonrpc": "2.0", "id": 2, "method": "shutdown"}, {"jsonrpc": "2.0", "method": "exit"}]
    done = subprocess.run(
        [sys.executable, "-P", "-m", "parac.server.cli", "-w", str(project.root), "lsp", "--log-format", "json",
         "--log-level", "debug"],
        input=b"".join(_frame(m) for m in messages), capture_output=True, timeout=120,
    )
    assert b'"id": 1' in done.stdout or b'"id":1' in done.stdout  # initialize was answered
    lines = [line for line in done.stderr.decode().splitlines() if line.strip()]
    assert lines, "the server logged nothing at debug"
    parsed = [json.loads(line) for line in lines]
    assert all({"time", "level", "logger", "message"} <= set(p) for p in parsed)
    assert any(p["logger"].startswith("pygls") for p in parsed)
