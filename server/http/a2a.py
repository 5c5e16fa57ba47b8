"""The A2A face of `parac serve`: the workspace's agents as Agent2Agent agents, served by the official `a2a-sdk`.

Routes (beside `/api/v1`, behind the same `parac.server.auth.Authenticate`):

- `GET /.well-known/agent-card.json`: the workspace's card, one skill per published agent; its endpoint `/a2a/` runs
  the agent a message names in its metadata (`agent`), else the only published one, else `chat`, else `base`;
- `GET /a2a/{name}/.well-known/agent-card.json` and `POST /a2a/{name}/`: one agent, its own card and endpoint.

The endpoints speak JSON-RPC (A2A 1.0 `SendMessage`, `SendStreamingMessage`, `GetTask`, `CancelTask`, and the 0.3
names `message/send`, `message/stream`, `tasks/get`, `tasks/cancel`): the SDK's dispatcher and request handler, an
in-memory task store per (workspace, agent) whose tasks belong to the caller that created them. Each task is one
run through `operations.governed_run`, the path of `POST /api/v1/agents/{name}/runs`: the `run_agent` tool's role
(operator; reading a task needs viewer), its governance hooks, budgets and one audit entry naming the caller. Text
streams as chunks of the `output` artifact, replaced by the whole answer when the run ends.

`parac.yaml` `serve.a2a` chooses: `enabled` (default true) and `agents` (default all); the workspace checks the
names. The SDK is imported by the first A2A request, never by a start that does not use it.
"""

from __future__ import annotations

import importlib.util
import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .callers import call_for, require
from .problems import Problem

if TYPE_CHECKING:
    from parac.core.workspace import Workspace
    from parac.server.auth.gate import Gate
    from parac.server.mcp.call import Call

    from .workspaces import Workspaces

CARD_PATH = "/.well-known/agent-card.json"
PREFIX = "/a2a"
DEFAULT_AGENTS = ("chat", "base")
"""The agent the workspace's endpoint runs when a message names none and more than one is published."""
READ_METHODS = frozenset({
    "GetTask", "ListTasks", "SubscribeToTask", "GetExtendedAgentCard",
    "tasks/get", "tasks/list", "tasks/resubscribe", "agent/getAuthenticatedExtendedCard",
})
"""Methods that only read (the viewer role); every other one may start or stop a run (`run_agent`'s role)."""
CALL = "parac.call"
"""Where the request's `Call` (caller, role, workspace) rides in the SDK's `ServerCallContext.state`."""
OUTPUT = "output"
"""The artifact that holds the answer."""


def routes(workspaces: Workspaces, gate: Gate) -> list[Route]:
    """The A2A routes of one server; while `gate` asks for credentials, the cards say bearer."""
    face = A2AFace(workspaces, gate)
    return [
        Route(CARD_PATH, face.card, methods=["GET"]),
        Route(f"{PREFIX}/{{name}}{CARD_PATH}", face.card, methods=["GET"]),
        Route(f"{PREFIX}/", face.rpc, methods=["POST"]),
        Route(f"{PREFIX}/{{name}}/", face.rpc, methods=["POST"]),
    ]


