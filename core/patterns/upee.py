"""The UPEE loop (``loop: upee``): understand, plan, execute, evaluate, and refine while the score is low.

All four phases are turns of one conversation, so each phase sees what the ones before it said:

- **understand**: the model restates the task, what is known and what is missing (no tools);
- **plan**: numbered steps and the tools each uses (no tools);
- **execute**: the ordinary tool-calling loop, on the plan;
- **evaluate**: a score from 0 to 1 against the plan, as JSON; below ``upee.min_score`` the model is told the score
  and the reason and refines (the tool loop again), at most ``upee.max_refines`` times, then evaluates again.

Each phase is an ``agent.phase.start`` / ``agent.phase`` pair of events (the second carries the phase's text and, for
evaluate, the score), for the CLI's ``--show-thinking``, MCP progress, the audit trail and tracing spans. The run's
output is the execution's answer, not the evaluation.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from . import section

if TYPE_CHECKING:
    from ..runtime import Runtime, Turns

DEFAULT_MIN_SCORE = 0.7
DEFAULT_MAX_REFINES = 1

PROMPTS = {
    "understand": "[understand] Before acting, restate the task in your own words: what is asked, what is known, "
    "and what is missing. Do not call tools yet.",
    "plan": "[plan] Now write a plan: numbered steps, and the tools each step uses. Do not call tools yet.",
    "execute": "[execute] Carry out the plan, using the tools, and answer with the result.",
    "evaluate": '[evaluate] Evaluate the result against the plan. Reply with JSON only: {"score": a number from 0 '
    'to 1, "reason": "what falls short, if anything"}.',
    "refine": "[refine] The evaluation scored {score}: {reason}. Fix what falls short, then answer with the "
    "improved result.",
}

_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def parse_score(text: str) -> tuple[float | None, str]:
    """The score and reason of an evaluation: its JSON, else the first number in it; None when there is none."""
    match = re.search(r"\{.*\}", text, re.S)
    if match:
        try:
            data = json.loads(match.group(0))
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("score"), int | float):
            return max(0.0, min(1.0, float(data["score"]))), str(data.get("reason") or "")
    number = _NUMBER.search(text)
    if number is None:
        return None, text.strip()
    return max(0.0, min(1.0, float(number.group(0)))), text.strip()


async def run(runtime: Runtime, turns: Turns) -> None:
    settings = section(turns.resolved.fields, "upee")
    min_score = float(settings.get("min_score", DEFAULT_MIN_SCORE))
    max_refines = int(settings.get("max_refines", DEFAULT_MAX_REFINES))
    result = turns.result
    for phase in ("understand", "plan"):
        text = await _say(runtime, turns, phase, PROMPTS[phase])
        runtime.phase(turns, phase, text=text)
    _ask(turns, PROMPTS["execute"])
    for refine in range(max_refines + 1):
        runtime.phase_start(turns, "execute")
        await runtime.loop(turns)
        runtime.phase(turns, "execute", text=result.output, status=result.status, attempt=refine + 1)
        if result.status != "completed" or turns.handoff is not None:
            return
        answer = result.output
        evaluation = await _say(runtime, turns, "evaluate", PROMPTS["evaluate"])
        score, reason = parse_score(evaluation)
        passed = score is not None and score >= min_score
        runtime.phase(turns, "evaluate", text=evaluation, score=score, min_score=min_score, passed=passed)
        result.output = answer  # the run's answer is the execution's, not the evaluation
        if passed or refine == max_refines:
            return
        _ask(turns, PROMPTS["refine"].format(score=score if score is not None else "no score", reason=reason))
        runtime.phase(turns, "refine", attempt=refine + 1)


def _ask(turns: Turns, prompt: str) -> None:
    turns.result.transcript.append({"role": "user", "content": prompt})


async def _say(runtime: Runtime, turns: Turns, phase: str, prompt: str) -> str:
    """One turn without tools: the prompt, the model's text (tool calls it makes anyway are dropped)."""
    runtime.phase_start(turns, phase)
    _ask(turns, prompt)
    completion = await runtime.complete(turns, tools=False)
    turns.result.transcript.append({"role": "assistant", "content": completion.text})
    return completion.text
