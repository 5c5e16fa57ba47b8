"""Helpers for tests that run agents: edit parac.yaml, write scripts for the scripted provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def set_settings(root: Path, **values: Any) -> None:
    """Merge ``values`` into the workspace's parac.yaml, the way a person would edit it."""
    path = root / ".parac" / "parac.yaml"
    data = yaml.safe_load(path.read_text()) or {}
    data.update(values)
    path.write_text(yaml.safe_dump(data))


def write_script(path: Path, turns: list[dict[str, Any]]) -> str:
    """Write a script of turns and return the ``scripted:PATH`` model that replays it."""
    path.write_text(yaml.safe_dump({"turns": turns}))
    return f"scripted:{path}"
