"""Behaviour trees (``kind: behavior_tree``): their rules as a :class:`~.scheduler.Scheduler`, and their checks.

A small engine of its own rather than py-trees: py-trees ticks synchronous behaviours in memory, while here a leaf
is a step that runs for minutes on the shared execution (retries, timeouts, approvals, human tasks), and every
node's result must survive ``kill -9``. The tree is ticked from the root each time an action ends, *with memory*:
a node that has ended keeps its result and is not ticked again.

Nodes are named by their path from the root: ``r``, ``r.0`` (first child of a composite), ``r.0@2`` (the second
run of a decorator's child: retry, repeat, until_success). An action's step id is its ``id``, with the runs of the
decorators above it when one is past the first (``draft``, then ``draft#2``): the same tree and the same results
always give the same ids. Each node's end is checkpointed as the row ``~PATH`` (completed for success, failed for
failure; a condition's row holds its value), in the commit of the action end that decided it. On resume the tree is
ticked again over the stored rows: a node with a row is taken as it ended and its subtree is not entered; an action
with a finished row gives its stored result; the action that was in flight runs again with its key. So a resumed run
continues from the node it was in.

``parallel`` waits for all its children to end, then succeeds when ``success`` of them did (all, one, or N).
``timeout`` gives the actions under it at most what is left of its time (counted from the first action started
under it), and fails when its child has not succeeded by then.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

from ..diagnostics import ParacError, Problem, suggestion
from ..specs import ActionSpec, NodeSpec, WorkflowSpec
from . import templates
from .checkpoints import STEP_FINAL, StepRow
from .fsm import in_order
from .graph import checked_reads, step_templates
from .scheduler import Bookkeeping, Move, Settle

SUCCESS, FAILURE, RUNNING = "success", "failure", "running"
_ROW_STATUS = {SUCCESS: "completed", FAILURE: "failed"}
_REPEATERS = ("retry", "repeat", "until_success")
_GENERATION = re.compile(r"@(\d+)")


def node_row(key: str) -> str:
    """The step row of a node's end."""
    return f"~{key}"


def visit_id(action: ActionSpec, key: str) -> str:
    """The step id of the action at node ``key``: its id, with the runs of the decorators above past the first."""
    runs = _GENERATION.findall(key)
    return action.id + ("#" + ".".join(runs) if any(run != "1" for run in runs) else "")


def children(node: NodeSpec, key: str) -> list[tuple[NodeSpec, str]]:
    """The node's children with their paths (a decorator's child as its first run)."""
    kind = node.kind
    if kind in ("sequence", "selector", "parallel"):
        return [(child, f"{key}.{index}") for index, child in enumerate(getattr(node, kind))]
    if kind == "invert":
        return [(node.invert, f"{key}.0")]
    if node.child is not None:
        return [(node.child, f"{key}@1")]
    return []


def shown_steps(definition: dict, rows: Mapping[str, StepRow]) -> list[dict]:
    """Action runs and node ends as ``workflow status`` lists them: in the order they happened; an action with
    its step's fields (so a gate or a human task shows as one), a node's row with its path."""
    spec = WorkflowSpec.model_validate(definition)
    by_id = {action.id: action.model_dump(mode="json", exclude_none=True) for _, action in actions(spec)}
    return [{"id": row.step_id, "type": "node", "node": row.step_id[1:]} if row.step_id.startswith("~")
            else {**by_id.get(row.step_id.partition("#")[0], {}), "id": row.step_id} for row in in_order(rows)]


