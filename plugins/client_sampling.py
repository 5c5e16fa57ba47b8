"""The model ``client``: an agent whose model is ``client`` asks the MCP client's own model (MCP sampling).

No API key is needed: the host application (Claude Desktop, VS Code, ...) answers with the model its user
already chose. The provider answers only inside parac's MCP server, for clients that declare sampling.
"""

from __future__ import annotations

from parac.server.api import ClientProvider, hookimpl


@hookimpl
def parac_register_providers(register) -> None:
    register(ClientProvider())
