"""`parac mcp serve` on raw pipes: what a careless script or a broken client would send it, and a way to end it
as a test chooses (stdin closed, or a signal)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from pathlib import Path
from typing import Any


class RawServer:
    """The server on raw pipes: what a careless script or a broken client would send it."""

    def __init__(self, command: list[str], project: Path) -> None:
        self.proc = subprocess.Popen(
            [*command, "--workspace", str(project)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PARAC_LOAD_PLUGINS": ""},
        )
        self.lines: queue.Queue[bytes] = queue.Queue()
        self.raw_stdout: list[bytes] = []
        self.replies: dict[Any, dict[str, Any]] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.raw_stdout.append(line)
            self.lines.put(line)

    def send(self, line: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + b"\n")
        self.proc.stdin.flush()

    def request(self, message: dict[str, Any]) -> None:
        self.send(json.dumps(message).encode())

    def reply_to(self, request_id: Any, timeout: float = 60) -> dict[str, Any]:
        """The reply to `request_id`; replies may come in any order (requests are served concurrently)."""
        while request_id not in self.replies:
            message = json.loads(self.lines.get(timeout=timeout))
            if "id" in message:
                self.replies[message["id"]] = message
        return self.replies.pop(request_id)

    def close(self, timeout: float = 30) -> int:
        """Close stdin, as a client that is done does, and wait for the server to exit."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(timeout=timeout)
