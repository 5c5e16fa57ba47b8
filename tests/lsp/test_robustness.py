"""Bad input: the server answers every request, never crashes, and bounds the work it does."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import pytest_lsp
from lsp_support import PARAC, SERVER_ENV, make_workspace, open_file, start, started, uri, wait_for
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

CYCLE = 1000


@pytest.fixture
def cyclic_workspace(tmp_path: Path) -> Path:
    files = {f"agents/a{i}.yaml": f"parent: a{(i + 1) % CYCLE}\nmodel: echo\n" for i in range(CYCLE)}
    return make_workspace(tmp_path / "cyclic", files)


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[PARAC, "lsp"], server_env=SERVER_ENV))
async def vscode(lsp_client: LanguageClient, workspace: Path):
    await start(lsp_client, workspace, "vscode")
    yield
    await lsp_client.shutdown_session()


def at(path: Path, line: int = 0, character: int = 0) -> dict:
    return {"text_document": types.TextDocumentIdentifier(uri=uri(path)), "position": types.Position(line=line, character=character)}


async def ask_everything(client: LanguageClient, path: Path, line: int = 0, character: int = 0) -> None:
    """Every kind of request at one position; each must come back (a result or None), none may fail."""
    await client.text_document_completion_async(types.CompletionParams(**at(path, line, character)))
    await client.text_document_hover_async(types.HoverParams(**at(path, line, character)))
    await client.text_document_definition_async(types.DefinitionParams(**at(path, line, character)))
    await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=uri(path)))
    )
    rng = types.Range(start=types.Position(line=line, character=0), end=types.Position(line=line, character=character))
    await client.text_document_code_action_async(
        types.CodeActionParams(text_document=types.TextDocumentIdentifier(uri=uri(path)), range=rng, context=types.CodeActionContext(diagnostics=[]))
    )


def change(client: LanguageClient, path: Path, version: int, line: int, character: int, text: str) -> None:
    point = types.Position(line=line, character=character)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri(path), version=version),
            content_changes=[types.TextDocumentContentChangePartial(range=types.Range(start=point, end=point), text=text)],
        )
    )


async def test_typing_a_file_character_by_character(vscode: LanguageClient, workspace: Path):
    agent = workspace / ".parac/agents/typed.yaml"
    open_file(vscode, agent, "")
    text = "parent: coder\ntools: [lsp_probe, x]\nbudget: {daily_usd: 1}\n"
    line = column = 0
    for version, char in enumerate(text, start=2):
        change(vscode, agent, version, line, column, char)
        line, column = (line + 1, 0) if char == "\n" else (line, column + 1)
        if version % 7 == 0:
            await ask_everything(vscode, agent, line, column)
    found = await wait_for(lambda: [d.code for d in vscode.diagnostics.get(uri(agent), []) if d.code != "syntax"], what="final diagnostics")
    assert found == ["unknown-tool"]


async def test_binary_content(vscode: LanguageClient, workspace: Path):
    agent = workspace / ".parac/agents/blob.yaml"
    open_file(vscode, agent, "\x00\x01\x02\ufffd\x7f" * 200 + "\nmodel: echo\n")
    found = await wait_for(lambda: vscode.diagnostics.get(uri(agent)), what="diagnostics")
    assert found[0].code == "syntax"
    await ask_everything(vscode, agent, 0, 3)


async def test_a_ten_megabyte_file_is_reported_not_parsed(vscode: LanguageClient, workspace: Path):
    agent = workspace / ".parac/agents/huge.yaml"
    open_file(vscode, agent, "description: x\n" + "# padding line of a huge file\n" * 350_000)
    found = await wait_for(lambda: vscode.diagnostics.get(uri(agent)), what="diagnostics")
    assert [d.code for d in found] == ["too-large"]
    await ask_everything(vscode, agent, 0, 3)
    coder = workspace / ".parac/agents/coder.yaml"
    open_file(vscode, coder)
    hover = await vscode.text_document_hover_async(types.HoverParams(**at(coder, 0, 2)))
    assert "parent" in hover.contents.value


async def test_thousands_of_errors_are_capped(vscode: LanguageClient, workspace: Path):
    agent = workspace / ".parac/agents/noisy.yaml"
    open_file(vscode, agent, "".join(f"unknown_{i}: 1\n" for i in range(3000)))
    found = await wait_for(lambda: vscode.diagnostics.get(uri(agent)), what="diagnostics")
    assert len(found) == 501 and found[-1].code == "truncated" and "2500 more" in found[-1].message
    await ask_everything(vscode, agent, 2999, 3)


async def test_changes_out_of_order(vscode: LanguageClient, workspace: Path):
    agent = workspace / ".parac/agents/ordered.yaml"
    open_file(vscode, agent, "model: echo\n")
    change(vscode, agent, 3, 0, 0, "tools: [nope]\n")  # arrives before version 2
    change(vscode, agent, 2, 0, 0, "parent: base\n")
    change(vscode, agent, 2, 0, 0, "parent: base\n")  # a stale repeat
    change(vscode, agent, 9, 40, 40, "description: later\n")  # a gap that never fills: held briefly, then applied
    found = await wait_for(lambda: [d for d in vscode.diagnostics.get(uri(agent), []) if d.code == "unknown-tool"], what="diagnostics")
    assert found[0].range.start.line == 0  # "tools: [nope]" went on top of "parent: base", as version 3 said
    symbols = await vscode.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=uri(agent)))
    )
    assert [s.name for s in symbols] == ["tools", "parent", "model", "description"]


async def test_requests_about_unknown_documents(vscode: LanguageClient, workspace: Path):
    ghost = workspace / ".parac/agents/ghost.yaml"
    change(vscode, ghost, 5, 0, 0, "x")  # never opened
    await ask_everything(vscode, ghost, 100, 100)
    outside = workspace / "README.md"
    open_file(vscode, outside, "# not a spec\n")
    await ask_everything(vscode, outside, 0, 2)
    coder = workspace / ".parac/agents/coder.yaml"
    open_file(vscode, coder)
    await ask_everything(vscode, coder, 500, 500)  # past the end of the file


async def test_a_thousand_agent_cycle(cyclic_workspace: Path):
    async with started(cyclic_workspace, "neovim") as (client, _):
        paths = [cyclic_workspace / f".parac/agents/a{i}.yaml" for i in range(CYCLE)]
        await wait_for(lambda: all(uri(p) in client.diagnostics for p in paths), timeout=120, what="every agent diagnosed")
        for path in paths:
            [found] = client.diagnostics[uri(path)]
            assert found.code == "inheritance-cycle" and len(found.message) <= 1000
        open_file(client, paths[7])
        await ask_everything(client, paths[7], 0, 9)
        refs = await client.text_document_references_async(
            types.ReferenceParams(**at(paths[7]), context=types.ReferenceContext(include_declaration=False))
        )
        assert [r.uri for r in refs] == [uri(paths[6])]


async def test_a_folder_without_a_workspace(tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    async with started(empty, "vscode") as (client, _):
        loose = empty / "notes.yaml"
        open_file(client, loose, "parent: x\n")
        await ask_everything(client, loose, 0, 9)
        assert await client.workspace_symbol_async(types.WorkspaceSymbolParams(query="")) is None


def test_tcp_address_is_checked():
    result = subprocess.run([PARAC, "lsp", "--tcp", "nowhere"], capture_output=True, text=True, timeout=60, env=SERVER_ENV)
    assert result.returncode != 0 and "expected HOST:PORT" in result.stderr
