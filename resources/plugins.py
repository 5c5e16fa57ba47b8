"""Resources that plugins register (`parac_register_resources`), served under the URIs they chose."""

from __future__ import annotations

import inspect
from typing import Any

from parac.server.mcp.call import Call
from parac.server.mcp.faces import Faces, ResourceFace


def plugin_resource(uri: str, definition: Any) -> ResourceFace:
    async def read(call: Call) -> str | bytes:
        value = definition.read()
        if inspect.isawaitable(value):
            value = await value
        return value if isinstance(value, (str, bytes)) else str(value)

    return ResourceFace(
        uri=uri,
        name=definition.name or uri,
        title=definition.title,
        read=read,
        description=definition.description,
        mime_type=definition.mime_type,
    )


def register(faces: Faces) -> None:
    async def listed(call: Call) -> list[ResourceFace]:
        host = await call.host()
        return [plugin_resource(uri, c.value) for uri, c in sorted(host.registry.resources.items())]

    faces.resources_from(listed)
