"""Icons for the server and each tool family: small SVGs shipped in the package (`icons/*.svg`), sent as `data:`
URIs so a client shows them without fetching anything (and parac serves no HTTP for them over stdio).

A family is the area a tool comes from: the module of `parac.mcp_tools` that registers it, the plugin that
provides it, or `external` for another MCP server's tools; a family without its own picture gets `plugin`'s.
"""

from __future__ import annotations

import base64
import functools
from importlib.resources import files
from typing import Any

SERVER = "parac"
FALLBACK = "plugin"
ALIASES = {"workflows_run": "workflows", "workflows_replay": "workflows", "agents_run": "agents", "registry": "plugins",
           "scaffold": "workspace", "a2a": "external"}
"""Families (modules of `parac.mcp_tools`, plugins) whose name is not the picture's."""


@functools.cache
def icons(family: str | None) -> tuple[Any, ...]:
    """The family's icons as SDK `Icon` models (one scalable SVG); cached: the lists are rebuilt on every change."""
    import mcp_types as types

    folder = files(__package__).joinpath("icons")
    name = ALIASES.get(family or "", family or FALLBACK)
    picture = folder.joinpath(f"{name}.svg")
    if not picture.is_file():
        picture = folder.joinpath(f"{FALLBACK}.svg")
    data = base64.b64encode(picture.read_bytes()).decode("ascii")
    return (types.Icon(src=f"data:image/svg+xml;base64,{data}", mime_type="image/svg+xml", sizes=["any"]),)
