"""Protocol fuzzing: at least 10,000 malformed or random JSON-RPC messages each to `parac mcp serve` (stdio and
Streamable HTTP) and to `parac lsp`. No crash, no hang, and a valid request afterwards is answered.

Each server runs once per test; hypothesis generates the messages in batches that are sent to that one process, and
after every batch a valid request must be answered (so a hang or a crash is caught at the batch that caused it).
Shrinking is off: the server keeps state between batches, so a smaller batch replayed later proves nothing.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from support.serving import free_port, wait_until_listening
from support.paths import PARAC

BATCHES = 520
PER_BATCH = 20  # 520 x 20 = 10,400 messages per server; small examples keep hypothesis fast
ANSWER_TIMEOUT = float(os.environ.get("PARAC_FUZZ_TIMEOUT", "60"))

MCP_METHODS = [
    "initialize", "ping", "tools/list", "tools/call", "resources/list", "resources/read", "resources/templates/list",
    "resources/subscribe", "resources/unsubscribe", "prompts/list", "prompts/get", "completion/complete",
    "logging/setLevel", "server/discover", "subscriptions/listen", "notifications/initialized",
    "notifications/cancelled", "notifications/progress", "notifications/roots/list_changed",
]
LSP_METHODS = [
    "initialize", "initialized", "shutdown", "textDocument/didOpen", "textDocument/didChange",
    "textDocument/didClose", "textDocument/completion", "textDocument/hover", "textDocument/definition",
    "textDocument/references", "textDocument/rename", "textDocument/documentSymbol", "textDocument/codeAction",
    "textDocument/diagnostic", "workspace/symbol", "workspace/didChangeConfiguration", "$/cancelRequest",
    "$/setTrace", "completionItem/resolve",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
ids = st.none() | st.integers() | st.text(max_size=8) | st.floats(allow_nan=False) | st.booleans() | st.lists(
    st.integers(), max_size=2)


def rpc_messages(methods: list[str]) -> st.SearchStrategy[Any]:
    """JSON-RPC-shaped objects that are wrong in every way a client or an attacker could make them wrong."""
    method = st.sampled_from(methods) | st.text(max_size=30)
    shaped = st.fixed_dictionaries(
        {"jsonrpc": st.sampled_from(["2.0", "1.0", 2, None, ""]), "method": method},
        optional={"id": ids, "params": json_values | st.dictionaries(
            st.sampled_from(["name", "uri", "arguments", "cursor", "level", "textDocument", "position",
                             "requestId", "protocolVersion", "capabilities", "ref", "argument", "_meta"]),
            json_values, max_size=4)},
    )
    responses = st.fixed_dictionaries({"jsonrpc": st.just("2.0"), "id": ids},
                                      optional={"result": json_values, "error": json_values})
    return shaped | responses | json_values | st.lists(shaped, max_size=3)


def mcp_lines() -> st.SearchStrategy[bytes]:
    """One line of the stdio transport: JSON that is valid or not, text, or raw bytes (never a newline inside)."""
    as_json = rpc_messages(MCP_METHODS).map(lambda value: json.dumps(value).encode())
    raw = st.binary(max_size=200).map(lambda data: data.replace(b"\n", b" "))
    broken = as_json.flatmap(lambda data: st.integers(0, max(0, len(data) - 1)).map(lambda cut: data[:cut]))
    return st.one_of(as_json, as_json, raw, broken, st.text(max_size=80).map(
        lambda text: text.replace("\n", " ").encode("utf-8", "surrogatepass")))


def answer_reader(stream: Any) -> queue.Queue[bytes]:
    lines: queue.Queue[bytes] = queue.Queue()

    def pump() -> None:
        for line in iter(stream.readline, b""):
            lines.put(line)
        lines.put(b"")

    threading.Thread(target=pump, daemon=True).start()
    return lines


def wait_for_id(lines: queue.Queue[bytes], wanted: str, parse: Any = json.loads) -> dict[str, Any]:
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no answer to {wanted} within {ANSWER_TIMEOUT} s: the server hangs"
        line = lines.get(timeout=remaining)
        assert line != b"", "the server closed its output: it crashed"
        try:
            message = parse(line)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("id") == wanted:
            return message


# --- MCP over stdio ----------------------------------------------------------------------------------------------


class StdioMcp:
    def __init__(self, project: Path) -> None:
        self.proc = subprocess.Popen(
            [PARAC, "mcp", "serve", "--workspace", str(project)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env={**os.environ, "PARAC_LOAD_PLUGINS": ""},
        )
        self.lines = answer_reader(self.proc.stdout)
        self.sent = 0
        self.checks = 0

    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data + b"\n")
        self.proc.stdin.flush()
        self.sent += 1

    def ping(self) -> dict[str, Any]:
        self.checks += 1
        wanted = f"check-{self.checks}"
        self.send(json.dumps({"jsonrpc": "2.0", "id": wanted, "method": "ping"}).encode())
        return wait_for_id(self.lines, wanted)

    def close(self) -> int | None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


@pytest.fixture(scope="module")
def fuzz_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz") / "project"
    subprocess.run([PARAC, "init", str(root)], check=True, capture_output=True)
    return root


@pytest.fixture(scope="module")
def stdio_mcp(fuzz_project: Path) -> Iterator[StdioMcp]:
    server = StdioMcp(fuzz_project)
    server.send(json.dumps({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "fuzz", "version": "1"}}}).encode())
    wait_for_id(server.lines, "init")
    server.send(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}')
    yield server
    server.close()


@settings(max_examples=BATCHES, deadline=None, database=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=st.lists(mcp_lines(), min_size=PER_BATCH, max_size=PER_BATCH))
def test_mcp_stdio_survives_garbage(stdio_mcp: StdioMcp, batch: list[bytes]) -> None:
    for line in batch:
        stdio_mcp.send(line)
    try:
        answer = stdio_mcp.ping()
    except (AssertionError, queue.Empty):
        pytest.fail(f"no answer after this batch: {batch!r}"[:20000])
    assert answer.get("result") == {}


def test_mcp_stdio_fuzz_volume_and_huge_lines(stdio_mcp: StdioMcp) -> None:
    """Runs after the hypothesis batches: they sent ≥ 10,000 messages; then lines of megabytes, then a real call."""
    assert stdio_mcp.sent >= BATCHES * PER_BATCH
    stdio_mcp.send(b"{" * 2_000_000)
    stdio_mcp.send(b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"' + b"x" * 3_000_000 + b'"}}')
    stdio_mcp.send(json.dumps({"jsonrpc": "2.0", "id": "agents", "method": "tools/call",
                               "params": {"name": "list_agents", "arguments": {}}}).encode())
    answer = wait_for_id(stdio_mcp.lines, "agents")
    assert "coder" in json.dumps(answer["result"])
    assert stdio_mcp.proc.poll() is None


# --- MCP over Streamable HTTP ------------------------------------------------------------------------------------


HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def http_mcp(fuzz_project: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], httpx.Client]]:
    port = free_port()
    proc = subprocess.Popen(
        [PARAC, "mcp", "serve", "--transport", "http", "--port", str(port), "--workspace", str(fuzz_project)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PARAC_LOAD_PLUGINS": ""},
    )
    wait_until_listening(proc, port)
    client = httpx.Client(timeout=ANSWER_TIMEOUT)
    try:
        yield f"http://127.0.0.1:{port}/mcp", proc, client
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=30)


def http_ping(url: str, client: httpx.Client) -> None:
    init = {"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "fuzz", "version": "1"}}}
    response = client.post(url, json=init, headers=HEADERS)
    assert response.status_code == 200, response.text
    assert '"id":"init"' in response.text.replace(" ", "")


HTTP_SENT = [0]


@settings(max_examples=BATCHES, deadline=None, database=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=st.lists(mcp_lines(), min_size=PER_BATCH, max_size=PER_BATCH),
       session=st.none() | st.text(max_size=20))
def test_mcp_http_survives_garbage(http_mcp: tuple[str, subprocess.Popen[bytes], httpx.Client], batch: list[bytes],
                                   session: str | None) -> None:
    url, proc, client = http_mcp
    headers = dict(HEADERS)
    if session is not None and session.isprintable() and session.isascii():
        headers["Mcp-Session-Id"] = session
    for body in batch:
        response = client.post(url, content=body, headers=headers)
        assert response.status_code < 500, (body[:200], response.status_code, response.text[:200])
        HTTP_SENT[0] += 1
    assert proc.poll() is None
    http_ping(url, client)


def test_mcp_http_fuzz_volume(http_mcp: tuple[str, subprocess.Popen[bytes], httpx.Client]) -> None:
    url, proc, client = http_mcp
    assert HTTP_SENT[0] >= BATCHES * PER_BATCH
    for method in ("GET", "DELETE", "PUT"):
        assert client.request(method, url, headers={"Mcp-Session-Id": "nope"}).status_code < 500
    http_ping(url, client)
    assert proc.poll() is None


# --- the language server -----------------------------------------------------------------------------------------


def lsp_frame(body: bytes) -> bytes:
    return b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body


def lsp_frames() -> st.SearchStrategy[bytes]:
    """Honestly framed bodies (JSON-RPC-shaped, plain JSON, broken JSON, bytes), plus extra or odd headers."""
    body = st.one_of(
        rpc_messages(LSP_METHODS).map(lambda value: json.dumps(value).encode()),
        rpc_messages(LSP_METHODS).map(lambda value: json.dumps(value).encode()),
        st.binary(max_size=120),
        st.text(max_size=60).map(lambda text: text.encode("utf-8", "surrogatepass")),
    )
    header = st.sampled_from([b"", b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n",
                              b"Content-Type: text/plain; charset=latin-1\r\n", b"X-Junk: \xff\xfe\r\n"])
    return st.tuples(header, body).map(
        lambda parts: b"Content-Length: " + str(len(parts[1])).encode() + b"\r\n" + parts[0] + b"\r\n" + parts[1])


class StdioLsp:
    def __init__(self, project: Path) -> None:
        self.proc = subprocess.Popen([PARAC, "lsp"], cwd=project, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env={**os.environ, "PARAC_LOAD_PLUGINS": ""})
        self.messages: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.sent = 0
        self.checks = 0

    def _read(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    self.messages.put(b"")
                    return
                if line in (b"\r\n", b"\n"):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if length is not None:
                self.messages.put(stream.read(length))

    def send(self, frame: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(frame)
        self.proc.stdin.flush()
        self.sent += 1

    def request(self, method: str, params: Any) -> dict[str, Any]:
        self.checks += 1
        wanted = f"check-{self.checks}"
        self.send(lsp_frame(json.dumps({"jsonrpc": "2.0", "id": wanted, "method": method, "params": params}).encode()))
        return wait_for_id(self.messages, wanted)


@pytest.fixture(scope="module")
def lsp(fuzz_project: Path) -> Iterator[StdioLsp]:
    server = StdioLsp(fuzz_project)
    answer = server.request("initialize", {"processId": None, "rootUri": fuzz_project.as_uri(), "capabilities": {}})
    assert "capabilities" in answer["result"]
    server.send(lsp_frame(b'{"jsonrpc":"2.0","method":"initialized","params":{}}'))
    yield server
    server.proc.stdin.close()  # type: ignore[union-attr]
    try:
        server.proc.wait(timeout=30)
    finally:
        if server.proc.poll() is None:
            server.proc.kill()


@settings(max_examples=BATCHES, deadline=None, database=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=st.lists(lsp_frames(), min_size=PER_BATCH, max_size=PER_BATCH))
def test_lsp_survives_garbage(lsp: StdioLsp, fuzz_project: Path, batch: list[bytes]) -> None:
    for frame in batch:
        if b'"shutdown"' in frame or b'"exit"' in frame:
            continue  # a well-behaved shutdown request is not an attack: the server may then refuse requests
        lsp.send(frame)
    uri = (fuzz_project / ".parac" / "agents" / "coder.yaml").as_uri()
    answer = lsp.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    assert "error" in answer or "result" in answer
    assert lsp.proc.poll() is None


def test_lsp_fuzz_volume_then_real_work(lsp: StdioLsp, fuzz_project: Path) -> None:
    assert lsp.sent >= BATCHES * PER_BATCH * 0.95
    path = fuzz_project / ".parac" / "agents" / "coder.yaml"
    lsp.send(lsp_frame(json.dumps({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": path.as_uri(), "languageId": "yaml", "version": 1, "text": path.read_text()}}}).encode()))
    answer = lsp.request("textDocument/hover", {"textDocument": {"uri": path.as_uri()},
                                                "position": {"line": 0, "character": 1}})
    assert "result" in answer
    assert lsp.proc.poll() is None
