"""Diagnostics pushed to the client: the core's, for the edited file at once and for its dependents soon after.

The file being typed is answered in the same turn of the event loop as its change. Files that depend on it (an
agent's descendants, the workflows that use it; the whole workspace for ``parac.yaml``) are re-checked by a
background task in slices of a few milliseconds, so a change to a root agent of a thousand descendants never holds
up the next keystroke or request. A file still queued when the next change arrives is simply checked once.

Clients that pull diagnostics (LSP 3.17 ``textDocument/diagnostic``, answered by :mod:`.features.diagnostics`) get
them for open files by pull, and a ``workspace/diagnostic/refresh`` when another file's change affects them; files
that are not open are pushed to every client, so the problems view shows the whole workspace.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types

from .documents import path_to_uri
from .positions import span_range

if TYPE_CHECKING:
    from parac.core.diagnostics import Diagnostic

    from .context import FeatureServer

log = logging.getLogger("parac.lsp")
MAX_PER_FILE = 500
MAX_MESSAGE = 1000
SLICE_SECONDS = 0.004
SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "information": types.DiagnosticSeverity.Information,
    "hint": types.DiagnosticSeverity.Hint,
}


def to_lsp(found: Sequence[Diagnostic], lines: Sequence[str], encoding: str) -> list[types.Diagnostic]:
    """LSP diagnostics for the core's, capped: a file with thousands of problems shows the first few hundred."""
    out = []
    for d in found[:MAX_PER_FILE]:
        message = d.message if len(d.message) <= MAX_MESSAGE else d.message[: MAX_MESSAGE - 1] + "…"
        out.append(
            types.Diagnostic(
                range=span_range(lines, d.line, d.column, d.end_line, d.end_column, encoding),
                message=message,
                severity=SEVERITY.get(d.severity, types.DiagnosticSeverity.Error),
                code=d.code,
                source="parac",
            )
        )
    if len(found) > MAX_PER_FILE:
        out.append(
            types.Diagnostic(
                range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
                message=f"{len(found) - MAX_PER_FILE} more problems not shown; run `parac validate` for all of them",
                severity=types.DiagnosticSeverity.Information,
                code="truncated",
                source="parac",
            )
        )
    return out


class Publisher:
    """Sends diagnostics for workspace files: now for one, in the background for many."""

    def __init__(self, server: FeatureServer) -> None:
        self.server = server
        self.queue: dict[Path, None] = {}
        self.task: asyncio.Task[None] | None = None
        self.refresh_wanted = False

    @property
    def pull(self) -> bool:
        caps = self.server.client_capabilities.text_document
        return caps is not None and caps.diagnostic is not None

    def diagnostics(self, path: Path) -> list[types.Diagnostic]:
        core = self.server.core
        doc = self.server.text_of(path)
        if core is None or doc is None:
            return []
        return to_lsp(core.diagnostics_for(path), doc.lines, self.server.encoding)

    def now(self, path: Path) -> None:
        """Diagnostics for the file just edited (a pull client asks for those itself)."""
        self.queue.pop(path, None)
        if not (self.pull and self.server.documents.by_path(path) is not None):
            self._send(path)

    def later(self, paths: Iterable[Path]) -> None:
        for path in paths:
            self.queue[path] = None
        if self.queue and (self.task is None or self.task.done()):
            self.task = asyncio.get_running_loop().create_task(self._drain())

    def _send(self, path: Path) -> None:
        uri = path_to_uri(path)
        if self.pull and self.server.documents.by_path(path) is not None:
            self.refresh_wanted = True
            return
        self.server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=self.diagnostics(path))
        )

    def clear(self, path: Path) -> None:
        self.server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=path_to_uri(path), diagnostics=[]))

    async def _drain(self) -> None:
        """Work through the queue in slices of a few milliseconds, letting incoming messages in between."""
        while self.queue:
            deadline = time.perf_counter() + SLICE_SECONDS
            while self.queue and time.perf_counter() < deadline:
                path = next(iter(self.queue))
                self.queue.pop(path, None)
                try:
                    self._send(path)
                except Exception:  # one file's trouble must not stop the others being reported
                    log.exception("diagnostics for %s failed", path)
            await asyncio.sleep(0)
        self._refresh()

    def _refresh(self) -> None:
        if not self.refresh_wanted:
            return
        self.refresh_wanted = False
        workspace_caps = self.server.client_capabilities.workspace
        if workspace_caps and workspace_caps.diagnostics and workspace_caps.diagnostics.refresh_support:
            self.server.workspace_diagnostic_refresh(None)
