"""The pattern fields in the editor: delegates, handoffs, reflect, loop, memory, cache and council steps are
validated with positioned diagnostics, completed and explained by hover like every other field."""

from __future__ import annotations

from pathlib import Path

from lsp_support import open_file, uri, wait_for
from lsprotocol import types
from pytest_lsp import LanguageClient
from test_features import at, labels


def found(client: LanguageClient, path: Path, code: str) -> list[types.Diagnostic]:
    return [d for d in client.diagnostics.get(uri(path), []) if d.code == code]


def span(line: int, start: int, end: int) -> types.Range:
    return types.Range(start=types.Position(line=line, character=start), end=types.Position(line=line, character=end))


async def test_agent_pattern_fields_are_checked_where_they_are_written(client: LanguageClient, workspace: Path):
    agent = workspace / ".parac/agents/lead.yaml"
    open_file(client, agent, "delegates: [coder, codr]\nhandoffs: [nobody]\nreflect:\n  critic: ghost\n"
                             "  until: \"{{ critique ==\"\nloop: upe\n")
    unknown = await wait_for(lambda: found(client, agent, "unknown-agent"), what="unknown agents")
    ranges = sorted((d.range.start.line, d.range.start.character, d.range.end.character) for d in unknown)
    assert ranges == [(0, 19, 23), (1, 11, 17), (3, 10, 15)]
    assert any('did you mean "coder"' in d.message for d in unknown)
    [syntax] = found(client, agent, "template-syntax")
    assert syntax.range.start.line == 4
    [loop] = [d for d in found(client, agent, "type") if d.range.start.line == 5]
    assert "'tools' or 'upee'" in loop.message


async def test_council_steps_are_checked_and_completed(client: LanguageClient, workspace: Path):
    workflow = workspace / ".parac/workflows/decide.yaml"
    text = ("steps:\n  - id: pick\n    type: council\n    agents: [coder, revewer]\n    strategy: judge\n"
            "    judge: boss\n    task: choose\n")
    open_file(client, workflow, text)
    unknown = await wait_for(lambda: found(client, workflow, "unknown-agent"), what="unknown members")
    assert sorted((d.range.start.line, d.range.start.character) for d in unknown) == [(3, 20), (5, 11)]
    assert await labels(client, workflow, 4, 14) == ["vote", "judge", "debate"]
    assert {"coder", "reviewer"} <= set(await labels(client, workflow, 5, 11))


async def test_hover_explains_the_pattern_fields(client: LanguageClient, workspace: Path):
    agent = workspace / ".parac/agents/lead.yaml"
    open_file(client, agent, "reflect:\n  critic: coder\ncache:\n  ttl_s: 60\nmemory:\n  context_tokens: 4000\n")
    hover = await client.text_document_hover_async(types.HoverParams(**at(agent, 0, 2)))
    assert "Evaluator loop" in hover.contents.value
    ttl = await client.text_document_hover_async(types.HoverParams(**at(agent, 3, 4)))
    assert "temperature 0" in ttl.contents.value
    tokens = await client.text_document_hover_async(types.HoverParams(**at(agent, 5, 4)))
    assert "expand_output" in tokens.contents.value
    assert {"delegates", "handoffs", "loop", "upee"} <= set(await labels(client, agent, 6, 0))
