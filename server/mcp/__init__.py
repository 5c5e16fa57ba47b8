"""parac's MCP face: the server assembly, its transports and the API that `mcp_tools`, `resources` and `prompts`
modules use to contribute to it. See docs/architecture.md, "MCP faces".

Importing this package imports nothing: `parac mcp serve` configures logging before the SDK is loaded.
"""