class TreeScheduler(Bookkeeping):
    """The rules of ``kind: behavior_tree`` (see the module docstring).

    ``steps`` and ``kinds`` are the execution's tables (step id -> spec, kind), filled as actions start.
    ``clock`` is wall time for ``timeout`` nodes (comparable with the rows' ``started_at``).
    """

    def __init__(self, run_id: str, spec: WorkflowSpec, steps: dict[str, Any], kinds: dict[str, str],
                 context: dict[str, Any], clock: Any = time.time) -> None:
        assert spec.root is not None
        super().__init__(run_id)
        self.spec = spec
        self.root = spec.root
        self.steps = steps
        self.kinds = kinds
        self.context = context
        self.clock = clock
        self.steps_seen: dict[str, dict] = context["steps"]
        self.results: dict[str, str] = {}  # node path -> success or failure, once ended
        self.cursor: dict[str, int] = {}  # sequence or selector path -> its first child not ended
        self.ended: dict[str, str] = {}  # action step id -> success or failure
        self.in_flight: set[str] = set()
        self.rows: Mapping[str, StepRow] = {}
        self.started_at: dict[str, float] = {}  # timeout node path -> when its time began
        self.deadlines: list[float] = []  # of the timeout nodes being ticked through, innermost last
        self.moves: list[Move] = []
        self.last_action: str | None = None
        self.why = "no child succeeded"  # the last failure met, for the run's error when the root fails

    # What the execution asks --------------------------------------------------------------------------------

    def restore(self, rows: Mapping[str, StepRow]) -> list[Move]:
        self.rows = rows
        types = {action.id: action.type for _, action in actions(self.spec)}
        for step_id, row in sorted(rows.items(), key=lambda item: item[1].started_at or item[1].finished_at or 0.0):
            if row.status not in STEP_FINAL:
                continue
            if step_id.startswith("~"):
                self.results[step_id[1:]] = SUCCESS if row.status == "completed" else FAILURE
            else:  # what templates saw, even of actions whose subtree has ended and is not entered again
                self.attempts[step_id] = row.attempts
                self._record(step_id, types.get(step_id.partition("#")[0], "agent"), row.status, row.output, row.error)
        moves = self._tick()
        self.rows = {}
        return moves

    def finish(self, step_id: str, status: str, output: Any, error: str | None) -> list[Move]:
        self.active -= 1
        self.in_flight.discard(step_id)
        self._record(step_id, self.kinds[step_id], status, output, error)
        return self._tick()

    def sinks(self) -> list[str]:
        """The last action that ended: its output is the run's when the workflow declares no outputs."""
        return [self.last_action] if self.last_action else []

    # Ticking --------------------------------------------------------------------------------------------------

    def _tick(self) -> list[Move]:
        self.moves = []
        if "r" not in self.results:
            result = self._node(self.root, "r")
            if result == FAILURE:
                self.failed.append(node_row("r"))
                self.steps_seen[node_row("r")] = {"output": None, "status": "failed", "attempts": 0,
                                                   "error": f"the tree failed: {self.why}"}
        return self.moves

    def _node(self, node: NodeSpec, key: str) -> str:
        if key in self.results:
            return self.results[key]
        kind = node.kind
        if kind == "action":
            return self._action(node.action, key)
        if kind == "condition":
            try:
                held = templates.condition(node.condition, self.context, where=f"node {key} condition")
            except ParacError as exc:
                return self._end(key, FAILURE, error=str(exc))
            return self._end(key, SUCCESS if held else FAILURE, output=held, node_kind="condition")
        if kind in ("sequence", "selector"):
            going_on = SUCCESS if kind == "sequence" else FAILURE  # the result that moves on to the next child
            items = getattr(node, kind)
            index = self.cursor.get(key, 0)  # children before it have ended: a tick starts where the last stopped
            while index < len(items):
                result = self._node(items[index], f"{key}.{index}")
                if result != going_on:
                    return result if result == RUNNING else self._end(key, result)
                index = self.cursor[key] = index + 1
            return self._end(key, going_on)
        if kind == "parallel":
            results = [self._node(child, child_key) for child, child_key in children(node, key)]
            if RUNNING in results:
                return RUNNING
            need = len(results) if node.success in (None, "all") else 1 if node.success == "one" else int(node.success)
            return self._end(key, SUCCESS if results.count(SUCCESS) >= need else FAILURE)
        if kind == "invert":
            result = self._node(node.invert, f"{key}.0")
            return result if result == RUNNING else self._end(key, FAILURE if result == SUCCESS else SUCCESS)
        if kind == "timeout":
            return self._timeout(node, key)
        return self._repeat(node, key, kind)

    def _repeat(self, node: NodeSpec, key: str, kind: str) -> str:
        """retry and until_success run the child again after a failure; repeat runs it again after a success."""
        assert node.child is not None
        stop_on = FAILURE if kind == "repeat" else SUCCESS
        for run in range(1, getattr(node, kind) + 1):
            result = self._node(node.child, f"{key}@{run}")
            if result == RUNNING:
                return RUNNING
            if result == stop_on:
                return self._end(key, result)
        return self._end(key, SUCCESS if kind == "repeat" else FAILURE)

    def _timeout(self, node: NodeSpec, key: str) -> str:
        assert node.child is not None and node.timeout is not None
        began = self.started_at.setdefault(key, self.clock())
        self.deadlines.append(began + node.timeout)
        try:
            result = self._node(node.child, f"{key}@1")
        finally:
            self.deadlines.pop()
        began = self.started_at[key]  # a stored action under it may have moved it back
        if result == RUNNING:
            return RUNNING
        if result == SUCCESS and self.clock() <= began + node.timeout:
            return self._end(key, SUCCESS)
        return self._end(key, FAILURE, error=None if result == FAILURE else f"took longer than {node.timeout}s")

    def _action(self, action: ActionSpec, key: str) -> str:
        visit = visit_id(action, key)
        if visit in self.ended:
            return self._end(key, self.ended[visit])
        if visit in self.in_flight:
            return RUNNING
        row = self.rows.get(visit)
        if row is not None and row.started_at is not None:
            for timeout_key in self._timeouts_above(key):
                self.started_at[timeout_key] = min(self.started_at[timeout_key], row.started_at)
        step = action.model_copy(update={"id": visit}) if visit != action.id else action
        if self.deadlines:
            left = max(min(self.deadlines) - self.clock(), 0.001)
            step = step.model_copy(update={"timeout_s": min(step.timeout_s or left, left)})
        self.steps[visit] = step
        self.kinds[visit] = step.type
        self.in_flight.add(visit)
        self.moves.append(self.begin(visit, step.type, row))
        return RUNNING

    def _timeouts_above(self, key: str) -> list[str]:
        """The paths of the timeout nodes being ticked through that hold ``key``."""
        return [k for k in self.started_at if key.startswith(k + "@")]

    def _end(self, key: str, result: str, *, output: Any = None, error: str | None = None, node_kind: str = "") -> str:
        """A node ended: remember it and checkpoint it (once: a stored node is not ended again)."""
        if key not in self.results:
            self.results[key] = result
            self.moves.append(Settle(node_row(key), _ROW_STATUS[result], error, output))
            if error is not None:
                self.why = f"node {key}: {error}"
            elif result == FAILURE and node_kind == "condition":
                self.why = f"node {key}: the condition is false"
        return result

    def _record(self, visit: str, kind: str, status: str, output: Any, error: str | None) -> None:
        """Let templates see an action's last end (``steps.ID``; an agent's text reads as JSON where it is JSON)."""
        self.ended[visit] = SUCCESS if status == "completed" else FAILURE
        if status != "completed":
            self.why = f"action {visit!r} failed" + (f": {error}" if error else "")
        if isinstance(output, str) and kind == "agent":
            output = templates.JsonText(output)
        seen = {"output": output, "status": status, "error": error, "attempts": self.attempts.get(visit, 0)}
        self.steps_seen[visit] = seen
        self.steps_seen[visit.partition("#")[0]] = seen
        self.last_action = visit



