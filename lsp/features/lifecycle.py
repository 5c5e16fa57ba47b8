"""Start-up and document sync: loading the workspace, and telling it about every edit and file change.

Open documents are the workspace's overlays (:meth:`parac.core.workspace.Workspace.set_overlay`), so every check
sees the editor's unsaved text; closing a document falls back to the file on disk. Changes made outside the editor
arrive as watched-file and file-operation notifications and re-read the file.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types

from .. import yamltree
from ..documents import uri_to_path

if TYPE_CHECKING:
    from ..context import FeatureServer

log = logging.getLogger("parac.lsp")
WATCH_GLOB = "**/.parac/**/*.{yaml,yml,md}"


def sync(ls: FeatureServer, path: Path, text: str | None) -> None:
    """Give the workspace the editor's text for ``path`` (None: the disk's) and re-publish what that affects."""
    core = ls.core
    if core is None:
        return
    affected = core.set_overlay(path, text)
    remember(ls, path)
    ls.publisher.now(path)
    ls.publisher.later(affected - {path})


def remember(ls: FeatureServer, path: Path) -> None:
    """Resolve an agent while its file is valid, so hover can show that resolution once an edit breaks it."""
    entry = ls.core.files.get(path) if ls.core else None
    if entry is not None and entry.kind == "agent" and entry.spec is not None:
        ls.resolved(entry.name)


def disk_changed(ls: FeatureServer, paths: list[Path]) -> None:
    """Files changed outside the editor; open ones keep the editor's text."""
    core = ls.core
    if core is None:
        return
    affected: set[Path] = set()
    for path in paths:
        if ls.documents.by_path(path) is None:
            affected |= core.refresh(path)
    ls.publisher.later(affected)


async def initialized(ls: FeatureServer, params: types.InitializedParams) -> None:
    root = ls.find_root()
    try:
        if root is not None:
            await asyncio.to_thread(_load, ls, root)
    except Exception as exc:  # a broken plugin setup must not take the editor's server down
        log.exception("loading the workspace failed")
        ls.load_problem = f"parac could not load the workspace at {root}: {exc}"
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=ls.load_problem))
    core = ls.host.workspace if ls.host is not None else None
    if core is not None:
        for doc in ls.documents:
            if doc.path is not None:
                core.set_overlay(doc.path, doc.text)
    ls.core = core
    ls.ready.set()
    if core is None:
        return
    for doc in ls.documents:
        if doc.path is not None:
            remember(ls, doc.path)
    if ls.publisher.pull:
        ls.publisher.later(p for p in core.files if ls.documents.by_path(p) is None)
    else:
        ls.publisher.later(core.files)
    await _watch_files(ls)


def did_open(ls: FeatureServer, params: types.DidOpenTextDocumentParams) -> None:
    path = ls.in_workspace(params.text_document.uri)
    doc = ls.document(params.text_document.uri)
    if path is not None and doc is not None:
        if ls.publisher.pull:
            ls.publisher.clear(path)  # the client pulls from now on; drop what was pushed while it was closed
        sync(ls, path, doc.text)


def did_change(ls: FeatureServer, params: types.DidChangeTextDocumentParams) -> None:
    path = ls.in_workspace(params.text_document.uri)
    doc = ls.document(params.text_document.uri)
    if path is not None and doc is not None:
        sync(ls, path, doc.text)


def did_close(ls: FeatureServer, params: types.DidCloseTextDocumentParams) -> None:
    path = ls.in_workspace(params.text_document.uri)
    if path is not None:
        sync(ls, path, None)


def did_save(ls: FeatureServer, params: types.DidSaveTextDocumentParams) -> None:
    """Nothing to do: the workspace already checks the editor's text."""


def watched(ls: FeatureServer, params: types.DidChangeWatchedFilesParams) -> None:
    disk_changed(ls, [p for c in params.changes if (p := uri_to_path(c.uri)) is not None])


def created(ls: FeatureServer, params: types.CreateFilesParams) -> None:
    disk_changed(ls, [p for f in params.files if (p := uri_to_path(f.uri)) is not None])


def deleted(ls: FeatureServer, params: types.DeleteFilesParams) -> None:
    paths = [p for f in params.files if (p := uri_to_path(f.uri)) is not None]
    disk_changed(ls, paths)
    for path in paths:
        ls.publisher.clear(path)


def renamed(ls: FeatureServer, params: types.RenameFilesParams) -> None:
    old = [p for f in params.files if (p := uri_to_path(f.old_uri)) is not None]
    new = [p for f in params.files if (p := uri_to_path(f.new_uri)) is not None]
    disk_changed(ls, old + new)
    for path in old:
        ls.publisher.clear(path)


def _load(ls: FeatureServer, root: Path) -> None:
    yamltree.parser()
    ls.load(root)


async def _watch_files(ls: FeatureServer) -> None:
    """Ask the client to report changes to spec files made outside the editor, when it can."""
    caps = ls.client_capabilities.workspace
    if not (caps and caps.did_change_watched_files and caps.did_change_watched_files.dynamic_registration):
        return
    options = types.DidChangeWatchedFilesRegistrationOptions(watchers=[types.FileSystemWatcher(glob_pattern=WATCH_GLOB)])
    registration = types.Registration(id="parac-watch", method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES, register_options=options)
    try:
        await ls.client_register_capability_async(types.RegistrationParams(registrations=[registration]))
    except Exception as exc:  # the client may refuse; the server works without it
        log.warning("could not register file watchers: %s", exc)
