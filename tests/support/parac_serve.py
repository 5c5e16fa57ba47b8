"""`parac serve` in a real process on 127.0.0.1 (uvicorn, a port the kernel picks), for tests that drive it over
HTTP: REST with httpx, SSE with `support.sse`, MCP with the official client."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from support.paths import PARAC

GATED_WORKFLOW = """\
description: Draft, approve, publish
inputs:
  topic: {type: string, required: true}
steps:
  - id: draft
    agent: coder
    task: "Draft {{ inputs.topic }}"
  - id: gate
    type: approval
    description: A person approves the draft
    depends_on: [draft]
  - id: publish
    agent: documenter
    depends_on: [gate]
    task: "Publish {{ steps.draft.output }}"
"""
"""A workflow whose run waits at a gate (step `gate`) between two agent steps: started, watched and approved over
HTTP by the serve and SDK tests (run it with `dry_run: echo`)."""


@dataclass
class Served:
    proc: subprocess.Popen[str]
    url: str  # http://127.0.0.1:PORT
    output: list[str] = field(default_factory=list)  # what it printed, stdout and stderr interleaved

    @property
    def api(self) -> str:
        return self.url + "/api/v1"

    @property
    def mcp(self) -> str:
        return self.url + "/mcp"

    @property
    def port(self) -> int:
        return int(self.url.rpartition(":")[2])

    def log(self) -> str:
        return "".join(self.output)


@contextmanager
def parac_serve(*workspaces: Path, args: tuple[str, ...] = (), env: dict[str, str] | None = None,
                ready: bool = True, timeout: float = 90) -> Iterator[Served]:
    """Start `parac serve --port 0 --workspace W...`; yield once it printed its URL (and, with `ready`, once
    `/health/ready` answers 200). SIGTERM at the end, as a service manager stops it."""
    command = [PARAC, "serve", "--port", "0", *(f"--workspace={w}" for w in workspaces), *args]
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "PARAC_LOAD_PLUGINS": "", **(env or {})})
    served = Served(proc, "")
    printed = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            served.output.append(line)
            if line.startswith("parac serve: http://") and not served.url:
                served.url = line.split()[2]
                printed.set()
        printed.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        deadline = time.monotonic() + timeout
        printed.wait(timeout)
        assert served.url, f"parac serve did not print its URL:\n{served.log()}"
        while ready:
            assert proc.poll() is None, f"parac serve exited:\n{served.log()}"
            try:
                if httpx.get(served.url + "/health/ready", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"parac serve was not ready in {timeout}s:\n{served.log()}"
            time.sleep(0.05)
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
