"""The language server: one pygls server, one core workspace, and one module per LSP feature.

:func:`build` assembles it; each module of :mod:`parac.lsp.features` registers its handlers through a
``register(server)`` function (esbonio's layout), so adding a feature never touches another.

Start-up is ordered for editors that spawn the server on every launch: ``initialize`` is answered at once; the
plugins and the workspace load in a worker thread after ``initialized``; requests that need them wait for
:attr:`ParacLanguageServer.ready`, and documents opened meanwhile are handed to the workspace when it is there.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from parac.core.diagnostics import ParacError

from .context import Spot
from .documents import HOLD_SECONDS, Document, Documents, path_to_uri, uri_to_path
from .publisher import Publisher

if TYPE_CHECKING:
    from parac.core.inheritance import ResolvedAgent
    from parac.core.workspace import Workspace
    from parac.server.host import Host

log = logging.getLogger("parac.lsp")
VERSION = "0.1.0"


class ParacProtocol(LanguageServerProtocol):
    """pygls' protocol with document sync routed to :class:`Documents`, which tolerates disorder."""

    _server: ParacLanguageServer

    def structure_message(self, data: dict[str, Any]) -> Any:
        """JSON-RPC lets a message leave ``params`` out; pygls' type for methods it does not know requires it, so such
        a request got no reply at all (an internal error on stderr) instead of "method not found"."""
        if "method" in data and "params" not in data and self.get_message_type(data["method"]) is None:
            data = {**data, "params": None}
        return super().structure_message(data)

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> Generator[Any, Any, None]:
        self._server.documents.open(params.text_document)
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Generator[Any, Any, None]:
        uri = params.text_document.uri
        if self._server.documents.change(params, self._server.encoding) is None:
            if self._server.documents.holding(uri):
                asyncio.get_running_loop().call_later(HOLD_SECONDS, self._flush, uri)
            return
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    def _flush(self, uri: str) -> None:
        doc = self._server.documents.flush(uri, self._server.encoding)
        if doc is not None and (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            identifier = types.VersionedTextDocumentIdentifier(uri=uri, version=doc.version or 0)
            handler(types.DidChangeTextDocumentParams(text_document=identifier, content_changes=[]))

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> Generator[Any, Any, None]:
        self._server.documents.close(params.text_document.uri)
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None


class ParacLanguageServer(LanguageServer):
    """The pygls server plus what its features share (see :class:`parac.lsp.context.FeatureServer`)."""

    def __init__(self, workspace_dir: Path | None = None) -> None:
        super().__init__("parac", VERSION, protocol_cls=ParacProtocol, text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.documents = Documents()
        self.workspace_dir = workspace_dir
        self.host: Host | None = None
        self.core: Workspace | None = None
        self.load_problem: str | None = None
        self.publisher = Publisher(self)
        self.last_resolved: dict[str, ResolvedAgent] = {}
        self._ready: asyncio.Event | None = None

    # -- state -----------------------------------------------------------------------------------------------------

    @property
    def encoding(self) -> str:
        try:
            return str(self.workspace.position_encoding or types.PositionEncodingKind.Utf16)
        except RuntimeError:  # before initialize
            return types.PositionEncodingKind.Utf16

    @property
    def ready(self) -> asyncio.Event:
        if self._ready is None:
            self._ready = asyncio.Event()
        return self._ready

    async def workspace_ready(self) -> Workspace | None:
        """The core workspace once loaded; None when there is no ``.parac/`` to serve."""
        await self.ready.wait()
        return self.core

    def document(self, uri: str) -> Document | None:
        """The open document, with any changes still held for missing versions applied first."""
        if self.documents.holding(uri) and (doc := self.documents.flush(uri, self.encoding)) is not None:
            from .features.lifecycle import sync

            if (path := self.in_workspace(uri)) is not None:
                sync(self, path, doc.text)
        return self.documents.get(uri)

    def resolved(self, name: str) -> tuple[ResolvedAgent | None, bool]:
        """The agent resolved now, or as it last resolved (``True`` in the second place) when it can't be now: while
        a file is broken, hover and navigation keep showing its last valid resolution."""
        core = self.core
        assert core is not None
        try:
            result = core.resolve_agent(name)
        except ParacError:
            return self.last_resolved.get(name), True
        self.last_resolved[name] = result
        return result, False

    def text_of(self, path: Path) -> Document | None:
        """The open document for ``path``, or one read from the workspace's copy of it."""
        doc = self.documents.by_path(path)
        if doc is not None:
            return doc
        entry = self.core.files.get(path) if self.core else None
        text = entry.doc.text if entry is not None and entry.doc is not None else None
        if text is None:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                return None
        return Document(path_to_uri(path), text, None)

    async def spot(self, uri: str, position: types.Position | None = None) -> Spot | None:
        """The request's file and cursor, once the workspace is loaded; None for anything not to analyse."""
        from parac.core.workspace import kind_of

        core = await self.workspace_ready()
        doc = self.document(uri)
        path = self.in_workspace(uri)
        if core is None or doc is None or path is None or doc.too_large:
            return None
        kind = kind_of(core.dir, path)
        if kind is None:
            return None
        row = position.line if position is not None else 0
        column = doc.column(position, self.encoding) if position is not None else 0
        return Spot(core, doc, path, kind, row, column)

    def in_workspace(self, uri: str) -> Path | None:
        """The path of ``uri`` when it is a spec file of the loaded workspace."""
        from parac.core.workspace import kind_of

        path = uri_to_path(uri)
        if self.core is None or path is None or kind_of(self.core.dir, path) is None:
            return None
        return path

    # -- loading ---------------------------------------------------------------------------------------------------

    def find_root(self) -> Path | None:
        from parac.core.workspace import PARAC_DIR, WorkspaceNotFound, find_root

        candidates: list[Path] = []
        if self.workspace_dir is not None:
            candidates.append(self.workspace_dir)
        for folder in self.workspace.folders.values():
            if (path := uri_to_path(folder.uri)) is not None:
                candidates.append(path)
        if self.workspace.root_path:
            candidates.append(Path(self.workspace.root_path))
        for doc in self.documents:
            if doc.path is not None:
                candidates.append(doc.path.parent)
        for candidate in candidates:
            for folder in (candidate, *candidate.parents):
                if (folder / PARAC_DIR).is_dir():
                    return folder
        try:
            return find_root()
        except WorkspaceNotFound:
            return None

    def load(self, root: Path) -> None:
        """Load plugins and the workspace (runs in a worker thread; touches nothing the event loop uses)."""
        from parac.server.host import Host

        self.host = Host.for_workspace(root)
        for problem in self.host.problems:
            log.warning("plugin %s failed (%s): %s", problem.plugin, problem.phase, problem.message)


# LSP method -> (feature module, handler, registration options). The modules import the core (pydantic models and
# all), so they are imported on first use: ``initialize`` is answered before any of that is loaded.
FILE_OPERATIONS = types.FileOperationRegistrationOptions(
    filters=[types.FileOperationFilter(pattern=types.FileOperationPattern(glob="**/.parac/**"))]
)
HANDLERS: dict[str, tuple[str, str, Any]] = {
    types.INITIALIZED: ("lifecycle", "initialized", None),
    types.TEXT_DOCUMENT_DID_OPEN: ("lifecycle", "did_open", None),
    types.TEXT_DOCUMENT_DID_CHANGE: ("lifecycle", "did_change", None),
    types.TEXT_DOCUMENT_DID_CLOSE: ("lifecycle", "did_close", None),
    types.TEXT_DOCUMENT_DID_SAVE: ("lifecycle", "did_save", None),
    types.WORKSPACE_DID_CHANGE_WATCHED_FILES: ("lifecycle", "watched", None),
    types.WORKSPACE_DID_CREATE_FILES: ("lifecycle", "created", FILE_OPERATIONS),
    types.WORKSPACE_DID_DELETE_FILES: ("lifecycle", "deleted", FILE_OPERATIONS),
    types.WORKSPACE_DID_RENAME_FILES: ("lifecycle", "renamed", FILE_OPERATIONS),
    types.TEXT_DOCUMENT_DIAGNOSTIC: (
        "diagnostics",
        "pull",
        types.DiagnosticOptions(identifier="parac", inter_file_dependencies=True, workspace_diagnostics=False),
    ),
    types.TEXT_DOCUMENT_COMPLETION: (
        "completion",
        "completion",
        types.CompletionOptions(trigger_characters=[":", " ", "-", "[", ","]),
    ),
    types.TEXT_DOCUMENT_HOVER: ("hover", "hover", None),
    types.TEXT_DOCUMENT_DEFINITION: ("navigation", "definition", None),
    types.TEXT_DOCUMENT_REFERENCES: ("navigation", "references", None),
    types.TEXT_DOCUMENT_PREPARE_RENAME: ("rename", "prepare", None),
    types.TEXT_DOCUMENT_RENAME: ("rename", "rename", types.RenameOptions(prepare_provider=True)),
    types.TEXT_DOCUMENT_DOCUMENT_SYMBOL: ("symbols", "document_symbols", None),
    types.WORKSPACE_SYMBOL: ("symbols", "workspace_symbols", None),
    types.TEXT_DOCUMENT_CODE_ACTION: (
        "code_actions",
        "code_actions",
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
    ),
}
# Notifications must run in arrival order, so their handlers stay synchronous; requests may wait for the workspace.
ASYNC = {types.INITIALIZED} | {m for m in HANDLERS if "/did" not in m}


def _handler(module: str, name: str, is_async: bool) -> Callable[..., Any]:
    def target() -> Callable[..., Any]:
        return getattr(importlib.import_module(f"parac.lsp.features.{module}"), name)

    if is_async:

        async def run_async(ls: ParacLanguageServer, params: Any) -> Any:
            return await target()(ls, params)

        return run_async

    def run(ls: ParacLanguageServer, params: Any) -> Any:
        return target()(ls, params)

    return run


def build(workspace_dir: Path | None = None) -> ParacLanguageServer:
    """The server with every feature's handler registered (each feature module loads on its first message)."""
    server = ParacLanguageServer(workspace_dir)
    for method, (module, name, options) in HANDLERS.items():
        server.feature(method, options)(_handler(module, name, method in ASYNC))
    return server
