"""Governance through MCP: the audit_verify and policy_check tools and parac://audit/recent over stdio with the SDK
client; bearer tokens with roles on the HTTP transport."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
from mcp import Client, StdioServerParameters
from support.serving import free_port, wait_until_listening
from support.paths import PARAC

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def test_audit_tools_and_resource_over_stdio(project: Path):
    (project / ".parac" / "policies" / "default.yaml").write_text("allow: [{tools: [file_list]}]\n")
    params = StdioServerParameters(command=PARAC, args=["mcp", "serve", "--workspace", str(project)],
                                   env={**os.environ, "PARAC_LOAD_PLUGINS": ""})
    async with Client(params, mode="legacy") as session:
        listed = await session.call_tool("file_list", {})
        refused = await session.call_tool("file_delete", {"path": "README.md"})
        verified = await session.call_tool("audit_verify", {})
        check = await session.call_tool("policy_check", {"tool": "file_delete", "agent": "coder"})
        recent = await session.read_resource("parac://audit/recent")
    assert not listed.is_error
    assert refused.is_error and 'tool "file_delete" is not granted' in refused.content[0].text
    assert verified.structured_content["ok"] is True and verified.structured_content["entries"] >= 2
    assert check.structured_content["allowed"] is False
    entries = json.loads(recent.contents[0].text)
    calls = [(e["subject"], e["outcome"], e["actor"]) for e in entries if e["action"] == "tool.call"]
    assert ("file_list", "ok") in [c[:2] for c in calls] and ("file_delete", "denied") in [c[:2] for c in calls]
    assert all(actor.startswith("mcp:stdio:admin:") for _, _, actor in calls if _ in ("file_list", "file_delete"))


def test_http_bearer_tokens_with_roles(project: Path, parac):
    viewer = parac("--workspace", str(project), "token", "create", "--role", "viewer", "--name", "reader",
                   "--json").json()["token"]
    port = free_port()
    proc = subprocess.Popen(
        [PARAC, "mcp", "serve", "--transport", "http", "--port", str(port), "--workspace", str(project)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PARAC_LOAD_PLUGINS": "", "PARAC_WORKSPACE": str(project)},
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        wait_until_listening(proc, port)
        missing = httpx.post(url, json=INITIALIZE, headers=HEADERS)
        wrong = httpx.post(url, json=INITIALIZE, headers={**HEADERS, "Authorization": "Bearer parac_wrong"})
        right = httpx.post(url, json=INITIALIZE, headers={**HEADERS, "Authorization": f"Bearer {viewer}"})
        parac("--workspace", str(project), "token", "revoke", "reader")
        revoked = httpx.post(url, json=INITIALIZE, headers={**HEADERS, "Authorization": f"Bearer {viewer}"})
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert missing.status_code == 401 and wrong.status_code == 401
    assert right.status_code == 200 and "parac" in right.text
    assert revoked.status_code == 401
