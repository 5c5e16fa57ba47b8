"""Shared fixtures: a `parac` command runner and fresh workspaces on disk.

Installed third-party plugins never load in tests unless a test asks for them (PARAC_LOAD_PLUGINS is empty), so a
developer's environment cannot change the results.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

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
