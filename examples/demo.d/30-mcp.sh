# Sourced by examples/demo.sh inside the demo workspace: the MCP face, driven by the official MCP client.
step "parac mcp serve, driven over stdio by the official MCP client (2025-11-25, then 2026-07-28 with --profile minimal)"
python ../examples/demo_mcp.py .
