"""`parac serve`: the HTTP face. REST under `/api/v1` over the same tools the MCP face serves, SSE streams, health
probes, and the Streamable HTTP MCP endpoint at `/mcp`, in one ASGI app on uvicorn (see `app.py`)."""
