"""Error-tolerant structure of a YAML document, from tree-sitter.

PyYAML (the core's loader) gives up at the first syntax error, and a file being typed is broken most of the time. The
tree-sitter grammar still yields tokens then, wrapped in ERROR nodes rather than a clean tree, so this module does not
trust the tree's shape: it takes the structural tokens (keys followed by ``:``, ``-`` of block sequences, flow
brackets and commas), skipping comments, quoted strings and block scalars whose text may look like keys, and rebuilds
nesting from indentation and brackets the way a YAML reader would. The result is the key path of every key and of any
cursor position, correct on clean files and sensible on broken ones.

Columns here are 0-based code points; tree-sitter's byte columns are converted on the way in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Literal

from .positions import byte_to_char, line_at

if TYPE_CHECKING:
    from tree_sitter import Node, Parser, Tree

Loc = tuple[str | int, ...]
TokenKind = Literal["key", "dash", "open", "close", "comma"]
OPENERS = {"[", "{"}
CLOSERS = {"]", "}"}
# Nodes whose text is data, never structure: a block scalar's lines may read like "key: value".
OPAQUE = {"comment", "block_scalar", "double_quote_scalar", "single_quote_scalar"}
QUOTED = {"double_quote_scalar", "single_quote_scalar"}
SCALARS = {"plain_scalar", "double_quote_scalar", "single_quote_scalar"}


@cache
def parser() -> Parser:
    """The YAML parser, built once; the server calls this right after start so the first request doesn't pay."""
    import tree_sitter
    import tree_sitter_yaml

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_yaml.language()))


