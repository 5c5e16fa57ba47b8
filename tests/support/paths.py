"""Where the repository and the installed ``parac`` command are, for tests that run them.

Kept here rather than in a ``conftest.py``: ``from conftest import ...`` finds whichever ``conftest`` module was
imported first, which changes with the folders pytest is given.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PARAC = str(BIN / "parac") if (BIN / "parac").exists() else shutil.which("parac")
