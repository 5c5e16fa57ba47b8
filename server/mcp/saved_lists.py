"""The last `tools/list` answer a server gave for a workspace, kept on disk: a new server answers its first
`tools/list` from it, before it has imported its tool modules, loaded the plugins or read the workspace.

An editor spawns `parac mcp serve` and asks for the tools at once; building that answer needs every tool module,
every plugin and the workspace's settings (about as long again as the SDK's own start). What the answer shows
follows from little: parac's code and the installed libraries (the fingerprint of
:mod:`parac.server.schema_cache`), the workspace's place and its `parac.yaml` (disabled plugins, tool profiles),
parac's environment variables (`PARAC_*`: which plugins load), the caller's role and the `--profile` given. An answer is stored under a hash of
all of these and read back only when every one is the same.

What it does not follow from is checked afterwards: the server loads as usual right after answering and builds
the list; when that differs (a third-party plugin changed in place, say), it stores the new one and sends
`notifications/tools/list_changed`, as for any other change. A workspace with external MCP servers
(`mcp_servers:` in `parac.yaml`) is never answered from disk: their tools are known only by connecting.

The files live in the user's cache folder (never the workspace), one per installation, workspace and role (a
changed `parac.yaml` replaces its workspace's file); a file that cannot be read counts as absent and one that cannot
be written is left alone. Every write prunes: a workspace keeps its `KEEP_PER_WORKSPACE` newest files (an upgraded
parac or a new role adds files its old ones are not replaced by), and a file of any workspace not written for
`MAX_AGE_S` goes (a deleted or moved workspace's files are never written again).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from parac.core.diagnostics import ParacError
from parac.core.roots import PARAC_DIR, SETTINGS_FILE, find_root
from parac.server.schema_cache import cache_folder, parac_schemas

log = logging.getLogger("parac.mcp")

FORMAT = 1
"""The layout of a stored answer; part of the key."""
KEEP_PER_WORKSPACE = 8
"""Files kept per workspace, newest first: its roles under the installations in use, with room to spare."""
MAX_AGE_S = 30 * 24 * 3600
"""A file not written for this long is deleted by the next write of any workspace."""


class SavedLists:
    """Stored first-page answers of one server's workspace, by role."""

    def __init__(self, start: Path | None, profile: str | None) -> None:
        self.start = start
        self.profile = profile
        self._base: str | None | bool = False  # the key's role-free part, once made (None: nothing is stored)
        self._root: Path | None = None
        self._known: dict[str, dict[str, Any]] = {}  # by role: the answer on disk, as read or written

    def read(self, role: str) -> dict[str, Any] | None:
        """The stored answer for `role`, or None."""
        key = self._key(role)
        if key is None:
            return None
        try:
            stored = json.loads(self._file(role).read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(stored, dict) or stored.get("key") != key or not isinstance(stored.get("answer"), dict):
            return None
        self._known[role] = stored["answer"]
        return stored["answer"]

    def write(self, role: str, answer: dict[str, Any]) -> None:
        """Store `answer` for `role` unless it is what is stored (atomically: concurrent servers each leave a
        whole file)."""
        if self._known.get(role) == answer:
            self._known[role] = answer  # the server's own objects: its later answers compare by identity
            return
        key = self._key(role)
        if key is None or "nextCursor" in answer:  # a cursor is signed by this process alone
            return
        self._known[role] = answer
        file = self._file(role)
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=file.parent, prefix=".tools-", suffix=".tmp")
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as out:
                    json.dump({"key": key, "answer": answer}, out, separators=(",", ":"))
                os.replace(temporary, file)
            except BaseException:
                os.unlink(temporary)
                raise
        except OSError as error:
            log.debug("tools/list answer not stored in %s: %s", file, error)
            return
        self._prune(file)

    def _prune(self, written: Path) -> None:
        """Delete this workspace's files beyond the newest `KEEP_PER_WORKSPACE` (never `written`) and any
        workspace's files older than `MAX_AGE_S`. A file another server deletes first, or cannot be deleted, is
        passed over."""
        old = time.time() - MAX_AGE_S
        mine: list[tuple[float, Path]] = []
        for path in written.parent.glob("tools-*.json"):
            try:
                modified = path.stat().st_mtime
                if modified < old:
                    path.unlink(missing_ok=True)
                elif path != written and path.name.startswith(self._workspace_prefix()):
                    mine.append((modified, path))
            except OSError:
                continue
        for _, path in sorted(mine, reverse=True)[KEEP_PER_WORKSPACE - 1:]:
            try:
                path.unlink(missing_ok=True)
            except OSError:
                continue

    def _key(self, role: str) -> str | None:
        if self._base is False:
            self._base = self._make_base()
        if self._base is None:
            return None
        return hashlib.sha256(f"{self._base}\0{role}".encode()).hexdigest()

    def _make_base(self) -> str | None:
        try:
            root = self._root = find_root(self.start)
        except ParacError:
            return None
        try:
            settings = (root / PARAC_DIR / SETTINGS_FILE).read_bytes()
        except FileNotFoundError:
            settings = b""
        except OSError:
            return None
        if b"mcp_servers" in settings:
            return None
        parts = (
            FORMAT,
            parac_schemas().fingerprint,
            root,
            hashlib.sha256(settings).hexdigest(),
            sorted((name, value) for name, value in os.environ.items() if name.startswith("PARAC_")),
            self.profile,
        )
        return "\0".join(map(str, parts))

    def _workspace_prefix(self) -> str:
        return f"tools-{hashlib.sha256(str(self._root).encode()).hexdigest()[:16]}-"

    def _file(self, role: str) -> Path:
        variant = hashlib.sha256(f"{parac_schemas().file.name}\0{role}".encode()).hexdigest()[:16]
        return cache_folder() / f"{self._workspace_prefix()}{variant}.json"
