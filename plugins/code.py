"""Code tools over tree-sitter: ``code_outline``, ``code_definition`` and ``code_metrics``.

Each language is described by data (which node types are symbols, functions and decision points), so one walker
serves Python, JavaScript, TypeScript (and TSX), Go and Rust. Grammars are imported on first use of their language:
loading the plugin costs nothing until a code tool runs.
"""

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field
from typing_extensions import TypedDict

from parac.server.api import ConfinementError, ToolContext, ToolError, hookimpl

from ._tooling import TypedTool, decode_text, jail, read_text, walk_files

MAX_SOURCE_BYTES = 2_000_000
MAX_SEARCH_FILES = 5000
BUILD_DIRS = {"target", "vendor", "dist", "build"}


@dataclass(frozen=True)
class Grammar:
    """How one language's syntax tree maps onto symbols, functions and decisions."""

    module: str
    entry: str
    symbols: dict[str, str]  # node type -> symbol kind
    functions: frozenset[str]  # node types whose bodies get a complexity of their own
    decisions: frozenset[str]  # node types that add a path through the code
    logical_operators: frozenset[str]  # binary operators that short-circuit (each adds a path)
    containers: frozenset[str]  # symbol kinds whose functions are methods

    def language(self) -> Any:
        from tree_sitter import Language

        return Language(getattr(importlib.import_module(self.module), self.entry)())


_JS_SYMBOLS = {
    "function_declaration": "function",
    "generator_function_declaration": "function",
    "class_declaration": "class",
    "method_definition": "method",
}
_JS_FUNCTIONS = frozenset(
    {"function_declaration", "generator_function_declaration", "function_expression", "arrow_function", "method_definition"}
)
_JS_DECISIONS = frozenset(
    {"if_statement", "for_statement", "for_in_statement", "while_statement", "do_statement", "catch_clause",
     "ternary_expression", "switch_case"}
)
_TS_SYMBOLS = {
    **_JS_SYMBOLS,
    "abstract_class_declaration": "class",
    "abstract_method_signature": "method",
    "method_signature": "method",
    "interface_declaration": "interface",
    "type_alias_declaration": "type",
    "enum_declaration": "enum",
}
_JS_LOGICAL = frozenset({"&&", "||", "??"})
_CLASSES = frozenset({"class", "interface", "impl", "trait", "struct"})


def _ts(entry: str) -> Grammar:
    return Grammar("tree_sitter_typescript", entry, _TS_SYMBOLS, _JS_FUNCTIONS, _JS_DECISIONS, _JS_LOGICAL, _CLASSES)


GRAMMARS: dict[str, Grammar] = {
    "python": Grammar(
        "tree_sitter_python",
        "language",
        {"function_definition": "function", "class_definition": "class"},
        frozenset({"function_definition"}),
        frozenset({"if_statement", "elif_clause", "for_statement", "while_statement", "except_clause",
                   "conditional_expression", "boolean_operator", "case_clause", "for_in_clause", "if_clause"}),
        frozenset(),
        _CLASSES,
    ),
    "javascript": Grammar("tree_sitter_javascript", "language", _JS_SYMBOLS, _JS_FUNCTIONS, _JS_DECISIONS, _JS_LOGICAL, _CLASSES),
    "typescript": _ts("language_typescript"),
    "tsx": _ts("language_tsx"),
    "go": Grammar(
        "tree_sitter_go",
        "language",
        {"function_declaration": "function", "method_declaration": "method", "type_spec": "type", "method_elem": "method"},
        frozenset({"function_declaration", "method_declaration", "func_literal"}),
        frozenset({"if_statement", "for_statement", "expression_case", "type_case", "communication_case"}),
        frozenset({"&&", "||"}),
        _CLASSES,
    ),
    "rust": Grammar(
        "tree_sitter_rust",
        "language",
        {"function_item": "function", "function_signature_item": "method", "struct_item": "struct",
         "enum_item": "enum", "trait_item": "trait", "impl_item": "impl", "mod_item": "module",
         "macro_definition": "macro", "type_item": "type", "const_item": "const", "static_item": "static",
         "union_item": "union"},
        frozenset({"function_item", "closure_expression"}),
        frozenset({"if_expression", "while_expression", "for_expression", "match_arm"}),
        frozenset({"&&", "||"}),
        _CLASSES,
    ),
}
EXTENSIONS = {
    ".py": "python", ".pyi": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx",
    ".go": "go", ".rs": "rust",
}
GO_TYPE_KINDS = {"struct_type": "struct", "interface_type": "interface"}
_languages: dict[str, Any] = {}


class Symbol(TypedDict):
    name: str
    qualified_name: str
    kind: str
    start_line: int
    end_line: int
    signature: str


class Outline(TypedDict):
    path: str
    language: str
    symbols: list[Symbol]


class Definition(Symbol):
    path: str


class Definitions(TypedDict):
    symbol: str
    definitions: list[Definition]
    files_searched: int
    truncated: bool


