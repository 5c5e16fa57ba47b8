"""Shell completion speed: one <TAB> is one `parac` process, so it is measured as a process, beside its floor.

- completing an agent name in a 1,000-agent workspace (``parac agents show c1<TAB>``), and
- completing a tool name (``parac tools call file_<TAB>``, from the cache the first completion wrote),

each beside ``python -c "import click"`` (the interpreter plus click: what any click completion pays) measured in
the same run, taking turns. Target <= 2x (the report prints the load average beside the figures).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from harness import BIN, generate_workspace, report, time_commands


def completing(words: str) -> dict[str, str]:
    return {"_PARAC_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1),
            "PARAC_LOAD_PLUGINS": ""}


def main() -> None:
    parac = str(BIN / "parac")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate_workspace(root)
        agent, tool, floor = time_commands(
            [
                ([parac], root, completing("parac agents show c1")),
                ([parac], root, completing("parac tools call file_")),
                ([sys.executable, "-c", "import click"], None, None),
            ],
            runs=11,
        )
    report(
        "Shell completion (median wall time of one <TAB>)",
        [
            ("agents show c1<TAB> (1,000 agents)", agent, 'python -c "import click"', floor, 2.0),
            ("tools call file_<TAB> (cached)", tool, 'python -c "import click"', floor, 2.0),
        ],
    )


if __name__ == "__main__":
    main()
