"""Fixtures for the memory and replay tests: a workspace with agents and a tool plugin that counts what really ran
(``host_for``, ``llm_server`` and the breaker reset come from tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from parac.server.api import hookimpl, tool_from_function
from support.openai_server import OpenAIServer
from support.runtime import set_settings

MODEL = "gpt-4o-mini"


class Counter:
    """A tool whose every real call is recorded: a replay must not add to ``calls``."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    @hookimpl
    def parac_register_tools(self, register) -> None:
        def lookup(key: str) -> str:
            """Look a key up."""
            self.calls.append({"key": key})
            return f"value of {key}"

        register(tool_from_function(lookup))


@pytest.fixture
def counter() -> Counter:
    return Counter()


@pytest.fixture
def extra_plugins(counter: Counter) -> list[tuple[str, Any]]:
    return [("counter", counter)]


@pytest.fixture
def workspace_dir(tmp_path: Path, llm_server: OpenAIServer) -> Path:
    """Agents on the local server's model; a five-step chain workflow; every tool granted."""
    root = tmp_path / "ws"
    parac = root / ".parac"
    for folder in ("agents", "workflows", "policies", "memory/knowledge"):
        (parac / folder).mkdir(parents=True)
    (parac / "parac.yaml").write_text("name: memory-tests\n")
    set_settings(root, default_model=f"local/{MODEL}",
                 providers={"local": {"api_base": llm_server.base_url, "model_prefix": "openai"}})
    (parac / "policies" / "all.yaml").write_text("allow:\n  - tools: ['*']\n")
    (parac / "agents" / "writer.yaml").write_text("description: writes\nsystem_prompt: You write.\ntools: [lookup]\n")
    (parac / "agents" / "keeper.yaml").write_text(
        "description: remembers\nsystem_prompt: You keep the team's knowledge.\n"
        "memory: {recall: 3, episodic: true}\n"
    )
    steps = []
    for index in range(1, 6):
        depends = f"\n    depends_on: [s{index - 1}]" if index > 1 else ""
        before = f" after {{{{ steps.s{index - 1}.output }}}}" if index > 1 else ""
        steps.append(f"  - id: s{index}\n    agent: writer{depends}\n    task: \"part {index} of {{{{ inputs.topic }}}}{before}\"")
    (parac / "workflows" / "five.yaml").write_text(
        "description: five steps in a chain\ninputs:\n  topic: {type: string, required: true}\nsteps:\n"
        + "\n".join(steps) + "\n"
    )
    return root


@pytest.fixture
def runner(workspace_dir: Path, host_for):
    """A workflow runner on the workspace, acting as ``tester``."""
    from parac.core.calls import CallContext
    from parac.core.workflows.runs import WorkflowRunner

    host = host_for(workspace_dir)
    with WorkflowRunner(host.workspace, hooks=host.hooks, context=CallContext(actor="tester")) as runner:
        yield runner
