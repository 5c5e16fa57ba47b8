"""Helpers for tests that start a server on a loopback port: a process (`parac mcp serve --transport http`), or a
small HTTP server of the test's own in a thread."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port() -> int:
    """A port of 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_listening(proc: subprocess.Popen, port: int, *, why: Callable[[], str] = lambda: "",
                         timeout: float = 60) -> None:
    """Return once ``proc`` accepts connections on 127.0.0.1:``port``; fail (with ``why()``) if it exits first."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"the server exited: {why()}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            assert time.monotonic() < deadline, "the server did not start listening"
            time.sleep(0.05)


def until(check: Callable[[], object], timeout: float = 60) -> object:
    """``check()``'s first true value, asked every 0.1 s; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return value


@contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """``handler`` answering on 127.0.0.1 (a thread per request); yields the port, and shuts it down after."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


def stalled(port: int, head: str, part: bytes, wait_s: float = 20) -> bytes:
    """Send a request's head and the first part of its body, then nothing: what the server answers, if anything."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(wait_s)
    try:
        sock.sendall(head.encode() + part)
        answer = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            answer += chunk
        return answer
    finally:
        sock.close()
