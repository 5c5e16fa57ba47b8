"""The evaluator loop (Reflexion): answer, critique, revise, until the critic accepts or ``max_rounds`` answers.

The critic is an agent of its own, run inside the same run (same run id, same budget); it keeps its conversation
from round to round, so it sees what it said before. Each critique joins the answering agent's transcript as a user
message named ``critic`` (the accepted one too), and the agent revises by carrying on its own loop. ``until`` is a
Jinja2 condition over ``critique``, ``answer`` and ``round``; without it the critique must start with ``ACCEPT``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import section

if TYPE_CHECKING:
    from ..runtime import Runtime, Turns

DEFAULT_ROUNDS = 3

CRITIC_TASK = (
    "Task given to agent {agent}:\n{task}\n\nIts answer (round {round}):\n{answer}\n\n"
    "Critique the answer. If it fully does the task, start your reply with ACCEPT. Otherwise say precisely what to "
    "change."
)
CRITIQUE = "Critique of your answer (round {round}, by {critic}):\n{critique}"
REVISE = "\n\nRevise your answer accordingly."


def accepted(until: str | None, critique: str, answer: str, round_: int) -> bool:
    """Whether the critic accepted: the ``until`` condition, or a critique that starts with ACCEPT."""
    if not until:
        return critique.strip().upper().startswith("ACCEPT")
    from ..workflows import templates

    context = {"critique": critique, "answer": answer, "round": round_}
    return templates.condition(until, context, where="reflect.until")


async def run(runtime: Runtime, turns: Turns) -> None:
    """Critique the answer the agent gave and let it revise, as ``reflect:`` says."""
    settings = section(turns.resolved.fields, "reflect")
    critic, until = settings["critic"], settings.get("until")
    rounds = int(settings.get("max_rounds") or DEFAULT_ROUNDS)
    result = turns.result
    critic_history: list[dict[str, Any]] = []
    for round_ in range(1, rounds + 1):
        answer = result.output
        task = CRITIC_TASK.format(agent=result.agent, task=turns.task, answer=answer, round=round_)
        review = await runtime.run(
            critic, task, model=turns.model_override, fallbacks=turns.fallbacks, context=turns.context,
            run_limit_usd=turns.run_limit_usd, history=critic_history, depth=turns.depth + 1,
        )
        result.absorb(review)
        if not review.ok:
            result.status, result.error = review.status, f'critic "{critic}" {review.status}: {review.error}'
            return
        critic_history = review.transcript
        critique = review.output
        done = accepted(until, critique, answer, round_)
        runtime.phase(turns, "critique", round=round_, critic=critic, accepted=done, text=critique)
        last = done or round_ == rounds
        message = CRITIQUE.format(round=round_, critic=critic, critique=critique) + ("" if last else REVISE)
        result.transcript.append({"role": "user", "name": "critic", "content": message})
        if last:
            return
        runtime.phase(turns, "revise", round=round_ + 1)
        await runtime.loop(turns)
        if result.status != "completed":
            return
