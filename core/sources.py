"""Reading spec files while remembering where every key and value stands.

Specs are YAML files or Markdown files with YAML front matter. They are parsed with PyYAML's C loader into a node
tree, which keeps source marks, and then constructed into plain Python data; a walk over the same nodes records
the span of every key and value by its path (``("budget", "per_run_usd")``, ``("steps", 2, "agent")``), so any
error found later, by pydantic or by cross-file checks, can point at the exact place.

The walk costs as much as a third of the parse, and most files never need a position (they have no error), so it
runs when a span is first asked for, or at once when the constructor saw a repeated key (which only the walk reports).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from .diagnostics import Diagnostic, Span

try:  # the C loader is ~10x faster; PyYAML wheels ship it, but a source build may not.
    _BaseLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _BaseLoader = yaml.SafeLoader


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """The safe loader, noting whether any mapping repeated a key (YAML loaders silently keep the last one)."""

    repeated_key = False

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping = super().construct_mapping(node, deep)
        if len(mapping) < len(node.value):
            self.repeated_key = True
        return mapping

Loc = tuple[str | int, ...]
FRONT_MATTER_FENCE = "---"
# Spec files are small; a huge one is a mistake (a log pasted in, a binary), and parsing it would stall the language
# server and ``validate`` alike. Larger files are reported, not parsed.
MAX_SPEC_CHARS = 1_000_000


@dataclass
class SourceDoc:
    """One parsed spec file: its text, its data, and where each part of the data came from."""

    path: Path
    text: str
    data: Any = None
    body: str | None = None  # Markdown body after the front matter
    diagnostics: list[Diagnostic] = field(default_factory=list)
    _yaml: str | None = field(default=None, repr=False, compare=False)  # the YAML part, when it parsed
    _line_offset: int = field(default=0, repr=False, compare=False)
    _walker: _Walker | None = field(default=None, repr=False, compare=False)

    def _walked(self, root: yaml.Node | None = None) -> _Walker:
        """The spans, from ``root`` or by parsing the YAML again: keeping every file's node tree until someone asks
        costs more (memory and time) than parsing the few files that need positions a second time."""
        if self._walker is None:
            self._walker = _Walker(self, self._line_offset)
            if root is None and self._yaml is not None:
                loader = _Loader(self._yaml)
                try:
                    root = loader.get_single_node()
                    if root is not None:
                        loader.construct_document(root)  # merge keys are flattened as in the first parse
                finally:
                    loader.dispose()
            if root is not None:
                self._walker.walk(root, ())
        return self._walker

    @property
    def value_spans(self) -> dict[Loc, Span]:
        """Where each value stands, by its path."""
        return self._walked().value_spans

    @property
    def key_spans(self) -> dict[Loc, Span]:
        """Where each mapping key stands, by the path of its value."""
        return self._walked().key_spans

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)

    def span(self, loc: Loc, *, key: bool = False) -> Span:
        """The span of the value (or key) at ``loc``, falling back to the nearest ancestor that has one."""
        spans = self.key_spans if key else self.value_spans
        for end in range(len(loc), -1, -1):
            sub = tuple(loc[:end])
            if sub in spans:
                return spans[sub]
            if key and sub in self.value_spans:
                return self.value_spans[sub]
        return self.value_spans.get((), Span())

    def place(self, loc: Loc) -> str:
        """``FILE:LINE:COL: a.b.c``: the setting at ``loc`` as an error names it, at its key's position."""
        span = self.span(loc, key=True)
        return f"{self.path}:{span.line}:{span.column}: {'.'.join(map(str, loc))}"

    @cached_property
    def lines(self) -> list[str]:
        return self.text.splitlines()


def read_text(path: Path) -> tuple[str | None, Diagnostic | None]:
    """The file's text, or a diagnostic saying why it cannot be read (missing, unreadable, not UTF-8)."""
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size  # read(limit) would allocate the whole limit for every file
            if size > MAX_SPEC_CHARS * 4:
                return None, _too_large(path, size)
            raw = file.read()
    except OSError as exc:
        return None, Diagnostic.at(path, None, "unreadable", f"cannot read file: {exc.strerror or exc}")
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        span = Span(line, column, line, column + 1)
        return None, Diagnostic.at(path, span, "encoding", f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})")


