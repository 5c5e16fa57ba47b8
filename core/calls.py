"""Tool calls and LLM calls as values, the context they are made in, and the hooks that see every one of them.

Governance (policies, budgets, audit, redaction) lives in plugins; the core only promises to show them every call
before it is made (a hook may veto it by raising :class:`CallDenied`) and after (to observe the outcome). The server
implements :class:`CallHooks` with pluggy; code that runs the core without a host passes :data:`NO_HOOKS`.
"""

from __future__ import annotations

import functools
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .errors import ParacBaseError

if TYPE_CHECKING:
    from .budgets import CallScope


def new_id() -> str:
    """32 hex digits: the time in microseconds, then 72 random bits. Ids that grow with time keep the ledger's
    unique index on ``call_id`` appending (a random id costs SQLite a B-tree page search and split per row).

    The bits are `random`'s (seeded from the OS, reseeded in a forked child), not `os.urandom`'s: an id names a call,
    it guards nothing, and a system call per id lets a busy thread (the audit writer) take the GIL from the request
    that is being answered."""
    return f"{time.time_ns() // 1000 << 72 | random.getrandbits(72):032x}"  # one number, one format


@dataclass
class ToolCall:
    """One call of a tool: what is called, with what, and on whose behalf."""

    tool: str
    arguments: dict[str, Any]
    actor: str = "local"
    agent: str | None = None
    workflow: str | None = None
    run_id: str | None = None
    step: str | None = None
    idempotency_key: str | None = None
    approved_by: str | None = None  # who approved this very call at a workflow gate (for tools that need approval)
    call_id: str = field(default_factory=new_id)
    # A tool from the registry (policies decide), or one of a face's own tools such as parac's MCP management tools
    # (the face's roles decide); the host sets it from its registry before the hooks see the call.
    registered: bool = True
    # Facts the tool reports about how it ran (``sandbox: none``), recorded with the call by whoever audits it.
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class LLMCall:
    """One call of a model. ``estimated_usd`` is filled before the call so budgets can refuse it."""

    model: str
    provider: str
    messages: list[dict[str, Any]]
    actor: str = "local"
    agent: str | None = None
    workflow: str | None = None
    run_id: str | None = None
    step: str | None = None
    max_tokens: int | None = None
    #: The tool whose call asked the model (a tool's ``ctx.sample``: its caller's model), ``prompt:NAME`` for a
    #: plugin prompt's; None for an agent's own turns.
    tool: str | None = None
    estimated_usd: float = 0.0
    cost_usd: float | None = None  # what the call cost, set before the after-call hooks see an answer
    call_id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class CallContext:
    """On whose behalf calls are made, built once where a request enters (the CLI, an MCP request, a workflow run)
    and passed down, so that every :class:`ToolCall` and :class:`LLMCall` of the request names the same actor,
    agent, workflow, run and step: the keys of the ledger, the budgets and the audit trail.

    ``role`` and ``tenant`` say what the face granted the caller; the call records do not carry them."""

    actor: str = "local"
    role: str | None = None
    tenant: str | None = None
    agent: str | None = None
    workflow: str | None = None
    run_id: str | None = None
    step: str | None = None
    #: Set where a tool (or a plugin prompt, ``prompt:NAME``) asks its caller's model: the model call names it.
    tool: str | None = None

    @staticmethod
    @functools.lru_cache(maxsize=1024)
    def of_caller(actor: str, role: str | None = None, tenant: str | None = None) -> CallContext:
        """The context a face's request starts from, one per caller: a context is a frozen value, so the requests
        of one caller can share it, and a face answering many small requests (a REST read) makes none for each."""
        return CallContext(actor=actor, role=role, tenant=tenant)

    def tool_call(self, tool: str, arguments: dict[str, Any], **extra: Any) -> ToolCall:
        """The record of one tool call in this context; ``extra`` sets the call's own fields (``idempotency_key``,
        ``approved_by``)."""
        return ToolCall(tool=tool, arguments=arguments, **self._on_behalf(), **extra)

    def llm_call(self, model: str, provider: str, messages: list[dict[str, Any]], **extra: Any) -> LLMCall:
        """The record of one model call in this context; ``extra`` sets ``max_tokens`` and ``estimated_usd``."""
        return LLMCall(model=model, provider=provider, messages=messages, tool=self.tool, **self._on_behalf(),
                       **extra)

    def _on_behalf(self) -> dict[str, str | None]:
        """The fields both call records share, named as the records (and the plugins reading them) name them."""
        return {"actor": self.actor, "agent": self.agent, "workflow": self.workflow, "run_id": self.run_id,
                "step": self.step}

    @functools.cached_property
    def scope(self) -> CallScope:
        """Made once per context: a run's calls all share it (and budgets key their cached limits by it)."""
        from .budgets import CallScope  # budgets import this module (CallDenied)

        return CallScope(agent=self.agent, run_id=self.run_id, workflow=self.workflow, step=self.step)


class CallDenied(ParacBaseError):
    """A hook refused a call. The message is for the caller, so it names the rule, never a secret."""

    public = True

    def __init__(self, message: str, *, rule: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule


class CallHooks(Protocol):
    def before_tool_call(self, call: ToolCall) -> None: ...

    def after_tool_call(self, call: ToolCall, result: Any, error: BaseException | None) -> None: ...

    def before_llm_call(self, call: LLMCall) -> None: ...

    def after_llm_call(self, call: LLMCall, response: Any, error: BaseException | None) -> None: ...

    def event(self, name: str, data: dict[str, Any]) -> None: ...


class _NoHooks:
    """Hooks that allow everything and observe nothing: for the core used on its own."""

    def before_tool_call(self, call: ToolCall) -> None:
        return None

    def after_tool_call(self, call: ToolCall, result: Any, error: BaseException | None) -> None:
        return None

    def before_llm_call(self, call: LLMCall) -> None:
        return None

    def after_llm_call(self, call: LLMCall, response: Any, error: BaseException | None) -> None:
        return None

    def event(self, name: str, data: dict[str, Any]) -> None:
        return None


NO_HOOKS: CallHooks = _NoHooks()