class FunctionMetrics(TypedDict):
    name: str
    start_line: int
    end_line: int
    lines: int
    complexity: int


class Metrics(TypedDict):
    path: str
    language: str
    lines: int
    code_lines: int
    comment_lines: int
    blank_lines: int
    functions: list[FunctionMetrics]
    function_count: int
    max_complexity: int
    average_complexity: float


# -- parsing ---------------------------------------------------------------------------------------------------------


def language_of(path: Path) -> str:
    language = EXTENSIONS.get(path.suffix.lower())
    if language is None:
        known = ", ".join(sorted(EXTENSIONS))
        raise ToolError(f"{path.name}: no code grammar for '{path.suffix or path.name}' (known: {known})")
    return language


def parse(source: str, language: str) -> Any:
    from tree_sitter import Parser

    if language not in _languages:
        _languages[language] = GRAMMARS[language].language()
    return Parser(_languages[language]).parse(source.encode("utf-8")).root_node


def _text(node: Any) -> str:
    return node.text.decode("utf-8", errors="replace")


def _name(node: Any) -> str | None:
    """The name a symbol node declares; Rust ``impl`` blocks are named for the type they implement."""
    if node.type == "impl_item":
        target = node.child_by_field_name("type")
        trait = node.child_by_field_name("trait")
        if target is None:
            return None
        return f"{_bare(trait)} for {_bare(target)}" if trait is not None else _bare(target)
    name = node.child_by_field_name("name")
    return _text(name) if name is not None else None


def _bare(node: Any) -> str:
    """A type without its parameters: ``Stack<T>`` -> ``Stack``, ``*Stack[T]`` -> ``Stack``."""
    return _text(node).lstrip("*&").split("<", 1)[0].split("[", 1)[0].strip()


def _receiver(node: Any) -> str | None:
    """A Go method's receiver type, without pointer or type parameters: ``func (s *Stack[T]) Push`` -> ``Stack``."""
    receiver = node.child_by_field_name("receiver")
    if receiver is None:
        return None
    for param in receiver.named_children:
        kind = param.child_by_field_name("type")
        if kind is not None:
            return _bare(kind)
    return None


def _signature(node: Any) -> str:
    return _text(node).split("\n", 1)[0].strip()[:200]


def _function_value(node: Any) -> bool:
    """``const f = () => ...``: a variable holding a function is outlined as that function."""
    value = node.child_by_field_name("value")
    return value is not None and value.type in ("arrow_function", "function_expression", "function", "generator_function")


def symbols(root: Any, grammar: Grammar) -> list[Symbol]:
    out: list[Symbol] = []

    def walk(node: Any, scope: list[str], kinds: list[str]) -> None:
        for child in node.named_children:
            kind = grammar.symbols.get(child.type)
            if kind is None and child.type == "variable_declarator" and _function_value(child):
                kind = "function"
            name = _name(child) if kind else None
            if kind and name:
                if kind == "function" and kinds and kinds[-1] in grammar.containers:
                    kind = "method"
                elif child.type == "type_spec":
                    kind = GO_TYPE_KINDS.get(getattr(child.child_by_field_name("type"), "type", ""), kind)
                owner = _receiver(child) if child.type == "method_declaration" else None
                path = [*scope, owner] if owner and not scope else scope
                qualified = ".".join([*path, name.split(" for ")[-1] if kind == "impl" else name])
                out.append(Symbol(
                    name=name,
                    qualified_name=qualified,
                    kind=kind,
                    start_line=child.start_point.row + 1,
                    end_line=child.end_point.row + 1,
                    signature=_signature(child),
                ))
                inner = name.split(" for ")[-1] if kind == "impl" else name
                walk(child, [*scope, inner], [*kinds, kind])
            else:
                walk(child, scope, kinds)

    walk(root, [], [])
    return out


def _decisions(node: Any, grammar: Grammar) -> Iterator[Any]:
    """Decision points under ``node``, not counting those inside nested functions (they have their own)."""
    for child in node.named_children:
        if child.type in grammar.functions:
            continue
        if child.type in grammar.decisions and not _wildcard_arm(child):
            yield child
        elif child.type == "binary_expression":
            operator = child.child_by_field_name("operator")
            if operator is not None and operator.type in grammar.logical_operators:
                yield child
        yield from _decisions(child, grammar)


def _wildcard_arm(node: Any) -> bool:
    """A Rust ``_ =>`` arm is the default branch, like ``default:``, and adds no path."""
    if node.type != "match_arm":
        return False
    pattern = node.child_by_field_name("pattern")
    return pattern is not None and _text(pattern).strip() == "_"


def _functions(root: Any, grammar: Grammar) -> Iterator[Any]:
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type in grammar.functions:
            yield node
        stack.extend(reversed(node.named_children))


