"""An external MCP server for the tests, written with the official SDK: parac imports its tools as ``NAME.tool``.

    python external_server.py stdio            # over stdin/stdout
    python external_server.py http PORT        # Streamable HTTP on 127.0.0.1:PORT/mcp
    python external_server.py garbage          # writes non-MCP lines to stdout and never answers
"""

from __future__ import annotations

import os
import sys
import time

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

server = MCPServer("test-external")


@server.tool(
    title="Add numbers",
    annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False),
)
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def shout(text: str) -> str:
    """Upper-case the text."""
    return text.upper()


@server.tool()
def pid() -> int:
    """The server's process id (tells a restarted server from the first one)."""
    return os.getpid()


@server.tool()
def refuse(reason: str) -> str:
    """Always fails, with the reason as its message."""
    raise ToolError(reason)


@server.tool()
def hang() -> str:
    """Never answers (well, not for an hour)."""
    time.sleep(3600)
    return "late"


@server.tool()
def crash() -> str:
    """Ends the server process at once, as a crash would."""
    os._exit(3)


def main() -> None:
    mode = sys.argv[1]
    if mode == "stdio":
        server.run("stdio")
    elif mode == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    elif mode == "garbage":
        while True:
            sys.stdout.write("this is not JSON-RPC\n")
            sys.stdout.flush()
            time.sleep(0.2)


if __name__ == "__main__":
    main()
