"""State machines and behaviour trees in the editor: diagnostics placed where the mistake is, completion of keys,
state names and agents, hover from the field docs, and go-to-definition of a transition's target, all from
`parac lsp` as an editor drives it."""

from __future__ import annotations

from pathlib import Path

from lsp_support import open_file, uri, wait_for
from lsprotocol import types
from pytest_lsp import LanguageClient

MACHINE = """\
kind: fsm
initial: triage
states:
  triage:
    agent: coder
    transitions:
      - {to: answer, when: "states.triage.visits < 2"}
      - {to: nowhere}
  answer:
    agent: reviewer
    transitions:
      - to: done
  lonely: {agent: coder, transitions: [{to: done}]}
  done: {final: true}
"""


def at(path: Path, line: int, character: int) -> dict:
    return {"text_document": types.TextDocumentIdentifier(uri=uri(path)), "position": types.Position(line=line, character=character)}


async def test_state_machine_in_the_editor(client: LanguageClient, workspace: Path):
    path = workspace / ".parac/workflows/desk.yaml"
    open_file(client, path, MACHINE)
    found = await wait_for(lambda: [d for d in client.diagnostics.get(uri(path), []) if d.code in ("unknown-state", "unreachable-state")],
                           what="state machine diagnostics")
    placed = {(d.code, d.range.start.line, d.range.start.character) for d in found}
    assert placed == {("unknown-state", 7, 13), ("unreachable-state", 12, 2)}

    completion = await client.text_document_completion_async(types.CompletionParams(**at(path, 11, 14)))
    items = completion.items if isinstance(completion, types.CompletionList) else (completion or [])
    assert {"triage", "answer", "lonely", "done"} <= {item.label for item in items}  # `to:` names a state

    keys = await client.text_document_completion_async(types.CompletionParams(**at(path, 10, 4)))
    key_items = keys.items if isinstance(keys, types.CompletionList) else (keys or [])
    offered = {item.label for item in key_items}
    assert {"final", "assign", "form", "escalate", "retry"} <= offered and "transitions" not in offered  # written

    hover = await client.text_document_hover_async(types.HoverParams(**at(path, 1, 2)))
    assert "The state a run starts in" in hover.contents.value

    target = await client.text_document_definition_async(types.DefinitionParams(**at(path, 6, 14)))
    assert target and target[0].uri == uri(path) and target[0].range.start.line == 8  # the key "answer:"
    agent = await client.text_document_definition_async(types.DefinitionParams(**at(path, 9, 12)))
    assert [loc.uri for loc in agent] == [uri(workspace / ".parac/agents/reviewer.md")]


async def test_behaviour_tree_in_the_editor(client: LanguageClient, workspace: Path):
    path = workspace / ".parac/workflows/tree.yaml"
    text = "kind: behavior_tree\nroot:\n  sequence:\n    - action: {id: a, agent: ghost}\n    - retry: 2\n      child:\n        action: {id: b, agent: coder}\n"
    open_file(client, path, text)
    found = await wait_for(lambda: [d for d in client.diagnostics.get(uri(path), []) if d.code == "unknown-agent"],
                           what="unknown agent in a tree")
    assert (found[0].range.start.line, found[0].range.start.character) == (3, 29)
    agent = await client.text_document_definition_async(types.DefinitionParams(**at(path, 6, 31)))
    assert [loc.uri for loc in agent] == [uri(workspace / ".parac/agents/coder.yaml")]
