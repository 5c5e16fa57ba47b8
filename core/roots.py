"""Where a workspace is: the `.parac/` folder and finding it, apart from `parac.core.workspace` so that a start
that only needs the place (`parac mcp serve` reading its settings) does not import the spec machinery."""

from __future__ import annotations

import os
from pathlib import Path

from .diagnostics import ParacError

PARAC_DIR = ".parac"
SETTINGS_FILE = "parac.yaml"
ENV_WORKSPACE = "PARAC_WORKSPACE"


class WorkspaceNotFound(ParacError):
    pass


def find_root(start: Path | str | None = None) -> Path:
    """The project directory holding ``.parac/``: ``start`` itself, ``$PARAC_WORKSPACE``, or found walking up."""
    if start is not None:
        path = Path(start).expanduser().resolve()
        if path.name == PARAC_DIR and path.is_dir():
            return path.parent
        if (path / PARAC_DIR).is_dir():
            return path
        raise WorkspaceNotFound(f"no {PARAC_DIR}/ folder in {path} (run `parac init {start}` to create one)")
    if env := os.environ.get(ENV_WORKSPACE):
        return find_root(env)
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / PARAC_DIR).is_dir():
            return candidate
    raise WorkspaceNotFound(
        f"no {PARAC_DIR}/ folder in {here} or above it (run `parac init` or pass --workspace DIR)"
    )
