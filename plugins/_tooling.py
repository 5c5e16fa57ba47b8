"""What the built-in tool plugins share: typed tools, the workspace a call works in, and governance's confinement.

Kept private (the leading underscore keeps the host from loading it as a plugin). Confinement itself is
:mod:`parac.core.confine`'s; this module only turns its refusals into :class:`ToolError` results.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, get_type_hints

from parac.core.confine import ConfinementError, FileJail
from parac.core.policy import Policies
from parac.server.api import Tool, ToolContext, ToolError, tool_from_function

BINARY_SNIFF_BYTES = 8192

_workspaces: dict[Path, Any] = {}


def typed_tool(fn: Callable[..., Any], **options: Any) -> Tool:
    """A tool whose output schema comes from ``fn``'s return annotation (a TypedDict), so MCP clients get
    ``structuredContent`` they can check, and agents get results whose shape is documented."""
    from pydantic import TypeAdapter

    tool = tool_from_function(fn, **options)
    returns = get_type_hints(fn, include_extras=True).get("return")
    if returns is not None:
        tool.output_schema = TypeAdapter(returns).json_schema()
    return tool


@contextmanager
def refusals() -> Iterator[None]:
    """Report a confinement refusal as the tool's error: the message already says what and why."""
    try:
        yield
    except ConfinementError as exc:
        raise ToolError(str(exc)) from None


def workspace_root(ctx: ToolContext) -> Path:
    """The root the call is confined to; tools that touch files refuse to run without one."""
    if ctx.workspace_root is None:
        raise ToolError("no workspace is open: run inside a project with .parac/ or pass --workspace")
    return Path(ctx.workspace_root).resolve()


def policies(ctx: ToolContext) -> Policies:
    """The workspace's policies (cached by governance's loader, re-read when a policy file changes)."""
    return Policies.for_root(workspace_root(ctx))


def jail(ctx: ToolContext) -> FileJail:
    """The workspace root with the built-in limits plus the policies' ``files`` sections."""
    return policies(ctx).file_jail(workspace_root(ctx))


def resolve_path(ctx: ToolContext, path: str, *, write: bool = False) -> Path:
    """``path`` (relative to the workspace root) checked by governance's rules, as a real absolute path."""
    with refusals():
        return jail(ctx).resolve(path, write=write)


def decode_text(data: bytes, shown: str) -> str:
    """The bytes as text, or a :class:`ToolError` when they are not text a tool should hand to a model."""
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        raise ToolError(f"{shown}: binary file, not read as text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ToolError(f"{shown}: not UTF-8 text (invalid byte at offset {exc.start})") from None


def read_text(ctx: ToolContext, path: str, max_bytes: int) -> str:
    """A confined file's text. The size is checked on the open file before reading, so a 1 GB file costs an
    ``fstat``, not a gigabyte of memory."""
    target = resolve_path(ctx, path)
    if not target.is_file():
        raise ToolError(f"{path}: not a file" if target.exists() else f"{path}: no such file")
    with refusals():
        data = jail(ctx).read_bytes(path, max_bytes)
    return decode_text(data, path)


def remember_workspace(workspace: Any) -> None:
    """Called from a plugin's ``parac_workspace_opened``: tools that need the workspace's specs find it here."""
    _workspaces[Path(workspace.root).resolve()] = workspace


def opened_workspace(ctx: ToolContext) -> Any:
    workspace = _workspaces.get(workspace_root(ctx))
    if workspace is None:
        raise ToolError("the workspace has not been opened by the host")
    return workspace
