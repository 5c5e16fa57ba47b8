"""The MCP server: the SDK's low-level `Server`, answering from the faces that `ParacApp` collects.

The low-level server (not `MCPServer`) because parac's tools come in two shapes, Python functions and plugin tools
that carry their own JSON Schema, and their list changes with the workspace; and because it adds nothing to each
call that parac does not use. Both protocol eras are served by the SDK: the initialize handshake (2025-11-25 and
older) and the stateless 2026-07-28 requests.

Errors: an unknown tool, resource or prompt, or arguments that do not fit, are JSON-RPC errors (-32602) that name
the problem. Every other failure is mapped in one place per request kind: a public parac error (`core/errors.py`)
is shown with its message and diagnostics (a tool's as an `isError: true` result), anything else is logged and the
client told only that it failed and where to look. Nothing a client sends stops the server.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable, Mapping
from contextlib import asynccontextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler
from mcp.shared.exceptions import MCPError

from parac.core.errors import public_message
from parac.server.schema_cache import parac_schemas

from .app import CLIENT_LOG_LEVELS, ParacApp
from .call import Call, governed
from .channel import MissingCapability
from .faces import FaceError, PromptFace, ResourceFace, TemplateFace, ToolFace, to_json_text
from .icons import SERVER, icons
from .logs import current_request, forward_to_clients
from .observe import observing
from parac.server.auth.roles import allows
from .rounds import Exchange, Rounds, input_required_era, seal_state
from .tasks import EXTENSION, Tasks, TaskIdParams, UpdateTaskParams, created, declares_tasks, requested_ttl

if TYPE_CHECKING:
    from .listings import Listings
    from .saved_lists import SavedLists

log = logging.getLogger("parac.mcp")

VERSION = "0.1.0"
INSTRUCTIONS = (
    "parac serves this project's AI agents, skills and workflows (its .parac/ folder). "
    "Use list_agents / get_agent to see agents with their inheritance resolved, validate_workspace to check the "
    "files, and the parac:// resources and prompts for agent, skill and workflow sources."
)
MAX_COMPLETIONS = 100
LISTS = frozenset({"tools/list", "resources/list", "resources/templates/list", "prompts/list"})
SchemaLookup = Callable[[str], Mapping[str, Any] | None]
"""A tool's input schema by name, as the SDK's `get_tool_input_schema` asks for it."""


class ParacServer(Server[Any]):
    """Announces list-changed notifications in the handshake era, whatever transport creates the options, and finds a
    called tool's input schema for the SDK's `Mcp-Param-*` check without building the tools list (`input_schemas`)."""

    def __init__(self, *args: Any, input_schemas: Callable[[], SchemaLookup | None], **kwargs: Any) -> None:
        """`input_schemas`: `Handlers.input_schemas`, the lookup of the moment (see `get_tool_input_schema`)."""
        self.input_schemas = input_schemas
        super().__init__(*args, **kwargs)

    @property  # type: ignore[override]
    def get_tool_input_schema(self) -> SchemaLookup | None:
        """The SDK reads this on every 2026-07-28 `tools/call` over HTTP that has arguments, to check its
        `Mcp-Param-*` headers (SEP-2243). Without it, the SDK runs the whole `tools/list` handler for the one call.
        It is asked afresh each time, so that it can be None while parac's tools are not built for the current
        state of the registry and workspace: the SDK then runs the list handler, which builds them, rather than a
        lookup that could only answer None and let the call through unchecked."""
        return self.input_schemas()

    @get_tool_input_schema.setter
    def get_tool_input_schema(self, lookup: Any) -> None:
        """The SDK's constructor sets None (parac passes nothing); the property above answers instead."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> Any:
        options = notification_options or NotificationOptions(
            prompts_changed=True, resources_changed=True, tools_changed=True
        )
        return super().create_initialization_options(options, experimental_capabilities, extensions)

    def get_capabilities(self, *args: Any, **kwargs: Any) -> types.ServerCapabilities:
        """Adds the handshake era's tasks (2025-11-25): listed, cancelled, and asked of `tools/call`."""
        capabilities = super().get_capabilities(*args, **kwargs)
        capabilities.tasks = types.ServerTasksCapability(
            list=types.TasksListCapability(),
            cancel=types.TasksCancelCapability(),
            requests=types.ServerTasksRequestsCapability(tools=types.TasksToolsCapability(call=types.TasksCallCapability())),
        )
        return capabilities


