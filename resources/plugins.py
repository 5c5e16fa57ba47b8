"""Resources and resource templates that plugins register (`parac_register_resources`), served under the URIs
they chose (a URI with `{variables}` is a template: its reader gets them as keyword arguments)."""

from __future__ import annotations

import inspect
from typing import Any

from parac.server.mcp.call import Call
from parac.server.mcp.faces import Faces, ResourceFace, TemplateFace


async def _text_or_bytes(value: Any) -> str | bytes:
    if inspect.isawaitable(value):
        value = await value
    return value if isinstance(value, (str, bytes)) else str(value)


def _described(uri: str, definition: Any) -> dict[str, Any]:
    return {"name": definition.name or uri, "title": definition.title, "description": definition.description,
            "mime_type": definition.mime_type}


def plugin_resource(uri: str, definition: Any) -> ResourceFace:
    async def read(call: Call) -> str | bytes:
        return await _text_or_bytes(definition.read())

    return ResourceFace(uri=uri, read=read, **_described(uri, definition))


def plugin_template(uri_template: str, definition: Any) -> TemplateFace:
    async def read(call: Call, **values: str) -> str | bytes:
        return await _text_or_bytes(definition.read(**values))

    return TemplateFace(uri_template=uri_template, read=read, **_described(uri_template, definition))


def register(faces: Faces) -> None:
    async def listed(call: Call) -> list[ResourceFace]:
        host = await call.host()
        return [plugin_resource(uri, c.value) for uri, c in sorted(host.registry.resources.items())
                if not c.value.is_template]

    async def templates(call: Call) -> list[TemplateFace]:
        host = await call.host()
        return [plugin_template(uri, c.value) for uri, c in sorted(host.registry.resources.items())
                if c.value.is_template]

    faces.resources_from(listed)
    faces.templates_from(templates)