class A2AFace:
    """Cards and JSON-RPC endpoints for the served workspaces; the SDK's handlers, built on first use."""

    def __init__(self, workspaces: Workspaces, gate: Gate) -> None:
        self.workspaces = workspaces
        self.gate = gate
        self.dispatchers: dict[tuple[int, str | None], Any] = {}

    async def published(self, call: Call) -> tuple[Workspace, list[str]]:
        """The caller's workspace and the agents it publishes; 404 when A2A is off, 501 without the SDK."""
        workspace = await call.workspace()
        settings = workspace.settings.serve.a2a
        if not settings.enabled:
            raise Problem(404, "A2A is off in this workspace (serve.a2a.enabled: false in parac.yaml)")
        if importlib.util.find_spec("a2a") is None:
            raise Problem(501, "A2A needs the a2a-sdk: pip install 'parac[a2a]'")
        return workspace, published_names(workspace)

    async def target(self, request: Request, runs: bool) -> tuple[Call, Workspace, list[str], str | None]:
        """The caller (holding the role: `run_agent`'s when the request `runs` an agent, else viewer), its
        workspace, the agents published there, and the one the path names (404 unless published)."""
        call = call_for(request, self.workspaces)
        require(call, call.app.faces.tools["run_agent"].role if runs else "viewer",
                f"{request.method} {request.url.path}")
        workspace, names = await self.published(call)
        name = request.path_params.get("name")
        if name is not None and name not in names:
            raise Problem(404, f'no published A2A agent "{name[:200]}" (published: {", ".join(names) or "none"})')
        return call, workspace, names, name

    async def card(self, request: Request) -> Response:
        _, workspace, names, name = await self.target(request, runs=False)
        from a2a.server.request_handlers.response_helpers import agent_card_to_dict

        return JSONResponse(agent_card_to_dict(self.agent_card(workspace, names, name, str(request.base_url))))

    def agent_card(self, workspace: Workspace, names: list[str], name: str | None, base: str) -> Any:
        from a2a.types.a2a_pb2 import (
            AgentCapabilities,
            AgentCard,
            AgentInterface,
            AgentSkill,
            HTTPAuthSecurityScheme,
            SecurityRequirement,
            SecurityScheme,
            StringList,
        )
        from a2a.utils.constants import PROTOCOL_VERSION_CURRENT, TransportProtocol

        from parac.server.cli import VERSION

        def skill(agent: str) -> AgentSkill:
            description = workspace.agent_summary(agent)["description"] or f"the parac agent {agent}"
            return AgentSkill(id=agent, name=agent, description=description, tags=["parac"])

        url = f"{base.rstrip('/')}{PREFIX}/" + (f"{name}/" if name else "")
        skills = [skill(name)] if name else [skill(agent) for agent in names]
        security = {}
        if self.gate.required:
            security = {"security_schemes": {"bearer": SecurityScheme(
                            http_auth_security_scheme=HTTPAuthSecurityScheme(scheme="Bearer"))},
                        "security_requirements": [SecurityRequirement(schemes={"bearer": StringList()})]}
        return AgentCard(
            name=name or workspace.settings.name or workspace.root.name,
            description=skills[0].description if name else f"parac agents: {', '.join(names) or 'none'}",
            supported_interfaces=[AgentInterface(url=url, protocol_binding=TransportProtocol.JSONRPC.value,
                                                 protocol_version=PROTOCOL_VERSION_CURRENT)],
            version=VERSION,
            capabilities=AgentCapabilities(streaming=True),
            default_input_modes=["text/plain"],
            default_output_modes=["text/plain"],
            skills=skills,
            **security,
        )

    async def rpc(self, request: Request) -> Response:
        call, workspace, names, name = await self.target(request, runs=_runs(await request.body()))
        if name is None and not names:
            raise Problem(404, "this workspace publishes no A2A agent (serve.a2a.agents in parac.yaml)")
        key = (id(call.app), name)
        dispatcher = self.dispatchers.get(key)
        if dispatcher is None:
            card = self.agent_card(workspace, names, name, str(request.base_url))
            dispatcher = self.dispatchers[key] = _dispatcher(self.workspaces, card, name)
        return await dispatcher.handle_requests(request)


def _runs(body: bytes) -> bool:
    """Whether a JSON-RPC body calls a method that starts or stops a run (anything but `READ_METHODS`); a body
    that does not parse is left to the SDK's dispatcher to refuse."""
    try:
        data = json.loads(body)
    except ValueError:
        return False
    requests = data if isinstance(data, list) else [data]
    return any(not isinstance(r, dict) or r.get("method") not in READ_METHODS for r in requests)


def _dispatcher(workspaces: Workspaces, card: Any, agent: str | None) -> Any:
    """The SDK's JSON-RPC dispatcher over a request handler with its own task store, for one agent (None: the
    workspace's endpoint, which picks the agent per message)."""
    from a2a.auth.user import User
    from a2a.server.request_handlers import DefaultRequestHandler
    from a2a.server.routes import DefaultServerCallContextBuilder
    from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
    from a2a.server.tasks import InMemoryTaskStore

    class Caller(User):
        """The SDK's user: parac's caller, whose audit name scopes the tasks it may read and cancel."""

        def __init__(self, name: str) -> None:
            self.name = name

        @property
        def is_authenticated(self) -> bool:
            return True

        @property
        def user_name(self) -> str:
            return self.name

    class Context(DefaultServerCallContextBuilder):
        def build(self, request: Request) -> Any:
            context = super().build(request)
            call = call_for(request, workspaces)
            context.state[CALL] = call
            context.user = Caller(call.actor)
            return context

    handler = DefaultRequestHandler(agent_executor=_executor(agent), task_store=InMemoryTaskStore(), agent_card=card)
    return JsonRpcDispatcher(request_handler=handler, context_builder=Context(), enable_v0_3_compat=True)


