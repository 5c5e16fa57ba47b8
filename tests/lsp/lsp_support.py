"""What the language server tests share: a small workspace on disk, a plugin installed for it (an entry point, as
a third party would ship one), and helpers that drive `parac lsp` the way an editor does."""

from __future__ import annotations

import asyncio
import os
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from support.paths import PARAC


# An installed distribution in all but name: a module and a dist-info folder with a ``parac`` entry point, put on
# the server's PYTHONPATH, so the server loads it the way it loads any third-party plugin.
PLUGIN_SITE = Path(__file__).parent / "plugin"
SERVER_ENV = {**os.environ, "PYTHONPATH": str(PLUGIN_SITE), "PARAC_LOAD_PLUGINS": "lsptest"}

FILES = {
    "parac.yaml": "name: lsp-tests\ndefault_model: echo\n",
    "agents/base.yaml": """\
        description: The root of every agent here
        model: echo
        system_prompt: You are careful.
        tools: [lsp_probe]
        """,
    "agents/coder.yaml": """\
        parent: base
        description: "Writes code 😀 fast"
        temperature: 0.2
        skills: [review]
        """,
    "agents/reviewer.md": """\
        ---
        parent: base
        description: Reviews changes
        ---
        You review code.
        """,
    "skills/review/SKILL.md": """\
        ---
        name: review
        description: How to review a change
        ---
        Look at the diff.
        """,
    "workflows/feature.yaml": """\
        description: Build a feature
        inputs: {feature: {type: string, required: true}}
        steps:
          - id: design
            agent: coder
            task: "Design {{ inputs.feature }}"
          - id: reviewer
            depends_on: [design]
            task: "Review {{ steps.design.output }}"
        """,
    "policies/default.yaml": """\
        allow:
          - tools: [lsp_probe]
            agents: [coder]
        """,
}

CLIENTS = {
    "vscode": "visual-studio-code@v1.65.2",
    "neovim": "neovim@v0.7.0",
    "neovim-pull": "neovim@v0.11.0",
}


def make_workspace(root: Path, files: dict[str, str] = FILES) -> Path:
    for name, text in files.items():
        path = root / ".parac" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def uri(path: Path) -> str:
    return path.resolve().as_uri()


async def start(
    client: LanguageClient, root: Path, client_name: str, capabilities: types.ClientCapabilities | None = None
) -> types.InitializeResult:
    """``initialize`` as the named editor would (or with ``capabilities``), the project as its workspace folder."""
    capabilities = capabilities or client_capabilities(CLIENTS[client_name])
    client.registrations = []

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register_capability(params: types.RegistrationParams) -> None:
        client.registrations.extend(params.registrations)

    return await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities,
            root_uri=uri(root),
            workspace_folders=[types.WorkspaceFolder(uri=uri(root), name="project")],
        )
    )


@asynccontextmanager
async def started(
    root: Path, client_name: str, capabilities: types.ClientCapabilities | None = None, *args: str
) -> AsyncIterator[tuple[LanguageClient, types.InitializeResult]]:
    """``parac lsp ARGS`` started and initialized as `start` does (for a test that needs its own server: one
    workspace, editor or set of capabilities), shut down and stopped afterwards."""
    client = await ClientServerConfig(server_command=[PARAC, "lsp", *args], server_env=SERVER_ENV).start()
    try:
        yield client, await start(client, root, client_name, capabilities)
    finally:
        await client.shutdown_session()
        await client.stop()


async def wait_for(predicate, timeout: float = 20.0, what: str = "condition"):
    """Poll until ``predicate()`` is truthy; the server answers asynchronously."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def open_file(client: LanguageClient, path: Path, text: str | None = None, version: int = 1) -> str:
    text = path.read_text(encoding="utf-8") if text is None else text
    language = "markdown" if path.suffix == ".md" else "yaml"
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri(path), language_id=language, version=version, text=text)
        )
    )
    return uri(path)


def replace_all(client: LanguageClient, path: Path, text: str, version: int) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri(path), version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )
