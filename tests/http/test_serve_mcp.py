"""The MCP endpoint at /mcp, driven by the official MCP client, in the same `parac serve` process as REST."""

from __future__ import annotations

from pathlib import Path

import httpx
from mcp import Client

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}


async def test_mcp_and_rest_in_one_process(project: Path, serve):
    with serve(project) as served:
        async with Client(served.mcp, mode="legacy") as session:
            over_mcp = await session.call_tool("get_agent", {"name": "coder"})
            over_rest = httpx.get(served.api + "/agents/coder").json()
            tools = {tool.name for tool in (await session.list_tools()).tools}
        foreign_origin = httpx.post(served.mcp, json=INITIALIZE, headers={**MCP_HEADERS, "Origin": "http://evil.example"})
        foreign_host = httpx.post(served.mcp, json=INITIALIZE, headers={**MCP_HEADERS, "Host": f"evil.example:{served.port}"})
        rest_foreign_origin = httpx.get(served.api + "/agents", headers={"Origin": "http://evil.example"})
    assert over_mcp.structured_content == over_rest
    assert {"run_workflow", "approve_step"} <= tools
    assert foreign_origin.status_code == 403 and foreign_host.status_code == 421
    assert rest_foreign_origin.status_code == 403
    assert rest_foreign_origin.headers["content-type"] == "application/problem+json"
