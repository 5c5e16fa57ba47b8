"""A small A2A agent built with the official `a2a-sdk` server (its Starlette routes on uvicorn, 127.0.0.1, a port
the kernel picks, in a thread), for tests where parac is the A2A client. It answers each message with
`REPLY_PREFIX` + the message's text (then `padding` more characters, for a test of a size cap), and records every
HTTP request it receives (`received`, with its Authorization header), the agent card's included, so a test can tell
that a refused call sent nothing and what credentials came."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field

REPLY_PREFIX = "remote agent says: "


@dataclass
class Received:
    method: str
    path: str
    authorization: str | None = None


@dataclass
class A2AServer:
    received: list[Received] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    port: int = 0
    padding: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def __enter__(self) -> A2AServer:
        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(self._app(), log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=lambda: asyncio.run(self._server.serve(sockets=[sock])), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            assert time.monotonic() < deadline, "the A2A test server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def _app(self):
        from a2a.helpers import get_message_text, new_task_from_user_message, new_text_part
        from a2a.server.agent_execution import AgentExecutor
        from a2a.server.request_handlers import DefaultRequestHandler
        from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
        from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
        from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentInterface, AgentSkill
        from starlette.applications import Starlette

        server = self

        class Echo(AgentExecutor):
            async def execute(self, context, event_queue) -> None:
                text = get_message_text(context.message)
                server.messages.append(text)
                await event_queue.enqueue_event(new_task_from_user_message(context.message))
                updater = TaskUpdater(event_queue, context.task_id, context.context_id)
                await updater.add_artifact([new_text_part(REPLY_PREFIX + text + "." * server.padding)], name="answer")
                await updater.complete()

            async def cancel(self, context, event_queue) -> None:
                await TaskUpdater(event_queue, context.task_id, context.context_id).cancel()

        card = AgentCard(
            name="echo", description="Answers with what it was told", version="1.0",
            supported_interfaces=[AgentInterface(url=self.url, protocol_binding="JSONRPC", protocol_version="1.0")],
            capabilities=AgentCapabilities(streaming=True), default_input_modes=["text/plain"],
            default_output_modes=["text/plain"],
            skills=[AgentSkill(id="echo", name="echo", description="echo", tags=["test"])],
        )
        handler = DefaultRequestHandler(agent_executor=Echo(), task_store=InMemoryTaskStore(), agent_card=card)
        app = Starlette(routes=[*create_agent_card_routes(card), *create_jsonrpc_routes(handler, "/")])

        async def recording(scope, receive, send):
            if scope["type"] == "http":
                headers = dict(scope["headers"])
                authorization = headers.get(b"authorization")
                server.received.append(Received(scope["method"], scope["path"],
                                                authorization.decode() if authorization else None))
            await app(scope, receive, send)

        return recording
