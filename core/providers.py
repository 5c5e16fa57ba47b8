"""Model providers: what the core asks of anything that answers a model id, and the values they exchange.

A provider is small on purpose: :meth:`Provider.accepts` (cheap: validation calls it while people type) and
:meth:`Provider.complete` (one model turn). Everything that is the same for every provider lives in the core,
once: routing a model id through ``parac.yaml``'s named providers (:func:`route`), retries, fallbacks, the circuit
breaker, budgets and the cost ledger (:mod:`parac.core.llm`). A provider only translates.

Messages and tools use the OpenAI chat format (plain dicts), the lingua franca litellm, MCP sampling and most
servers already speak; the core adds no message type of its own for them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .errors import ParacBaseError
from .roots import PARAC_DIR
from .secrets import SecretFileError, read_secret_file
from .specs import ProviderSettings

TextSink = Callable[[str], Any]

OFFLINE_MODELS = ("echo", "random")
"""The offline models that need no argument (beside `fixed:TEXT` and `scripted:PATH`): always available."""
"""Receives streamed text as it arrives (a chunk at a time)."""


@dataclass
class ToolCallRequest:
    """A tool call the model asked for. ``arguments`` is the JSON text as the model wrote it (it may be broken)."""

    id: str
    name: str
    arguments: str

    def to_message(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens)


@dataclass
class Endpoint:
    """Where and how to reach a named provider from ``parac.yaml``. The key is never shown or written."""

    name: str
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass
class CompletionRequest:
    """One model turn, as a provider receives it.

    ``model`` is the id the provider serves (after :func:`route`: ``local/llama3`` becomes ``openai/llama3``
    with the ``local`` endpoint). ``base_dir`` is the workspace root, against which providers resolve relative
    paths (``scripted:PATH``).
    """

    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    timeout_s: float | None = None
    stream: bool = False
    endpoint: Endpoint | None = None
    base_dir: Path | None = None


@dataclass
class Completion:
    """What a model answered. ``cost_usd`` is the provider's own figure when it has one (litellm's)."""

    text: str
    tool_calls: list[ToolCallRequest] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    finish_reason: str = "stop"
    cost_usd: float | None = None
    cached: bool = False  # answered from the response cache, not by the provider
    reasoning: str = ""
    """The model's reasoning (thinking) when its provider shows it: for people watching, never sent back to it."""

    def to_message(self) -> dict[str, Any]:
        """The assistant message to append to the conversation."""
        message: dict[str, Any] = {"role": "assistant", "content": self.text or None}
        if self.tool_calls:
            message["tool_calls"] = [call.to_message() for call in self.tool_calls]
        return message


class ProviderError(ParacBaseError):
    """A model call failed. ``retryable`` says whether trying again may help (429, 5xx, timeouts, dropped
    connections); the message is for people and never contains a key."""

    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


@runtime_checkable
class Provider(Protocol):
    """Answers model calls. Optional beside these: ``price(model)``, ``count_tokens(request)``,
    ``missing_keys(model)``, and ``waits_for_caller = True`` for a model its caller answers (``client``), which
    :class:`~parac.core.llm.ModelClient` asks once, without its timeout, retries or circuit breaker."""

    name: str

    def accepts(self, model: str) -> bool:
        """Whether this provider serves the model id. Must be cheap: no imports of heavy libraries."""
        ...

    async def complete(self, request: CompletionRequest, on_text: TextSink | None = None) -> Completion:
        """Answer one turn; call ``on_text`` with text chunks as they arrive when ``request.stream`` is set.

        Raise :class:`ProviderError` for failures the caller should see or retry.
        """
        ...


def provider_price(provider: Provider, model: str) -> tuple[float, float] | None:
    """Dollars per prompt token and per completion token, from the provider's optional ``price(model)``.

    Providers that know prices (litellm, from its bundled map) implement ``price``; a provider may also set
    ``Completion.cost_usd`` from its own accounting. ``parac.yaml``'s ``prices:`` override both.
    """
    pricer = getattr(provider, "price", None)
    return pricer(model) if pricer is not None else None


def provider_missing_keys(provider: Provider, model: str) -> list[str]:
    """Environment variables ``model`` needs that are not set, from the provider's optional ``missing_keys(model)``
    (`parac doctor` asks; a provider that cannot tell says nothing)."""
    checker = getattr(provider, "missing_keys", None)
    return list(checker(model)) if checker is not None else []


