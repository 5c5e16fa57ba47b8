"""What a feature module may use of the language server (:class:`FeatureServer`), and what a request is about
(:class:`Spot`).

Features are written against this protocol, not against :mod:`parac.lsp.server`: the server imports the features
(by name, on their first message), so a feature that imported the server would close a cycle.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from lsprotocol import types

    from parac.core.inheritance import ResolvedAgent
    from parac.core.workspace import Workspace
    from parac.server.host import Host

    from .documents import Document, Documents
    from .publisher import Publisher


@dataclass(frozen=True)
class Spot:
    """What a request is about: a spec file of the loaded workspace, open in the editor, and a cursor in it."""

    core: Workspace
    doc: Document
    path: Path
    kind: str
    row: int
    column: int  # code points


class FeatureServer(Protocol):
    """The language server as its features see it: the open documents, the loaded workspace, and the few
    messages features send to the client themselves."""

    documents: Documents
    host: Host | None
    core: Workspace | None
    load_problem: str | None
    publisher: Publisher

    @property
    def encoding(self) -> str: ...

    @property
    def ready(self) -> asyncio.Event: ...

    @property
    def client_capabilities(self) -> types.ClientCapabilities: ...

    async def workspace_ready(self) -> Workspace | None: ...

    def document(self, uri: str) -> Document | None: ...

    def text_of(self, path: Path) -> Document | None: ...

    async def spot(self, uri: str, position: types.Position | None = None) -> Spot | None: ...

    def in_workspace(self, uri: str) -> Path | None: ...

    def find_root(self) -> Path | None: ...

    def load(self, root: Path) -> None: ...

    def resolved(self, name: str) -> tuple[ResolvedAgent | None, bool]: ...

    def text_document_publish_diagnostics(self, params: types.PublishDiagnosticsParams) -> None: ...

    def workspace_diagnostic_refresh(self, params: None) -> Any: ...

    def window_show_message(self, params: types.ShowMessageParams) -> None: ...

    async def client_register_capability_async(self, params: types.RegistrationParams) -> None: ...
