"""Fixtures for the built-in tool tests: a project with a policy that grants the tools, and a host over it."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from parac.core.calls import CallContext
from parac.server.host import Host

POLICY = """\
description: Test grants for the built-in tools
allow:
  - tools: ["*"]
shell:
  allow: [{shell}]
  timeout_s: 5
  max_output_bytes: 2000
http:
  allow_hosts: [{hosts}]
  timeout_s: 5
  max_bytes: 4096
"""


def write_policy(root: Path, shell: tuple[str, ...] = ("echo", "ls", "python", "git status", "false"),
                 hosts: tuple[str, ...] = ()) -> None:
    (root / ".parac" / "policies").mkdir(exist_ok=True)
    text = POLICY.format(shell=", ".join(map(json.dumps, shell)), hosts=", ".join(map(json.dumps, hosts)))
    (root / ".parac" / "policies" / "tools.yaml").write_text(text)


@pytest.fixture
def workspace(tmp_path: Path, parac: Any) -> Path:
    root = tmp_path / "project"
    result = parac("init", str(root), "--template", "empty")
    assert result.code == 0, result
    write_policy(root)
    return root


@pytest.fixture
def host(workspace: Path) -> Host:
    return Host.for_workspace(workspace)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def init_repo(path: Path) -> None:
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Test Dev")
    git(path, "config", "user.email", "dev@example.com")
    git(path, "config", "commit.gpgsign", "false")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


async def call(host: Host, tool: str, /, **arguments: Any) -> Any:
    return await host.call_tool(tool, arguments, CallContext(actor="test"))
