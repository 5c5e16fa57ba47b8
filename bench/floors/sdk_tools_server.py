"""The SDK peer for `tools/list`: a low-level `Server` offering the tools in the JSON file it is given (parac's own
list, taken from a running `parac mcp serve`), their models built once at start as an SDK server keeps them, and
answering each list by handing the SDK those models (bench/mcp_listing.py compares parac's cached list to it)."""

import json
import sys

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

TOOLS = [types.Tool.model_validate(tool) for tool in json.loads(open(sys.argv[1]).read())]


async def list_tools(ctx, params):
    return types.ListToolsResult(tools=TOOLS)


async def main() -> None:
    server = Server("sdk-tools", on_list_tools=list_tools)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


anyio.run(main)
