"""What the MCP server offers, as plain values: tools, resources, resource templates and prompts.

A module of `parac.mcp_tools`, `parac.resources` or `parac.prompts` contributes by defining
`register(faces: Faces) -> None` and calling the decorators below; the server imports every such module after the
client's handshake has been answered (never before: cold start), so a new area is one new file and nothing else.
Things that exist only once the workspace and plugins are loaded (plugin tools, one prompt per skill, a resource
per agent) come from providers (`tools_from`, `prompts_from`, `resources_from`), asked again whenever the registry
or a file under `.parac/` changed (`ParacApp.stamp`): what a provider lists must follow from those alone.

Handlers receive a `Call` (see `parac.server.mcp.call`) first; a tool's other parameters, with their type hints and
defaults, become its input schema, and its arguments are checked against that schema before it runs.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, get_type_hints

from parac.core.errors import ParacBaseError
from parac.server.schema_cache import cached_schema

from parac.server.auth.roles import Role

if TYPE_CHECKING:
    from .call import Call

F = TypeVar("F", bound=Callable[..., Any])
Completer = Callable[["Call", str], Awaitable[Iterable[str]]]
"""Offers values for one parameter: gets the call and what the user typed so far, returns candidates."""


class FaceError(ParacBaseError):
    """A failure the MCP client should read: a tool answers it as an `isError` result, a read as a JSON-RPC error."""

    public = True


@dataclass(eq=False)
class ToolFace:
    """One MCP tool. `invoke` gets arguments already checked against `input_schema`."""

    name: str
    description: str
    invoke: Callable[[Call, dict[str, Any]], Awaitable[Any]]
    role: Role = "viewer"
    read_only: bool = True
    title: str | None = None
    destructive: bool | None = None
    idempotent: bool | None = None
    open_world: bool | None = None
    """The MCP hints beside `read_only` (None: not said; a client then assumes destructive, open-world)."""
    origin: str | None = None
    """Where a tool comes from when parac does not define it: a plugin's name, or `mcp:SERVER` for an external
    server's tools (what tool profiles select by)."""
    family: str | None = None
    """Which icon the tool shows (`parac.server.mcp.icons`): its area or plugin."""
    links: Callable[[Any], list[str]] | None = None
    """The resources a result names (URIs, or paths relative to the workspace): sent as resource links."""
    output_schema: dict[str, Any] | None = None
    schema: dict[str, Any] | None = None
    """The input JSON Schema when it is given as data (plugin tools); derived from `signature_of` otherwise."""
    signature_of: Callable[..., Any] | None = None
    long_running: bool = False
    """Sends progress notifications when the client asks for them (documented in the description for clients)."""
    needs_task: bool = False
    """A call of it must be a task (`taskSupport: "required"`): one that is not is refused (`Tasks.required`)."""
    asks_first: bool = False
    """A 2026-07-28 call of it that may become a task runs as input-required rounds until the work asks to go on as
    the task (`Call.continue_as_task`), instead of becoming one at once."""
    hooked: bool = True
    """The server runs it between the governance hooks; False for plugin tools, which `Host.call_tool` runs so."""
    asks: bool = False
    """It may ask the client mid-call (a plugin tool with a context, a long-running tool): a 2026-07-28 call of it
    is served as input-required rounds (`parac.server.mcp.rounds`), which cost a task per call."""

    @cached_property
    def _arguments_model(self) -> Any:
        assert self.signature_of is not None
        return arguments_model(self.name, self.signature_of)

    @property
    def input_schema(self) -> dict[str, Any]:
        if self.schema is not None:
            return self.schema
        assert self.signature_of is not None
        schema = cached_schema(
            self.signature_of, f"mcp-input:{self.name}", lambda: self._arguments_model.model_json_schema()
        )
        assert schema is not None
        return schema

    def check(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The arguments converted to the handler's types; raises FaceError naming the first bad argument."""
        from pydantic import ValidationError

        try:
            return self.validate(arguments)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "arguments"
            raise FaceError(f'invalid arguments for tool "{self.name}": {where}: {first["msg"]}') from None

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The arguments converted to the handler's types; pydantic's `ValidationError` (every problem, each at its
        location) for a face that renders them itself (the HTTP face's 422)."""
        if self.signature_of is None:
            return arguments
        model = self._arguments_model.__pydantic_validator__.validate_python(arguments)  # model_validate's own call
        return model.__dict__.copy()  # the fields by name (extra arguments are forbidden, none are private)


@dataclass(eq=False)
class ResourceFace:
    """A resource at a fixed URI."""

    uri: str
    name: str
    read: Callable[[Call], Awaitable[str | bytes]]
    description: str | None = None
    mime_type: str = "text/plain"
    role: Role = "viewer"
    title: str | None = None


@dataclass(eq=False)
class TemplateFace:
    """Resources whose URIs match an RFC 6570 template (`parac://agents/{name}`); `complete` maps a parameter to
    the completer offering its values."""

    uri_template: str
    name: str
    read: Callable[..., Awaitable[str | bytes]]
    description: str | None = None
    mime_type: str = "text/plain"
    role: Role = "viewer"
    complete: dict[str, Completer] = field(default_factory=dict)
    title: str | None = None

    @cached_property
    def parsed(self) -> Any:
        from mcp.shared.uri_template import UriTemplate

        return UriTemplate.parse(self.uri_template)

    def match(self, uri: str) -> dict[str, str] | None:
        found = self.parsed.match(uri)
        if found is None:
            return None
        return {key: value if isinstance(value, str) else "/".join(value) for key, value in found.items()}


@dataclass(frozen=True)
class PromptArgument:
    name: str
    description: str = ""
    required: bool = False


@dataclass(eq=False)
class PromptFace:
    """A prompt; `render` returns the user message text, or a list of `{"role", "content"}` messages."""

    name: str
    description: str
    render: Callable[[Call, dict[str, str]], Awaitable[str | list[dict[str, Any]]]]
    arguments: list[PromptArgument] = field(default_factory=list)
    role: Role = "viewer"
    complete: dict[str, Completer] = field(default_factory=dict)
    title: str | None = None
    asks: bool = False
    """It may ask the client (its person, model or roots) before it renders: in 2026-07-28, input-required rounds."""


ToolsProvider = Callable[["Call"], Awaitable[Iterable[ToolFace]]]
ResourcesProvider = Callable[["Call"], Awaitable[Iterable[ResourceFace]]]
TemplatesProvider = Callable[["Call"], Awaitable[Iterable[TemplateFace]]]
PromptsProvider = Callable[["Call"], Awaitable[Iterable[PromptFace]]]


class Faces:
    """Everything registered by the face modules; the server reads it on every list and call."""

    def __init__(self, start: Path | None = None) -> None:
        """`start`: the workspace the server was started for (``--workspace``); None: found as `parac` finds it."""
        self.start = start
        self.tools: dict[str, ToolFace] = {}
        self.resources: dict[str, ResourceFace] = {}
        self.templates: list[TemplateFace] = []
        self.prompts: dict[str, PromptFace] = {}
        self.tool_providers: list[ToolsProvider] = []
        self.resource_providers: list[ResourcesProvider] = []
        self.template_providers: list[TemplatesProvider] = []
        self.prompt_providers: list[PromptsProvider] = []

    # -- tools -------------------------------------------------------------------------------------------------------

    def tool(
        self,
        name: str | None = None,
        *,
        role: Role = "viewer",
        read_only: bool = True,
        destructive: bool | None = None,
        idempotent: bool | None = None,
        open_world: bool = False,
        title: str | None = None,
        output: Any = None,
        long_running: bool = False,
        links: Callable[[Any], list[str]] | None = None,
    ) -> Callable[[F], F]:
        """Register `async def fn(call: Call, ...)` as a tool; its docstring is the description.

        `output` is the type of the structured result (a TypedDict or pydantic model, or a JSON Schema dict);
        with it, the result goes to the client as `structuredContent` with an `outputSchema`. A tool that is not
        `read_only` says whether it is `destructive` and `idempotent` (clients ask for confirmation by them);
        `open_world`: it reaches past the workspace (a model provider, the network). `links(result)` names the
        resources a result points at (a run's `parac://runs/{id}`). The icon is the registering module's area.
        """

        def decorator(fn: F) -> F:
            tool_name = name or fn.__name__
            if tool_name in self.tools:
                raise ValueError(f"MCP tool {tool_name!r} is registered twice")
            if not read_only and (destructive is None or idempotent is None):
                raise ValueError(f"MCP tool {tool_name!r} writes: say whether it is destructive and idempotent")

            async def invoke(call: Call, arguments: dict[str, Any]) -> Any:
                return await fn(call, **arguments)

            self.tools[tool_name] = ToolFace(
                name=tool_name,
                description=inspect.cleandoc(fn.__doc__ or ""),
                invoke=invoke,
                role=role,
                read_only=read_only,
                title=title,
                destructive=bool(destructive) and not read_only,
                idempotent=read_only or bool(idempotent),
                open_world=open_world,
                family=fn.__module__.rpartition(".")[2],
                links=links,
                output_schema=cached_schema(fn, f"mcp-output:{tool_name}", lambda: output_schema(output)),
                signature_of=fn,
                long_running=long_running,
            )
            return fn

        return decorator

    def tools_from(self, provider: ToolsProvider) -> None:
        self.tool_providers.append(provider)

    # -- resources ---------------------------------------------------------------------------------------------------

    def resource(
        self,
        uri: str,
        *,
        name: str,
        title: str | None = None,
        description: str | None = None,
        mime_type: str = "text/plain",
        role: Role = "viewer",
    ) -> Callable[[F], F]:
        """Register `async def read(call) -> str | bytes` as the resource at `uri`; `title` is what a client shows."""

        def decorator(fn: F) -> F:
            self.resources[uri] = ResourceFace(uri, name, fn, description, mime_type, role, title)
            return fn

        return decorator

    def template(
        self,
        uri_template: str,
        *,
        name: str,
        title: str | None = None,
        description: str | None = None,
        mime_type: str = "text/plain",
        role: Role = "viewer",
        complete: dict[str, Completer] | None = None,
    ) -> Callable[[F], F]:
        """Register `async def read(call, **params) -> str | bytes` for every URI matching `uri_template`.

        Templates are tried in registration order, so register the more specific one first.
        """

        def decorator(fn: F) -> F:
            self.templates.append(
                TemplateFace(uri_template, name, fn, description, mime_type, role, complete or {}, title)
            )
            return fn

        return decorator

    def resources_from(self, provider: ResourcesProvider) -> None:
        """Concrete resources to list (each also readable through a template); asked again when the registry or the
        files change."""
        self.resource_providers.append(provider)

    def templates_from(self, provider: TemplatesProvider) -> None:
        """Templates that exist once plugins are loaded (a plugin's); tried after the registered ones."""
        self.template_providers.append(provider)

    # -- prompts -----------------------------------------------------------------------------------------------------

    def prompt(
        self,
        name: str | None = None,
        *,
        title: str | None = None,
        arguments: Iterable[PromptArgument] = (),
        role: Role = "viewer",
        complete: dict[str, Completer] | None = None,
    ) -> Callable[[F], F]:
        """Register `async def render(call, arguments: dict[str, str])` as a prompt; its docstring describes it."""

        def decorator(fn: F) -> F:
            prompt_name = name or fn.__name__
            self.prompts[prompt_name] = PromptFace(
                prompt_name, inspect.cleandoc(fn.__doc__ or ""), fn, list(arguments), role, complete or {}, title
            )
            return fn

        return decorator

    def prompts_from(self, provider: PromptsProvider) -> None:
        self.prompt_providers.append(provider)


def arguments_model(tool: str, fn: Callable[..., Any]) -> Any:
    """A pydantic model of `fn`'s parameters after the first (the Call): the tool's input schema and checker."""
    from pydantic import ConfigDict, create_model

    hints = get_type_hints(fn, include_extras=True)
    fields: dict[str, Any] = {}
    for parameter in list(inspect.signature(fn).parameters.values())[1:]:
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        fields[parameter.name] = (hints.get(parameter.name, Any), default)
    return create_model(f"{tool}_arguments", __config__=ConfigDict(extra="forbid"), **fields)


def output_schema(output: Any) -> dict[str, Any] | None:
    if output is None or isinstance(output, dict):
        return output
    from pydantic import TypeAdapter

    return TypeAdapter(output).json_schema(mode="serialization")


def to_json_text(value: Any) -> str:
    """Structured results are also sent as text, for clients that ignore `structuredContent` (compact: it is
    serialised on every call, and models read it as well either way)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
