"""The SDK's own floor: a bare `MCPServer` with one `echo` tool over stdio (what bench/mcp_latency.py compares to)."""

from mcp.server.mcpserver import MCPServer

server = MCPServer("bare")


@server.tool()
def echo(text: str) -> str:
    """Return the text."""
    return text


server.run()