def parse(text: str) -> Tree:
    return parser().parse(text.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    row: int
    column: int
    end_row: int
    end_column: int
    text: str


@dataclass(frozen=True, slots=True)
class Key:
    """A key of the document with its full path (``("steps", 0, "agent")``) and its range."""

    path: Loc
    token: Token

    @property
    def name(self) -> str:
        return self.token.text


@dataclass(frozen=True, slots=True)
class Context:
    """What a cursor position is: a key being written in the mapping at ``path``, or the value at ``path``."""

    kind: Literal["key", "value"]
    path: Loc


def tokens(tree: Tree, lines: Sequence[str], row_offset: int = 0) -> list[Token]:
    """The structural tokens of ``tree`` in document order, rows shifted by ``row_offset`` (front matter)."""
    out: list[Token] = []
    for node in _walk(tree.root_node):
        kind = _kind(node)
        if kind is None:
            continue
        (row, byte_col), (end_row, end_byte_col) = node.start_point, node.end_point
        text = _key_text(node) if kind == "key" else node.type
        out.append(
            Token(
                kind,
                row + row_offset,
                byte_to_char(line_at(lines, row + row_offset), byte_col),
                end_row + row_offset,
                byte_to_char(line_at(lines, end_row + row_offset), end_byte_col),
                text,
            )
        )
    return out


def _walk(node: Node) -> Iterator[Node]:
    """Pre-order walk that yields key nodes without entering them and skips opaque nodes."""
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type in OPAQUE and not _is_key(current):
            continue
        yield current
        if _is_key(current):
            continue
        stack.extend(reversed(current.children))


def _is_key(node: Node) -> bool:
    sibling = node.next_sibling
    return node.is_named and sibling is not None and sibling.type == ":" and node.type not in ("ERROR", "comment")


def _kind(node: Node) -> TokenKind | None:
    if _is_key(node):
        return "key"
    if node.is_named:
        return None
    if node.type == "-":
        return "dash"
    if node.type in OPENERS:
        return "open"
    if node.type in CLOSERS:
        return "close"
    if node.type == ",":
        return "comma"
    return None


def _key_text(node: Node) -> str:
    text = (node.text or b"").decode("utf-8", errors="replace").strip()
    leaf = node
    while leaf.named_child_count == 1:
        leaf = leaf.named_children[0]
    if leaf.type in QUOTED and len(text) >= 2:
        return text[1:-1]
    return text


@dataclass
class _Frame:
    indent: int
    kind: Literal["key", "item", "flow-seq", "flow-map"]
    segment: str | int | None
    index: int = 0
    row: int = 0


@dataclass
class Structure:
    """Rebuilds nesting from tokens fed in order; :meth:`path` is the key path at the current point."""

    frames: list[_Frame] = field(default_factory=list)

    def feed(self, token: Token) -> Loc | None:
        """Take one token; for a key, return its full path."""
        self.close_flows_before(token.row, token.column)
        top = self.frames[-1] if self.frames else None
        if top is not None and top.kind.startswith("flow"):
            return self._feed_flow(token, top)
        if token.kind == "key":
            self._pop(lambda f: f.indent >= token.column)
            self.frames.append(_Frame(token.column, "key", token.text))
            return self.path()
        if token.kind == "dash":
            self._pop(lambda f: f.indent > token.column)
            top = self.frames[-1] if self.frames else None
            if top is not None and top.kind == "item" and top.indent == token.column:
                top.index += 1
                top.segment = top.index
            else:
                self.frames.append(_Frame(token.column, "item", 0))
        elif token.kind == "open":
            self._open(token)
        return None

    def _open(self, token: Token) -> None:
        # A flow collection's lines must stay right of the block it sits in; remember that block's column.
        block = next((f.indent for f in reversed(self.frames) if not f.kind.startswith("flow")), -1)
        seq = token.text == "["
        self.frames.append(_Frame(block, "flow-seq" if seq else "flow-map", 0 if seq else None, row=token.row))

    def close_flows_before(self, row: int, column: int) -> None:
        """An unclosed bracket (a half-typed ``[a, b``) ends where a later line comes back to its block's column."""
        while self.frames and self.frames[-1].kind.startswith("flow"):
            top = self.frames[-1]
            if row <= top.row or column > top.indent:
                return
            self.frames.pop()

    def _feed_flow(self, token: Token, top: _Frame) -> Loc | None:
        if token.kind == "open":
            self._open(token)
        elif token.kind == "close":
            self.frames.pop()
        elif token.kind == "comma":
            top.index += 1
            top.segment = top.index if top.kind == "flow-seq" else None
        elif token.kind == "key" and top.kind == "flow-map":
            top.segment = token.text
            return self.path()
        return None

    def _pop(self, drop: Callable[[_Frame], bool]) -> None:
        while self.frames and drop(self.frames[-1]):
            self.frames.pop()

    def path(self) -> Loc:
        return tuple(f.segment for f in self.frames if f.segment is not None)

    def dedent_to(self, column: int) -> None:
        """A cursor at ``column`` on a line with no tokens before it closes every block deeper than that."""
        if self.frames and self.frames[-1].kind.startswith("flow"):
            return
        self._pop(lambda f: f.indent >= column)


def keys(toks: Sequence[Token]) -> list[Key]:
    """Every key of the document with its path."""
    structure = Structure()
    out = []
    for token in toks:
        path = structure.feed(token)
        if path is not None:
            out.append(Key(path, token))
    return out


def context_at(toks: Sequence[Token], lines: Sequence[str], row: int, column: int) -> Context:
    """Whether the cursor at (``row``, ``column``) writes a key or a value, and at which path."""
    structure = Structure()
    last: Token | None = None
    for token in toks:
        if (token.row, token.column) >= (row, column) or (token.kind == "key" and (token.end_row, token.end_column) >= (row, column)):
            break
        structure.feed(token)
        last = token
    line = line_at(lines, row)
    indent = len(line) - len(line.lstrip(" "))
    if last is None or last.row != row:
        structure.close_flows_before(row, min(indent, column))
    top = structure.frames[-1] if structure.frames else None
    if top is not None and top.kind.startswith("flow"):
        if top.kind == "flow-map" and (last is None or last.kind != "key"):
            return Context("key", tuple(f.segment for f in structure.frames[:-1] if f.segment is not None))
        return Context("value", structure.path())
    if last is not None and last.row == row and last.kind in ("key", "dash"):
        return Context("value", structure.path())
    structure.dedent_to(min(indent, column))
    return Context("key", structure.path())


@dataclass(frozen=True, slots=True)
class Scalar:
    """A scalar of the document: its text (unquoted), its range, and whether it is a key."""

    text: str
    row: int
    column: int
    end_row: int
    end_column: int
    is_key: bool


def scalar_at(tree: Tree, lines: Sequence[str], row: int, column: int, row_offset: int = 0) -> Scalar | None:
    """The scalar under the cursor, or just before it (a cursor at the end of a word)."""
    local_row = row - row_offset
    if local_row < 0:
        return None
    byte_col = len(line_at(lines, row)[:column].encode("utf-8"))
    for probe in (byte_col, byte_col - 1):
        if probe < 0:
            continue
        node: Node | None = tree.root_node.named_descendant_for_point_range((local_row, probe), (local_row, probe))
        while node is not None and node.type not in SCALARS and node.type.endswith("_scalar"):
            node = node.parent
        if node is None or node.type not in SCALARS:
            continue
        text = (node.text or b"").decode("utf-8", errors="replace")
        if node.type in QUOTED and len(text) >= 2:
            text = text[1:-1]
        (r, c), (er, ec) = node.start_point, node.end_point
        holder = node.parent if node.parent is not None and node.parent.type == "flow_node" else node
        return Scalar(
            text,
            r + row_offset,
            byte_to_char(line_at(lines, r + row_offset), c),
            er + row_offset,
            byte_to_char(line_at(lines, er + row_offset), ec),
            _is_key(holder),
        )
    return None
