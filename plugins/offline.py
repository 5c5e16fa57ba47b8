"""Offline model providers: ``echo``, ``fixed:TEXT``, ``random`` and ``scripted:PATH``.

They answer without a network, for demos, dry runs and deterministic tests, and report token counts (about four
characters a token) so that costs and budgets work in dry runs too (price them in ``parac.yaml``'s ``prices:``).

- ``echo`` answers with the last user message.
- ``fixed:TEXT`` answers ``TEXT``.
- ``random`` (or ``random:SEED``) answers a few words drawn from a generator seeded by the seed and the
  conversation: the same conversation gets the same answer on every run.
- ``scripted:PATH`` replays a YAML or JSON file of turns (a list, or a mapping with ``turns:``); each turn is
  ``{text: ...}``, ``{tool_calls: [{name, arguments}]}``, ``{error: message}`` or ``{error: message,
  retryable: true}``, optionally with ``usage: {prompt_tokens, completion_tokens}`` and ``thinking: TEXT`` (the
  reasoning a thinking model shows). The turn played is the number
  of assistant messages already in the conversation, so a script needs no state and replays the same way in
  every process. A relative PATH is resolved beneath the workspace root (never out of it).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from parac.server.api import (
    Completion,
    CompletionRequest,
    FileJail,
    ProviderError,
    TextSink,
    ToolCallRequest,
    Usage,
    approx_tokens,
    hookimpl,
    message_text,
)

OFFLINE = ("echo", "fixed", "random", "scripted")
_TURN_KEYS = frozenset({"text", "tool_calls", "error", "retryable", "usage", "thinking"})

_WORDS = (
    "agent plan review test build ship design code module change branch commit merge refactor document "
    "release risk step tool model budget cost result check fix feature issue"
).split()


class OfflineProvider:
    """One of the offline models; ``name`` says which."""

    def __init__(self, name: str) -> None:
        self.name = name

    def accepts(self, model: str) -> bool:
        if self.name == "echo":
            return model == "echo"
        if self.name == "random":
            return model == "random" or model.startswith("random:")
        return model.startswith(f"{self.name}:") and len(model) > len(self.name) + 1

    def count_tokens(self, request: CompletionRequest) -> int:
        text = "".join(message_text(m) for m in request.messages)
        tools = json.dumps(request.tools) if request.tools else ""
        return approx_tokens(text) + approx_tokens(tools)

    async def complete(self, request: CompletionRequest, on_text: TextSink | None = None) -> Completion:
        argument = request.model.partition(":")[2]
        if self.name == "scripted":
            completion = _scripted(argument, request)
        else:
            completion = Completion(text=self._text(argument, request.messages))
        if not completion.usage.prompt_tokens and not completion.usage.completion_tokens:
            answer = completion.text + "".join(c.arguments for c in completion.tool_calls)
            completion.usage = Usage(self.count_tokens(request), approx_tokens(answer))
        if request.max_tokens and completion.usage.completion_tokens > request.max_tokens:
            completion.usage.completion_tokens = request.max_tokens
        completion.model = request.model
        if on_text is not None and completion.text:
            for index, word in enumerate(completion.text.split(" ")):
                on_text(word if index == 0 else " " + word)
        return completion

    def _text(self, argument: str, messages: list[dict[str, Any]]) -> str:
        if self.name == "echo":
            return next((message_text(m) for m in reversed(messages) if m.get("role") == "user"), "")
        if self.name == "fixed":
            return argument
        seed = f"{argument or 0}:{json.dumps(messages, sort_keys=True, default=str)}"
        rng = random.Random(seed)
        return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(5, 30)))


def _scripted(path_text: str, request: CompletionRequest) -> Completion:
    turns = _load_script(path_text, request.base_dir)
    index = sum(1 for m in request.messages if m.get("role") == "assistant")
    if index >= len(turns):
        raise ProviderError(f"script {path_text} has {len(turns)} turns; the conversation asked for turn {index + 1}")
    turn = turns[index]
    if not isinstance(turn, dict):
        raise ProviderError(f"script {path_text}: turn {index + 1} must be a mapping, not {type(turn).__name__}")
    unknown = sorted(str(key) for key in turn if key not in _TURN_KEYS)
    if unknown or not turn.keys() & {"text", "tool_calls", "error"}:
        # a misspelt key would otherwise replay as an empty answer and the run would "complete"
        found = f"unknown key {', '.join(unknown)}" if unknown else "none of them"
        raise ProviderError(
            f"script {path_text}: turn {index + 1}: expected text, tool_calls or error"
            f" (with retryable, usage, thinking), found {found}"
        )
    if "error" in turn:
        raise ProviderError(str(turn["error"]), retryable=bool(turn.get("retryable")))
    calls = []
    for number, call in enumerate(turn.get("tool_calls") or []):
        if not isinstance(call, dict) or "name" not in call:
            raise ProviderError(f"script {path_text}: turn {index + 1}: each tool call needs a name")
        arguments = call.get("arguments", {})
        text = arguments if isinstance(arguments, str) else json.dumps(arguments)
        calls.append(ToolCallRequest(str(call.get("id") or f"call_{index}_{number}"), str(call["name"]), text))
    usage = turn.get("usage") or {}
    return Completion(
        text=str(turn.get("text") or ""),
        tool_calls=calls,
        usage=Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))),
        finish_reason="tool_calls" if calls else "stop",
        reasoning=str(turn.get("thinking") or ""),
    )


def _load_script(path_text: str, base_dir: Path | None) -> list[Any]:
    """An absolute PATH is read as it is (the CLI's and a spec author's choice); a relative one only beneath the
    workspace, through its descriptor (`FileJail`: no link or ``..`` leads out), which is how parac's MCP server
    confines what a client may name."""
    path = Path(path_text).expanduser()
    try:
        if path.is_absolute() or base_dir is None:
            text = path.read_text(encoding="utf-8")
        else:
            text = FileJail(base_dir).read_bytes(path_text).decode("utf-8")
            path = base_dir / path
    except (OSError, UnicodeDecodeError) as exc:
        raise ProviderError(f"cannot read script {path_text}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except Exception as exc:  # json.JSONDecodeError or yaml.YAMLError: the file is the problem, say where
        raise ProviderError(_syntax_error(path, exc)) from None
    turns = data.get("turns") if isinstance(data, dict) else data
    if not isinstance(turns, list):
        raise ProviderError(f"script {path} must hold a list of turns (or a mapping with turns:)")
    return turns


def _syntax_error(path: Path, exc: Exception) -> str:
    """``PATH:LINE:COL: not valid YAML|JSON: what was expected``, on one line like ``parac validate``'s."""
    if isinstance(exc, json.JSONDecodeError):
        return f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc)
    return f"{where}: not valid YAML: {problem}"


@hookimpl
def parac_register_providers(register) -> None:
    for name in OFFLINE:
        register(OfflineProvider(name))
