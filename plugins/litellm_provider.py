"""Every hosted and self-hosted model litellm knows, as one parac provider.

Model ids are litellm's (``openai/gpt-4o``, ``anthropic/claude-sonnet-4-5``, ``ollama/llama3``, or a bare
``gpt-4o``); any OpenAI-compatible server is reached through a named provider in ``parac.yaml`` (the core routes
``local/llama3`` to ``openai/llama3`` with that provider's ``api_base`` and key before this provider sees it).

Importing litellm takes seconds and, unless told otherwise, downloads a price map. So:

- :meth:`LiteLLMProvider.accepts` and :meth:`LiteLLMProvider.price` never import it: a prefixed id is checked
  against :data:`CHAT_PROVIDERS`, parac's own table, and a bare one against the price map litellm ships (a JSON
  file located with ``importlib.util.find_spec``);
- the import happens on the first real call, with ``LITELLM_LOCAL_MODEL_COST_MAP=True`` set first;
- litellm's retries and the OpenAI SDK's are both off (``num_retries=0``, ``max_retries=0``): the core owns
  retries, backoff and the circuit breaker, and its own retries would otherwise multiply with theirs.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from parac.server.api import (
    Completion,
    CompletionRequest,
    ProviderError,
    TextSink,
    ToolCallRequest,
    Usage,
    hookimpl,
)

RETRYABLE_STATUS = {408, 409, 425, 429}
"""Besides every 5xx: timeouts, conflicts, too early, rate limits are worth another try."""

CHAT_PROVIDERS = frozenset(
    {
        "anthropic", "azure", "azure_ai", "bedrock", "cerebras", "codestral", "cohere", "cohere_chat", "dashscope",
        "databricks", "deepinfra", "deepseek", "featherless_ai", "fireworks_ai", "friendliai", "gemini", "github",
        "groq", "hosted_vllm", "huggingface", "hyperbolic", "lambda_ai", "litellm_proxy", "llamafile", "lm_studio",
        "meta_llama", "mistral", "moonshot", "nebius", "novita", "nscale", "nvidia_nim", "oci", "ollama",
        "ollama_chat", "openai", "openrouter", "perplexity", "replicate", "sagemaker", "sambanova", "snowflake",
        "together_ai", "vertex_ai", "volcengine", "watsonx", "xai",
    }
)
"""The prefixes parac routes to litellm (``hosted_vllm/llama3``): its chat providers; another is one name here.

parac's own table, not litellm's data files: which providers those files list, and with which endpoints, changes
between releases (1.110 marked ``hosted_vllm`` as offering no chat completions), and litellm's public
``provider_list`` costs an import of seconds. tests/runtime/test_litellm.py checks every name against that public
list, on the locked release and on the newest one (``make test-litellm-newest``)."""


@functools.cache
def _price_map() -> dict[str, dict[str, Any]]:
    """litellm's bundled price map (about 4,200 models), parsed once, without importing litellm."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / "model_prices_and_context_window_backup.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if isinstance(v, dict) and k != "sample_spec"}


