"""The import contract, read from the source with :mod:`ast` (nothing is imported to check it):

- ``parac.core`` imports no face, plugin or server module (``parac.server``, ``parac.lsp``, ``parac.mcp_tools``,
  ``parac.resources``, ``parac.prompts``, ``parac.plugins``), not even inside a function or for type checking;
- built-in plugins import ``parac.server.api`` and their own package, and from ``parac.core`` only names the API
  re-exports (the governance plugin excepted: it *is* the enforcement of the core's policies, audit and redaction);
- no import cycles anywhere in the package. Only module-level imports make a cycle: an import inside a function
  runs when the function does, one under ``if TYPE_CHECKING:`` never runs, so neither counts. Importing a submodule
  also runs its parent package's ``__init__``; that edge does not count either (a package may re-export its
  submodules, which import each other).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from support.paths import REPO

FACES = ("parac.server", "parac.lsp", "parac.mcp_tools", "parac.resources", "parac.prompts", "parac.plugins")
API = "parac.server.api"
#: Built-in plugins allowed to import the core beyond what the API re-exports, and why.
GOVERNANCE = "parac.plugins.governance"


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module
    names: tuple[str, ...]  # for ``from target import names``; empty for ``import target``
    line: int
    deferred: bool  # inside a function or under ``if TYPE_CHECKING:``

    def where(self) -> str:
        return f"{modules()[self.source].relative_to(REPO)}:{self.line}"


@cache
def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name, from ``pyproject.toml``'s ``package-dir``."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    found: dict[str, Path] = {}
    for package, folder in config["tool"]["setuptools"]["package-dir"].items():
        for path in (REPO / folder).rglob("*.py"):
            parts = path.relative_to(REPO / folder).with_suffix("").parts
            if "templates" in parts:
                continue
            name = ".".join((package, *parts)).removesuffix(".__init__")
            found[name] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _statements(body: list[ast.stmt], deferred: bool):
    """Each import statement with whether it is deferred; walks into blocks, not into their meaning."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, deferred
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from _statements(node.body, True)
        elif isinstance(node, ast.If):
            yield from _statements(node.body, deferred or _is_type_checking(node.test))
            yield from _statements(node.orelse, deferred)
        else:  # classes, with, for, try...: their bodies run at import time too
            for field in ("body", "orelse", "finalbody"):
                yield from _statements(getattr(node, field, []), deferred)
            for block in (*getattr(node, "handlers", ()), *getattr(node, "cases", ())):
                yield from _statements(block.body, deferred)


def _known(name: str) -> str | None:
    """``name`` or its longest prefix that is a module of the package."""
    while name and name not in modules():
        name = name.rpartition(".")[0]
    return name or None


@cache
def imports() -> list[Import]:
    found: list[Import] = []
    for module, path in modules().items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node, deferred in _statements(tree.body, False):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if (target := _known(alias.name)) is not None:
                        found.append(Import(module, target, (), node.lineno, deferred))
                continue
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                target = _known(f"{base}.{alias.name}") if f"{base}.{alias.name}" in modules() else _known(base)
                if target is not None:
                    found.append(Import(module, target, (alias.name,), node.lineno, deferred))
    return found


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_core_imports_no_face_plugin_or_server_module():
    wrong = [f"{i.where()}: {i.source} imports {i.target}" for i in imports()
             if _within(i.source, "parac.core") and any(_within(i.target, face) for face in FACES)]
    assert not wrong, "\n".join(wrong)


def _api_reexports() -> dict[str, set[str]]:
    """Core module -> the names ``parac.server.api`` imports from it (and so offers plugins)."""
    offered: dict[str, set[str]] = {}
    for i in imports():
        if i.source == API and not i.deferred and _within(i.target, "parac.core"):
            offered.setdefault(i.target, set()).update(i.names)
    return offered


def test_plugins_use_only_the_public_api():
    offered = _api_reexports()
    wrong = []
    for i in imports():
        if not _within(i.source, "parac.plugins") or i.source == GOVERNANCE:
            continue
        if i.target == API or _within(i.target, "parac.plugins"):
            continue
        if _within(i.target, "parac.core") and i.names and set(i.names) <= offered.get(i.target, set()):
            continue  # the same objects the API offers
        wrong.append(f"{i.where()}: {i.source} imports {i.target} {', '.join(i.names)}".rstrip())
    assert not wrong, "\n".join(wrong)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module, or a module importing itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges.get(node, ()):
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    edges: dict[str, set[str]] = {}
    for i in imports():
        parent = i.source.startswith(i.target + ".")  # a submodule importing its package: already running
        if not i.deferred and not parent:
            edges.setdefault(i.source, set()).add(i.target)
    cycles = _cycles(edges)
    assert not cycles, "\n".join(" <-> ".join(cycle) for cycle in cycles)


def test_the_contract_checker_sees_what_it_must():
    """The checks above pass trivially if the walk misses imports: it must find known ones of every kind."""
    seen = {(i.source, i.target, i.deferred) for i in imports()}
    assert ("parac.server.host", "parac.server.gateway", True) in seen  # inside a function
    assert ("parac.lsp.context", "parac.lsp.documents", True) in seen  # under TYPE_CHECKING
    assert ("parac.lsp.server", "parac.lsp.publisher", False) in seen  # relative, module level
    assert ("parac.core.audit.log", "parac.core.audit.schema", False) in seen
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_language_server_answers_initialize_before_the_core_loads():
    """``parac lsp`` builds its server without pydantic or the core's workspace: feature modules load on their
    first message, so editors that start the server on every launch get ``initialize`` answered at once."""
    script = ("import sys\nfrom parac.lsp.server import build\nbuild()\n"
              "print(sorted(m for m in sys.modules if m.startswith(('pydantic', 'parac.core.workspace', "
              "'parac.lsp.features'))))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_parac_serve_starts_answering_before_the_mcp_sdk_loads(project: Path):
    """``parac serve`` starts uvicorn without the MCP SDK (``/mcp`` is built by its first request) or the dashboard's
    Jinja2 (its first page): a server that is probed, or only asked over REST, answers its first request sooner."""
    script = ("import sys, uvicorn\n"
              "def report(server, sockets=None):\n"
              "    print(sorted({m.partition('.')[0] for m in sys.modules} & {'mcp', 'mcp_types', 'jinja2'}))\n"
              "uvicorn.Server.run = report\n"
              "from parac.server.cli import main\n"
              f"sys.argv = ['parac', 'serve', '--port', '0', '--workspace', {str(project)!r}]\n"
              "main()\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            env={**os.environ, "PARAC_LOAD_PLUGINS": ""})
    assert result.stdout.splitlines()[-1] == "[]", result.stdout + result.stderr


def test_the_face_modules_import_no_mcp_sdk(project: Path):
    """The REST routes answer through the MCP faces' tools (`ParacApp.faces`): registering them imports no MCP SDK,
    so a server asked only over REST never loads it."""
    script = ("import sys\nfrom pathlib import Path\nfrom parac.server.mcp.app import ParacApp\n"
              f"assert ParacApp(Path({str(project)!r})).faces.tools\n"
              "print(sorted({m.partition('.')[0] for m in sys.modules} & {'mcp', 'mcp_types'}))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            env={**os.environ, "PARAC_LOAD_PLUGINS": ""})
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
