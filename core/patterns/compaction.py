"""Context compaction: a long conversation shrunk before it is sent, keeping what later turns use.

Past ``memory.context_tokens`` (estimated at about four characters a token), three steps run in order, each only
while the conversation is still too long:

1. **Deduplicate**: a tool output identical to a later one is replaced by a pointer to the later one.
2. **Truncate**: a long tool output older than the last :data:`KEEP_TURNS` turns keeps its first lines and every
   line that shares a distinctive word with a later message (a word found on few of its lines: an identifier, a
   number, a path), and ends with a pointer: ``expand_output`` with the output's ``ref`` returns it whole.
3. **Summarise**: the older turns become one message that keeps each assistant message's text, each call, and the
   kept lines of each output (with its pointer).

The system prompt, the task and the last :data:`KEEP_TURNS` turns are never touched, and the run's transcript is
not changed: only what the model is sent is, so ``expand_output`` reads the full text from the transcript and the
audit trail sees the whole run.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..providers import approx_tokens, message_text

KEEP_TURNS = 2
"""The last assistant turns (and what follows them) that are sent whole."""

LONG_CHARS = 1200
"""Tool outputs longer than this are truncated in older turns."""

HEAD_LINES = 3
"""Lines of a truncated output kept from its start, whatever they say."""

EXPAND_TOOL = "expand_output"
EXPAND_DEFINITION: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": EXPAND_TOOL,
        "description": "Show in full a tool output that was shortened to save context (it says 'expand_output').",
        "parameters": {
            "type": "object",
            "properties": {"ref": {"type": "string", "description": "The ref the shortened output names."}},
            "required": ["ref"],
        },
    },
}

_SAME_OUTPUT = "[the same output as tool call"
_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./:-]*[A-Za-z0-9_]")


@dataclass
class Compacted:
    messages: list[dict[str, Any]]
    tokens_before: int
    tokens_after: int

    @property
    def saved(self) -> int:
        return self.tokens_before - self.tokens_after


def count_tokens(messages: Sequence[dict[str, Any]]) -> int:
    """The estimate compaction works to: text and tool-call arguments, about four characters a token."""
    total = 0
    for message in messages:
        total += approx_tokens(message_text(message))
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            total += approx_tokens(str(function.get("name", "")) + str(function.get("arguments", "")))
    return total


def compact(messages: Sequence[dict[str, Any]], budget: int) -> Compacted:
    """``messages`` as they should be sent to stay near ``budget`` tokens (unchanged when they fit)."""
    before = count_tokens(messages)
    out = [dict(m) for m in messages]
    if before <= budget:
        return Compacted(out, before, before)
    start, recent = _protected(out)
    _deduplicate(out, start)
    if count_tokens(out) > budget:
        later = _later_words(messages)
        for index in range(start, recent):
            if out[index].get("role") == "tool" and len(message_text(out[index])) > LONG_CHARS:
                out[index]["content"] = _truncate(messages, later, index)
        if count_tokens(out) > budget and recent - start > 1:
            out[start:recent] = [{"role": "user", "content": _summary(messages, later, out, start, recent)}]
    return Compacted(out, before, count_tokens(out))


def expand(transcript: Sequence[dict[str, Any]], ref: Any) -> str:
    """The full tool output ``ref`` names (the ``expand_output`` tool)."""
    for message in transcript:
        if message.get("role") == "tool" and message.get("tool_call_id") == ref:
            return message_text(message)
    refs = [m.get("tool_call_id") for m in transcript if m.get("role") == "tool"]
    return json.dumps({"error": f"no tool output has ref {ref!r}", "refs": refs[-20:]})


def _protected(messages: list[dict[str, Any]]) -> tuple[int, int]:
    """Where the compactable middle starts (after the system prompt and the task) and ends (the last turns)."""
    start = 0
    while start < len(messages) and messages[start].get("role") == "system":
        start += 1
    if start < len(messages) and messages[start].get("role") == "user":
        start += 1
    assistants = [i for i in range(start, len(messages)) if messages[i].get("role") == "assistant"]
    recent = assistants[-KEEP_TURNS] if len(assistants) >= KEEP_TURNS else start
    return start, recent


def _deduplicate(messages: list[dict[str, Any]], start: int) -> None:
    """Replace each tool output that a later one repeats by a pointer to the later one (which is kept whole)."""
    latest: dict[str, str] = {}
    for index in range(len(messages) - 1, start - 1, -1):
        message = messages[index]
        if message.get("role") != "tool":
            continue
        text = message_text(message)
        if len(text) < 200:  # a pointer would not be much shorter
            continue
        if text in latest:
            message["content"] = f"{_SAME_OUTPUT} {latest[text]}, further on]"
        else:
            latest[text] = str(message.get("tool_call_id"))


def _truncate(
    messages: Sequence[dict[str, Any]], later: list[set[str]], index: int, *, head: int = HEAD_LINES
) -> str:
    """The lines of output ``index`` of the uncompacted ``messages`` worth sending, and a pointer to the rest."""
    lines = message_text(messages[index]).splitlines()
    keep = _used_lines(lines, later[index])
    keep.update(range(min(head, len(lines))))
    kept = [lines[i] for i in sorted(keep)]
    cut = len(lines) - len(kept)
    ref = messages[index].get("tool_call_id")
    pointer = f'[{cut} of {len(lines)} lines cut; call {EXPAND_TOOL} with {{"ref": "{ref}"}} to see them all]'
    return "\n".join([*kept, pointer]) if cut else "\n".join(kept)


def _used_lines(lines: list[str], later: set[str]) -> set[int]:
    """Lines that share a distinctive word with a later message: a word on at most two lines of the output, so
    words every line has (``the``, ``PASSED``) keep nothing."""
    words_of = [{w.lower() for w in _WORD.findall(line)} for line in lines]
    spread = Counter(word for words in words_of for word in words)
    return {i for i, words in enumerate(words_of) if any(spread[w] <= 2 and w in later for w in words)}


def _later_words(messages: Sequence[dict[str, Any]]) -> list[set[str]]:
    """For each message, the words of what the assistant and the user wrote after it: what later turns use."""
    out: list[set[str]] = [set() for _ in messages]
    words: set[str] = set()
    for index in range(len(messages) - 1, -1, -1):
        out[index] = words
        message = messages[index]
        if message.get("role") in ("assistant", "user"):
            words = words | {w.lower() for w in _WORD.findall(message_text(message))}
            for call in message.get("tool_calls") or []:
                arguments = str((call.get("function") or {}).get("arguments"))
                words = words | {w.lower() for w in _WORD.findall(arguments)}
    return out


def _summary(
    original: Sequence[dict[str, Any]], later: list[set[str]], messages: list[dict[str, Any]], start: int, end: int
) -> str:
    """One message standing for turns ``start`` to ``end``: what was said and called, and of each output the lines
    later turns use (read from the ``original`` messages) or its deduplication pointer."""
    parts = ["[Summary of earlier turns, shortened to save context]"]
    for index in range(start, end):
        message = messages[index]
        role = message.get("role")
        text = message_text(message).strip()
        if role == "assistant":
            if text:
                parts.append(f"assistant: {text}")
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                parts.append(f"called {function.get('name')}({function.get('arguments')}) [ref {call.get('id')}]")
        elif role == "tool":
            pointer = text.startswith(_SAME_OUTPUT)
            content = text if pointer or len(text) < 200 else _truncate(original, later, index, head=0)
            parts.append(f"output of {message.get('tool_call_id')}:\n{content}")
        elif text:
            parts.append(f"{role}: {text}")
    return "\n".join(parts)
