"""Fixtures for the pattern tests: a workspace whose agents are written per test, a host with a tool that returns
long outputs (for compaction); ``llm_server`` comes from tests/conftest.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from parac.server.api import hookimpl, tool_from_function
from parac.server.host import Host
from support.runtime import write_script


class ReportTools:
    """``add`` and ``report``: a long, line-per-fact output, as a test runner or a file read gives."""

    @hookimpl
    def parac_register_tools(self, register) -> None:
        def add(a: int, b: int) -> int:
            """Add two integers."""
            return a + b

        def report(lines: int = 400) -> str:
            """A long report: one numbered line per item."""
            return "\n".join(f"item {n:04d}: status nominal, checksum {n * 7919 % 100003:06d}" for n in range(lines))

        register(tool_from_function(add))
        register(tool_from_function(report))


class Space:
    """A workspace on disk; ``agent`` writes an agent file, ``script`` a scripted model."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.parac = root / ".parac"
        (self.parac / "agents").mkdir(parents=True)
        (self.parac / "workflows").mkdir()
        (self.parac / "policies").mkdir()
        (self.parac / "parac.yaml").write_text("name: pattern-tests\ndefault_model: echo\n")
        (self.parac / "policies" / "tests.yaml").write_text("allow:\n  - tools: ['*']\n")

    def agent(self, name: str, **fields: Any) -> None:
        (self.parac / "agents" / f"{name}.yaml").write_text(yaml.safe_dump(fields))

    def workflow(self, name: str, **fields: Any) -> None:
        (self.parac / "workflows" / f"{name}.yaml").write_text(yaml.safe_dump(fields))

    def script(self, name: str, *turns: dict[str, Any]) -> str:
        return write_script(self.root / f"{name}.script.yaml", list(turns))

    def host(self) -> Host:
        host = Host(entry_points=False, extra_plugins=[("report-tools", ReportTools())])
        host.open_workspace(self.root)
        return host


@pytest.fixture
def space(tmp_path: Path) -> Space:
    return Space(tmp_path / "ws")
