"""A plugin the language server tests install through an entry point."""

from parac.server.api import AgentSpec, hookimpl


def lsp_probe(text: str) -> str:
    """Return TEXT unchanged."""
    return text


@hookimpl
def parac_register_tools(register):
    register(lsp_probe)


@hookimpl
def parac_register_agents(register):
    register(AgentSpec(name="plugin-base", description="An agent from a plugin", model="echo"))