def build_server(app: ParacApp) -> ParacServer:
    """Assemble the server for `app`; registers handlers only (the workspace and the faces load on first use)."""
    bus = InMemorySubscriptionBus()
    app.bus = bus
    forward_to_clients()
    handlers = Handlers(app)

    @asynccontextmanager
    async def lifespan(_: Server[Any]) -> AsyncIterator[dict[str, Any]]:
        async with anyio.create_task_group() as group:
            group.start_soon(app.watch)
            handlers.rounds.group = group  # the work of calls waiting for their client's input runs here
            group.start_soon(handlers.rounds.sweep)
            try:
                yield {}
            finally:
                group.cancel_scope.cancel()

    server = ParacServer(
        "parac",
        version=VERSION,
        title="parac",
        description="Agents, tools, skills and workflows of a parac workspace",
        instructions=INSTRUCTIONS,
        icons=list(icons(SERVER)),
        lifespan=lifespan,
        input_schemas=handlers.input_schemas,
        on_list_tools=handlers.list_tools,
        on_call_tool=handlers.call_tool,
        on_list_resources=handlers.list_resources,
        on_list_resource_templates=handlers.list_resource_templates,
        on_read_resource=handlers.read_resource,
        on_subscribe_resource=handlers.subscribe,
        on_unsubscribe_resource=handlers.unsubscribe,
        on_subscriptions_listen=ListenHandler(bus),
        on_list_prompts=handlers.list_prompts,
        on_get_prompt=handlers.get_prompt,
        on_completion=handlers.complete,
    )
    # Registered after construction: passing it to the constructor warns that logging is deprecated in the
    # 2026-07-28 era, which parac knows; handshake-era clients still use it.
    server.add_request_handler("logging/setLevel", types.SetLevelRequestParams, handlers.set_level)
    server.add_notification_handler("notifications/initialized", types.NotificationParams, handlers.initialized)
    observing(server, app.metrics, app.transport)
    seal_state(server)
    tasks = handlers.tasks

    def with_call(method: Callable[..., Awaitable[dict[str, Any]]]) -> Any:
        async def handle(ctx: ServerRequestContext[Any, Any], params: Any) -> dict[str, Any]:
            return await method(handlers.call(ctx), params)

        return handle

    server.add_request_handler("tasks/get", TaskIdParams, with_call(tasks.get))
    server.add_request_handler("tasks/result", TaskIdParams, with_call(tasks.result))
    server.add_request_handler("tasks/cancel", TaskIdParams, with_call(tasks.cancel))
    server.add_request_handler("tasks/update", UpdateTaskParams, with_call(tasks.update))
    server.add_request_handler("tasks/list", types.PaginatedRequestParams, with_call(tasks.list))
    server.extensions[EXTENSION] = {}

    async def task_calls(ctx: ServerRequestContext[Any, Any], call_next: Any) -> Any:
        """A handshake-era `tools/call` with `task` is answered here: the SDK's result check for that era knows
        only `CallToolResult`, not `CreateTaskResult`."""
        if ctx.method != "tools/call" or input_required_era(ctx) or (ctx.params or {}).get("task") is None:
            return await call_next(ctx)
        try:
            params = types.CallToolRequestParams.model_validate(ctx.params, by_name=False)
        except ValueError as error:
            raise MCPError(code=types.INVALID_PARAMS, message=f"invalid tools/call parameters: {error}") from None
        return await handlers.call_tool(ctx, params)

    server.middleware.append(task_calls)
    server.middleware.append(handlers.answered_lists)
    return server


MAX_ECHOED_NAME = 200


def shown(text: str) -> str:
    return text if len(text) <= MAX_ECHOED_NAME else f"{text[:MAX_ECHOED_NAME]}... ({len(text)} characters)"


def _not_found(what: str, name: str, known: Iterable[str]) -> MCPError:
    """-32602 naming the unknown thing (cut short: a client may send megabytes) and the closest known name."""
    from parac.core.diagnostics import suggestion

    if len(name) > MAX_ECHOED_NAME:
        return MCPError(code=types.INVALID_PARAMS, message=f'unknown {what} "{shown(name)}"')
    return MCPError(code=types.INVALID_PARAMS, message=f'unknown {what} "{name}"{suggestion(name, list(known))}')


