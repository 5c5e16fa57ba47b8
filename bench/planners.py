"""Per-transition overhead of parac's durable state machine beside the ``transitions`` library in memory, and per-tick
overhead of parac's durable behaviour tree beside ``py_trees`` in memory, in one run.

Workloads (no LLM; every state's or action's work returns at once):
- state machine: two states that hand over to each other ``TRANSITIONS`` times (a condition on ``visits`` picks
  the way out), then a final state. parac runs it through :class:`parac.core.workflows.Engine` with durable
  checkpoints in SQLite on disk (each visit's end and the next visit's start are one commit), from creating the
  run to its end. ``transitions`` runs the same machine (the same condition as a ``conditions=`` callback, a no-op
  ``on_enter``) on a plain object in memory.
- behaviour tree: a sequence of ``LEAVES`` actions, under a ``retry`` decorator. parac checkpoints each action's
  start and end and each node's end; ``py_trees`` ticks the same shape (``Sequence(memory=True)`` under a
  ``Retry`` decorator) whose leaves answer RUNNING on their first tick and SUCCESS on the next, as an action that
  ends later does, until the root succeeds: one tick per leaf ended, as parac ticks once per action ended.

The floor of any durable step is one commit: the bench measures an SQLite commit (WAL, ``synchronous=NORMAL``, as
parac's store) in the same run, and prints parac's figures as multiples of it too, so a ratio that is large
because the peers keep nothing on disk reads as such. Systems take turns round by round; medians; wall and CPU
time; load average before and after. The issue sets no numeric target; the ratios are printed as measured.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import NoopServices, load_figures

RESULTS = Path(__file__).resolve().parent / ".results"
ROUNDS = 5
TRANSITIONS = 200
LEAVES = 200

Sample = tuple[float, float]  # wall, cpu seconds per unit


def _timed(fn: Any, units: int) -> Sample:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - wall) / units, (time.process_time() - cpu) / units


FSM = {
    "kind": "fsm", "initial": "a", "max_transitions": TRANSITIONS + 2,
    "states": {
        "a": {"tool": "noop", "transitions": [{"to": "b"}]},
        "b": {"tool": "noop", "transitions": [{"to": "done", "when": f"states.b.visits >= {TRANSITIONS // 2}"},
                                              {"to": "a"}]},
        "done": {"final": True},
    },
}
TREE = {
    "kind": "behavior_tree",
    "root": {"retry": 2, "child": {"sequence": [{"action": {"id": f"l{i}", "tool": "noop"}} for i in range(LEAVES)]}},
}


class Parac:
    def __init__(self, folder: Path) -> None:
        from parac.core.specs import WorkflowSpec
        from parac.core.store import connect
        from parac.core.workflows import Engine

        self.conn = connect(folder / "parac.db")
        self.engine = Engine(self.conn, NoopServices())
        self.fsm = WorkflowSpec.model_validate(FSM)
        self.tree = WorkflowSpec.model_validate(TREE)

    def run(self, spec: Any) -> None:
        import anyio

        result = anyio.run(self.engine.start, "bench", spec, {})
        assert result.status == "completed", result.error

    def commit(self) -> None:
        for index in range(TRANSITIONS):
            with self.conn:
                self.conn.execute("INSERT INTO floor VALUES (?)", (index,))


def transitions_run() -> None:
    from transitions import Machine

    class Model:
        visits = 0

        def enter(self) -> None:
            return None

        def done_yet(self) -> bool:
            return self.visits >= TRANSITIONS // 2

    model = Model()
    machine = Machine(model=model, states=["a", "b", "done"], initial="a", auto_transitions=False)
    machine.on_enter_a("enter")
    machine.on_enter_b("enter")
    machine.add_transition("go", "a", "b", after=lambda: setattr(model, "visits", model.visits + 1))
    machine.add_transition("go", "b", "done", conditions="done_yet")
    machine.add_transition("go", "b", "a")
    while model.state != "done":
        model.go()


def py_trees_run() -> None:
    import py_trees

    class Later(py_trees.behaviour.Behaviour):
        """An action that ends on the tick after it started."""

        def initialise(self) -> None:
            self.ticked = False

        def update(self) -> py_trees.common.Status:
            if self.ticked:
                return py_trees.common.Status.SUCCESS
            self.ticked = True
            return py_trees.common.Status.RUNNING

    leaves = [Later(name=f"l{i}") for i in range(LEAVES)]
    root = py_trees.decorators.Retry("retry", py_trees.composites.Sequence("seq", memory=True, children=leaves), 2)
    tree = py_trees.trees.BehaviourTree(root)
    while root.status != py_trees.common.Status.SUCCESS:
        tree.tick()


def main() -> int:
    load_before = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    samples: dict[str, list[Sample]] = {name: [] for name in ("parac fsm", "transitions", "parac tree", "py_trees", "commit")}
    with tempfile.TemporaryDirectory(dir=RESULTS) as folder:
        parac = Parac(Path(folder))
        parac.conn.execute("CREATE TABLE floor (n INTEGER)")
        parac.run(parac.fsm)  # warm-up: imports, model builds, Jinja2 compiles
        parac.run(parac.tree)
        transitions_run()
        py_trees_run()
        for _ in range(ROUNDS):  # the systems take turns, so drift in the machine's speed hits them alike
            samples["parac fsm"].append(_timed(lambda: parac.run(parac.fsm), TRANSITIONS + 1))
            samples["transitions"].append(_timed(transitions_run, TRANSITIONS + 1))
            samples["parac tree"].append(_timed(lambda: parac.run(parac.tree), LEAVES))
            samples["py_trees"].append(_timed(py_trees_run, LEAVES))
            samples["commit"].append(_timed(parac.commit, TRANSITIONS))
        parac.conn.close()
    load_after = os.getloadavg()

    median = {name: (statistics.median(w for w, _ in s), statistics.median(c for _, c in s)) for name, s in samples.items()}
    print(f"load average before {load_figures(load_before)}, after {load_figures(load_after)}; {ROUNDS} rounds, medians")
    print(f"{'per unit':<40}{'wall µs':>10}{'cpu µs':>10}")
    rows = [("parac fsm, durable, per transition", "parac fsm"), ("transitions, in memory, per transition", "transitions"),
            ("parac tree, durable, per action tick", "parac tree"), ("py_trees, in memory, per leaf tick", "py_trees"),
            ("one SQLite commit (floor)", "commit")]
    for label, name in rows:
        wall, cpu = median[name]
        print(f"{label:<40}{wall * 1e6:>10.1f}{cpu * 1e6:>10.1f}")
    for ours, peer in (("parac fsm", "transitions"), ("parac tree", "py_trees")):
        wall = median[ours][0] / median[peer][0]
        cpu = median[ours][1] / median[peer][1]
        floor = median[ours][0] / median["commit"][0]
        print(f"{ours} / {peer}: {wall:.1f}x wall, {cpu:.1f}x cpu; {floor:.1f} commits' time per unit"
              f" (durable vs in memory: each unit here is at least one commit)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
