"""Position arithmetic between the three ways a column is counted.

The core reports 1-based lines and columns in code points; tree-sitter reports 0-based rows and *byte* columns; an
LSP client counts in the encoding negotiated at ``initialize`` (UTF-16 for VS Code, often UTF-8 for Neovim). Every
conversion has an ASCII fast path, because almost every line of a spec file is ASCII.
"""

from __future__ import annotations

from collections.abc import Sequence

from lsprotocol import types

UTF8 = types.PositionEncodingKind.Utf8
UTF16 = types.PositionEncodingKind.Utf16
UTF32 = types.PositionEncodingKind.Utf32


def line_at(lines: Sequence[str], row: int) -> str:
    """The text of line ``row`` (0-based), or "" past the end: clients may point just after the last line."""
    return lines[row] if 0 <= row < len(lines) else ""


def units(text: str, encoding: str) -> int:
    """How many code units of ``encoding`` the client counts for ``text``."""
    if encoding == UTF32 or text.isascii():
        return len(text)
    if encoding == UTF8:
        return len(text.encode("utf-8"))
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def to_client(line: str, column: int, encoding: str) -> int:
    """A 0-based code-point column of ``line`` in the client's units."""
    return units(line[:column], encoding)


def from_client(line: str, character: int, encoding: str) -> int:
    """The 0-based code-point column for a client's ``character`` on ``line`` (clamped to the line)."""
    if encoding == UTF32 or line.isascii():
        return max(0, min(character, len(line)))
    counted = 0
    for index, char in enumerate(line):
        if counted >= character:
            return index
        counted += units(char, encoding)
    return len(line)


def byte_to_char(line: str, byte_column: int) -> int:
    """A tree-sitter byte column on ``line`` as a code-point column."""
    if line.isascii():
        return byte_column
    return len(line.encode("utf-8")[:byte_column].decode("utf-8", errors="ignore"))


def position(lines: Sequence[str], row: int, column: int, encoding: str) -> types.Position:
    """An LSP position from a 0-based row and code-point column."""
    return types.Position(line=max(row, 0), character=to_client(line_at(lines, row), max(column, 0), encoding))


def span_range(lines: Sequence[str], line: int, column: int, end_line: int, end_column: int, encoding: str) -> types.Range:
    """An LSP range from the core's 1-based, end-exclusive span."""
    start = position(lines, line - 1, column - 1, encoding)
    end = position(lines, end_line - 1, end_column - 1, encoding)
    if (end.line, end.character) < (start.line, start.character):
        end = start
    return types.Range(start=start, end=end)
