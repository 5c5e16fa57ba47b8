"""Who may call what, for every HTTP face: roles and callers, bearer tokens, JWTs, HMAC-signed requests, rate
limits, tenants, and the ASGI middleware that applies them (`parac serve` and `parac mcp serve --transport http`)."""