def _executor(agent: str | None) -> Any:
    """The SDK's `AgentExecutor`: each task one governed run of a parac agent (`operations.governed_run`)."""
    import anyio
    from a2a.helpers import get_message_text, new_task_from_user_message, new_text_message, new_text_part
    from a2a.server.agent_execution import AgentExecutor
    from a2a.server.tasks import TaskUpdater

    from parac.server.mcp.call import offer

    from .operations import governed_run
    from .problems import from_error

    class ParacAgent(AgentExecutor):
        async def execute(self, context: Any, event_queue: Any) -> None:
            call: Call = context.call_context.state[CALL]
            if context.current_task is None:
                await event_queue.enqueue_event(new_task_from_user_message(context.message))
            updater = TaskUpdater(event_queue, context.task_id, context.context_id)

            def said(text: str) -> Any:
                return new_text_message(text, context_id=context.context_id, task_id=context.task_id)

            names = published_names(await call.workspace())
            name = agent or _chosen(context.metadata, names)
            if name is None:
                await updater.reject(said(f"name the agent in the message's metadata (agent); published: "
                                          f"{', '.join(names)}"))
                return
            face = call.app.faces.tools["run_agent"]
            arguments = face.validate({"agent": name, "task": get_message_text(context.message)})
            await updater.start_work()
            send, receive = anyio.create_memory_object_stream[tuple[str, str]](10_000)

            async def forward() -> None:
                streamed = False
                async with receive:
                    async for kind, text in receive:
                        if kind == "content":
                            await updater.add_artifact([new_text_part(text)], artifact_id=OUTPUT, name=OUTPUT,
                                                       append=streamed, last_chunk=False)
                            streamed = True
                        else:
                            await updater.update_status(_working(), said(text))

            def on_step(step: str, data: dict[str, Any]) -> None:
                if step == "tool_call":
                    offer(send, ("step", f"calling {data.get('name') or data.get('tool') or 'a tool'}"))

            result = problem = None
            async with anyio.create_task_group() as group:
                group.start_soon(forward)
                try:
                    result = await governed_run(call, face, arguments, on_text=lambda text: offer(send, ("content", text)),
                                                on_step=on_step)
                except Exception as error:  # reported as the task's failure, as the REST face reports it
                    problem = from_error(error, f"A2A task of agent {name}").detail
                finally:
                    send.close()
            if problem is not None or result is None:
                await updater.failed(said(problem or "the run failed"))
            elif not result.ok:
                await updater.failed(said(f"agent run {result.run_id} {result.status}: {result.error}"))
            else:
                await updater.add_artifact([new_text_part(result.output)], artifact_id=OUTPUT, name=OUTPUT,
                                           append=False, last_chunk=True, metadata={"run_id": result.run_id,
                                                                                    "cost_usd": result.cost_usd})
                await updater.complete()

        async def cancel(self, context: Any, event_queue: Any) -> None:
            """The SDK cancels `execute` next (the run stops at its next await; governance records `cancelled`)."""
            await TaskUpdater(event_queue, context.task_id, context.context_id).cancel()

    return ParacAgent()


def published_names(workspace: Workspace) -> list[str]:
    """`serve.a2a.agents` that exist (all of the workspace's agents when the setting is absent)."""
    published = workspace.settings.serve.a2a.agents
    names = workspace.agent_names()
    return names if published is None else [name for name in published if name in names]


def _chosen(metadata: dict[str, Any], names: list[str]) -> str | None:
    """The agent a message to the workspace's endpoint is for: named in its metadata, the only one, or the default."""
    named = metadata.get("agent")
    if named is not None:
        return named if named in names else None
    if len(names) == 1:
        return names[0]
    return next((name for name in DEFAULT_AGENTS if name in names), None)


def _working() -> Any:
    from a2a.types.a2a_pb2 import TaskState

    return TaskState.TASK_STATE_WORKING
