"""parac's core: specs, inheritance, workspace, runtime, workflows and governance.

The core knows nothing of MCP, LSP or the CLI; the faces call into it.
"""
