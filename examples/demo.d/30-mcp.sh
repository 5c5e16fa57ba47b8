# Sourced by examples/demo.sh inside the demo workspace: the MCP face, driven by the official MCP client.
step "parac mcp serve, driven over stdio by the official MCP client"
python ../examples/demo_mcp.py .
