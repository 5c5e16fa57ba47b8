"""Shared fixtures: a `parac` command runner and fresh workspaces on disk.

Installed third-party plugins never load in tests unless a test asks for them (PARAC_LOAD_PLUGINS is empty), so a
developer's environment cannot change the results.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support.openai_server import OpenAIServer
from support.paths import PARAC

os.environ["PARAC_LOAD_PLUGINS"] = ""
os.environ.pop("PARAC_WORKSPACE", None)
os.environ.pop("PARAC_DISABLE_PLUGINS", None)


class Result:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self):
        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"<exit {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}>"


def run_parac(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None, timeout: float = 120) -> Result:
    """Run the installed `parac` command as a user would."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [PARAC, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    return Result(proc)


@pytest.fixture
def parac():
    return run_parac


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project created by `parac init` with the default template."""
    result = run_parac("init", str(tmp_path / "project"))
    assert result.code == 0, result
    return tmp_path / "project"


@pytest.fixture
def empty_project(tmp_path: Path) -> Path:
    result = run_parac("init", str(tmp_path / "project"), "--template", "empty")
    assert result.code == 0, result
    return tmp_path / "project"


@pytest.fixture(autouse=True)
def closed_breakers() -> Iterator[None]:
    """Circuit breakers live as long as the process; each test starts with every provider healthy."""
    from parac.core.resilience import BREAKERS

    BREAKERS.reset()
    yield
    BREAKERS.reset()


@pytest.fixture
def llm_server() -> Iterator[OpenAIServer]:
    """The local OpenAI-compatible server; its request log says which model calls were made."""
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def extra_plugins() -> list[tuple[str, Any]]:
    """The ``(name, plugin)`` pairs ``host_for`` registers; a folder's conftest overrides it with its test tools."""
    return []


@pytest.fixture
def host_for(extra_plugins: list[tuple[str, Any]]) -> Callable[[Path], Any]:
    """Open a host over a workspace, with no installed plugin but the built-ins and ``extra_plugins``."""
    from parac.server.host import Host

    def make(root: Path) -> Host:
        host = Host(entry_points=False, extra_plugins=extra_plugins)
        host.open_workspace(root)
        return host

    return make