# -- the checks the workspace reports --------------------------------------------------------------------------------


def walk(node: NodeSpec | None, loc: tuple[str | int, ...] = ("root",)) -> Iterable[tuple[tuple[str | int, ...], NodeSpec]]:
    """Every node with its key path in the file, parents first."""
    if node is None:
        return
    yield loc, node
    kind = node.kind
    if kind in ("sequence", "selector", "parallel"):
        for index, child in enumerate(getattr(node, kind)):
            yield from walk(child, (*loc, kind, index))
    elif kind == "invert":
        yield from walk(node.invert, (*loc, "invert"))
    elif node.child is not None:
        yield from walk(node.child, (*loc, "child"))


def actions(spec: WorkflowSpec) -> list[tuple[tuple[str | int, ...], ActionSpec]]:
    """(key path of the ``action`` mapping, action) for each action leaf, in tree order."""
    return [((*loc, "action"), node.action) for loc, node in walk(spec.root) if node.action is not None]


def structure_problems(spec: WorkflowSpec) -> list[Problem]:
    """Keys of other kinds, no root, duplicate action ids and a parallel asking more successes than children."""
    out: list[Problem] = []
    for key in ("steps", "states", "initial", "max_transitions"):
        if getattr(spec, key):
            out.append(Problem((key,), "wrong-kind", f'"{key}" does not belong to a behaviour tree (kind: behavior_tree)', {"key": True}))
    if spec.root is None:
        return [*out, Problem(("kind",), "missing-key", 'a behaviour tree (kind: behavior_tree) needs "root"', {"missing": "root", "key": True})]
    seen: set[str] = set()
    for loc, action in actions(spec):
        if action.id in seen:
            out.append(Problem((*loc, "id"), "duplicate-step", f'duplicate action id "{action.id}"'))
        seen.add(action.id)
    for loc, node in walk(spec.root):
        if node.parallel is not None and isinstance(node.success, int) and node.success > len(node.parallel):
            out.append(Problem((*loc, "success"), "impossible", f"success: {node.success} of {len(node.parallel)} children can never happen"))
    return out


def template_problems(spec: WorkflowSpec) -> list[Problem]:
    """Templates that do not parse, and ``steps.X`` / ``inputs.Y`` that name no action or input."""
    out: list[Problem] = []
    ids = [action.id for _, action in actions(spec)]
    strings: list[tuple[tuple[str | int, ...], str, bool]] = []
    for loc, node in walk(spec.root):
        if node.condition is not None:
            strings.append(((*loc, "condition"), node.condition, True))
        if node.action is not None:
            strings.extend(((*loc, "action", *sub), text, False) for sub, text in step_templates(node.action))
    strings.extend((("outputs", name), text, False) for name, text in spec.outputs.items())
    for loc, _text, reads in checked_reads(strings, spec.inputs, out):
        for name, _attribute, _written, at in reads:
            if name not in ids:
                out.append(Problem(loc, "unknown-step", f'template names unknown action "{name}"{suggestion(name, ids)}', {"candidates": ids, **at}))
    return out
