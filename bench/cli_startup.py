"""CLI start-up and validation speed, beside their floors measured in the same run.

- ``parac --help`` beside ``python -c "import click"`` (the floor: the interpreter plus click). Target <= 2x.
- ``parac validate`` on 1,000 agents in 5-level chains beside a script that only loads the same files with PyYAML's
  C loader. Target <= 3x.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from harness import BIN, generate_workspace, report, time_commands

LOAD_ONLY = """
import sys, yaml
from pathlib import Path
for path in sorted(Path(sys.argv[1]).glob('.parac/agents/*.yaml')):
    yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
"""


def main() -> None:
    parac = str(BIN / "parac")
    env = {"PARAC_LOAD_PLUGINS": ""}
    help_time, click_floor = time_commands([([parac, "--help"], None, env), ([sys.executable, "-c", "import click"], None, None)])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate_workspace(root)
        validate_time, load_floor = time_commands(
            [([parac, "validate"], root, env), ([sys.executable, "-c", LOAD_ONLY, str(root)], None, None)], runs=11
        )
    report(
        "CLI start-up (median wall time)",
        [
            ("parac --help", help_time, 'python -c "import click"', click_floor, 2.0),
            ("parac validate (1,000 agents)", validate_time, "PyYAML C loader, same files", load_floor, 3.0),
        ],
    )


if __name__ == "__main__":
    main()