def settings_place(parac_dir: Path | None, loc: tuple[str, ...]) -> str:
    """``FILE:LINE:COL: providers.NAME.api_key_file``: the setting at ``loc`` in ``parac.yaml`` in ``parac_dir`` as
    the file is now (the dotted path alone without it). Read again only when a setting fails later than the load
    (a key file at the first model call, a doctor's check), since what uses a setting gets values, not their file."""
    from .roots import SETTINGS_FILE

    settings_file = parac_dir / SETTINGS_FILE if parac_dir is not None else None
    if settings_file is None or not settings_file.is_file():
        return ".".join(loc)
    return load_source(settings_file).place(loc)


def load_source(path: Path, text: str | None = None) -> SourceDoc:
    """Parse a ``.yaml``/``.yml`` file or a ``.md`` file with front matter; problems become diagnostics."""
    if text is None:
        text, problem = read_text(path)
        if problem is not None:
            return SourceDoc(path, "", diagnostics=[problem])
    if len(text) > MAX_SPEC_CHARS:
        return SourceDoc(path, "", diagnostics=[_too_large(path, len(text.encode("utf-8", errors="replace")))])
    if path.suffix == ".md":
        return _load_markdown(path, text)
    doc = SourceDoc(path, text)
    _parse_yaml(doc, text, line_offset=0)
    return doc


def _too_large(path: Path, size: int) -> Diagnostic:
    return Diagnostic.at(
        path, None, "too-large", f"file is too large to check ({size / 1e6:.1f} MB; spec files are read up to {MAX_SPEC_CHARS // 1_000_000} MB)"
    )


def _load_markdown(path: Path, text: str) -> SourceDoc:
    doc = SourceDoc(path, text)
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != FRONT_MATTER_FENCE:
        doc.data = {}
        doc.body = text
        return doc
    for index in range(1, len(lines)):
        if lines[index].rstrip() == FRONT_MATTER_FENCE:
            _parse_yaml(doc, "".join(lines[1:index]), line_offset=1)
            doc.body = "".join(lines[index + 1 :]).lstrip("\n")
            return doc
    doc.diagnostics.append(
        Diagnostic.at(path, Span(1, 1, 1, 4), "syntax", "front matter is not closed: expected a line '---'")
    )
    return doc


def _parse_yaml(doc: SourceDoc, text: str, line_offset: int) -> None:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = (mark.line if mark else 0) + 1 + line_offset
        column = (mark.column if mark else 0) + 1
        problem = exc.problem or exc.context or "invalid YAML"
        context = f" {exc.context}" if exc.context and exc.problem else ""
        start = exc.context_mark
        if context and start is not None and mark is not None and start.line != mark.line:
            # e.g. a quote never closed: the error is found at the end, the cause is where the scalar began
            context += f" that begins at line {start.line + 1 + line_offset}, column {start.column + 1}"
        doc.diagnostics.append(
            Diagnostic.at(doc.path, Span(line, column, line, column + 1), "syntax", f"{problem}{context}")
        )
        return
    except (yaml.YAMLError, ValueError, TypeError) as exc:  # e.g. unhashable keys
        doc.diagnostics.append(Diagnostic.at(doc.path, None, "syntax", f"invalid YAML: {exc}"))
        return
    finally:
        loader.dispose()
    doc.data = {} if data is None else data
    doc._yaml, doc._line_offset = text, line_offset
    if loader.repeated_key:
        doc._walked(node)  # the walk reports each repeated key


class _Walker:
    """Records spans for every key and value, and reports duplicate keys (which YAML loaders silently merge)."""

    def __init__(self, doc: SourceDoc, line_offset: int) -> None:
        self.doc = doc
        self.offset = line_offset
        self.value_spans: dict[Loc, Span] = {}
        self.key_spans: dict[Loc, Span] = {}

    def span(self, node: yaml.Node) -> Span:
        start, end = node.start_mark, node.end_mark
        end_line, end_column = end.line, end.column
        if end_column == 0 and end_line > start.line:  # block collections end at the next line's start
            end_line -= 1
            end_column = len(self.doc.lines[end_line + self.offset]) if end_line + self.offset < len(self.doc.lines) else 0
        return Span(start.line + 1 + self.offset, start.column + 1, end_line + 1 + self.offset, end_column + 1)

    def walk(self, node: yaml.Node, loc: Loc) -> None:
        self.value_spans[loc] = self.span(node)
        if isinstance(node, yaml.MappingNode):
            seen: set[object] = set()
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else repr(key_node.value)
                child = (*loc, key)
                key_span = self.span(key_node)
                if key in seen:
                    self.doc.diagnostics.append(
                        Diagnostic.at(self.doc.path, key_span, "duplicate-key", f'duplicate key "{key}"')
                    )
                seen.add(key)
                self.key_spans[child] = key_span
                self.walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.walk(item, (*loc, index))
