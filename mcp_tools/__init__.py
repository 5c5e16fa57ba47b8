"""parac.mcp_tools."""