@functools.cache
def _litellm() -> Any:
    """Import litellm once, quietly and offline."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.drop_params = True  # a parameter one provider lacks (temperature on reasoning models) is dropped, not fatal
    litellm.num_retries = 0
    return litellm


class LiteLLMProvider:
    name = "litellm"

    def accepts(self, model: str) -> bool:
        prefix, sep, rest = model.partition("/")
        if sep:
            return bool(rest) and prefix in CHAT_PROVIDERS
        return _price_map().get(model, {}).get("mode") == "chat"

    def price(self, model: str) -> tuple[float, float] | None:
        prices = _price_map()
        entry = prices.get(model) or prices.get(model.partition("/")[2])
        if not entry or "input_cost_per_token" not in entry:
            return None
        return float(entry["input_cost_per_token"] or 0), float(entry.get("output_cost_per_token") or 0)

    def missing_keys(self, model: str) -> list[str]:
        """The variables litellm reads for ``model``'s credentials (``OPENAI_API_KEY``…) that are not set."""
        return list(_litellm().validate_environment(model).get("missing_keys") or [])

    def count_tokens(self, request: CompletionRequest) -> int:
        litellm = _litellm()
        try:
            return int(litellm.token_counter(model=request.model, messages=request.messages, tools=request.tools))
        except Exception:  # an exotic message shape: count its text instead of refusing the call
            return int(litellm.token_counter(model=request.model, text=json.dumps(request.messages, default=str)))

    async def complete(self, request: CompletionRequest, on_text: TextSink | None = None) -> Completion:
        litellm = _litellm()
        kwargs: dict[str, Any] = {
            "model": request.model,
            "messages": request.messages,
            "num_retries": 0,
            "max_retries": 0,
            "timeout": request.timeout_s,
        }
        if request.tools:
            kwargs["tools"] = request.tools
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        if request.max_tokens:
            kwargs["max_tokens"] = request.max_tokens
        secret = None
        if request.endpoint is not None:
            if request.endpoint.api_base:
                kwargs["api_base"] = request.endpoint.api_base
            if request.endpoint.api_key:
                kwargs["api_key"] = secret = request.endpoint.api_key
            elif request.endpoint.api_base:
                kwargs["api_key"] = "none"  # local servers want no key, but the OpenAI client insists on one
            if request.endpoint.headers:
                kwargs["extra_headers"] = request.endpoint.headers
        try:
            if request.stream:
                response = await self._stream(litellm, kwargs, on_text)
            else:
                response = await litellm.acompletion(**kwargs)
        except ProviderError:
            raise
        except Exception as exc:
            raise _provider_error(litellm, exc, request.model, secret) from None
        return _completion(litellm, response, request.model)

    async def _stream(self, litellm: Any, kwargs: dict[str, Any], on_text: TextSink | None) -> Any:
        stream = await litellm.acompletion(stream=True, stream_options={"include_usage": True}, **kwargs)
        chunks = []
        async for chunk in stream:
            chunks.append(chunk)
            if on_text is not None and chunk.choices:
                text = chunk.choices[0].delta.content
                if text:
                    on_text(text)
        built = litellm.stream_chunk_builder(chunks, messages=kwargs["messages"])
        if built is None:
            raise ProviderError(f"{kwargs['model']}: the stream ended without an answer", retryable=True)
        return built


def _completion(litellm: Any, response: Any, model: str) -> Completion:
    try:
        choice = response.choices[0]
        message = choice.message
    except (AttributeError, IndexError, TypeError):
        raise ProviderError(f"{model}: the answer has no choices", retryable=True) from None
    calls = [
        ToolCallRequest(str(call.id or f"call_{i}"), str(call.function.name or ""), str(call.function.arguments or ""))
        for i, call in enumerate(getattr(message, "tool_calls", None) or [])
    ]
    usage = getattr(response, "usage", None)
    try:
        cost = float(litellm.completion_cost(completion_response=response))
    except Exception:  # a model absent from the price map: the core prices it from parac.yaml, or not at all
        cost = None
    return Completion(
        text=str(message.content or ""),
        tool_calls=calls,
        usage=Usage(int(getattr(usage, "prompt_tokens", 0) or 0), int(getattr(usage, "completion_tokens", 0) or 0)),
        model=str(getattr(response, "model", "") or model),
        finish_reason=str(choice.finish_reason or "stop"),
        cost_usd=cost,
        reasoning=str(getattr(message, "reasoning_content", None) or ""),
    )


def _provider_error(litellm: Any, exc: Exception, model: str, secret: str | None) -> ProviderError:
    """One clear sentence per failure, retryable when another try may help, with the key masked."""
    never_sent = _never_sent(exc)  # litellm calls it HTTP 500, but no server answered: a missing key, a bad setting
    status = None if never_sent else getattr(exc, "status_code", None)
    transient = isinstance(exc, (litellm.Timeout, litellm.APIConnectionError))
    retryable = transient or (isinstance(status, int) and (status >= 500 or status in RETRYABLE_STATUS))
    detail = str(exc).split(" - ", 1)[-1].strip() or type(exc).__name__
    kind = "timed out" if isinstance(exc, litellm.Timeout) else "not sent" if never_sent else type(exc).__name__
    message = f"{model}: {kind}" + (f" (HTTP {status})" if isinstance(status, int) and not transient else "")
    message += f": {detail if len(detail) <= 300 else detail[:299] + '…'}"
    if secret:
        message = message.replace(secret, "***")
    return ProviderError(message, retryable=retryable, status=status if isinstance(status, int) else None)


def _never_sent(exc: BaseException) -> bool:
    """Whether the failure began as the OpenAI SDK's own ``OpenAIError`` (not one of its HTTP errors, which are
    subclasses): the SDK raises it before sending, e.g. for missing credentials, which another try cannot fix."""
    seen = 0
    cause: BaseException | None = exc
    while cause is not None and seen < 10:
        if type(cause).__name__ == "OpenAIError" and type(cause).__module__.split(".")[0] == "openai":
            return True
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    return False


@hookimpl
def parac_register_providers(register) -> None:
    register(LiteLLMProvider())
