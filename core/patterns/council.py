"""Councils (HiveMind): several agents answer one task in parallel, then a strategy decides.

- ``vote``: the answer most members gave (compared without case, spacing and end punctuation); a tie goes to the
  member named first.
- ``judge``: the ``judge`` agent reads the numbered answers and names the best (its first number); when it names
  none, its own reply is the decision.
- ``debate``: ``rounds`` rounds; from the second on, each member reads the others' last answers and answers again
  (continuing its own conversation). Then the judge decides, or a vote when there is no judge.

Every member runs through :meth:`Runtime.run <parac.core.runtime.Runtime.run>` in the caller's context (the
workflow's run id and step: one budget for the whole council), and every answer and the decision are kept in the
outcome (the step's output) and announced as events (``council.answer``, ``council.decision``). A member refused by
a budget or a policy stops the council: a decision without it would hide the refusal.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from ..errors import ParacBaseError

if TYPE_CHECKING:
    from ..calls import CallContext
    from ..runtime import AgentResult, Runtime

JUDGE_TASK = (
    "Task given to a council of agents:\n{task}\n\nTheir answers:\n{answers}\n\n"
    "Which answer is best? Reply with its number first, then why."
)
DEBATE_TASK = (
    "Round {round} of a debate. The other members answered:\n{answers}\n\n"
    "Weigh their answers against yours and give your answer again, changed or not."
)


class CouncilFailed(ParacBaseError):
    """No decision: every member failed, or one was refused (``retryable`` False then)."""

    public = True

    def __init__(self, message: str, *, retryable: bool, cost: float) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.cost = cost


@dataclass
class Council:
    """What a council runs: its members, how it decides, and the task."""

    agents: Sequence[str]
    strategy: str
    task: str
    rounds: int = 1
    judge: str | None = None
    model: str | None = None
    run_limit_usd: float | None = None


@dataclass
class _Tally:
    answers: list[dict[str, Any]] = field(default_factory=list)
    cost: float = 0.0


async def decide(
    runtime: Runtime, council: Council, context: CallContext, event: Callable[[str, dict[str, Any]], None]
) -> tuple[dict[str, Any], float]:
    """Run the council; its outcome (``decision``, ``answers``, and ``votes`` or ``judge``) and what it cost."""
    tally = _Tally()
    rounds = council.rounds if council.strategy == "debate" else 1
    last: dict[str, AgentResult] = {}
    for round_ in range(1, rounds + 1):
        tasks = {name: _debate_task(name, last, round_) if last else council.task for name in council.agents}
        last = await _round(runtime, council, context, tasks, last, round_, tally, event)
    answers = {name: result.output for name, result in last.items() if result.ok}
    if not answers:
        errors = "; ".join(f"{name}: {result.status}: {result.error}" for name, result in last.items())
        raise CouncilFailed(f"every member of the council failed ({errors})", retryable=True, cost=tally.cost)
    outcome: dict[str, Any] = {"strategy": council.strategy, "answers": tally.answers}
    if council.judge and council.strategy in ("judge", "debate"):
        outcome["decision"], outcome["judge"] = await _judge(runtime, council, context, answers, tally)
    else:
        outcome["decision"], outcome["votes"] = _vote(council.agents, answers)
    event("council.decision", {"strategy": council.strategy, "decision": outcome["decision"]})
    return outcome, tally.cost


async def _round(
    runtime: Runtime,
    council: Council,
    context: CallContext,
    tasks: dict[str, str],
    previous: dict[str, AgentResult],
    round_: int,
    tally: _Tally,
    event: Callable[[str, dict[str, Any]], None],
) -> dict[str, AgentResult]:
    """Every member answers at once; a refused member stops the council once all have ended."""
    results: dict[str, AgentResult] = {}

    async def member(name: str) -> None:
        history = previous[name].transcript if name in previous else ()
        results[name] = await runtime.run(
            name, tasks[name], model=council.model, context=context, run_limit_usd=council.run_limit_usd,
            history=history,
        )

    async with anyio.create_task_group() as group:
        for name in council.agents:
            group.start_soon(member, name)
    for name in council.agents:
        result = results[name]
        tally.cost += result.cost_usd
        entry = {"agent": name, "round": round_, "status": result.status, "answer": result.output,
                 "cost_usd": round(result.cost_usd, 8), "error": result.error}
        tally.answers.append(entry)
        event("council.answer", entry)
    denied = [f"{name}: {r.error}" for name, r in results.items() if r.status == "denied"]
    if denied:
        raise CouncilFailed("a council member was refused: " + "; ".join(denied), retryable=False, cost=tally.cost)
    return {name: results[name] for name in council.agents}  # in the order the members are named


def _debate_task(name: str, last: dict[str, AgentResult], round_: int) -> str:
    others = "\n\n".join(f"{other}: {result.output}" for other, result in last.items() if other != name and result.ok)
    return DEBATE_TASK.format(round=round_, answers=others or "(no other answers)")


def _normal(answer: str) -> str:
    return re.sub(r"\s+", " ", answer).strip().rstrip(".!").lower()


def _vote(members: Sequence[str], answers: dict[str, str]) -> tuple[str, dict[str, int]]:
    """The most frequent answer (the earliest member's wording), and the count of each."""
    counts = Counter(_normal(text) for text in answers.values())
    best = max(counts.values())
    winner = next(answers[name] for name in members if name in answers and counts[_normal(answers[name])] == best)
    return winner, {name: counts[_normal(text)] for name, text in answers.items()}


async def _judge(
    runtime: Runtime, council: Council, context: CallContext, answers: dict[str, str], tally: _Tally
) -> tuple[str, dict[str, Any]]:
    assert council.judge is not None
    numbered = list(answers.items())
    listing = "\n\n".join(f"[{i}] {text}" for i, (_, text) in enumerate(numbered, 1))
    verdict = await runtime.run(
        council.judge, JUDGE_TASK.format(task=council.task, answers=listing), model=council.model, context=context,
        run_limit_usd=council.run_limit_usd,
    )
    tally.cost += verdict.cost_usd
    if not verdict.ok:
        raise CouncilFailed(
            f'the judge "{council.judge}" {verdict.status}: {verdict.error}',
            retryable=verdict.status != "denied", cost=tally.cost,
        )
    number = re.search(r"\d+", verdict.output)
    choice = int(number.group(0)) if number else 0
    judged = {"agent": council.judge, "verdict": verdict.output, "cost_usd": round(verdict.cost_usd, 8)}
    if 1 <= choice <= len(numbered):
        judged["chose"] = numbered[choice - 1][0]
        return numbered[choice - 1][1], judged
    return verdict.output, judged
