"""The public plugin API: everything a parac plugin imports, and nothing else.

A plugin is a module (or object) with hook implementations marked by :data:`hookimpl`, exposed through the
``parac`` entry-point group::

    # pyproject.toml
    [project.entry-points.parac]
    hello = "parac_hello"

    # parac_hello.py
    from parac.server.api import AgentSpec, hookimpl

    @hookimpl
    def parac_register_tools(register):
        def shout(text: str) -> str:
            "Upper-case the text."
            return text.upper()
        register(shout)

    @hookimpl
    def parac_register_agents(register):
        register(AgentSpec(name="greeter", description="Says hello", model="echo", tools=["shout"]))

The hooks are listed, with what each receives, in :mod:`parac.server.hookspecs`. A tool that touches files, runs
commands or makes HTTP requests does it through the workspace's confinement, offered here too: the call's
``ctx.policies`` (a :class:`ToolContext` field; ``Policies.for_root`` reads them outside a call) gives the
workspace's ``file_jail``, ``command_policy`` and ``http_policy``; ``run_command`` and ``http_request`` act under
them, ``check_url`` judges a URL for a client that makes its own requests; every refusal is a
``ConfinementError``. ``open_memory`` gives a tool the workspace's memory (of ``ctx.workspace``). ``cached_schema``
keeps the JSON Schemas parac's own tools derive from their types between runs; for any other code it simply builds
them. parac's own built-in plugins (``parac.plugins``) use this module and nothing more (the governance plugin,
which is that enforcement, excepted).

A plugin that keeps state about the workspace it serves (what it opened, counters, a connection) defines
``parac_plugin()``: each host then registers the object that call returns, with ``@hookimpl`` methods, instead of
the module. One process may serve several workspaces, each through its own host; module-level state would be
shared by all of them::

    class Counter:
        def __init__(self):
            self.calls = 0

        @hookimpl
        def parac_after_tool_call(self, call, result, error):
            self.calls += 1

    def parac_plugin():
        return Counter()
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pluggy

from parac.core.calls import CallDenied, LLMCall, ToolCall
from parac.core.catalog import Skill
from parac.core.channels import CannotAsk, Elicited, Root
from parac.core.confine import ConfinementError, FileJail, check_url, http_request, run_command
from parac.core.memory import Memory, MemoryEntry, MemoryError, open_memory
from parac.core.policy import Policies
from parac.core.providers import (
    ClientProvider,
    Completion,
    CompletionRequest,
    Provider,
    ProviderError,
    TextSink,
    ToolCallRequest,
    Usage,
    approx_tokens,
    message_text,
)
from parac.core.specs import AgentSpec, SkillSpec, WorkflowSpec
from parac.core.tools import PromptContext, Tool, ToolContext, ToolError, context_parameter

from .hookspecs import PROJECT
from .schema_cache import cached_schema

hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = [
    "AgentSpec",
    "CallDenied",
    "CannotAsk",
    "ClientProvider",
    "Completion",
    "CompletionRequest",
    "ConfinementError",
    "Elicited",
    "FileJail",
    "LLMCall",
    "Memory",
    "MemoryEntry",
    "MemoryError",
    "Policies",
    "PromptContext",
    "Provider",
    "ProviderError",
    "Root",
    "Skill",
    "SkillSpec",
    "TextSink",
    "Tool",
    "ToolCall",
    "ToolCallRequest",
    "ToolContext",
    "ToolError",
    "Usage",
    "WorkflowSpec",
    "approx_tokens",
    "cached_schema",
    "check_url",
    "hookimpl",
    "http_request",
    "message_text",
    "open_memory",
    "run_command",
    "tool_from_function",
]


def tool_from_function(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    needs_approval: bool = False,
    read_only: bool = False,
    title: str | None = None,
    destructive: bool | None = None,
    idempotent: bool | None = None,
    open_world: bool | None = None,
    links: Callable[[Any], list[str]] | None = None,
    long_running: bool = False,
    needs_task: bool = False,
    asks_first: bool = False,
    headers: dict[str, str] | None = None,
) -> Tool:
    """A :class:`Tool` whose argument schema comes from ``fn``'s type hints and description from its docstring.

    The parameter annotated :class:`ToolContext` (or named ``ctx``) is not an argument: it receives the call's
    context (the workspace, its policies, and ``log``/``progress``/``sample``/``elicit`` back to the caller). ``title`` and the hints
    (``destructive``, ``idempotent``, ``open_world``; None = not said) are what MCP clients show and decide
    confirmations by; ``links`` names the resources a result points at; ``long_running``: a call may outlast a
    client's patience, so MCP clients may run it as a task; ``needs_task``: it runs only as one; ``asks_first``: it
    asks its questions before it becomes the task, at ``ctx.continue_as_task()`` (see :class:`Tool`).
    ``headers`` maps parameters to header names: MCP clients over HTTP send each such argument again as the header
    ``Mcp-Param-{Name}`` (a ``str``, ``int`` or ``bool`` parameter), so that a proxy can route on it; parac refuses
    a call whose header and argument disagree.
    """
    schema = cached_schema(fn, "input", lambda: _arguments_schema(fn))
    if headers:
        schema = _mirrored(schema, headers, name or fn.__name__)
    code = getattr(fn, "__code__", None)
    source = f"{code.co_filename}:{code.co_firstlineno}" if code else None
    return Tool(
        name=name or fn.__name__,
        description=description or inspect.cleandoc(fn.__doc__ or "") or fn.__name__,
        input_schema=schema,
        fn=fn,
        needs_approval=needs_approval,
        read_only=read_only,
        source=source,
        title=title,
        destructive=destructive,
        idempotent=idempotent,
        open_world=open_world,
        links=links,
        long_running=long_running,
        needs_task=needs_task,
        asks_first=asks_first,
    )


def _mirrored(schema: dict[str, Any], headers: dict[str, str], tool: str) -> dict[str, Any]:
    """`schema` with `headers`' parameters marked ``x-mcp-header`` (a copy: the cached schema is shared)."""
    properties = schema.get("properties", {})
    unknown = sorted(set(headers) - set(properties))
    if unknown:
        raise ValueError(f'tool "{tool}" has no parameter "{unknown[0]}" to send as a header')
    marked = {name: {**prop, "x-mcp-header": headers[name]} if name in headers else prop
              for name, prop in properties.items()}
    return {**schema, "properties": marked}


def _arguments_schema(fn: Callable[..., Any]) -> dict[str, Any]:
    """The JSON Schema of ``fn``'s arguments (its context left out), without pydantic's generated titles."""
    from pydantic import create_model

    fields: dict[str, Any] = {}
    context = context_parameter(fn)
    for param in inspect.signature(fn).parameters.values():
        if param.name == context:
            continue
        annotation = param.annotation if param.annotation is not inspect.Parameter.empty else Any
        default = param.default if param.default is not inspect.Parameter.empty else ...
        fields[param.name] = (annotation, default)
    schema = create_model(f"{fn.__name__}_arguments", **fields).model_json_schema()
    schema.pop("title", None)
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(fn).parameters.values()):
        schema["additionalProperties"] = False  # refused by the argument check, not by a TypeError in the call
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return schema