def _missing_capability(error: MissingCapability) -> MCPError:
    """-32021 for a 2026-07-28 request whose client did not declare what the tool asked through: its data names
    the capability as a `ClientCapabilities` object, so the client knows what to declare on its retry."""
    required = types.ClientCapabilities.model_validate({error.capability: {}})
    data = types.MissingRequiredClientCapabilityErrorData(required_capabilities=required)
    return MCPError(
        code=types.MISSING_REQUIRED_CLIENT_CAPABILITY,
        message=str(error),
        data=data.model_dump(by_alias=True, mode="json", exclude_none=True),
    )


def _error_result(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


def _connection_of(session: Any) -> Any:
    """The connection a per-request session speaks for: one client across its requests (the SDK has no public
    accessor; sessions are rebuilt for every request)."""
    return getattr(session, "_connection", session)


class Handlers:
    """The request handlers; each builds a `Call` (the caller's role, the lazily loaded workspace) and asks faces."""

    def __init__(self, app: ParacApp) -> None:
        self.app = app
        self.rounds = Rounds()
        self.tasks = Tasks(app, self.rounds)
        self._tools: tuple[Hashable, dict[str, ToolFace]] | None = None
        self._answers: dict[tuple[str, str, str], tuple[Hashable, dict[str, Any]]] = {}
        """(method, revision, role) -> (stamp, the SDK's wire form of a list's first page): `answered_lists`."""

    @cached_property
    def saved_lists(self) -> SavedLists:
        from .saved_lists import SavedLists

        return SavedLists(self.app.start, self.app.profile_override)

    @cached_property
    def listings(self) -> Listings:
        from .listings import Listings  # on the first list, after the handshake

        return Listings(self.app.stamp, self.app.cursor_secret)

    def call(self, ctx: ServerRequestContext[Any, Any]) -> Call:
        scope = getattr(ctx.request, "scope", None)
        if isinstance(scope, dict):  # over HTTP: the caller `parac.server.auth.Authenticate` established
            caller = scope.get("state", {}).get("caller")
            if caller is None:
                return Call(self.app, ctx, self.app.tokens.local_role, "http")
            return Call(self.app, ctx, caller.role, "http", actor=caller.actor, tenant=caller.tenant)
        return Call(self.app, ctx, self.app.tokens.local_role, self.app.transport)

    async def answered_lists(self, ctx: ServerRequestContext[Any, Any], call_next: Any) -> Any:
        """Middleware: the first page of a list, asked again with nothing changed (same revision, role and
        `ParacApp.stamp`), is answered with the wire form the SDK made of it last time.

        The lists themselves are cached (`Listings`), but the SDK validates a handler's result against the
        revision's schema and serialises it again on every request: for `tools/list` that is most of the time an
        answer takes (a minimal profile's dozen tools included). Only a connection past its handshake (the SDK's
        gate), and a request whose params hold nothing but `_meta`, is answered here."""
        params = ctx.params or {}
        if ctx.method not in LISTS or ctx.request_id is None or self.app.cold or set(params) - {"_meta"}:
            return await call_next(ctx)
        if not getattr(_connection_of(ctx.session), "initialize_accepted", False):
            return await call_next(ctx)
        key = (ctx.method, ctx.protocol_version, self.call(ctx).role)
        stamp = self.app.stamp()
        kept = self._answers.get(key)
        if kept is not None and kept[0] == stamp:
            return kept[1]
        answer = await call_next(ctx)
        if isinstance(answer, dict) and "nextCursor" not in answer:  # a cursor is signed for one process's pages
            self._answers[key] = (stamp, answer)
        return answer

    # -- tools -----------------------------------------------------------------------------------------------------

    async def tools(self, call: Call) -> dict[str, ToolFace]:
        """Every tool by name, parac's own and the providers' (built again only when the registry or the
        workspace changed: the providers ask the plugins)."""
        stamp = self.app.stamp()
        if self._tools is None or self._tools[0] != stamp:
            faces = self.app.faces
            out = dict(faces.tools)
            for provider in faces.tool_providers:
                for face in await provider(call):
                    if face.name in out:
                        log.warning('plugin tool "%s" hidden: parac has an MCP tool of that name', face.name)
                        continue
                    out[face.name] = face
            self._tools = (self.app.stamp(), out)
        return self._tools[1]

    def input_schemas(self) -> SchemaLookup | None:
        """A called tool's input schema by name, for the SDK's `Mcp-Param-*` check (`ParacServer`), or None when
        parac's tools are not built for the current stamp (not loaded yet, or the registry or workspace changed
        since): they come partly from async providers (plugins, external servers), and the lookup is sync.

        The schema is the one `tools/list` shows (`_mcp_tool` passes `ToolFace.input_schema` on as it is, with the
        `x-mcp-header` marks `tool_from_function(headers=...)` adds). A tool outside the served profile answers None:
        no caller sees it, and `call_tool` refuses it. A tool above the caller's role answers its schema all the
        same: the SDK asks before any middleware, so the lookup cannot know the caller, and the schema is the same
        for every caller who may see the tool; one who may not is refused by `call_tool` (which names the role)."""
        kept = self._tools
        if kept is None or kept[0] != self.app.stamp():
            return None
        tools, profile = kept[1], self.app.profile

        def input_schema(name: str) -> Mapping[str, Any] | None:
            face = tools.get(name)
            return face.input_schema if face is not None and profile.admits(face) else None

        return input_schema

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> dict[str, Any]:
        call = self.call(ctx)
        cursor = _cursor(params)
        if cursor is None and self.app.cold:
            saved = self.saved_lists.read(call.role)
            if saved is not None:  # checked once loaded: see `saved_lists`
                log.debug("tools/list answered from the list last served for this workspace")
                self.app.after_load(lambda: self._check_saved(call, saved))
                return saved
        answer = await self._list_tools(call, cursor)
        if cursor is None:
            self.saved_lists.write(call.role, answer)
        return answer

    async def _list_tools(self, call: Call, cursor: str | None) -> dict[str, Any]:
        async def build() -> list[tuple[str, Any]]:
            tools = await self.tools(call)
            profile = self.app.profile
            listed = [
                (face.name, _mcp_tool(face))
                for face in tools.values()
                if allows(call.role, face.role) and profile.admits(face)
            ]
            parac_schemas().save()  # now, not at exit: editors often end their servers with a signal
            return listed

        return await self.listings.answer("tools/list", types.ListToolsResult, "tools", call.role, cursor, build)

    async def _check_saved(self, call: Call, saved: dict[str, Any]) -> None:
        """Build the list a saved answer stood in for; when they differ, store it and tell the clients."""
        answer = await self._list_tools(call, None)
        if answer != saved:
            log.info("the tools differ from the list last served for this workspace: sending list_changed")
            self.saved_lists.write(call.role, answer)
            await self.app.publish_tools_changed()

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        call = self.call(ctx)
        face = self.app.faces.tools.get(params.name)  # parac's own tools without asking the providers
        if face is None:
            tools = await self.tools(call)
            face = tools.get(params.name)
            if face is None:
                raise _not_found("tool", params.name, tools)
        if not allows(call.role, face.role):
            return _error_result(f'tool "{face.name}" needs the {face.role} role; this caller has {call.role}')
        await self.app.loaded()  # the profile is read with the workspace's settings
        if not self.app.profile.admits(face):
            return _error_result(
                f'tool "{face.name}" is not in the MCP tool profile "{self.app.profile.name}" this server offers '
                "(mcp.profile in parac.yaml, or parac mcp serve --profile)"
            )
        modern = input_required_era(ctx)
        if face.long_running:
            call.background = lambda: self._background(call, face, params)
            wanted = self.tasks.wanted(ctx, params)
            if wanted and not (face.asks_first and modern):  # an asks_first call becomes one after its rounds
                ttl = params.task.ttl if params.task is not None else None
                state = await self.tasks.start(
                    call, face.name, lambda c: self._answer(c, face, params, task=True), ttl_ms=ttl
                )
                return created(state, modern)
            if face.needs_task and not wanted:
                raise self.tasks.required(ctx, face.name)
        if (face.long_running or face.asks) and modern:
            to_task = (lambda exchange: self._to_task(exchange, face)) if face.long_running else None
            return await self.rounds.serve(ctx, params, call, lambda c: self._answer(c, face, params), to_task)
        return await self._answer(call, face, params)

    async def _to_task(self, exchange: Exchange, face: ToolFace) -> dict[str, Any] | None:
        """The round's answer to work that asks to go on as a task (`Call.continue_as_task`): the task handle,
        where this round's client declared the tasks extension; else nothing, and the call goes on in its rounds
        (a task-only tool's round without the extension was refused before it reached the work)."""
        if declares_tasks(exchange.call.request):
            ttl = requested_ttl(exchange.call.request)  # the handing-over round's, as `start` takes its request's
            return created(await self.tasks.adopt(exchange, face.name, ttl_ms=ttl), True)
        return None

    async def _background(self, call: Call, face: ToolFace, params: types.CallToolRequestParams) -> str:
        """The call run on as a task with `wait` true (a tool's `wait: false`): answers its id at once."""
        waiting = params.model_copy(update={"arguments": {**(params.arguments or {}), "wait": True}})
        state = await self.tasks.start(call, face.name, lambda c: self._answer(c, face, waiting, task=True))
        return state.task_id

    async def _answer(
        self, call: Call, face: ToolFace, params: types.CallToolRequestParams, *, task: bool = False
    ) -> types.CallToolResult:
        """Run the tool and answer its result, a public error as an `isError` result, any other as a pointer to
        the log: an `isError` result, or for a task's work an internal error, which ends the task "failed" (the
        tasks extension keeps "completed" with `isError` for errors the tool reports itself)."""
        token = current_request.set(call)
        try:
            arguments = face.check(params.arguments or {})
            value = await governed(call, face, arguments)
        except Exception as error:
            if isinstance(error, MissingCapability) and input_required_era(call.request):
                raise _missing_capability(error) from None
            if (message := public_message(error)) is not None:
                return _error_result(message)
            log.exception('MCP tool "%s" failed', face.name)
            message = f'tool "{face.name}" failed unexpectedly ({type(error).__name__}); see the server log'
            if task:
                raise MCPError(code=types.INTERNAL_ERROR, message=message) from None
            return _error_result(message)
        finally:
            current_request.reset(token)
        return _tool_result(face, value, await self._links(call, face, value))

    @staticmethod
    async def _links(call: Call, face: ToolFace, value: Any) -> list[types.ResourceLink]:
        """What the result names, as resource links: a URI as it is, a path as the `file://` URI of that file in
        the workspace."""
        if face.links is None or isinstance(value, types.CallToolResult):
            return []
        out = []
        for target in face.links(value):
            uri = target if "://" in target else ((await call.workspace()).root / target).absolute().as_uri()
            out.append(types.ResourceLink(uri=uri, name=target.rpartition("/")[2] or target))
        return out


    # -- resources -------------------------------------------------------------------------------------------------

    async def list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> dict[str, Any]:
        call = self.call(ctx)

        async def build() -> list[tuple[str, Any]]:
            faces = self.app.faces
            found: dict[str, ResourceFace] = dict(faces.resources)
            for provider in faces.resource_providers:
                found.update((face.uri, face) for face in await provider(call))
            return [
                (
                    f.uri,
                    types.Resource(
                        uri=f.uri, name=f.name, title=f.title, description=f.description, mime_type=f.mime_type
                    ),
                )
                for f in found.values()
                if allows(call.role, f.role)
            ]

        return await self.listings.answer(
            "resources/list", types.ListResourcesResult, "resources", call.role, _cursor(params), build
        )

    async def list_resource_templates(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> dict[str, Any]:
        call = self.call(ctx)

        async def build() -> list[tuple[str, Any]]:
            return [
                (
                    t.uri_template,
                    types.ResourceTemplate(
                        uri_template=t.uri_template,
                        name=t.name,
                        title=t.title,
                        description=t.description,
                        mime_type=t.mime_type,
                    ),
                )
                for t in await self.templates(call)
                if allows(call.role, t.role)
            ]

        method, result = "resources/templates/list", types.ListResourceTemplatesResult
        return await self.listings.answer(method, result, "resourceTemplates", call.role, _cursor(params), build)

    async def read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        call = self.call(ctx)
        uri = params.uri
        faces = self.app.faces
        try:
            fixed = faces.resources.get(uri)
            template, values = (None, {}) if fixed else _match(faces.templates, uri)
            if fixed is None and template is None:
                fixed, template, values = await self._provided(call, uri)
            if fixed is not None:
                self._require(call, fixed.role, uri)
                content, mime = await fixed.read(call), fixed.mime_type
            else:
                assert template is not None
                self._require(call, template.role, uri)
                content, mime = await template.read(call, **values), template.mime_type
        except MCPError:
            raise
        except Exception as error:
            if (message := public_message(error)) is not None:
                raise MCPError(code=types.INVALID_PARAMS, message=message, data={"uri": uri}) from None
            log.exception("reading %s failed", uri)
            raise MCPError(
                code=types.INTERNAL_ERROR, message=f"reading {uri} failed ({type(error).__name__}); see the server log"
            ) from None
        if isinstance(content, bytes):
            import base64

            blob = types.BlobResourceContents(uri=uri, blob=base64.b64encode(content).decode(), mime_type=mime)
            return types.ReadResourceResult(contents=[blob])
        return types.ReadResourceResult(contents=[types.TextResourceContents(uri=uri, text=content, mime_type=mime)])

    async def templates(self, call: Call) -> list[TemplateFace]:
        """The registered templates, then the providers' (plugins')."""
        faces = self.app.faces
        out = list(faces.templates)
        for provider in faces.template_providers:
            out.extend(await provider(call))
        return out

    async def _provided(
        self, call: Call, uri: str
    ) -> tuple[ResourceFace | None, TemplateFace | None, dict[str, str]]:
        """A resource only a provider knows (a plugin's), or a provider's template matching `uri`, or the
        not-found error."""
        faces = self.app.faces
        for provider in faces.resource_providers:
            for face in await provider(call):
                if face.uri == uri:
                    return face, None, {}
        for templates in faces.template_providers:
            template, values = _match(list(await templates(call)), uri)
            if template is not None:
                return None, template, values
        raise MCPError(code=types.INVALID_PARAMS, message=f"unknown resource {shown(uri)}", data={"uri": shown(uri)})

    @staticmethod
    def _require(call: Call, role: Any, what: str) -> None:
        if not allows(call.role, role):
            raise FaceError(f"{what} needs the {role} role; this caller has {call.role}")

    async def subscribe(
        self, ctx: ServerRequestContext[Any, Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        sessions = self.app.subscribers.by_uri.setdefault(params.uri, [])
        if not any(_connection_of(s) is _connection_of(ctx.session) for s in sessions):
            sessions.append(ctx.session)
        return types.EmptyResult()

    async def unsubscribe(
        self, ctx: ServerRequestContext[Any, Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        sessions = self.app.subscribers.by_uri.get(params.uri, [])
        sessions[:] = [s for s in sessions if _connection_of(s) is not _connection_of(ctx.session)]
        return types.EmptyResult()

    async def initialized(self, ctx: ServerRequestContext[Any, Any], params: types.NotificationParams) -> None:
        self.app.subscribers.sessions.append(ctx.session)

    async def set_level(self, ctx: ServerRequestContext[Any, Any], params: types.SetLevelRequestParams) -> types.EmptyResult:
        self.app.client_log_level = params.level if params.level in CLIENT_LOG_LEVELS else "info"
        return types.EmptyResult()

    # -- prompts ---------------------------------------------------------------------------------------------------

    async def prompts(self, call: Call) -> dict[str, PromptFace]:
        faces = self.app.faces
        out = dict(faces.prompts)
        for provider in faces.prompt_providers:
            out.update((face.name, face) for face in await provider(call))
        return {name: face for name, face in out.items() if allows(call.role, face.role)}

    async def list_prompts(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> dict[str, Any]:
        call = self.call(ctx)

        async def build() -> list[tuple[str, Any]]:
            return [(face.name, _mcp_prompt(face)) for face in (await self.prompts(call)).values()]

        return await self.listings.answer(
            "prompts/list", types.ListPromptsResult, "prompts", call.role, _cursor(params), build
        )

    async def get_prompt(
        self, ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult | types.InputRequiredResult:
        call = self.call(ctx)
        prompts = await self.prompts(call)
        face = prompts.get(params.name)
        if face is None:
            raise _not_found("prompt", params.name, prompts)
        arguments = dict(params.arguments or {})
        missing = [a.name for a in face.arguments if a.required and not arguments.get(a.name)]
        if missing:
            raise MCPError(code=types.INVALID_PARAMS, message=f'prompt "{face.name}" needs the argument "{missing[0]}"')
        unknown = sorted(set(arguments) - {a.name for a in face.arguments})
        if unknown:
            raise MCPError(code=types.INVALID_PARAMS, message=f'prompt "{face.name}" has no argument "{unknown[0]}"')
        if face.asks and input_required_era(ctx):
            return await self.rounds.serve(ctx, params, call, lambda c: self._render(c, face, arguments))
        return await self._render(call, face, arguments)

    @staticmethod
    async def _render(call: Call, face: PromptFace, arguments: dict[str, str]) -> types.GetPromptResult:
        """Render the prompt; a public error as -32602 with its message (-32021 for a question the 2026-07-28
        client cannot answer), any other as a pointer to the log."""
        try:
            rendered = await face.render(call, arguments)
        except Exception as error:
            if isinstance(error, MissingCapability) and input_required_era(call.request):
                raise _missing_capability(error) from None
            if (message := public_message(error)) is not None:
                raise MCPError(code=types.INVALID_PARAMS, message=message) from None
            log.exception('prompt "%s" failed', face.name)
            raise MCPError(
                code=types.INTERNAL_ERROR,
                message=f'prompt "{face.name}" failed unexpectedly ({type(error).__name__}); see the server log',
            ) from None
        if isinstance(rendered, str):
            messages = [types.PromptMessage(role="user", content=types.TextContent(type="text", text=rendered))]
        else:
            messages = [types.PromptMessage.model_validate(m) for m in rendered]
        return types.GetPromptResult(description=face.description, messages=messages)

    # -- completion ------------------------------------------------------------------------------------------------

    async def complete(
        self, ctx: ServerRequestContext[Any, Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        call = self.call(ctx)
        ref = params.ref
        completers: dict[str, Any] = {}
        if isinstance(ref, types.PromptReference):
            face = (await self.prompts(call)).get(ref.name)
            completers = face.complete if face else {}
        else:
            template = next((t for t in await self.templates(call) if t.uri_template == ref.uri), None)
            completers = template.complete if template else {}
        completer = completers.get(params.argument.name)
        typed = params.argument.value
        values = sorted(v for v in await completer(call, typed) if v.startswith(typed)) if completer else []
        return types.CompleteResult(
            completion=types.Completion(
                values=values[:MAX_COMPLETIONS], total=len(values), has_more=len(values) > MAX_COMPLETIONS
            )
        )


def _match(templates: list[TemplateFace], uri: str) -> tuple[TemplateFace | None, dict[str, str]]:
    for template in templates:
        values = template.match(uri)
        if values is not None:
            return template, values
    return None, {}


def _cursor(params: types.PaginatedRequestParams | None) -> str | None:
    return params.cursor if params is not None else None


def _mcp_prompt(face: PromptFace) -> types.Prompt:
    return types.Prompt(
        name=face.name,
        title=face.title,
        description=face.description,
        arguments=[
            types.PromptArgument(name=a.name, description=a.description, required=a.required) for a in face.arguments
        ],
    )


def _mcp_tool(face: ToolFace) -> types.Tool:
    return types.Tool(
        name=face.name,
        title=face.title,
        description=face.description,
        input_schema=face.input_schema,
        output_schema=face.output_schema,
        icons=list(icons(face.family)),
        annotations=types.ToolAnnotations(
            title=face.title,
            read_only_hint=face.read_only,
            destructive_hint=face.destructive,
            idempotent_hint=face.idempotent,
            open_world_hint=face.open_world,
        ),
        execution=types.ToolExecution(task_support="required" if face.needs_task else "optional")
        if face.long_running
        else None,
        _meta={"parac/role": face.role},
    )


def _tool_result(face: ToolFace, value: Any, links: list[types.ResourceLink]) -> types.CallToolResult:
    if isinstance(value, types.CallToolResult):
        return value
    if isinstance(value, str):
        return types.CallToolResult(content=[types.TextContent(type="text", text=value), *links])
    structured = value if isinstance(value, dict) and face.output_schema is not None else None
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=to_json_text(value)), *links], structured_content=structured
    )
