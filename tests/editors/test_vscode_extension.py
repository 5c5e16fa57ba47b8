"""The VS Code extension as built by `editor-clients/vscode/build.sh` (which `make test` runs when its sources changed).

Its TypeScript unit tests run under Node in build.sh; these check what only the built artefacts and a real parac can
show: the packaged manifest VS Code reads, the bundle, and that the command lines the extension's compiled code
builds really start parac and that parac's output is what that code parses.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from lsprotocol import types
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from pytest_lsp import client_capabilities, make_test_lsp_client
from support.paths import REPO

EXTENSION = REPO / "editor-clients" / "vscode"
VSIX = EXTENSION / "parac.vsix"
BUNDLE = EXTENSION / "dist" / "extension.js"
COMPILED = EXTENSION / "out" / "src"


def built(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path.relative_to(REPO)} is missing: run `bash editor-clients/vscode/build.sh` first (make test does)")
    return path


def node(script: str, *args: str) -> object:
    """Runs a script under Node with the extension's compiled modules at hand; returns what it prints as JSON."""
    executable = shutil.which("node")
    if executable is None:
        pytest.fail("node is not on PATH; the VS Code extension needs Node 20+ to build and test")
    built(COMPILED)
    proc = subprocess.run(
        [executable, "-e", script, str(COMPILED), *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def manifest() -> dict:
    with zipfile.ZipFile(built(VSIX)) as vsix:
        return json.loads(vsix.read("extension/package.json"))


def test_vsix_holds_the_manifest_bundle_readme_and_license_only() -> None:
    with zipfile.ZipFile(built(VSIX)) as vsix:
        names = set(vsix.namelist())
        packaged_bundle = vsix.read("extension/dist/extension.js")
    extension_files = {name for name in names if name.startswith("extension/")}
    assert extension_files == {
        "extension/package.json",
        "extension/dist/extension.js",
        "extension/readme.md",
        "extension/LICENSE.txt",
    }
    assert "extension.vsixmanifest" in names
    # The vsix carries the bundle this build made, not a stale one.
    assert packaged_bundle == built(BUNDLE).read_bytes()


def test_packaged_manifest_is_the_source_manifest(manifest: dict) -> None:
    assert manifest == json.loads((EXTENSION / "package.json").read_text(encoding="utf-8"))


def test_manifest_activates_on_parac_workspaces(manifest: dict) -> None:
    assert manifest["main"] == "./dist/extension.js"
    assert manifest["engines"]["vscode"] == "^1.91.0"
    assert set(manifest["activationEvents"]) == {
        "workspaceContains:.parac/**",
        "onLanguage:yaml",
        "onLanguage:markdown",
    }
    # The extension runs a Python interpreter: never in a workspace the user has not trusted.
    assert manifest["capabilities"]["untrustedWorkspaces"]["supported"] is False


def test_manifest_contributes_mcp_provider_command_and_settings(manifest: dict) -> None:
    contributes = manifest["contributes"]
    assert contributes["mcpServerDefinitionProviders"] == [{"id": "parac.mcpServers", "label": "parac"}]
    assert {command["command"] for command in contributes["commands"]} == {
        "parac.validateWorkspace",
        "parac.restartServer",
    }
    settings = contributes["configuration"]["properties"]
    assert settings["parac.pythonPath"]["default"] == "python3"
    assert settings["parac.serverCommand"]["type"] == "array"
    assert settings["parac.trace.server"]["enum"] == ["off", "messages", "verbose"]


def test_bundle_keeps_vscode_external_and_includes_the_language_client() -> None:
    bundle = built(BUNDLE).read_text(encoding="utf-8")
    assert 'require("vscode")' in bundle
    # vscode-languageclient is bundled (the vsix has no node_modules), so nothing may require it at run time.
    assert 'require("vscode-languageclient' not in bundle
    assert "registerMcpServerDefinitionProvider" in bundle


VALIDATE_SCRIPT = """
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const [compiled, python, root] = process.argv.slice(1);
const { runValidate } = require(path.join(compiled, "validateRun.js"));
const { toRange } = require(path.join(compiled, "validateOutput.js"));
runValidate({ pythonPath: python, serverCommand: [] }, { root, folder: root }, os.homedir()).then(
  (problems) => {
    const shown = problems.map((problem) => {
      const lines = fs.readFileSync(problem.file, "utf8").split(/\\r\\n|\\r|\\n/);
      const range = toRange(problem, (line) => lines[line]);
      const text = lines[range.start.line].slice(range.start.character, range.end.character);
      return { ...problem, range, text };
    });
    process.stdout.write(JSON.stringify(shown));
  },
  (error) => {
    process.stderr.write(String(error));
    process.exit(2);
  },
);
"""


def test_validate_command_reads_real_parac_output_with_utf16_ranges(project: Path) -> None:
    """The extension's compiled validate code runs the real `parac validate --json` and marks the right text.

    The emoji before the misspelt key is one character for parac and two UTF-16 units for VS Code: the range is
    right only if both sides count as documented.
    """
    agent = project / ".parac" / "agents" / "robot.yaml"
    agent.write_text('{description: "🤖 robot", tols: [read_file]}\n', encoding="utf-8")

    problems = node(VALIDATE_SCRIPT, sys.executable, str(project))

    assert isinstance(problems, list)
    mine = [problem for problem in problems if problem["file"] == str(agent)]
    assert [problem["code"] for problem in mine] == ["unknown-key"], problems
    assert mine[0]["text"] == "tols"
    assert mine[0]["range"]["start"]["line"] == 0


def test_validate_command_reads_a_clean_workspace(project: Path) -> None:
    assert node(VALIDATE_SCRIPT, sys.executable, str(project)) == []


MCP_PLAN_SCRIPT = """
const os = require("node:os");
const path = require("node:path");
const [compiled, python, root] = process.argv.slice(1);
const { mcpServerCommand } = require(path.join(compiled, "commandLine.js"));
const { planMcpServers } = require(path.join(compiled, "mcpApi.js"));
const settings = { pythonPath: python, serverCommand: [] };
const roots = [{ root, folder: root }];
process.stdout.write(JSON.stringify(planMcpServers(roots, (target) => mcpServerCommand(settings, target, os.homedir()))));
"""


async def test_offered_mcp_server_starts_and_lists_parac_tools(project: Path) -> None:
    """The server definition the extension gives VS Code starts a working parac MCP server over stdio."""
    [plan] = node(MCP_PLAN_SCRIPT, sys.executable, str(project))
    assert plan["label"] == "parac"
    params = StdioServerParameters(command=plan["command"], args=plan["args"], cwd=plan["root"], env=dict(os.environ))
    with open(os.devnull, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            initialized = await session.initialize()
            tools = await session.list_tools()
    assert initialized.server_info.name
    assert "validate_workspace" in {tool.name for tool in tools.tools}


LSP_COMMAND_SCRIPT = """
const os = require("node:os");
const path = require("node:path");
const [compiled, python, root] = process.argv.slice(1);
const { languageServerCommand } = require(path.join(compiled, "commandLine.js"));
process.stdout.write(JSON.stringify(languageServerCommand({ pythonPath: python, serverCommand: [] }, root, os.homedir())));
"""


async def test_language_server_command_serves_a_vscode_client(project: Path) -> None:
    """The command line the extension starts the server with (no `--stdio`, `-P -m parac.server.cli lsp`) brings
    up a server that initializes for VS Code's capabilities and reports a misspelt key in an opened agent."""
    line = node(LSP_COMMAND_SCRIPT, sys.executable, str(project))
    assert isinstance(line, dict)
    assert "--stdio" not in line["args"]
    agent = project / ".parac" / "agents" / "typo.yaml"
    agent.write_text("description: A typo\ntols: [read_file]\n", encoding="utf-8")
    uri = agent.resolve().as_uri()

    client = make_test_lsp_client()

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register_capability(params: types.RegistrationParams) -> None:
        """VS Code accepts dynamic registrations; so does this client."""

    await client.start_io(line["command"], *line["args"], cwd=str(project))
    try:
        await client.initialize_session(
            types.InitializeParams(
                capabilities=client_capabilities("visual-studio-code"),
                root_uri=project.resolve().as_uri(),
                workspace_folders=[types.WorkspaceFolder(uri=project.resolve().as_uri(), name="project")],
            )
        )
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="yaml", version=1, text=agent.read_text(encoding="utf-8")
                )
            )
        )

        async def diagnosed() -> None:
            while not client.diagnostics.get(uri):
                await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)

        await asyncio.wait_for(diagnosed(), timeout=60)
        [diagnostic] = [d for d in client.diagnostics[uri] if "tols" in d.message]
        assert diagnostic.range.start == types.Position(line=1, character=0)
    finally:
        await client.shutdown_session()
        await client.stop()
