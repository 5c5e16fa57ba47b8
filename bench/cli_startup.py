"""CLI start-up and validation speed, beside their floors measured in the same run.

- ``parac --help`` beside ``python -c "import click"`` (the floor: the interpreter plus click). Target <= 2x.
- ``parac validate``, ``parac agents show`` and ``parac agents run`` (echo) on a one-agent workspace beside
  ``floors/agent_run_deps.py``: the fixed dependencies alone (click, a spec read with PyYAML's C loader and validated
  by a pydantic model, SQLite, an anyio event loop), so what parac adds to them is measured. Target <= 1.1x.
- ``parac validate`` on 1,000 agents in 5-level chains beside a script that only loads the same files with PyYAML's
  C loader. Target <= 3x.

All commands of a group take turns run by run (see :func:`harness.time_commands`). parac's modules are byte-compiled
first, as installing does (see :func:`harness.byte_compile_parac`).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from harness import BIN, byte_compile_parac, generate_workspace, report, time_commands

FLOOR = Path(__file__).with_name("floors") / "agent_run_deps.py"
LOAD_ONLY = """
import sys, yaml
from pathlib import Path
for path in sorted(Path(sys.argv[1]).glob('.parac/agents/*.yaml')):
    yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
"""


def main() -> None:
    byte_compile_parac()
    parac = str(BIN / "parac")
    env = {"PARAC_LOAD_PLUGINS": ""}
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small"
        (small / ".parac" / "agents").mkdir(parents=True)
        (small / ".parac" / "parac.yaml").write_text("default_model: echo\n")
        (small / ".parac" / "agents" / "bench.yaml").write_text("description: bench\n")
        help_time, click_floor, validate_small, show_time, run_time, deps_floor = time_commands(
            [
                ([parac, "--help"], None, env),
                ([sys.executable, "-c", "import click"], None, None),
                ([parac, "validate"], small, env),
                ([parac, "agents", "show", "bench"], small, env),
                ([parac, "agents", "run", "bench", "--task", "hello"], small, env),
                ([sys.executable, str(FLOOR), "bench.yaml"], small / ".parac" / "agents", None),
            ],
            runs=15,
        )
        large = Path(tmp) / "large"
        generate_workspace(large)
        validate_time, load_floor = time_commands(
            [([parac, "validate"], large, env), ([sys.executable, "-c", LOAD_ONLY, str(large)], None, None)], runs=11
        )
    deps = "fixed dependencies (floor)"
    report(
        "CLI start-up (median wall time, the commands of each group taking turns)",
        [
            ("parac --help", help_time, 'python -c "import click"', click_floor, 2.0),
            ("parac validate (1 agent)", validate_small, deps, deps_floor, 1.1),
            ("parac agents show bench", show_time, deps, deps_floor, 1.1),
            ("parac agents run bench (echo)", run_time, deps, deps_floor, 1.1),
            ("parac validate (1,000 agents)", validate_time, "PyYAML C loader, same files", load_floor, 3.0),
        ],
    )


if __name__ == "__main__":
    main()
