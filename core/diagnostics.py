"""Diagnostics: one shape for every problem parac reports, whoever reports it.

The CLI prints them as ``FILE:LINE:COL: error CODE: message``, ``--json`` and the MCP ``validate_workspace`` tool
emit :meth:`Diagnostic.to_json`, and the language server turns them into LSP diagnostics. Lines and columns are
1-based and count characters (code points), which is what people read; the language server converts them to the
position encoding its client negotiated.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from .errors import ParacError

__all__ = ["Diagnostic", "ParacError", "Problem", "Severity", "Span", "did_you_mean", "suggestion"]

Severity = Literal["error", "warning", "information", "hint"]


@dataclass(frozen=True, slots=True)
class Span:
    """A range in a file: 1-based, end exclusive on the column."""

    line: int = 1
    column: int = 1
    end_line: int = 1
    end_column: int = 1


@dataclass(frozen=True, slots=True)
class Diagnostic:
    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    severity: Severity
    code: str
    message: str
    # Machine-readable hints for code actions, e.g. {"replace_with": "tools"}; not part of the JSON contract.
    data: dict = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def at(
        cls,
        file: str | Path | None,
        span: Span | None,
        code: str,
        message: str,
        severity: Severity = "error",
        **data: object,
    ) -> Diagnostic:
        span = span or Span()
        return cls(
            str(file) if file is not None else "<unknown>",
            span.line,
            span.column,
            span.end_line,
            span.end_column,
            severity,
            code,
            message,
            dict(data),
        )

    def to_json(self) -> dict:
        out = asdict(self)
        del out["data"]
        return out

    def format(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.severity} {self.code}: {self.message}"


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to a misspelt word, or None when nothing is close enough."""
    import difflib  # only a misspelling pays for it: every command imports this module

    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def suggestion(word: str, candidates: Iterable[str]) -> str:
    """A ' (did you mean "x"?)' suffix for messages, empty when there is no good guess."""
    match = did_you_mean(word, candidates)
    return f' (did you mean "{match}"?)' if match else ""


class Problem(NamedTuple):
    """A problem found in a spec's data, placed by key path (``("steps", 2, "agent")``) rather than in a file.

    Checks that read only the data (a workflow's graph, its templates) report these; the workspace, which has the
    source document, turns them into :class:`Diagnostic` s at the right line and column.
    """

    loc: tuple[str | int, ...]
    code: str
    message: str
    data: dict[str, Any] = {}  # hints for code actions, as in Diagnostic.data; never mutated