def _function_name(node: Any) -> str:
    name = _name(node)
    if name:
        return name
    parent = node.parent
    if parent is not None and parent.type in ("variable_declarator", "pair", "assignment_expression"):
        target = parent.child_by_field_name("name") or parent.child_by_field_name("key") or parent.child_by_field_name("left")
        if target is not None:
            return _text(target)
    return "<anonymous>"


def line_counts(root: Any, source: str) -> tuple[int, int, int, int]:
    """(lines, code, comment, blank): a line is code when any non-comment token is on it."""
    lines = source.splitlines()
    code: set[int] = set()
    comments: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if "comment" in node.type:
            comments.update(range(node.start_point.row, node.end_point.row + 1))
        elif node.child_count == 0:
            code.update(range(node.start_point.row, node.end_point.row + 1))
        else:
            stack.extend(node.children)
    blank = sum(1 for row, line in enumerate(lines) if not line.strip() and row not in comments)
    code = {row for row in code if row < len(lines) and lines[row].strip()}
    return len(lines), len(code), len(comments - code), blank


def metrics(root: Any, source: str, grammar: Grammar) -> tuple[tuple[int, int, int, int], list[FunctionMetrics]]:
    functions = [
        FunctionMetrics(
            name=_function_name(node),
            start_line=node.start_point.row + 1,
            end_line=node.end_point.row + 1,
            lines=node.end_point.row - node.start_point.row + 1,
            complexity=1 + sum(1 for _ in _decisions(node, grammar)),
        )
        for node in _functions(root, grammar)
    ]
    return line_counts(root, source), functions


# -- tools -----------------------------------------------------------------------------------------------------------


def _load(ctx: ToolContext, path: str) -> tuple[str, str, Any]:
    language = language_of(Path(path))
    source = read_text(ctx, path, MAX_SOURCE_BYTES)
    return language, source, parse(source, language)


def code_outline(
    path: Annotated[str, Field(description="Source file, relative to the workspace root.")],
    ctx: ToolContext,
) -> Outline:
    """List the symbols a source file declares (classes, functions, methods, types...) with their line ranges."""
    language, _, root = _load(ctx, path)
    return Outline(path=path, language=language, symbols=symbols(root, GRAMMARS[language]))


def code_definition(
    symbol: Annotated[str, Field(min_length=1, description="A name (`push`) or qualified name (`Stack.push`).")],
    ctx: ToolContext,
    path: Annotated[str, Field(description="File or folder to search, relative to the workspace root.")] = ".",
    max_results: Annotated[int, Field(ge=1, le=500)] = 50,
) -> Definitions:
    """Find where a symbol is defined, searching Python, JavaScript, TypeScript, Go and Rust files under a path."""
    confined = jail(ctx)
    files = [f for f in walk_files(ctx, path) if f == path or _searchable(f)]
    found: list[Definition] = []
    for file in files[:MAX_SEARCH_FILES]:
        language = language_of(Path(file))
        try:
            source = decode_text(confined.read_bytes(file, MAX_SOURCE_BYTES), file)
        except (ToolError, ConfinementError, OSError):
            continue  # a file that cannot be read as source is not where a definition is
        for item in symbols(parse(source, language), GRAMMARS[language]):
            if symbol in (item["name"], item["qualified_name"]) or item["qualified_name"].endswith(f".{symbol}"):
                found.append(Definition(path=file, **item))
    truncated = len(files) > MAX_SEARCH_FILES or len(found) > max_results
    return Definitions(
        symbol=symbol, definitions=found[:max_results], files_searched=min(len(files), MAX_SEARCH_FILES),
        truncated=truncated,
    )


def _searchable(relative: str) -> bool:
    """Source files outside hidden folders and build output folders."""
    parts = relative.split("/")
    hidden = any(part.startswith(".") or part in BUILD_DIRS for part in parts[:-1])
    return not hidden and Path(relative).suffix.lower() in EXTENSIONS


def code_metrics(
    path: Annotated[str, Field(description="Source file, relative to the workspace root.")],
    ctx: ToolContext,
) -> Metrics:
    """Count a file's lines (code, comment, blank) and give each function its cyclomatic complexity
    (1 + one per branch: if/elif, loops, case arms, catch/except, ternaries, && / || / ?? / and / or)."""
    language, source, root = _load(ctx, path)
    (lines, code, comment, blank), functions = metrics(root, source, GRAMMARS[language])
    complexities = [f["complexity"] for f in functions]
    return Metrics(
        path=path,
        language=language,
        lines=lines,
        code_lines=code,
        comment_lines=comment,
        blank_lines=blank,
        functions=functions,
        function_count=len(functions),
        max_complexity=max(complexities, default=0),
        average_complexity=round(sum(complexities) / len(complexities), 2) if complexities else 0.0,
    )


@hookimpl
def parac_register_tools(register) -> None:
    for fn, title in ((code_outline, "Code outline"), (code_definition, "Find a definition"),
                      (code_metrics, "Code metrics")):
        register(TypedTool(fn, title, read_only=True))
