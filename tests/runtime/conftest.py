"""Fixtures for the runtime tests: a workspace with agents and a tool plugin (``host_for``, ``llm_server`` and the
breaker reset come from tests/conftest.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from parac.server.api import ToolError, hookimpl, tool_from_function


class ToolPlugin:
    """Tools an agent may call in the tests; ``calls`` records what really ran."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    @hookimpl
    def parac_register_tools(self, register) -> None:
        def add(a: int, b: int) -> int:
            """Add two integers."""
            self.calls.append(("add", {"a": a, "b": b}))
            return a + b

        def explode(reason: str) -> str:
            """Fail on purpose."""
            self.calls.append(("explode", {"reason": reason}))
            raise ToolError(f"exploded: {reason}")

        register(tool_from_function(add))
        register(tool_from_function(explode))


@pytest.fixture
def tools() -> ToolPlugin:
    return ToolPlugin()


@pytest.fixture
def extra_plugins(tools: ToolPlugin) -> list[tuple[str, Any]]:
    return [("test-tools", tools)]


@pytest.fixture
def workspace_dir(tmp_path: Path) -> Path:
    """A small workspace: a base agent with a budget and a skill, a calculator agent with tools."""
    root = tmp_path / "ws"
    parac = root / ".parac"
    (parac / "agents").mkdir(parents=True)
    (parac / "skills" / "arith").mkdir(parents=True)
    (parac / "parac.yaml").write_text("name: runtime-tests\ndefault_model: echo\n")
    (parac / "policies").mkdir()
    (parac / "policies" / "tests.yaml").write_text("allow:\n  - tools: ['*']\n")  # tools are denied unless granted
    (parac / "agents" / "base.yaml").write_text("description: base\nsystem_prompt: You are careful.\nmax_iterations: 4\n")
    (parac / "agents" / "calc.yaml").write_text(
        "parent: base\ndescription: calculator\ntools: [add, explode]\nskills: [arith]\n"
    )
    (parac / "skills" / "arith" / "SKILL.md").write_text(
        textwrap.dedent(
            """\
            ---
            name: arith
            description: Arithmetic with tools.
            ---
            Always use the add tool.
            """
        )
    )
    return root
