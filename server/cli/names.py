"""Names for shell completion (``parac completion``), read cheaply: each <TAB> is a new process.

Agents, workflows and skills are the file stems under ``.parac/``; run ids come from the workspace database opened
read-only with :mod:`sqlite3`. Neither loads the workspace, pydantic or a plugin. Tool names exist only once the
plugins are loaded, so the first completion of a tool asks ``parac tools list --json`` in a child process and keeps
the answer in ``.parac/state/`` until ``parac.yaml`` or the set of plugin settings changes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import click
from click.shell_completion import CompletionItem

PARAC_DIR = ".parac"
COMPLETE_VAR = "_PARAC_COMPLETE"
RUNS_SHOWN = 200
TOOLS_CACHE = "completion-tools.json"
TOOLS_TIMEOUT_S = 20


def _root(ctx: click.Context) -> Path | None:
    """The workspace as `parac` would find it (``-w``, ``$PARAC_WORKSPACE``, or walking up), or None."""
    given = (ctx.meta.get("parac.workspace")  # -w after the command (common.WORKSPACE_META; common is not imported)
             or ctx.find_root().params.get("workspace") or os.environ.get("PARAC_WORKSPACE"))
    here = Path(given).expanduser().resolve() if given else Path.cwd().resolve()
    for candidate in (here,) if given else (here, *here.parents):
        if (candidate / PARAC_DIR).is_dir():
            return candidate
    return None


def _items(names: Iterable[str], incomplete: str) -> list[CompletionItem]:
    return [CompletionItem(name) for name in sorted(set(names)) if name.startswith(incomplete)]


def _stems(ctx: click.Context, folder: str, suffixes: tuple[str, ...]) -> list[str]:
    root = _root(ctx)
    try:
        entries = os.listdir(root / PARAC_DIR / folder) if root else []
    except OSError:
        return []
    return [name.rsplit(".", 1)[0] for name in entries if name.endswith(suffixes)]


def agents(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    return _items(_stems(ctx, "agents", (".yaml", ".yml", ".md")), incomplete)


def workflows(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    return _items(_stems(ctx, "workflows", (".yaml", ".yml")), incomplete)


def skills(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    root = _root(ctx)
    folder = root / PARAC_DIR / "skills" if root else None
    try:
        names = [n for n in os.listdir(folder) if (folder / n / "SKILL.md").is_file()] if folder else []
    except OSError:
        names = []
    return _items(names, incomplete)


def runs(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The latest workflow runs, newest first (the shell may sort them again)."""
    root = _root(ctx)
    database = root / PARAC_DIR / "state" / "parac.db" if root else None
    if database is None or not database.is_file():
        return []
    try:
        conn = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True, timeout=1)
        try:
            rows = conn.execute(
                "SELECT run_id, workflow, status FROM workflow_runs WHERE run_id LIKE ? || '%' "
                "ORDER BY created_at DESC LIMIT ?", (incomplete, RUNS_SHOWN)
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return []
    return [CompletionItem(run_id, help=f"{workflow} {status}") for run_id, workflow, status in rows]


def tools(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    root = _root(ctx)
    return _items(_tool_names(root), incomplete) if root else []


def _tool_names(root: Path) -> list[str]:
    settings = root / PARAC_DIR / "parac.yaml"
    stamp = [
        settings.stat().st_mtime_ns if settings.exists() else 0,
        os.environ.get("PARAC_LOAD_PLUGINS"),
        os.environ.get("PARAC_DISABLE_PLUGINS"),
        sys.executable,
    ]
    cache = root / PARAC_DIR / "state" / TOOLS_CACHE
    try:
        kept = json.loads(cache.read_text(encoding="utf-8"))
        if kept.get("stamp") == stamp:
            return list(kept["names"])
    except (OSError, ValueError, AttributeError, KeyError):
        pass
    try:
        listed = subprocess.run(
            [sys.executable, "-m", "parac.server.cli", "-w", str(root), "tools", "list", "--json", "--no-connect"],
            capture_output=True, text=True, timeout=TOOLS_TIMEOUT_S, stdin=subprocess.DEVNULL,
            env={key: value for key, value in os.environ.items() if key != COMPLETE_VAR},  # a listing, not a completion
        )
        names = [row["name"] for row in json.loads(listed.stdout)]
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError):
        return []
    try:
        cache.parent.mkdir(exist_ok=True)
        cache.write_text(json.dumps({"stamp": stamp, "names": names}), encoding="utf-8")
    except OSError:
        pass
    return names
