"""Tool calls and LLM calls as values, and the hooks that see every one of them.

Governance (policies, budgets, audit, redaction) lives in plugins; the core only promises to show them every call
before it is made (a hook may veto it by raising :class:`CallDenied`) and after (to observe the outcome). The server
implements :class:`CallHooks` with pluggy; code that runs the core without a host passes :data:`NO_HOOKS`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import ParacBaseError


def new_id() -> str:
    """32 hex digits: the time in microseconds, then 72 random bits. Ids that grow with time keep the ledger's
    unique index on ``call_id`` appending (a random id costs SQLite a B-tree page search and split per row)."""
    return f"{time.time_ns() // 1000:014x}{os.urandom(9).hex()}"


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
    estimated_usd: float = 0.0
    call_id: str = field(default_factory=new_id)


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
