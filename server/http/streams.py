"""The routes that are not one tool call answered with JSON: an agent's source as written, and the SSE streams."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .callers import actor_of, caller_of, require
from .problems import Problem, from_error

if TYPE_CHECKING:
    from .operations import Operations
    from .workspaces import Workspaces

OWN: set[tuple[str, str]] = set()
"""Routes of `operations.OPERATIONS` this module answers itself (it streams them)."""


def routes(workspaces: Workspaces, operations: Operations) -> list[Route]:
    async def agent_source(request: Request) -> Response:
        """The agent's file as written (the MCP resource `parac://agents/{name}/source`)."""
        from parac.server.mcp.call import Call

        caller = caller_of(request)
        app = workspaces.for_caller(caller)
        template = next(t for t in app.faces.templates if t.uri_template == "parac://agents/{name}/source")
        require(caller, template.role, "GET /agents/{name}/source")
        call = Call(app, None, caller.role, "http", actor=actor_of(caller))
        name = request.path_params["name"]
        if name not in (await call.workspace()).agent_names():
            raise Problem(404, f'unknown agent "{name[:200]}"')
        try:
            content = await template.read(call, name=name)
        except Exception as error:
            raise from_error(error, "GET /agents/{name}/source") from None
        return Response(content, media_type="text/plain; charset=utf-8")

    return [Route("/agents/{name}/source", agent_source, methods=["GET"])]

EXTRA: list[tuple[str, str, dict]] = [
    ("/agents/{name}/source", "get", {"operationId": "agent_source", "summary": "An agent's file as written",
                                      "responses": {"200": {"description": "the file",
                                                            "content": {"text/plain": {}}}}}),
]
"""OpenAPI entries of the routes this module answers (beside `OPERATIONS`)."""
