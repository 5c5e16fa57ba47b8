"""The MCP part of `make demo`: start `parac mcp serve` over stdio as an editor would, with the official MCP
client, and show what it offers; then connect again at the 2026-07-28 revision with the `minimal` profile, run an
agent on the client's own model (the server asks through an input-required result; the client's model answers and
the client calls again) and approve a workflow's gate as the client's person.

    python examples/demo_mcp.py [WORKSPACE]     # default: the current directory
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import anyio
import mcp_types as types
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

    await newest(parac, workspace)


async def newest(parac: str, workspace: Path) -> None:
    """A 2026-07-28 client: no back-channel, so parac asks for the client's model and person through
    input-required results, and the client answers by calling again."""
    asked: list[str] = []

    async def sample(context: object, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        asked.append(f"sampling: {params.messages[-1].content.text!r}")
        text = types.TextContent(type="text", text="Hello from the client's own model.")
        return types.CreateMessageResult(role="assistant", content=text, model="the-client's-model")

    async def elicit(context: object, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(f"elicitation: {params.message.splitlines()[0]!r}")
        return types.ElicitResult(action="accept", content={"approve": True, "comment": "looks right to me"})

    params = StdioServerParameters(command=parac, args=["mcp", "serve", "--workspace", str(workspace), "--profile", "minimal"])
    async with Client(params, mode="2026-07-28", sampling_callback=sample, elicitation_callback=elicit) as client:
        tools = (await client.list_tools()).tools
        print(f"\nconnected again at {client.protocol_version} with --profile minimal: {len(tools)} tools: "
              f"{', '.join(sorted(t.name for t in tools))}")
        ran = await client.call_tool("run_agent", {"agent": "coder", "task": "Say hello.", "model": "client"})
        data = ran.structured_content
        print(f"run_agent coder on model: client -> {data['status']}: {data['output']!r} ({asked.pop()})")
        flow = await client.call_tool("run_workflow", {
            "name": "feature", "inputs": {"feature": "payments (risk: high)"}, "wait": True, "dry_run": "echo"})
        data = flow.structured_content
        print(f"run_workflow feature, wait: true -> {data['status']}: the gate was put to the client's person "
              f"({asked.pop()}), who approved: {data['steps'][-1]['output']['comment']!r}")


if __name__ == "__main__":
    anyio.run(main, Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve())
