"""One model call, done properly: routed, estimated, allowed, reserved, retried, fallen back, settled.

:class:`ModelClient` is the only place parac calls a provider, so every face (the agent loop, workflow steps,
``parac agents run``, MCP's ``run_agent``) gets the same guarantees:

1. the model id is routed through ``parac.yaml``'s named providers (:func:`parac.core.providers.route`);
2. the call is estimated (prompt tokens counted, completion bounded by ``max_tokens``) and priced;
3. the governance hooks see it first (``before_llm_call`` may refuse), then the budget reserves the estimate;
4. transient failures (429, 5xx, timeouts) are retried with jittered backoff behind a circuit breaker per
   provider; when a model keeps failing the next model of the fallback chain is tried. A provider that
   ``waits_for_caller`` (the caller's own model, ``client``) is asked once, without parac's timeout or breaker: a
   person approving a sampling request is not a provider timing out, and asking again would ask the person again;
   the face's own limit on waiting for its caller applies;
5. the outcome is settled once: a ledger row with the real cost, or a failure row at $0.

A request at temperature 0 may be answered from the response cache (:mod:`parac.core.patterns.cache`) when the
caller asks for it (``cache_ttl_s``): the hooks still see the call, and its ledger row says ``cached`` at $0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from . import telemetry
from .budgets import Accountant
from .calls import NO_HOOKS, CallContext, CallDenied, CallHooks
from .costs import CostRow, ModelPrice, price_for
from .providers import (
    Completion,
    CompletionRequest,
    Provider,
    ProviderError,
    Route,
    TextSink,
    count_prompt_tokens,
    provider_price,
    route,
)
from .resilience import BREAKERS, Breakers, CircuitOpen, RetryPolicy
from .specs import ProjectSettings

if TYPE_CHECKING:
    from .patterns.cache import ResponseCache

DEFAULT_MAX_TOKENS = 4096
"""Completion bound used when neither the agent nor the caller sets ``max_tokens``: estimates need a bound."""

DEFAULT_TIMEOUT_S = 120.0
"""Per-request timeout when the named provider sets none."""

TIMEOUT_GRACE_S = 5.0
"""A provider gets this long past its own timeout before parac cancels the call itself."""


@dataclass(frozen=True)
class Estimate:
    """What a call may cost at most: prompt tokens counted, completion tokens bounded, dollars when priced."""

    model: str
    provider: str
    prompt_tokens: int
    max_completion_tokens: int
    usd: float
    priced: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "provider": self.provider,
            "prompt_tokens": self.prompt_tokens,
            "max_completion_tokens": self.max_completion_tokens,
            "usd": round(self.usd, 6),
            "priced": self.priced,
        }


@dataclass
class CallResult:
    """A completion and what it cost, with the model that finally answered (after fallbacks)."""

    completion: Completion
    model: str
    provider: str
    cost_usd: float
    priced: bool
    attempts: int
    cached: bool = False


class ModelUnavailable(ProviderError):
    """Every model of the chain failed; the message names each and why."""


@dataclass
class ModelClient:
    """Calls models for one workspace. ``provider_for`` is the catalog's lookup (plugins register providers)."""

    provider_for: Callable[[str], Provider | None]
    settings: ProjectSettings = field(default_factory=ProjectSettings)
    accountant: Accountant | None = None
    hooks: CallHooks = NO_HOOKS
    base_dir: Path | None = None
    breakers: Breakers = BREAKERS
    cache: ResponseCache | None = None

    def _prepare(
        self, model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, max_tokens: int | None
    ) -> tuple[Route, Provider, CompletionRequest, Estimate, ModelPrice | None]:
        routed = route(model, self.settings.providers, self.base_dir)
        provider = self.provider_for(routed.model)
        if provider is None:
            known = sorted(self.settings.providers)
            hint = f" (named providers in parac.yaml: {', '.join(known)})" if known else ""
            raise ProviderError(f'no provider serves model "{model}"{hint}')
        timeout = (routed.settings.timeout_s if routed.settings else None) or DEFAULT_TIMEOUT_S
        request = CompletionRequest(
            model=routed.model,
            messages=messages,
            tools=tools or None,
            max_tokens=max_tokens or DEFAULT_MAX_TOKENS,
            timeout_s=timeout,
            endpoint=routed.endpoint,
            base_dir=self.base_dir,
        )
        price = price_for(model, self.settings.prices) or price_for(routed.model, self.settings.prices)
        if price is None:
            per_token = provider_price(provider, routed.model)
            price = ModelPrice(per_token[0], per_token[1], provider.name) if per_token else None
        prompt_tokens = count_prompt_tokens(provider, request)
        bound = request.max_tokens or DEFAULT_MAX_TOKENS
        usd = price.cost(prompt_tokens, bound) if price else 0.0
        estimate = Estimate(model, routed.breaker_key, prompt_tokens, bound, usd, price is not None)
        return routed, provider, request, estimate, price

    def estimate(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        max_tokens: int | None = None,
    ) -> Estimate:
        """The most a call may cost, without making it (``workflow --plan`` uses this)."""
        return self._prepare(model, messages, tools, max_tokens)[3]

    async def complete(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        on_text: TextSink | None = None,
        context: CallContext = CallContext(),
        fallbacks: Sequence[str] = (),
        run_limit_usd: float | None = None,
        cache_ttl_s: float | None = None,
    ) -> CallResult:
        """Call ``model`` (then each fallback) until one answers; raise what stopped it.

        :class:`~parac.core.calls.CallDenied` (a hook or a budget refused) is raised at once: a refusal is not a
        failure to route around. :class:`ModelUnavailable` is raised when every model failed. With
        ``cache_ttl_s`` and ``temperature=0`` an identical request answered within the TTL is answered again.
        """
        key = None
        if cache_ttl_s and temperature == 0 and self.cache is not None:
            from .patterns.cache import request_key

            key = request_key(model, messages, tools, temperature, max_tokens)
            hit = self.cache.get(key, cache_ttl_s)
            if hit is not None:
                return await self._cached(model, messages, tools, max_tokens, hit, on_text, context, run_limit_usd)
        answer = await self._chain(
            model, messages, tools, temperature, max_tokens, on_text, context, fallbacks, run_limit_usd
        )
        if key is not None and self.cache is not None:
            self.cache.put(key, model, answer.completion, cache_ttl_s)
        return answer

    async def _cached(
        self,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        max_tokens: int | None,
        hit: Completion,
        on_text: TextSink | None,
        context: CallContext,
        run_limit_usd: float | None,
    ) -> CallResult:
        """A cache hit as a call: seen by the hooks, settled at $0 with status ``cached``."""
        routed, provider, request, _, _ = self._prepare(model, messages, tools, max_tokens)
        free = Estimate(model, routed.breaker_key, 0, 0, 0.0, True)
        answer = await self._call(model, routed, provider, request, free, None, None, context, run_limit_usd, hit)
        if on_text is not None and hit.text:
            on_text(hit.text)
        return answer

    async def _chain(
        self,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        temperature: float | None,
        max_tokens: int | None,
        on_text: TextSink | None,
        context: CallContext,
        fallbacks: Sequence[str],
        run_limit_usd: float | None,
    ) -> CallResult:
        """Try ``model``, then each fallback (and the fallbacks their named providers add)."""
        chain = list(dict.fromkeys([model, *fallbacks]))
        failures: list[str] = []
        index = 0
        while index < len(chain):
            candidate = chain[index]
            index += 1
            try:
                routed, provider, request, estimate, price = self._prepare(candidate, messages, tools, max_tokens)
            except ProviderError as exc:
                failures.append(_failure(candidate, exc))
                continue
            for extra in routed.settings.fallbacks if routed.settings else []:
                if extra not in chain:
                    chain.append(extra)
            request.temperature = temperature
            request.stream = on_text is not None
            try:
                call = self._call(candidate, routed, provider, request, estimate, price, on_text, context,
                                  run_limit_usd)
                if telemetry.tracing.on:  # off, nothing is built for tracing: the call is awaited as it is
                    return await telemetry.chat(call, candidate, routed.breaker_key, context, request.messages,
                                                capture=self.settings.telemetry.capture_content)
                return await call
            except (ProviderError, CircuitOpen) as exc:
                failures.append(_failure(candidate, exc))
        if len(failures) == 1:
            raise ModelUnavailable(failures[0])
        raise ModelUnavailable("every model failed: " + "; ".join(failures))

    async def _call(
        self,
        model: str,
        routed: Route,
        provider: Provider,
        request: CompletionRequest,
        estimate: Estimate,
        price: ModelPrice | None,
        on_text: TextSink | None,
        context: CallContext,
        run_limit_usd: float | None,
        cached: Completion | None = None,
    ) -> CallResult:
        call = context.llm_call(
            model, routed.breaker_key, request.messages, max_tokens=request.max_tokens, estimated_usd=estimate.usd
        )
        try:
            self.hooks.before_llm_call(call)
            accountant, reservation = self.accountant, None
            if accountant is not None:
                scope = context.scope
                reservation = accountant.try_reserve(
                    scope, estimate.usd, run_limit_usd=run_limit_usd
                ) or await accountant.reserve_async(scope, estimate.usd, run_limit_usd=run_limit_usd)
        except CallDenied as exc:  # the audit trail sees refusals too
            self.hooks.after_llm_call(call, None, exc)
            raise
        row = CostRow(
            call_id=call.call_id,
            provider=routed.breaker_key,
            model=model,
            run_id=context.run_id,
            workflow=context.workflow,
            step=context.step,
            agent=context.agent,
        )
        try:
            if cached is None:
                completion, attempts = await self._attempts(provider, request, routed, on_text)
            else:
                completion, attempts = cached, 0
                row.status = "cached"
        except BaseException as exc:
            row.status = "cancelled" if isinstance(exc, anyio.get_cancelled_exc_class()) else "error"
            row.error = str(exc)[:500] or type(exc).__name__
            if reservation is not None and self.accountant is not None:
                self.accountant.settle(reservation, row, actor=context.actor)
            self.hooks.after_llm_call(call, None, exc)
            raise
        cost, priced = _cost(completion, price) if cached is None else (0.0, True)
        row.prompt_tokens = completion.usage.prompt_tokens
        row.completion_tokens = completion.usage.completion_tokens
        row.cost_usd = cost
        row.priced = priced
        call.cost_usd = cost
        if reservation is not None and self.accountant is not None:
            self.accountant.settle(reservation, row, actor=context.actor)
        self.hooks.after_llm_call(call, completion, None)
        return CallResult(completion, model, routed.breaker_key, cost, priced, attempts, cached is not None)

    async def _attempts(
        self, provider: Provider, request: CompletionRequest, routed: Route, on_text: TextSink | None
    ) -> tuple[Completion, int]:
        if getattr(provider, "waits_for_caller", False):  # the caller answers in its own time, once (see above)
            return await provider.complete(request, on_text), 1
        breaker = self.breakers(routed.breaker_key)
        retries = routed.settings.max_retries if routed.settings and routed.settings.max_retries is not None else 2
        policy = RetryPolicy(max_retries=retries)
        attempt = 0
        while True:
            breaker.check()
            attempt += 1
            try:
                with anyio.fail_after((request.timeout_s or DEFAULT_TIMEOUT_S) + TIMEOUT_GRACE_S):
                    completion = await provider.complete(request, on_text)
            except TimeoutError:
                error = ProviderError(f"no answer within {request.timeout_s:g} s", retryable=True)
            except ProviderError as exc:
                error = exc
            else:
                breaker.success()
                return completion, attempt
            if error.retryable:
                breaker.failure()
            if not error.retryable or attempt > policy.max_retries:
                if attempt > 1:
                    message = f"{error} (after {attempt} attempts)"
                    raise ProviderError(message, retryable=error.retryable, status=error.status)
                raise error
            await anyio.sleep(policy.delay(attempt - 1))


def _cost(completion: Completion, price: ModelPrice | None) -> tuple[float, bool]:
    """A price from ``parac.yaml`` wins; then the provider's own figure (litellm's); then the bundled map."""
    usage = completion.usage
    if price is not None and price.source == "parac.yaml":
        return price.cost(usage.prompt_tokens, usage.completion_tokens), True
    if completion.cost_usd is not None:
        return completion.cost_usd, True
    if price is not None:
        return price.cost(usage.prompt_tokens, usage.completion_tokens), True
    return 0.0, False


def _failure(model: str, exc: BaseException) -> str:
    """``model: why``, without saying the model twice when the error already names it."""
    message = str(exc) or type(exc).__name__
    return message if model in message else f"{model}: {message}"
