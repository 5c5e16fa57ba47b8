"""The hooks a parac plugin may implement.

Registration hooks receive a ``register`` callback (the shape ``llm`` and tox use): the host calls each plugin's
implementation with a callback bound to that plugin, so the registry knows who gave what, and one plugin's failure
cannot take another's contributions with it.

Call hooks run around every tool call and LLM call, whichever face started it: ``before`` hooks may veto by raising
:class:`parac.core.calls.CallDenied` (any other exception also denies: governance fails closed); ``after`` hooks
observe the outcome and cannot change it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from parac.core.calls import LLMCall, ToolCall
    from parac.core.workspace import Workspace

PROJECT = "parac"
hookspec = pluggy.HookspecMarker(PROJECT)


@hookspec
def parac_register_agents(register: Callable[..., None]) -> None:
    """Register agents: ``register(AgentSpec(name=..., ...))`` or ``register(path_to_agent_file)``."""


@hookspec
def parac_register_tools(register: Callable[..., None]) -> None:
    """Register tools: ``register(Tool(...))`` or ``register(function)`` (schema from its type hints)."""


@hookspec
def parac_register_skills(register: Callable[..., None]) -> None:
    """Register skills: ``register(path_to_skill_folder)`` (a folder holding SKILL.md)."""


@hookspec
def parac_register_providers(register: Callable[..., None]) -> None:
    """Register model providers: ``register(provider)`` with ``provider.name`` and ``provider.accepts(model)``."""


@hookspec
def parac_register_workflows(register: Callable[..., None]) -> None:
    """Register workflows: ``register(path_to_workflow_yaml)``."""


@hookspec
def parac_register_prompts(register: Callable[..., None]) -> None:
    """Register MCP prompts: ``register(name, description, render, arguments=[...], title=...)``.

    ``render`` takes the prompt's arguments as keywords, plus a ``PromptContext`` when it declares a parameter for
    one (named ``ctx`` or annotated so): a prompt that asks the person or the model before it renders."""


@hookspec
def parac_register_resources(register: Callable[..., None]) -> None:
    """Register MCP resources: ``register(uri, read, name=..., title=..., description=..., mime_type=...)``.

    A ``uri`` with ``{variables}`` (an RFC 6570 template, ``notes://{folder}/{name}``) registers a resource template:
    ``read`` is called with the variables of the URI read, as keyword arguments. ``read`` may be async; it returns
    text, or bytes (sent base64-encoded as a blob)."""


@hookspec
def parac_workspace_opened(workspace: Workspace) -> None:
    """The host has opened a workspace; read its settings, open its database."""


@hookspec
def parac_before_tool_call(call: ToolCall) -> None:
    """Before a tool runs. Raise ``CallDenied`` to refuse it.

    A plugin implementing this hook is a policy enforcer: registered tools are refused only while no enforcer is
    loaded (deny unless granted), so with governance disabled an implementation that never raises lets every tool
    run. Observe calls with :func:`parac_after_tool_call` instead.
    """


@hookspec
def parac_after_tool_call(call: ToolCall, result: Any, error: BaseException | None) -> None:
    """After a tool ran (``error`` is set when it failed or was denied)."""


@hookspec
def parac_before_llm_call(call: LLMCall) -> None:
    """Before a model is called (``call.estimated_usd`` is set). Raise ``CallDenied`` to refuse it."""


@hookspec
def parac_after_llm_call(call: LLMCall, response: Any, error: BaseException | None) -> None:
    """After a model call returned or failed."""


@hookspec
def parac_event(name: str, data: dict[str, Any]) -> None:
    """Something happened that governance may record: ``agent.run``, ``workflow.step.start``, ``approval``, ..."""
