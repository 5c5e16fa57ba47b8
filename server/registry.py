"""The registry: what each plugin registered, keyed by name, with the plugin it came from.

It holds the core's :class:`~parac.core.catalog.Catalog` (agents, tools, skills, providers, workflows: the things
workspace files may name) plus the MCP-only contributions (prompts, resources). Each ``register`` callback accepts
the convenient forms a plugin author would reach for and turns them into the one model of each thing.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parac.core.catalog import Catalog, Contribution, Skill
from parac.core.diagnostics import ParacError
from parac.core.sources import load_source
from parac.core.specs import AgentSpec, SkillSpec, WorkflowSpec
from parac.core.tools import Tool
from parac.core.workspace import build_entry

KINDS = ("agents", "tools", "skills", "providers", "workflows", "prompts", "resources")
HEADER_KEY = "x-mcp-header"
"""The JSON Schema keyword that mirrors a tool parameter into an HTTP header (`Mcp-Param-{Name}`, SEP-2243)."""


@dataclass
class PromptDef:
    name: str
    description: str
    render: Callable[..., Any]
    arguments: list[dict[str, Any]] = field(default_factory=list)
    title: str | None = None


@dataclass
class ResourceDef:
    """A resource at ``uri``, or, when ``uri`` is an RFC 6570 template (``test://items/{id}``), every resource
    matching it: ``read`` then takes the template's variables as keyword arguments."""

    uri: str
    read: Callable[..., Any]
    name: str | None = None
    description: str | None = None
    mime_type: str = "text/plain"
    title: str | None = None

    @property
    def is_template(self) -> bool:
        return "{" in self.uri


@dataclass
class Registry:
    catalog: Catalog = field(default_factory=Catalog)
    prompts: dict[str, Contribution[PromptDef]] = field(default_factory=dict)
    resources: dict[str, Contribution[ResourceDef]] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)
    version: int = 0
    """Counts changes (a registration, tools withdrawn): what caches derived from the registry compare."""

    def table(self, kind: str) -> dict[str, Contribution[Any]]:
        if kind == "prompts":
            return self.prompts
        if kind == "resources":
            return self.resources
        return self.catalog.kinds()[kind]

    def registrar(self, kind: str, plugin: str) -> Callable[..., None]:
        """The ``register`` callback handed to ``plugin``'s implementation of the hook for ``kind``."""
        convert = getattr(self, f"_as_{kind}")

        def register(*args: Any, **kwargs: Any) -> None:
            name, value, path = convert(*args, **kwargs)
            table = self.table(kind)
            if name in table:
                self.conflicts.append(
                    f'{kind[:-1]} "{name}" from plugin "{plugin}" ignored: already registered by "{table[name].origin}"'
                )
                return
            table[name] = Contribution(value, plugin, path)
            self.version += 1

        return register

    def names_by_plugin(self) -> dict[str, dict[str, list[str]]]:
        out: dict[str, dict[str, list[str]]] = {}
        for kind in KINDS:
            for name, contribution in self.table(kind).items():
                out.setdefault(contribution.origin, {}).setdefault(kind, []).append(name)
        return out

    # -- conversions: each returns (name, value, defining file) ----------------------------------------------------

    @staticmethod
    def _as_agents(agent: AgentSpec | Path | str) -> tuple[str, AgentSpec, Path | None]:
        if isinstance(agent, AgentSpec):
            if not agent.name:
                raise ValueError("a registered AgentSpec needs a name")
            return agent.name, agent, None
        path = Path(agent)
        entry = build_entry("agent", path, load_source(path))
        if entry.spec is None:
            raise ParacError(f"agent file {path} has errors", entry.problems)
        return entry.name, entry.spec, path

    @staticmethod
    def _as_tools(tool: Tool | Callable[..., Any], **options: Any) -> tuple[str, Tool, Path | None]:
        """A tool's header declarations (SEP-2243) are checked here when its schema is at hand; a schema the tool
        builds on demand (the built-in plugins' tools) is left unbuilt, as building every schema at registration
        is what a cold start must not pay for."""
        if not isinstance(tool, Tool):
            from .api import tool_from_function

            tool = tool_from_function(tool, **options)
        schema = inspect.getattr_static(tool, "input_schema")  # a schema built on demand is not built here
        if isinstance(schema, dict) and _mentions(schema, HEADER_KEY):  # refused here, with the plugin named
            from mcp.shared.inbound import find_invalid_x_mcp_header  # the SDK's reading of the rules clients apply

            if (reason := find_invalid_x_mcp_header(schema)) is not None:
                raise ValueError(f'tool "{tool.name}": {reason} (MCP clients over HTTP would drop the tool)')
        path = Path(tool.source.rsplit(":", 1)[0]) if tool.source else None
        return tool.name, tool, path

    @staticmethod
    def _as_skills(folder: Path | str) -> tuple[str, Skill, Path | None]:
        path = Path(folder)
        skill_md = path if path.name == "SKILL.md" else path / "SKILL.md"
        doc = load_source(skill_md)
        if not doc.ok:
            raise ParacError(f"skill file {skill_md} has errors", doc.diagnostics)
        spec = SkillSpec.model_validate(doc.data)
        return spec.name, Skill(spec, doc.body or "", skill_md), skill_md

    @staticmethod
    def _as_providers(provider: Any) -> tuple[str, Any, Path | None]:
        if not callable(getattr(provider, "accepts", None)) or not getattr(provider, "name", None):
            raise TypeError("a provider needs a name and an accepts(model) method")
        return provider.name, provider, None

    @staticmethod
    def _as_workflows(path: Path | str) -> tuple[str, WorkflowSpec, Path | None]:
        path = Path(path)
        doc = load_source(path)
        if not doc.ok:
            raise ParacError(f"workflow file {path} has errors", doc.diagnostics)
        return path.stem, WorkflowSpec.model_validate(doc.data), path

    @staticmethod
    def _as_prompts(
        name: str,
        description: str,
        render: Callable[..., Any],
        arguments: list[dict[str, Any]] | None = None,
        title: str | None = None,
    ) -> tuple[str, PromptDef, Path | None]:
        return name, PromptDef(name, description, render, arguments or [], title), None

    @staticmethod
    def _as_resources(uri: str, read: Callable[..., Any], **options: Any) -> tuple[str, ResourceDef, Path | None]:
        resource = ResourceDef(uri, read, **options)
        if resource.is_template:  # refused here, with the plugin named, rather than at each read
            from mcp.shared.uri_template import InvalidUriTemplate, UriTemplate

            try:
                UriTemplate.parse(uri)
            except InvalidUriTemplate as error:
                raise ValueError(f'resource template "{uri}" is not an RFC 6570 template: {error}') from None
        return uri, resource, None


def _mentions(schema: Any, key: str) -> bool:
    """Whether `key` stands anywhere in `schema`: a cheap walk, so that only a schema that declares headers pays
    for importing the MCP SDK to check where they stand."""
    if isinstance(schema, dict):
        return key in schema or any(_mentions(value, key) for value in schema.values())
    if isinstance(schema, list):
        return any(_mentions(value, key) for value in schema)
    return False
