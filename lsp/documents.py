"""The files the editor has open: text kept in step with the client, and the structure read from it.

pygls' own document store applies every ``didChange`` as it comes and raises on a change to a document it never saw.
Editors (and networks) are not always that tidy, so :class:`Documents` orders changes by version. Versions only
have to grow, not by one (Neovim uses its buffer's ``changedtick``), so a change that skips a version is held until
the missing one comes, the next request about the document, or :data:`HOLD_SECONDS`, whichever is first; a client
seen skipping versions is trusted from then on and its changes apply as they come. A stale change is dropped, and a
full-text change settles everything. Whatever the client sends, the server keeps a text and keeps answering.

A :class:`Document` parses lazily and caches per version: the lines, the tree-sitter tree of its YAML (the front
matter of a Markdown file), and the structural tokens and keys built from it (:mod:`parac.lsp.yamltree`).
Files larger than :data:`MAX_ANALYSED_CHARS` are held but not analysed: answering about a 10 MB file would stall
every other request.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types

from parac.core.sources import MAX_SPEC_CHARS

from . import yamltree
from .positions import from_client, line_at

if TYPE_CHECKING:
    from tree_sitter import Tree

log = logging.getLogger("parac.lsp")
MAX_ANALYSED_CHARS = MAX_SPEC_CHARS
MAX_PENDING_CHANGES = 64
HOLD_SECONDS = 0.25
LINE_BREAK = re.compile(r"\r\n|\r|\n")
FENCE = "---"


@lru_cache(maxsize=4096)
def uri_to_path(uri: str) -> Path | None:
    """The resolved path of a ``file:`` URI (cached: every message names one, and resolving touches the disk)."""
    from pygls.uris import to_fs_path

    path = to_fs_path(uri)
    return Path(path).resolve() if path else None


def path_to_uri(path: Path | str) -> str:
    from pygls.uris import from_fs_path

    return from_fs_path(str(path)) or str(path)


class Document:
    """One text at one version, and what is read from it (computed on first use)."""

    def __init__(self, uri: str, text: str, version: int | None, language_id: str = "") -> None:
        self.uri = uri
        self.path = uri_to_path(uri)
        self.text = text
        self.version = version
        self.language_id = language_id

    @property
    def too_large(self) -> bool:
        return len(self.text) > MAX_ANALYSED_CHARS

    @cached_property
    def lines(self) -> list[str]:
        return LINE_BREAK.split(self.text)

    @cached_property
    def line_starts(self) -> list[int]:
        starts = [0]
        for match in LINE_BREAK.finditer(self.text):
            starts.append(match.end())
        return starts

    def offset(self, position: types.Position, encoding: str) -> int:
        """The string index of an LSP position (clamped into the text)."""
        if position.line >= len(self.line_starts):
            return len(self.text)
        row = max(position.line, 0)
        return self.line_starts[row] + from_client(line_at(self.lines, row), position.character, encoding)

    def column(self, position: types.Position, encoding: str) -> int:
        """The code-point column of an LSP position."""
        return from_client(line_at(self.lines, position.line), position.character, encoding)

    @cached_property
    def yaml_region(self) -> tuple[int, int, str] | None:
        """(first row, row after the last, text) of the YAML this file holds: all of it, or a Markdown front matter."""
        if self.path is None or self.path.suffix != ".md":
            return 0, len(self.lines), self.text
        if not self.lines or self.lines[0].rstrip() != FENCE:
            return None
        end = next((i for i in range(1, len(self.lines)) if self.lines[i].rstrip() == FENCE), len(self.lines))
        return 1, end, "\n".join(self.lines[1:end])

    @cached_property
    def tree(self) -> Tree | None:
        if self.too_large or self.yaml_region is None:
            return None
        return yamltree.parse(self.yaml_region[2])

    @property
    def row_offset(self) -> int:
        return self.yaml_region[0] if self.yaml_region else 0

    def in_yaml(self, row: int) -> bool:
        return self.yaml_region is not None and self.yaml_region[0] <= row < max(self.yaml_region[1], self.yaml_region[0] + 1)

    @cached_property
    def tokens(self) -> list[yamltree.Token]:
        return yamltree.tokens(self.tree, self.lines, self.row_offset) if self.tree is not None else []

    @cached_property
    def keys(self) -> list[yamltree.Key]:
        return yamltree.keys(self.tokens)

    def context_at(self, row: int, column: int) -> yamltree.Context | None:
        """Key or value at the cursor; None outside the YAML, or inside a comment or a block of text."""
        if self.tree is None or not self.in_yaml(row) or self._in_text(row, column):
            return None
        return yamltree.context_at(self.tokens, self.lines, row, column)

    def scalar_at(self, row: int, column: int) -> yamltree.Scalar | None:
        if self.tree is None or not self.in_yaml(row):
            return None
        return yamltree.scalar_at(self.tree, self.lines, row, column, self.row_offset)

    def key_at(self, row: int, column: int) -> yamltree.Key | None:
        for key in self.keys:
            token = key.token
            if token.row == row and token.column <= column <= token.end_column:
                return key
        return None

    def value_of(self, key: yamltree.Key) -> yamltree.Scalar | None:
        """The scalar written after ``key:`` on the same line, if any."""
        token = key.token
        line = line_at(self.lines, token.row)
        rest = line[token.end_column :].lstrip(": \t")
        if not rest:
            return None
        scalar = self.scalar_at(token.row, len(line) - len(rest) + 1)
        return scalar if scalar is not None and not scalar.is_key else None

    def _in_text(self, row: int, column: int) -> bool:
        assert self.tree is not None
        local = row - self.row_offset
        byte = len(line_at(self.lines, row)[:column].encode("utf-8"))
        node = self.tree.root_node.descendant_for_point_range((local, max(byte - 1, 0)), (local, max(byte - 1, 0)))
        while node is not None:
            if node.type in ("comment", "block_scalar"):
                return True
            node = node.parent
        return False


class Documents:
    """The open documents, by URI."""

    def __init__(self) -> None:
        self._docs: dict[str, Document] = {}
        self._by_path: dict[Path, str] = {}
        self._pending: dict[str, dict[int, types.DidChangeTextDocumentParams]] = {}  # held changes, by version
        self.skips_versions = False

    def __iter__(self) -> Iterator[Document]:
        return iter(list(self._docs.values()))

    def get(self, uri: str) -> Document | None:
        return self._docs.get(uri)

    def by_path(self, path: Path) -> Document | None:
        uri = self._by_path.get(path)
        return self._docs.get(uri) if uri is not None else None

    def open(self, item: types.TextDocumentItem) -> Document:
        doc = Document(item.uri, item.text, item.version, item.language_id)
        self._docs[item.uri] = doc
        if doc.path is not None:
            self._by_path[doc.path] = item.uri
        self._pending.pop(item.uri, None)
        return doc

    def close(self, uri: str) -> Document | None:
        self._pending.pop(uri, None)
        doc = self._docs.pop(uri, None)
        if doc is not None and doc.path is not None:
            self._by_path.pop(doc.path, None)
        return doc

    def change(self, params: types.DidChangeTextDocumentParams, encoding: str) -> Document | None:
        """Apply a change in version order; returns the document when its text moved on, else None."""
        uri = params.text_document.uri
        doc = self._docs.get(uri)
        if doc is None:
            log.warning("change to %s, which is not open: ignored", uri)
            return None
        version = params.text_document.version
        current = doc.version
        if current is not None and version is not None and version <= current:
            log.warning("stale change to %s (version %s, have %s): ignored", uri, version, current)
            return None
        full = any(isinstance(c, types.TextDocumentContentChangeWholeDocument) for c in params.content_changes)
        pending = self._pending.setdefault(uri, {})
        gap = current is not None and version is not None and version > current + 1
        if gap and not full and not self.skips_versions:
            if len(pending) >= MAX_PENDING_CHANGES:
                log.warning("too many changes to %s arrived out of order; dropping the oldest", uri)
                pending.pop(min(pending))
            pending[version] = params
            return None
        doc = self._apply(doc, params, encoding)
        while doc.version is not None and doc.version + 1 in pending:
            doc = self._apply(doc, pending.pop(doc.version + 1), encoding)
        for stale in [v for v in pending if doc.version is not None and v <= doc.version]:
            del pending[stale]
        return doc

    def holding(self, uri: str) -> bool:
        return bool(self._pending.get(uri))

    def flush(self, uri: str, encoding: str) -> Document | None:
        """Apply held changes in version order, gaps or not: the versions they waited for are not coming."""
        pending = self._pending.get(uri)
        doc = self._docs.get(uri)
        if doc is None or not pending:
            return None
        self.skips_versions = True
        for version in sorted(pending):
            doc = self._apply(doc, pending.pop(version), encoding)
        return doc

    def _apply(self, doc: Document, params: types.DidChangeTextDocumentParams, encoding: str) -> Document:
        text = doc.text
        current = doc
        for change in params.content_changes:
            if isinstance(change, types.TextDocumentContentChangeWholeDocument):
                text = change.text
            else:
                start = current.offset(change.range.start, encoding)
                end = max(start, current.offset(change.range.end, encoding))
                text = text[:start] + change.text + text[end:]
            current = Document(doc.uri, text, doc.version, doc.language_id)
        new = Document(doc.uri, text, params.text_document.version, doc.language_id)
        self._docs[doc.uri] = new
        return new
