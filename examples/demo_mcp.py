"""The MCP part of `make demo`: start `parac mcp serve` over stdio as an editor would, with the official MCP
client, and show what it offers.

    python examples/demo_mcp.py [WORKSPACE]     # default: the current directory
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters


async def main(workspace: Path) -> None:
    parac = str(Path(sys.executable).with_name("parac"))
    params = StdioServerParameters(command=parac, args=["mcp", "serve", "--workspace", str(workspace)])
    started = time.perf_counter()
    async with Client(params, mode="legacy") as client:
        ready = time.perf_counter() - started
        info = client.server_info
        print(f"connected to {info.name if info else '?'} over stdio ({client.protocol_version}) in {ready:.2f} s")
        tools = (await client.list_tools()).tools
        resources = (await client.list_resources()).resources
        templates = (await client.list_resource_templates()).resource_templates
        prompts = (await client.list_prompts()).prompts
        print(f"{len(tools)} tools: {', '.join(sorted(t.name for t in tools))}")
        print(f"{len(resources)} resources and {len(templates)} templates: {', '.join(t.uri_template for t in templates)}")
        print(f"{len(prompts)} prompts: {', '.join(sorted(p.name for p in prompts)[:8])}, ...")

        agents = (await client.call_tool("list_agents", {})).structured_content["agents"]
        print(f"\nlist_agents: {len(agents)} agents")
        for row in agents:
            parent = f" <- {row['parent']}" if row["parent"] else ""
            print(f"  {row['name']}{parent}: {row['description'] or row['error'] or ''}")

        name = "qa" if any(row["name"] == "qa" for row in agents) else agents[0]["name"]
        agent = (await client.call_tool("get_agent", {"name": name})).structured_content
        print(f"\nget_agent {name}: chain {' -> '.join(agent['chain'])}")
        for field, source in agent["provenance"].items():
            if source not in ("(default)",):
                print(f"  {field:15} from {source}")

        unknown = await client.call_tool("get_agent", {"name": name + "x"})
        print(f"\nget_agent {name}x: isError={unknown.is_error}: {unknown.content[0].text}")


if __name__ == "__main__":
    anyio.run(main, Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve())
