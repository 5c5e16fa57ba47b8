"""parac's server side: the pluggy host, the CLI, and the MCP server assembly."""
