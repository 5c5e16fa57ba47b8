"""What runs next in a run: the rules of a workflow's kind, apart from doing steps and storing checkpoints.

A run is driven by three parts that know little of each other:

- the **scheduler** (this module) holds the rules of the workflow's kind. It is told how steps ended and answers
  with *moves*: :class:`Start` a step (which attempt, with which idempotency key), or :class:`Settle` one
  without running it (skipped, or failed because it cannot run). It never touches the database and never runs
  anything, so it can be tested, replayed and swapped on its own;
- the **store** (:mod:`.checkpoints`) makes each batch of moves durable in one commit: a :class:`Start` is
  :func:`~.checkpoints.start_op`, a :class:`Settle` is :func:`~.checkpoints.finish_op`;
- the **execution** (:mod:`.engine`) sits between them: it commits a step's end with the moves it led to,
  and only then acts on them (runs the started steps, reports the events). Retries, timeouts, gates,
  sub-workflows, cancellation and the lease are its business, the same for every kind.

:class:`DagScheduler` is the rule set of ``depends_on`` graphs: a step is ready when all its dependencies are
final; a step behind a failed one (unless that one may ``continue_on_error``) fails without running; a step whose
``when:`` is false is skipped; ready steps start while fewer than ``limit`` run, and queue otherwise. Another kind
(a state machine, a behaviour tree, a plan an LLM writes) is another class with the same methods
(:class:`Scheduler`), and runs on the same execution and store.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..diagnostics import ParacError
from . import templates
from .checkpoints import STEP_DONE, STEP_FINAL, StepRow


@dataclass(frozen=True)
class Start:
    """Run ``step_id`` now, as attempt ``attempt``, handing its work ``key`` as the idempotency key."""

    step_id: str
    attempt: int
    key: str


@dataclass(frozen=True)
class Settle:
    """``step_id`` ends without running (``skipped``: its ``when:`` was false; ``failed``, with ``error``), or its
    end is judged again after it ran (a state machine's state whose transitions failed keeps its ``output``)."""

    step_id: str
    status: str
    error: str | None = None
    output: Any = None


Move = Start | Settle


class Scheduler(Protocol):
    """What the execution asks of a workflow kind's rules. Every returned move is committed before it is acted
    on; the scheduler's state is rebuilt from the checkpoints on resume (:meth:`restore`), never stored itself."""

    #: The template context's view of finished steps (``steps.<id>``), which the execution renders templates in.
    steps_seen: dict[str, dict]
    attempts: dict[str, int]
    keys: dict[str, str]
    failed: list[str]  # steps whose failure fails the run
    not_run: int  # steps that could not run because of a failure
    paused: list[str]  # steps waiting at a gate while the run is paused
    active: int  # steps started and not ended: the execution groups commits while others may join


    def restore(self, rows: Mapping[str, StepRow]) -> list[Move]:
        """Take the checkpointed steps as they are and decide the run's first moves."""
        ...

    def finish(self, step_id: str, status: str, output: Any, error: str | None) -> list[Move]:
        """A running step ended (completed or failed): what now?"""
        ...

    def pause(self, step_id: str) -> list[Move]:
        """A running step waits for a person and the run pauses rather than wait: its slot is free."""
        ...

    def retry(self, step_id: str) -> Start:
        """The next attempt of a running step whose attempt failed."""
        ...

    def cancelled(self, step_id: str) -> None:
        """A running step was cancelled with the run."""
        ...

    def sinks(self) -> list[str]:
        """The steps nothing follows: the run's outputs when the workflow declares none."""
        ...


class Bookkeeping:
    """What every kind counts the same way: attempts and keys of steps, and steps that wait or were cancelled.
    A kind that can start queued steps when a slot frees (the DAG) does more on :meth:`pause`."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.active = 0
        self.attempts: dict[str, int] = {}
        self.keys: dict[str, str] = {}
        self.failed: list[str] = []
        self.not_run = 0
        self.paused: list[str] = []

    def begin(self, step_id: str, kind: str, row: StepRow | None) -> Start:
        """Start a step this kind has just reached, or that was in flight (``row``) when the run stopped: with
        the idempotency key it had, or ``RUN:STEP``."""
        attempt = self.attempts[step_id] = self.first_attempt(row.attempts if row is not None else 0, kind)
        if row is not None and row.idempotency_key:
            self.keys[step_id] = row.idempotency_key
        self.active += 1
        return Start(step_id, attempt, self.keys.setdefault(step_id, f"{self.run_id}:{step_id}"))

    @staticmethod
    def first_attempt(previous: int, kind: str) -> int:
        """The attempt a step starts (again) at: a wait for a person picked up again after a resume is the same
        wait, not a new attempt at work."""
        return previous if previous and kind in ("approval", "human") else previous + 1

    def pause(self, step_id: str) -> list[Move]:
        self.paused.append(step_id)
        self.active -= 1
        return []

    def retry(self, step_id: str) -> Start:
        attempt = self.attempts[step_id] = self.attempts[step_id] + 1
        return Start(step_id, attempt, self.keys[step_id])

    def cancelled(self, step_id: str) -> None:
        self.active -= 1


class DagScheduler(Bookkeeping):
    """The rules of ``depends_on`` graphs (see the module docstring)."""

    def __init__(self, run_id: str, spec: Any, kinds: Mapping[str, str], context: dict[str, Any], limit: int) -> None:
        super().__init__(run_id)
        self.steps = {step.id: step for step in spec.steps}
        self.kinds = kinds  # agent, tool, approval or workflow, by step id (see graph.step_kind)
        self.dependents: dict[str, list[str]] = {step.id: [] for step in spec.steps}
        for step in spec.steps:
            for dep in step.depends_on:
                self.dependents[dep].append(step.id)
        self.context = context
        self.steps_seen: dict[str, dict] = context["steps"]
        self.limit = limit
        self.queue: deque[str] = deque()
        self.remaining: dict[str, int] = {}
        self.blocked_by: dict[str, str] = {}  # step -> the failed step that keeps it from running

    def record(self, step_id: str, status: str, output: Any, error: str | None) -> None:
        """Let templates see how a step ended (an agent's text reads as JSON where it is JSON)."""
        if isinstance(output, str) and self.kinds[step_id] == "agent":
            output = templates.JsonText(output)
        self.steps_seen[step_id] = {
            "output": output, "status": status, "error": error, "attempts": self.attempts.get(step_id, 0)
        }

    def _satisfies(self, step_id: str, status: str) -> bool:
        """Whether a finished step lets its dependents run: done, or failed but allowed to."""
        if status in STEP_DONE:
            return True
        return status == "failed" and bool(getattr(self.steps[step_id], "continue_on_error", False))

    def restore(self, rows: Mapping[str, StepRow]) -> list[Move]:
        final: dict[str, str] = {}
        for step_id, row in rows.items():
            if step_id not in self.steps:
                continue
            self.attempts[step_id] = row.attempts
            if row.idempotency_key:
                self.keys[step_id] = row.idempotency_key
            if row.status in STEP_FINAL:
                final[step_id] = row.status
                self.record(step_id, row.status, row.output, row.error)
                if not self._satisfies(step_id, row.status):
                    self.failed.append(step_id)
        ready = []
        for step_id, step in self.steps.items():
            if step_id in final:
                continue
            self.remaining[step_id] = 0
            for dep in step.depends_on:
                if dep not in final:
                    self.remaining[step_id] += 1
                elif not self._satisfies(dep, final[dep]):
                    self.blocked_by.setdefault(step_id, dep)
            if self.remaining[step_id] == 0:
                ready.append(step_id)
        return self._admit(ready)

    def finish(self, step_id: str, status: str, output: Any, error: str | None) -> list[Move]:
        self.active -= 1
        self.record(step_id, status, output, error)
        satisfied = self._satisfies(step_id, status)
        if not satisfied:
            self.failed.append(step_id)
        ready = list(self.queue)
        self.queue.clear()
        for child in self.dependents[step_id]:
            if not satisfied:
                self.blocked_by.setdefault(child, step_id)
            self.remaining[child] -= 1
            if self.remaining[child] == 0:
                ready.append(child)
        return self._admit(ready)

    def pause(self, step_id: str) -> list[Move]:
        super().pause(step_id)
        queued = list(self.queue)
        self.queue.clear()
        return self._admit(queued)

    def sinks(self) -> list[str]:
        return [step_id for step_id, children in self.dependents.items() if not children]

    def _admit(self, ready: list[str]) -> list[Move]:
        """Decide what happens to steps whose dependencies are all final.

        A step behind a failed one fails without running; a step whose ``when:`` is false is skipped; both release
        their own dependents at once. The others start while a concurrency slot is free, and queue otherwise.
        """
        moves: list[Move] = []
        pending = deque(ready)
        while pending:
            step_id = pending.popleft()
            step = self.steps[step_id]
            root = self.blocked_by.get(step_id)
            verdict: Settle | None = None
            if root is not None:
                verdict = Settle(step_id, "failed", f"not run: step {root!r} failed")
                self.not_run += 1
            elif getattr(step, "when", None):
                try:
                    if not templates.condition(step.when, self.context, where=f"step {step_id!r} when"):
                        verdict = Settle(step_id, "skipped")
                except ParacError as exc:
                    verdict = Settle(step_id, "failed", str(exc))
                    self.failed.append(step_id)
                    root = step_id
            if verdict is None:
                if self.active < self.limit:
                    self.active += 1
                    previous = self.attempts.get(step_id, 0)
                    attempt = self.first_attempt(previous, self.kinds[step_id])
                    self.attempts[step_id] = attempt
                    moves.append(Start(step_id, attempt, self.keys.setdefault(step_id, f"{self.run_id}:{step_id}")))
                else:
                    self.queue.append(step_id)
                continue
            moves.append(verdict)
            self.record(step_id, verdict.status, None, verdict.error)
            for child in self.dependents[step_id]:
                if root is not None:
                    self.blocked_by.setdefault(child, root)
                self.remaining[child] -= 1
                if self.remaining[child] == 0:
                    pending.append(child)
        return moves
