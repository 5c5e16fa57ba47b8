"""How an external server's tool looks to the registry, and which such tools a workspace names."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parac.core.tools import Tool

if TYPE_CHECKING:
    from .sources import ToolSources


class ExternalTool(Tool):
    """A tool of an external server. Its description and schemas are the server's, read (connecting lazily)
    the first time anyone asks; while the server is unavailable the tool says so and calling it fails clearly."""

    def __init__(self, sources: ToolSources, server: str, remote: str) -> None:
        self.name = f"{server}.{remote}"
        self.server = server
        self.remote = remote
        self._sources = sources
        self.fn = self._call
        self.needs_approval = False
        self.source = None

    def __repr__(self) -> str:
        return f"<ExternalTool {self.name}>"

    def _spec(self) -> Any:
        return self._sources.remote_tool(self.server, self.remote)

    @property  # type: ignore[override]
    def description(self) -> str:
        spec = self._spec()
        if spec is None:
            return f"Tool {self.remote} of MCP server {self.server} (unavailable: {self._sources.why(self.server)})"
        return spec.description or f"Tool {self.remote} of MCP server {self.server}."

    @property  # type: ignore[override]
    def input_schema(self) -> dict[str, Any]:
        spec = self._spec()
        return spec.input_schema if spec is not None else {"type": "object"}

    @property  # type: ignore[override]
    def output_schema(self) -> dict[str, Any] | None:
        spec = self._spec()
        return spec.output_schema if spec is not None else None

    def _hints(self) -> Any:
        spec = self._spec()
        return spec.annotations if spec is not None else None

    @property  # type: ignore[override]
    def read_only(self) -> bool:
        hints = self._hints()
        return bool(hints is not None and hints.read_only_hint)

    # The server's own word, passed on as it said it (None: it said nothing; clients assume the worst).
    @property  # type: ignore[override]
    def title(self) -> str | None:
        spec = self._spec()
        if spec is None:
            return None
        return spec.title or (spec.annotations.title if spec.annotations is not None else None)

    @property  # type: ignore[override]
    def destructive(self) -> bool | None:
        hints = self._hints()
        return hints.destructive_hint if hints is not None else None

    @property  # type: ignore[override]
    def idempotent(self) -> bool | None:
        hints = self._hints()
        return hints.idempotent_hint if hints is not None else None

    @property  # type: ignore[override]
    def open_world(self) -> bool | None:
        hints = self._hints()
        return hints.open_world_hint if hints is not None else None

    def _call(self, **arguments: Any) -> Any:
        return self._sources.call(self.server, self.remote, arguments)


def referenced_tools(workspace: Any) -> set[str]:
    """Tool names the workspace's agents and workflow steps use (an external one is registered before anything
    reads the registry by name)."""
    names: set[str] = set()
    catalog = workspace.catalog
    specs = [entry.spec for entry in workspace.agents.values() if entry.spec is not None]
    specs += [c.value for c in catalog.agents.values()] if catalog is not None else []
    for spec in specs:
        names.update(spec.tools)
    for entry in workspace.workflows.values():
        if entry.spec is not None:
            names.update(step.tool for step in entry.spec.steps if step.tool)
    return names
