"""``textDocument/diagnostic``: the diagnostics of one open file, for clients that pull them (LSP 3.17).

Pushing, to every client and for files not open, is :mod:`parac.lsp.publisher`'s job.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from ..context import FeatureServer


async def pull(ls: FeatureServer, params: types.DocumentDiagnosticParams) -> types.DocumentDiagnosticReport:
    await ls.workspace_ready()
    path = ls.in_workspace(params.text_document.uri)
    items = ls.publisher.diagnostics(path) if path is not None else []
    result_id = hashlib.sha1(repr([(d.range, d.message, d.code) for d in items]).encode()).hexdigest()[:16]
    if params.previous_result_id == result_id:
        return types.UnchangedDocumentDiagnosticReport(result_id=result_id)
    return types.FullDocumentDiagnosticReport(items=items, result_id=result_id)
