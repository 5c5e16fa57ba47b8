"""What the built-in tool plugins share: typed tools, the workspace a call works in, and governance's confinement.

Kept private (the leading underscore keeps the host from loading it as a plugin). Confinement itself is
:mod:`parac.core.confine`'s; this module only turns its refusals into :class:`ToolError` results.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any, get_type_hints

from parac.server.api import (
    ConfinementError,
    FileJail,
    Policies,
    Tool,
    ToolContext,
    ToolError,
    cached_schema,
    tool_from_function,
)

BINARY_SNIFF_BYTES = 8192
# Folders a search or a recursive listing never means: version control internals, dependencies, caches.
NOISE_DIRS = (".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache", ".pytest_cache",
              ".tox")

_workspaces: dict[Path, Any] = {}


class TypedTool(Tool):
    """A tool made from a function whose schemas are built on first use: the argument schema from its signature
    (as :func:`tool_from_function` builds it), the output schema from its returned ``TypedDict``, so MCP clients get
    ``structuredContent`` they can check. Built eagerly, the ~35 built-in tools' schemas would cost every start of
    ``parac lsp`` or ``parac mcp serve`` about 100 ms of pydantic work before its first answer; built lazily, they
    still cost the first listing that much, so both come from :func:`cached_schema` (built once per change of
    parac's code)."""

    def __init__(
        self,
        fn: Callable[..., Any],
        title: str,
        *,
        read_only: bool = False,
        destructive: bool | None = None,
        idempotent: bool | None = None,
        open_world: bool = False,
        links: Callable[[Any], list[str]] | None = None,
    ) -> None:
        """Every built-in tool says what it does to the world (the MCP hints). A tool that only reads changes
        nothing, so it is neither destructive nor anything but idempotent; one that writes must say both."""
        if not read_only and (destructive is None or idempotent is None):
            raise ValueError(f"tool {fn.__name__}: a tool that writes must say whether it is destructive and idempotent")
        self.fn = fn
        self.name = fn.__name__
        self.title = title
        self.read_only = read_only
        self.destructive = bool(destructive) and not read_only
        self.idempotent = read_only or bool(idempotent)
        self.open_world = open_world
        self.links = links
        self.needs_approval = False
        self.source = f"{fn.__code__.co_filename}:{fn.__code__.co_firstlineno}"

    def __repr__(self) -> str:
        return f"<TypedTool {self.name}>"

    @cached_property
    def _built(self) -> Tool:
        return tool_from_function(self.fn, read_only=self.read_only)

    @cached_property  # type: ignore[override]
    def description(self) -> str:
        return self._built.description

    @cached_property  # type: ignore[override]
    def input_schema(self) -> dict[str, Any]:
        return self._built.input_schema

    @cached_property  # type: ignore[override]
    def output_schema(self) -> dict[str, Any] | None:
        return cached_schema(self.fn, "output", self._returned_schema)

    def _returned_schema(self) -> dict[str, Any] | None:
        from pydantic import TypeAdapter

        returns = get_type_hints(self.fn, include_extras=True).get("return")
        return TypeAdapter(returns).json_schema() if returns is not None else None


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
    """The workspace's policies, as the call was given them (read now for a context built without them)."""
    return ctx.policies if ctx.policies is not None else Policies.for_root(workspace_root(ctx))


def jail(ctx: ToolContext) -> FileJail:
    """The workspace root with the built-in limits plus the policies' ``files`` sections."""
    return policies(ctx).file_jail(workspace_root(ctx))


def resolve_path(ctx: ToolContext, path: str, *, write: bool = False) -> Path:
    """``path`` (relative to the workspace root) checked by governance's rules, as a real absolute path: for a
    path another program is given (git's, a command's working folder). Files are read and changed through
    `jail`'s methods, which act on descriptors."""
    with refusals():
        return jail(ctx).resolve(path, write=write)


def walk_files(ctx: ToolContext, path: str) -> list[str]:
    """The files under a folder that the jail allows, without the :data:`NOISE_DIRS`; a file path stands for
    itself."""
    with refusals():
        try:
            return list(jail(ctx).walk(path, skip_dirs=NOISE_DIRS))
        except NotADirectoryError:
            return [path]
        except FileNotFoundError:
            raise ToolError(f"{path}: no such file or folder") from None
        except OSError as exc:
            raise ToolError(f"{path}: {exc.strerror or exc}") from None


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
    with refusals():
        try:
            data = jail(ctx).read_bytes(path, max_bytes)
        except FileNotFoundError:
            raise ToolError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise ToolError(f"{path}: not a file") from None
        except OSError as exc:
            raise ToolError(f"{path}: {exc.strerror or exc}") from None
    return decode_text(data, path)


def remember_workspace(workspace: Any) -> None:
    """Called from a plugin's ``parac_workspace_opened``: tools that need the workspace's specs find it here."""
    _workspaces[Path(workspace.root).resolve()] = workspace


def opened_workspace(ctx: ToolContext) -> Any:
    workspace = _workspaces.get(workspace_root(ctx))
    if workspace is None:
        raise ToolError("the workspace has not been opened by the host")
    return workspace
