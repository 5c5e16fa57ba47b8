"""Diagnostics end to end: pushed for the whole workspace, live for the edited file, across files, and pulled."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsp_support import CLIENTS, open_file, replace_all, started, uri, wait_for
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities


def codes(client: LanguageClient, path: Path) -> list[str]:
    return [d.code for d in client.diagnostics.get(uri(path), [])]


async def test_clean_workspace_is_reported_clean(client: LanguageClient, workspace: Path):
    files = sorted(p for p in (workspace / ".parac").rglob("*") if p.suffix in (".yaml", ".md"))
    await wait_for(lambda: all(uri(p) in client.diagnostics for p in files), what="every file diagnosed")
    assert {uri(p): list(client.diagnostics[uri(p)]) for p in files} == {uri(p): [] for p in files}


async def test_edit_is_diagnosed_with_exact_range(client: LanguageClient, workspace: Path):
    coder = workspace / ".parac/agents/coder.yaml"
    open_file(client, coder)
    replace_all(client, coder, "parent: bsae\ndescription: x\n", 2)
    found = await wait_for(lambda: [d for d in client.diagnostics.get(uri(coder), []) if d.code == "unknown-parent"], what="unknown-parent")
    assert found[0].range == types.Range(start=types.Position(line=0, character=8), end=types.Position(line=0, character=12))
    assert 'did you mean "base"' in found[0].message
    assert found[0].severity == types.DiagnosticSeverity.Error
    replace_all(client, coder, "parent: base\ndescription: x\n", 3)
    await wait_for(lambda: codes(client, coder) == [], what="the fix to clear it")


async def test_parent_change_revalidates_descendants_and_closed_files(client: LanguageClient, workspace: Path):
    base = workspace / ".parac/agents/base.yaml"
    coder = workspace / ".parac/agents/coder.yaml"
    reviewer = workspace / ".parac/agents/reviewer.md"
    await wait_for(lambda: uri(coder) in client.diagnostics, what="start-up diagnostics")
    open_file(client, base)
    replace_all(client, base, "parent: coder\nmodel: echo\n", 2)  # base -> coder -> base
    await wait_for(lambda: "inheritance-cycle" in codes(client, coder), what="cycle reported on the closed child")
    assert "inheritance-cycle" in codes(client, base)
    await wait_for(lambda: "broken-chain" in codes(client, reviewer), what="the other child told")
    replace_all(client, base, "model: echo\n", 3)
    await wait_for(lambda: codes(client, coder) == [] and codes(client, reviewer) == [], what="children clean again")


async def test_workflow_learns_of_a_deleted_agent(client: LanguageClient, workspace: Path):
    coder = workspace / ".parac/agents/coder.yaml"
    workflow = workspace / ".parac/workflows/feature.yaml"
    await wait_for(lambda: uri(workflow) in client.diagnostics, what="start-up diagnostics")
    coder.unlink()
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(changes=[types.FileEvent(uri=uri(coder), type=types.FileChangeType.Deleted)])
    )
    found = await wait_for(lambda: [d for d in client.diagnostics.get(uri(workflow), []) if d.code == "unknown-agent"], what="unknown-agent")
    assert found[0].range.start.line == 4  # "agent: coder" of the design step


EVERY_KIND = {
    "agents/syntax.yaml": ("description: [unclosed\n", "syntax", 1),
    "agents/typed.yaml": ("temperature: hot\n", "type", 0),
    "agents/misspelt.yaml": ("descrption: x\n", "unknown-key", 0),
    "agents/orphan.yaml": ("parent: nobody\n", "unknown-parent", 0),
    "agents/loop-a.yaml": ("parent: loop-b\n", "inheritance-cycle", 0),
    "agents/loop-b.yaml": ("parent: loop-a\n", "inheritance-cycle", 0),
    "agents/toolless.yaml": ("tools: [no_such_tool]\n", "unknown-tool", 0),
    "agents/skilless.yaml": ("skills: [no-such-skill]\n", "unknown-skill", 0),
    "agents/modelless.yaml": ("model: nowhere-model\n", "unknown-provider", 0),
    "agents/renamed.yaml": ("name: other\n", "name-mismatch", 0),
    "workflows/bad-agent.yaml": ("steps:\n  - id: a\n    agent: ghost\n", "unknown-agent", 2),
    "workflows/bad-step.yaml": ("steps:\n  - id: a\n    agent: base\n    depends_on: [zzz]\n", "unknown-step", 3),
    "workflows/cyclic.yaml": (
        "steps:\n  - id: a\n    agent: base\n    depends_on: [b]\n  - id: b\n    agent: base\n    depends_on: [a]\n",
        "dependency-cycle",
        3,
    ),
    "workflows/bad-template.yaml": ('steps:\n  - id: a\n    agent: base\n    task: "{{ inputs.nope }}"\n', "unknown-input", 3),
}


@pytest.fixture
def broken_workspace(workspace: Path) -> Path:
    for name, (text, _, _) in EVERY_KIND.items():
        (workspace / ".parac" / name).write_text(text, encoding="utf-8")
    return workspace


async def test_every_kind_of_error_is_reported_where_it_is(broken_workspace: Path, client: LanguageClient):
    paths = {broken_workspace / ".parac" / name: (code, line) for name, (_, code, line) in EVERY_KIND.items()}
    await wait_for(lambda: all(uri(p) in client.diagnostics for p in paths), what="every file diagnosed")
    for path, (code, line) in paths.items():
        found = [d for d in client.diagnostics[uri(path)] if d.code == code]
        assert found, f"{path.name}: expected {code}, got {codes(client, path)}"
        assert found[0].range.start.line == line, f"{path.name}: {found[0]}"


async def test_pull_diagnostics_in_utf8(workspace: Path):
    """Neovim 0.11 pulls diagnostics and counts columns in UTF-8 bytes (and the server ignores a ``--stdio``)."""
    async with started(workspace, "neovim-pull", None, "--stdio") as (client, result):
        assert result.capabilities.position_encoding == types.PositionEncodingKind.Utf8
        assert result.capabilities.diagnostic_provider is not None
        coder = workspace / ".parac/agents/coder.yaml"
        open_file(client, coder, '{description: "😀", tools: [no_such_tool]}\n')
        report = await client.text_document_diagnostic_async(
            types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri(coder)))
        )
        unknown = [d for d in report.items if d.code == "unknown-tool" and "no_such_tool" in d.message]
        # '{description: "😀", tools: [' is 15 + 4 (the emoji in UTF-8) + 11 bytes long
        assert unknown[0].range.start == types.Position(line=0, character=30)
        assert unknown[0].range.end == types.Position(line=0, character=42)
        again = await client.text_document_diagnostic_async(
            types.DocumentDiagnosticParams(
                text_document=types.TextDocumentIdentifier(uri=uri(coder)), previous_result_id=report.result_id
            )
        )
        assert again.kind == "unchanged"
        assert uri(coder) not in client.diagnostics or client.diagnostics[uri(coder)] == []  # pulled, not pushed


async def test_pull_client_is_asked_to_refresh_when_another_file_changes(workspace: Path):
    capabilities = client_capabilities(CLIENTS["neovim-pull"])
    capabilities.workspace.diagnostics = types.DiagnosticWorkspaceClientCapabilities(refresh_support=True)
    async with started(workspace, "neovim-pull", capabilities) as (client, _):
        base = workspace / ".parac/agents/base.yaml"
        coder = workspace / ".parac/agents/coder.yaml"
        open_file(client, coder)
        open_file(client, base)
        await client.text_document_diagnostic_async(
            types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri(coder)))
        )
        replace_all(client, base, "parent: coder\n", 2)
        await wait_for(lambda: client.diagnostic_refresh_count > 0, what="workspace/diagnostic/refresh")
        report = await client.text_document_diagnostic_async(
            types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri(coder)))
        )
        assert [d.code for d in report.items] == ["inheritance-cycle"]


async def test_utf16_columns_for_vscode(workspace: Path):
    async with started(workspace, "vscode") as (client, _):
        coder = workspace / ".parac/agents/coder.yaml"
        open_file(client, coder, '{description: "😀", tools: [no_such_tool]}\n')
        found = await wait_for(
            lambda: [d for d in client.diagnostics.get(uri(coder), []) if "no_such_tool" in d.message], what="diagnostic"
        )
        # '{description: "😀", tools: [' is 15 + 2 (a surrogate pair) + 11 UTF-16 units long
        assert found[0].range.start == types.Position(line=0, character=28)
        assert found[0].range.end == types.Position(line=0, character=40)



async def test_one_pass_diagnostics_match_validate(client: LanguageClient, workspace: Path):
    """The editor sees what `parac validate` sees: a type error beside the references it no longer hides, and a
    template typo placed on the reference itself."""
    coder = workspace / ".parac/agents/coder.yaml"
    open_file(client, coder)
    replace_all(client, coder, "parent: base\ntemperature: hot\ntools: [file_reed]\n", 2)
    await wait_for(lambda: sorted(codes(client, coder)) == ["type", "unknown-tool"], what="both problems at once")
    (tool,) = [d for d in client.diagnostics[uri(coder)] if d.code == "unknown-tool"]
    assert tool.range.start == types.Position(line=2, character=8)
    flow = workspace / ".parac/workflows/one-pass.yaml"
    flow.write_text("steps:\n  - id: a\n    agent: base\n  - id: b\n    agent: base\n    depends_on: [a]\n    task: \"{{ steps.a.outptu }}\"\n")
    open_file(client, flow)
    found = await wait_for(lambda: [d for d in client.diagnostics.get(uri(flow), []) if d.code == "unknown-attribute"], what="template typo")
    assert found[0].range == types.Range(start=types.Position(line=6, character=22), end=types.Position(line=6, character=28))
    assert 'did you mean "output"' in found[0].message
    fixes = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri(flow)), range=found[0].range, context=types.CodeActionContext(diagnostics=[])
        )
    )
    assert [f.title for f in fixes] == ['Change "outptu" to "output"']  # the edit replaces the word, not the template
    assert fixes[0].edit.changes[uri(flow)][0].range == found[0].range
