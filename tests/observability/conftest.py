"""Fixtures for the observability tests: a workspace whose agent reads a file through a governed tool (a scripted
model, so runs are exact), a workflow fanning out to parallel steps, a local OTLP receiver, the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support import otlp_receiver
from support.runtime import write_script

PARAC = [sys.executable, "-P", "-m", "parac.server.cli"]

SCRIPT = [
    {"tool_calls": [{"name": "file_read", "arguments": {"path": "notes.txt"}}],
     "usage": {"prompt_tokens": 11, "completion_tokens": 7}},
    {"text": "The notes say hello.", "usage": {"prompt_tokens": 13, "completion_tokens": 3}},
]

FAN = """\
description: Three reads at once, then the reader agent
steps:
  - {id: a, tool: file_read, arguments: {path: notes.txt}}
  - {id: b, tool: file_read, arguments: {path: notes.txt}}
  - {id: c, tool: file_read, arguments: {path: notes.txt}}
  - {id: summary, agent: reader, task: "Summarise the notes", depends_on: [a, b, c]}
"""


@dataclass
class Project:
    root: Path
    model: str

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*PARAC, *args], cwd=self.root, env={**os.environ, **(env or {})}, text=True,
                              capture_output=True, timeout=timeout)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "ws"
    parac = root / ".parac"
    for folder in ("agents", "policies", "workflows"):
        (parac / folder).mkdir(parents=True)
    model = write_script(tmp_path / "script.yaml", SCRIPT)
    (parac / "parac.yaml").write_text(
        f"name: obs\ndefault_model: echo\nprices:\n  '{model}': {{input_per_mtok: 1000, output_per_mtok: 2000}}\n"
    )
    (parac / "policies" / "tools.yaml").write_text("allow:\n  - tools: [file_read, file_list]\n")
    (parac / "agents" / "reader.yaml").write_text(f"description: reads notes\nmodel: '{model}'\ntools: [file_read]\n")
    writes = write_script(tmp_path / "writes.yaml", [
        {"tool_calls": [{"name": "file_write", "arguments": {"path": "out.txt", "content": "x"}}]}, {"text": "refused"},
    ])
    (parac / "agents" / "writer.yaml").write_text(f"description: not allowed to write\nmodel: '{writes}'\ntools: [file_write]\n")
    (parac / "workflows" / "fan.yaml").write_text(FAN)
    (root / "notes.txt").write_text("hello\n")
    return Project(root, model)


@pytest.fixture
def receiver() -> Iterator[otlp_receiver.Receiver]:
    got, server = otlp_receiver.start()
    yield got
    server.shutdown()
    server.server_close()

