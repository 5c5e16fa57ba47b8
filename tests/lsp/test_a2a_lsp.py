"""A2A in the editor: the agents `parac serve` publishes (`serve.a2a.agents` in parac.yaml) are agent references,
checked where they are written and completed; a step's remote agent (`agent: a2a:URL`) is not one."""

from __future__ import annotations

from pathlib import Path

from lsp_support import open_file, uri, wait_for
from pytest_lsp import LanguageClient
from test_features import labels
from test_patterns_lsp import found


async def test_published_agents_are_checked_and_completed(client: LanguageClient, workspace: Path):
    settings = workspace / ".parac/parac.yaml"
    open_file(client, settings, "name: demo\nserve:\n  a2a:\n    agents: [coder, codr]\n")
    [unknown] = await wait_for(lambda: found(client, settings, "unknown-agent"), what="the unknown agent")
    assert (unknown.range.start.line, unknown.range.start.character) == (3, 20)
    assert 'did you mean "coder"' in unknown.message
    assert {"coder", "reviewer"} <= set(await labels(client, settings, 3, 20))


async def test_a_remote_agent_step_is_not_an_unknown_agent(client: LanguageClient, workspace: Path):
    workflow = workspace / ".parac/workflows/remote.yaml"
    open_file(client, workflow, "steps:\n  - id: ask\n    agent: \"a2a:http://127.0.0.1:9/\"\n    task: hi\n"
                                "  - id: local\n    agent: nobody\n    task: hi\n")
    [unknown] = await wait_for(lambda: found(client, workflow, "unknown-agent"), what="the local unknown agent")
    assert unknown.range.start.line == 5  # the remote agent on line 2 is not reported
    assert not [d for d in client.diagnostics.get(uri(workflow), []) if d.range.start.line == 2]
