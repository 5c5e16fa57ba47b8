"""``a2a_send``: a task for a remote A2A agent (Agent2Agent protocol, through the official ``a2a-sdk`` client).

An external call like any other: the tool runs only when a policy grants ``a2a_send`` to the agent or workflow
(governance decides before anything is sent and audits the call under the caller), and every URL the client
requests, the agent card's and the endpoint the card names, must be on the policies' ``http.allow_hosts`` (checked
by an httpx request hook, so a card cannot send the client elsewhere); no redirects, the policy's time limit.
A workflow step ``agent: a2a:URL`` is a call of this tool (``parac.core.workflows.services``). The SDK is imported
by a call, never by loading the plugin.
"""

from typing import Annotated, Any

from pydantic import Field
from typing_extensions import TypedDict

from parac.server.api import ToolContext, ToolError, check_url, hookimpl

from ._tooling import TypedTool, policies, refusals

MAX_MESSAGE_CHARS = 100_000


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

    async def allowed(request: Any) -> None:
        with refusals():
            check_url(str(request.url), policy)

    async with httpx.AsyncClient(timeout=policy.timeout_s, follow_redirects=False,
                                 event_hooks={"request": [allowed]}) as http:
        try:
            client = await create_client(url, ClientConfig(streaming=False, httpx_client=http))
            request = SendMessageRequest(message=new_text_message(message, role=Role.ROLE_USER))
            last: Any = None
            async for response in client.send_message(request):
                last = response
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


@hookimpl
def parac_register_tools(register: Any) -> None:
    register(TypedTool(a2a_send, "Send a task to an A2A agent", destructive=True, idempotent=False, open_world=True))
