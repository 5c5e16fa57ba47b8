"""``a2a_send``: a task for a remote A2A agent (Agent2Agent protocol, through the official ``a2a-sdk`` client).

An external call like any other: the tool runs only when a policy grants ``a2a_send`` to the agent or workflow
(governance decides before anything is sent and audits the call under the caller), and every URL the client
requests, the agent card's and the endpoint the card names, must be on the policies' ``http.allow_hosts`` (checked
by an httpx request hook, so a card cannot send the client elsewhere); no redirects, the policy's time limit.
A workflow step ``agent: a2a:URL`` is a call of this tool (``parac.core.workflows.services``). The SDK is imported
by a call, never by loading the plugin.

A remote agent listed in ``parac.yaml``'s ``a2a_agents`` (its ``url`` and the environment variable ``token_env``)
is sent that bearer token, on requests to its URL's own scheme, host and port only: a card that names an endpoint
elsewhere gets no token. The token goes in the header and nowhere else (not the audit, the notes or an error).
Each reply's body is counted as it streams in and refused past the policies' ``http.max_bytes`` (sent
uncompressed, so the count is what is held in memory).
"""

import os
from typing import Annotated, Any

from pydantic import Field
from typing_extensions import TypedDict

from parac.server.api import ToolContext, ToolError, check_url, hookimpl

from ._tooling import TypedTool, policies, refusals

MAX_MESSAGE_CHARS = 100_000


class ReplyTooLarge(ToolError):
    """A reply went past the policies' ``http.max_bytes``; raised from inside the SDK's read of it."""


class A2AResult(TypedDict):
    url: str
    task_id: str | None
    context_id: str | None
    state: str
    output: str


async def a2a_send(
    url: Annotated[str, Field(min_length=1, description="The remote agent's base URL (its card is at URL/.well-known/agent-card.json).")],
    message: Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE_CHARS, description="The task for the agent.")],
    ctx: ToolContext,
) -> A2AResult:
    """Send a task to a remote A2A agent and return its answer (the task's artifacts, else its last message) and
    the task's final state."""
    try:
        import httpx

        from a2a.client import A2AClientError, ClientConfig, create_client
        from a2a.helpers import get_artifact_text, get_message_text, new_text_message
        from a2a.types.a2a_pb2 import Role, SendMessageRequest, TaskState
    except ImportError:
        raise ToolError("a2a_send needs the a2a-sdk: pip install 'parac[a2a]'") from None
    policy = policies(ctx).http_policy()
    with refusals():
        check_url(url, policy)
    transport = _guarded_transport(policy, _bearer(ctx, url))
    async with httpx.AsyncClient(timeout=policy.timeout_s, follow_redirects=False, transport=transport) as http:
        try:
            client = await create_client(url, ClientConfig(streaming=False, httpx_client=http))
            request = SendMessageRequest(message=new_text_message(message, role=Role.ROLE_USER))
            last: Any = None
            async for response in client.send_message(request):
                last = response
        except ReplyTooLarge:
            raise ToolError(f"A2A agent at {url}: the reply is larger than the limit of {policy.max_bytes} bytes"
                            " (http.max_bytes in the policies)") from None
        except A2AClientError as error:
            raise ToolError(f"A2A agent at {url}: {error}") from None
        except httpx.HTTPError as error:
            raise ToolError(f"A2A agent at {url} could not be reached: {type(error).__name__}: {error}") from None
    if last is None:
        raise ToolError(f"A2A agent at {url} sent no answer")
    if last.HasField("message"):
        return A2AResult(url=url, task_id=None, context_id=last.message.context_id or None, state="completed",
                         output=get_message_text(last.message))
    task = last.task
    state = TaskState.Name(task.status.state).removeprefix("TASK_STATE_").lower()
    said = get_message_text(task.status.message) if task.status.HasField("message") else ""
    output = "\n".join(get_artifact_text(artifact) for artifact in task.artifacts) or said
    ctx.note("a2a", {"url": url, "task_id": task.id, "state": state})
    if state in ("failed", "rejected", "canceled"):
        raise ToolError(f"A2A agent at {url}: task {task.id} {state}" + (f": {said}" if said else ""))
    return A2AResult(url=url, task_id=task.id, context_id=task.context_id, state=state, output=output)


Origin = tuple[str, str, int | None]


def _bearer(ctx: ToolContext, url: str) -> tuple[Origin, str] | None:
    """The origin and token of the ``a2a_agents`` entry whose URL is ``url`` or a base of it (the longest), if any."""
    import httpx

    agents = ctx.workspace.settings.a2a_agents if ctx.workspace is not None else {}
    for name, agent in sorted(agents.items(), key=lambda item: -len(item[1].url)):
        base = agent.url.rstrip("/")
        if url.rstrip("/") == base or url.startswith(base + "/"):
            token = os.environ.get(agent.token_env)
            if not token:
                raise ToolError(f"a2a_agents.{name} takes its token from the environment variable {agent.token_env},"
                                " which is not set")
            return _origin(httpx.URL(agent.url)), token
    return None


def _origin(url: Any) -> Origin:
    return url.scheme, url.host, url.port


def _guarded_transport(policy: Any, bearer: tuple[Origin, str] | None) -> Any:
    """The transport the SDK's requests go through: each URL checked against the policies (a card cannot send the
    client elsewhere), the token added on its agent's origin, the reply's body counted as it arrives."""
    import httpx

    limit = policy.max_bytes

    class Capped(httpx.AsyncByteStream):
        def __init__(self, inner: httpx.AsyncByteStream) -> None:
            self.inner = inner

        async def __aiter__(self):  # type: ignore[override]
            seen = 0
            async for chunk in self.inner:
                seen += len(chunk)
                if seen > limit:
                    raise ReplyTooLarge
                yield chunk

        async def aclose(self) -> None:
            await self.inner.aclose()

    class Guarded(httpx.AsyncHTTPTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            with refusals():
                check_url(str(request.url), policy)
            if bearer is not None and _origin(request.url) == bearer[0]:
                request.headers["Authorization"] = f"Bearer {bearer[1]}"
            request.headers["Accept-Encoding"] = "identity"
            response = await super().handle_async_request(request)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                await response.aclose()
                raise ReplyTooLarge
            assert isinstance(response.stream, httpx.AsyncByteStream)
            return httpx.Response(response.status_code, headers=response.headers, stream=Capped(response.stream),
                                  extensions=response.extensions)

    return Guarded()


@hookimpl
def parac_register_tools(register: Any) -> None:
    register(TypedTool(a2a_send, "Send a task to an A2A agent", destructive=True, idempotent=False, open_world=True))
