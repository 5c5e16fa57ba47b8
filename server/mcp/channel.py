"""A tool call's way back to its MCP client (`parac.core.channels.Channel`), as plugin tools and the `client` model
see it: log messages, progress for the request's token, and the client's model (`sampling/createMessage`), person
(`elicitation/create`) or folders (`roots/list`) asked through `Call.ask`, so in either protocol era (server requests in the handshake era,
input-required rounds in 2026-07-28).

A caller that cannot be asked (no such capability declared; a REST call, which has no MCP client) gets `CannotAsk`
saying so, rather than a request that would never be answered. A tool may catch it and do without; one that lets it
out fails its call: as an `isError` result, or on a 2026-07-28 request, whose client declares its capabilities with
each request, as the revision's `MissingRequiredClientCapabilityError` (-32021) naming what to declare.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parac.core.channels import CannotAsk

if TYPE_CHECKING:
    from parac.core.channels import Elicited, Root
    from parac.core.providers import Completion, CompletionRequest, Sampler

    from .call import Call


class MissingCapability(CannotAsk):
    """An MCP client that did not declare `capability` (``sampling``, ``elicitation``, ``roots``) was to be asked
    through it."""

    def __init__(self, message: str, capability: str) -> None:
        super().__init__(message)
        self.capability = capability


class ClientChannel:
    """`Channel` bound to one MCP (or REST) call of tool `tool` (or, `kind` "prompt", of a plugin prompt)."""

    def __init__(self, call: Call, tool: str, kind: str = "tool") -> None:
        self.call = call
        self.tool = tool
        self.kind = kind

    async def log(self, level: str, message: str) -> None:
        await self.call.log(level, message, logger=f"parac.{self.kind}s.{self.tool}")

    async def progress(self, done: float, total: float | None, message: str | None) -> None:
        await self.call.progress(done, total, message)

    def sampling_refusal(self) -> CannotAsk | None:
        return None if can_sample(self.call) else self._refusal("the caller's model (sampling)", "sampling")

    async def sample(self, request: CompletionRequest, key: str | None = None) -> Completion:
        if (refusal := self.sampling_refusal()) is not None:
            raise refusal
        return await sampler_for(self.call, key)(request)

    async def elicit(self, message: str, schema: dict[str, Any], key: str | None = None) -> Elicited:
        import mcp_types as types

        from parac.core.channels import Elicited

        if not can_elicit(self.call):
            raise self._refusal("the person calling (elicitation)", "elicitation")
        asked = types.ElicitRequest(params=types.ElicitRequestFormParams(message=message, requested_schema=schema))
        answer = await self.call.ask(asked, key)
        return Elicited(answer.action, dict(answer.content or {}))

    async def roots(self, key: str | None = None) -> list[Root]:
        import mcp_types as types

        from parac.core.channels import Root

        if not self.call.can_ask(types.ClientCapabilities(roots=types.RootsCapability())):
            raise self._refusal("the caller's roots (roots/list)", "roots")
        answer = await self.call.ask(types.ListRootsRequest(), key)
        return [Root(str(root.uri), root.name) for root in answer.roots]

    async def continue_as_task(self) -> None:
        await self.call.continue_as_task()

    async def release_connection(self) -> None:
        await self.call.release_connection()

    def _refusal(self, what: str, capability: str) -> CannotAsk:
        refused = f'{self.kind} "{self.tool}" asks {what}, and this caller cannot be asked'
        if self.call.has_client:
            why = f"its MCP client did not declare the {capability} capability"
            return MissingCapability(f"{refused}: {why}; use a client that offers {capability}", capability)
        why = "a REST call cannot be asked anything mid-call"
        return CannotAsk(f"{refused}: {why}; call the tool from an MCP client that offers {capability}")


def can_sample(call: Call) -> bool:
    import mcp_types as types

    return call.can_ask(types.ClientCapabilities(sampling=types.SamplingCapability()))


def can_elicit(call: Call) -> bool:
    import mcp_types as types

    return call.can_ask(types.ClientCapabilities(elicitation=types.ElicitationCapability()))


def sampler_for(call: Call, key: str | None = None) -> Sampler:
    """A :data:`~parac.core.providers.Sampler` asking the client's model (``sampling/createMessage``; in the
    2026-07-28 era through an input-required round, see :mod:`parac.server.mcp.rounds`).

    Text only: tool calls are not offered through sampling, so an agent on ``client`` answers in prose. Tool
    results already in the conversation are passed on as text. `key`: the question's name in a round.
    """
    import mcp_types as types

    from parac.core.providers import Completion, Usage, approx_tokens, message_text

    async def sample(request: CompletionRequest) -> Completion:
        system = "\n\n".join(message_text(m) for m in request.messages if m.get("role") == "system") or None
        messages = []
        for message in request.messages:
            role = message.get("role")
            if role == "system":
                continue
            text = message_text(message)
            if role == "tool":
                text = f"[tool result]\n{text}"
            content = types.TextContent(type="text", text=text)
            messages.append(types.SamplingMessage(role="assistant" if role == "assistant" else "user", content=content))
        asked = types.CreateMessageRequest(
            params=types.CreateMessageRequestParams(
                messages=messages,
                max_tokens=request.max_tokens or 1024,
                system_prompt=system,
                temperature=request.temperature,
            )
        )
        result = await call.ask(asked, key)
        content = result.content if isinstance(result.content, list) else [result.content]
        text = "".join(getattr(part, "text", "") for part in content)
        prompt = "".join(message_text(m) for m in request.messages)
        return Completion(
            text=text,
            usage=Usage(approx_tokens(prompt), approx_tokens(text)),
            model=f"client:{result.model}",
            cost_usd=0.0,  # the client's model: its user pays there, not through parac
        )

    return sample
