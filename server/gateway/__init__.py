"""The governed gateway to other MCP servers: their tools join parac's registry as ``SERVER.tool``.

``parac.yaml`` lists them::

    mcp_servers:
      docs: {command: uvx, args: [some-mcp-server], env: {LOG: "1"}, cwd: tools}   # stdio
      tracker: {url: "http://127.0.0.1:9000/mcp", headers_env: {Authorization: TRACKER_AUTH}}  # Streamable HTTP

parac is their MCP client (the official SDK). Their tools are ordinary :class:`~parac.core.tools.Tool` objects in
the registry, so agents, ``parac tools call`` and parac's own MCP server use them through the same argument checks,
policies and audit as built-in tools: parac is a governed gateway.

Modules: :mod:`.config` (one ``mcp_servers`` entry), :mod:`.tool` (``ExternalTool``, and which tools a workspace
names), :mod:`.session` (one server's connection, from spawn to restart), :mod:`.loop` (the private event loop the
connections live on), :mod:`.sources` (``ToolSources``: the servers of one workspace).

Lifecycle: nothing connects until a tool of the server is needed (its schema is read or it is called, or
:meth:`ToolSources.discover_all` is asked for). Connecting and each call have time limits. A server that crashed is
restarted by the next call (a ping before each call finds a dead connection before anything is sent); a server that
cannot start is retried at most every :data:`~.session.RETRY_AFTER_S` seconds. A failing server makes only its own
tools unavailable, each with an error naming the server and the cause.
"""

from .config import ServerConfig
from .sources import ToolSources
from .tool import ExternalTool, referenced_tools

__all__ = ["ExternalTool", "ServerConfig", "ToolSources", "referenced_tools"]