def approx_tokens(text: str) -> int:
    """A tokenizer-free token estimate (about four characters a token), for providers without a tokenizer."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a chat message, whether its content is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


def count_prompt_tokens(provider: Provider, request: CompletionRequest) -> int:
    """Prompt tokens of ``request``: the provider's tokenizer when it has one (``count_tokens``), else the estimate."""
    counter = getattr(provider, "count_tokens", None)
    if counter is not None:
        return int(counter(request))
    text = "".join(message_text(m) for m in request.messages)
    for message in request.messages:
        for call in message.get("tool_calls") or []:
            text += str(call.get("function", {}).get("arguments", ""))
    tools = "".join(str(t) for t in request.tools or [])
    return approx_tokens(text) + approx_tokens(tools) + 4 * len(request.messages)


# -- routing through parac.yaml's named providers -----------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    """Where a model id goes: the id its provider serves, the endpoint, and the circuit breaker's key."""

    model: str
    endpoint: Endpoint | None
    breaker_key: str
    settings: ProviderSettings | None = None


class MissingKey(ProviderError):
    """A named provider's API key is configured but not available."""


def route(model: str, providers: Mapping[str, ProviderSettings], base_dir: Path | None = None) -> Route:
    """Map ``NAME/rest`` onto the named provider ``NAME`` from ``parac.yaml``; other ids pass through.

    ``local/llama3`` with ``providers: {local: {api_base: ..., model_prefix: openai}}`` becomes the litellm id
    ``openai/llama3`` sent to ``api_base``. The key comes from the environment variable or the key file the
    settings name, read now and kept only in memory.
    """
    name, sep, rest = model.partition("/")
    settings = providers.get(name) if sep else None
    if settings is None:  # the provider is what comes before the first "/" or ":" (scripted:/path, ollama/x:8b)
        cut = min((i for i in (model.find("/"), model.find(":")) if i >= 0), default=len(model))
        return Route(model, None, model[:cut])
    prefix = (settings.model_prefix or "openai").rstrip("/")
    endpoint = Endpoint(name, settings.api_base, _api_key(name, settings, base_dir), dict(settings.headers or {}))
    return Route(f"{prefix}/{rest}", endpoint, name, settings)


def _api_key(name: str, settings: ProviderSettings, base_dir: Path | None) -> str | None:
    if settings.api_key_env:
        value = os.environ.get(settings.api_key_env)
        if not value:
            raise MissingKey(
                f'provider "{name}" takes its API key from the environment variable {settings.api_key_env}, '
                "which is not set"
            )
        return value
    if settings.api_key_file:
        folder = base_dir / PARAC_DIR if base_dir is not None else None
        try:
            return read_secret_file(settings.api_key_file, folder)
        except SecretFileError as exc:
            from .sources import settings_place  # parac.yaml read again only now, for the place

            where = settings_place(folder, ("providers", name, "api_key_file"))
            raise MissingKey(f'{where}: provider "{name}" has no API key: {exc}') from None
    return None


# -- MCP sampling -------------------------------------------------------------------------------------------------
Sampler = Callable[[CompletionRequest], Awaitable[Completion]]
"""Asks the connected MCP client's own model (``sampling/createMessage``) for one turn."""

CLIENT_SAMPLER: ContextVar[Sampler | None] = ContextVar("parac_client_sampler", default=None)
"""Set by the MCP face for the duration of a tool call whose client can sample; read by the ``client``
provider. A context variable keeps the core free of MCP and scopes the sampler to the one request."""


class ClientProvider:
    """The model ``client``: the connected MCP client's own model, asked through ``sampling/createMessage``.

    Registered by a built-in plugin so that agents naming ``client`` validate everywhere; it answers only while
    the MCP face has set :data:`CLIENT_SAMPLER` for the current request, and says why otherwise.
    """

    name = "client"
    waits_for_caller = True
    """The client (its person, perhaps) answers in its own time: no timeout, retry or breaker of parac's (see
    :class:`~parac.core.llm.ModelClient`)."""

    def accepts(self, model: str) -> bool:
        return model == "client"

    async def complete(self, request: CompletionRequest, on_text: TextSink | None = None) -> Completion:
        sampler = CLIENT_SAMPLER.get()
        if sampler is None:
            raise ProviderError(
                'model "client" asks the MCP client\'s own model; it works only inside parac\'s MCP server, '
                "for a client that supports sampling; name a configured model instead (the agent's model:, or "
                "model on run_agent / --model)"
            )
        completion = await sampler(request)
        if on_text is not None and completion.text:
            on_text(completion.text)
        return completion
