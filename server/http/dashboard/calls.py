"""How a dashboard page reads and changes things: through the same tools, with the same roles, argument checks,
governance hooks and audit entry, as the REST route for the same operation (`operations.Operations`). A page
never queries a store itself, so what it shows is what `GET /api/v1/...` answers to the same caller."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from ..callers import call_for, require
from ..problems import from_error

if TYPE_CHECKING:
    from parac.server.mcp.call import Call

    from ..operations import Operations


class Calls:
    def __init__(self, operations: Operations) -> None:
        self.operations = operations

    def call(self, request: Request) -> Call:
        return call_for(request, self.operations.workspaces)

    async def tool(self, request: Request, name: str, /, **raw: Any) -> Any:
        """Run the tool `name` for the request's caller; a `Problem` (403, 404, 409, 422) when it cannot."""
        from parac.server.mcp.call import governed

        call = self.call(request)
        face = call.app.faces.tools[name]
        require(call, face.role, name)
        arguments = self.operations.validate(face, {k: v for k, v in raw.items() if v is not None}, {})
        try:
            return await governed(call, face, arguments)
        except Exception as error:
            raise from_error(error, name) from None

    async def resource(self, request: Request, uri_template: str, /, **arguments: Any) -> Any:
        """Read the resource template `uri_template` (JSON) for the request's caller."""
        call = self.call(request)
        template = next(t for t in call.app.faces.templates if t.uri_template == uri_template)
        require(call, template.role, uri_template)
        try:
            return json.loads(await template.read(call, **arguments))
        except Exception as error:
            raise from_error(error, uri_template) from None
