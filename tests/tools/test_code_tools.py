"""Code tools on real source files in five languages: outlines, definitions and cyclomatic complexity."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from parac.core.tools import ToolError

from .conftest import call

SAMPLES = Path(__file__).parent / "samples"


@pytest.fixture
def sources(workspace: Path) -> Path:
    shutil.copytree(SAMPLES, workspace / "src")
    return workspace


OUTLINES = {
    "stack.py": [("Stack", "class", 4, 15), ("Stack.__init__", "method", 5, 6), ("Stack.push", "method", 8, 12),
                 ("Stack.pop", "method", 14, 15), ("drain", "function", 18, 25)],
    "stack.ts": [("Sized", "interface", 2, 4), ("Sized.size", "method", 3, 3), ("Stack", "class", 6, 19),
                 ("Stack.push", "method", 9, 14), ("Stack.size", "method", 16, 18), ("make", "function", 21, 21)],
    "stack.js": [("Stack", "class", 2, 10), ("Stack.constructor", "method", 3, 3), ("Stack.pop", "method", 4, 9),
                 ("peek", "function", 11, 11)],
    "stack.go": [("Stack", "struct", 4, 6), ("Sized", "interface", 8, 10), ("Sized.Size", "method", 9, 9),
                 ("Stack.Push", "method", 12, 14), ("Stack.Pop", "method", 16, 24)],
    "stack.rs": [("Stack", "struct", 2, 4), ("Sized2", "trait", 6, 8), ("Sized2.size", "method", 7, 7),
                 ("Stack", "impl", 10, 21), ("Stack.new", "method", 11, 13), ("Stack.pop", "method", 15, 20),
                 ("Stack", "impl", 23, 27), ("Stack.size", "method", 24, 26)],
}

# 1 + one per branch, counted by hand from the samples
COMPLEXITY = {
    "stack.py": {"__init__": 1, "push": 3, "pop": 2, "drain": 5},
    "stack.ts": {"push": 3, "size": 2, "make": 1},
    "stack.js": {"constructor": 1, "pop": 2, "peek": 2},
    "stack.go": {"Push": 1, "Pop": 3},
    "stack.rs": {"new": 1, "pop": 2, "size": 3},
}


@pytest.mark.parametrize("name", sorted(OUTLINES))
async def test_outline(host, sources: Path, name: str) -> None:
    outline = await call(host, "code_outline", path=f"src/{name}")
    got = [(s["qualified_name"], s["kind"], s["start_line"], s["end_line"]) for s in outline["symbols"]]
    assert got == OUTLINES[name]


@pytest.mark.parametrize("name", sorted(COMPLEXITY))
async def test_metrics(host, sources: Path, name: str) -> None:
    metrics = await call(host, "code_metrics", path=f"src/{name}")
    assert {f["name"]: f["complexity"] for f in metrics["functions"]} == COMPLEXITY[name]
    assert metrics["max_complexity"] == max(COMPLEXITY[name].values())
    assert metrics["lines"] == len((SAMPLES / name).read_text().splitlines())
    assert metrics["lines"] == metrics["code_lines"] + metrics["comment_lines"] + metrics["blank_lines"]
    assert metrics["comment_lines"] == 1


async def test_python_line_kinds(host, sources: Path) -> None:
    metrics = await call(host, "code_metrics", path="src/stack.py")
    assert (metrics["code_lines"], metrics["comment_lines"], metrics["blank_lines"]) == (18, 1, 6)


async def test_definition_across_languages(host, sources: Path) -> None:
    found = await call(host, "code_definition", symbol="Stack.pop")
    assert sorted((d["path"], d["start_line"]) for d in found["definitions"]) == [
        ("src/stack.js", 4), ("src/stack.py", 14), ("src/stack.rs", 15),
    ]
    push = await call(host, "code_definition", symbol="Push", path="src/stack.go")
    assert [(d["qualified_name"], d["signature"]) for d in push["definitions"]] == [
        ("Stack.Push", "func (s *Stack[T]) Push(item T) {")
    ]
    assert (await call(host, "code_definition", symbol="nowhere"))["definitions"] == []


async def test_unknown_language_and_bad_paths(host, sources: Path) -> None:
    (sources / "notes.txt").write_text("text")
    with pytest.raises(ToolError, match="no code grammar for '.txt'"):
        await call(host, "code_outline", path="notes.txt")
    with pytest.raises(ToolError, match="'..'"):
        await call(host, "code_metrics", path="../stack.py")
    (sources / "blob.py").write_bytes(b"\x00\x01binary")
    with pytest.raises(ToolError, match="binary file"):
        await call(host, "code_outline", path="blob.py")
