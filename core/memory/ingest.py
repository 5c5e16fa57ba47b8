"""The Markdown a team keeps under ``.parac/memory/`` (``context/``, ``knowledge/``, ``logs/``), as searchable entries.

Each file becomes one ``document`` entry per section (a heading and what follows it, cut further at paragraphs
when a section is over the entry limit), in the ``workspace`` namespace, with the file's path as its source.
:func:`sync` compares every file's modification time and size with what was indexed and re-reads only files that
changed (a changed file's hash decides whether its entries are replaced); a deleted file's entries are forgotten.
It is cheap enough (a ``stat`` per file) to run whenever memory is opened, so no watcher is needed.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from ..roots import PARAC_DIR
from .store import Memory

MEMORY_DIR = "memory"
SOURCE_PREFIX = "file:"
_HEADING = re.compile(r"^#{1,6}\s+(.*)$", re.MULTILINE)


def memory_root(root: Path) -> Path:
    return Path(root) / PARAC_DIR / MEMORY_DIR


def sync(memory: Memory, root: Path) -> dict[str, int]:
    """Bring the index in line with the files; return how many files were added, updated and removed."""
    folder = memory_root(root)
    indexed = memory.sources("document")
    seen: set[str] = set()
    counts = {"added": 0, "updated": 0, "removed": 0}
    for path in sorted(folder.rglob("*.md")) if folder.is_dir() else []:
        if not path.is_file() or path.is_symlink():
            continue
        source = SOURCE_PREFIX + path.relative_to(folder).as_posix()
        seen.add(source)
        stat = path.stat()
        stamp = f"{stat.st_mtime_ns}:{stat.st_size}"
        known = indexed.get(source)
        if known is not None and known.startswith(stamp + ":"):
            continue
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if known is not None and known.endswith(":" + digest):
            memory.conn.execute("UPDATE memory_entries SET digest = ? WHERE source = ?", (f"{stamp}:{digest}", source))
            continue
        if known is not None:
            memory.forget(source=source)
        name = path.relative_to(folder).as_posix()
        memory.add_many(
            dict(content=text, title=title, namespace="workspace", kind="document", source=source,
                 digest=f"{stamp}:{digest}", metadata={"path": f"{PARAC_DIR}/{MEMORY_DIR}/{name}"})
            for title, text in sections(data.decode("utf-8", errors="replace"), name, memory.max_entry_chars)
        )
        counts["updated" if known is not None else "added"] += 1
    for source in set(indexed) - seen:
        if source.startswith(SOURCE_PREFIX):
            memory.forget(source=source)
            counts["removed"] += 1
    return counts


def sections(text: str, name: str, limit: int) -> list[tuple[str, str]]:
    """``(title, text)`` per heading of a Markdown file (the text before the first heading under the file's name),
    each at most ``limit`` characters with its title."""
    out: list[tuple[str, str]] = []
    marks = list(_HEADING.finditer(text))
    starts = [(0, name)] + [(m.start(), f"{name} — {m.group(1).strip()}") for m in marks]
    for index, (start, title) in enumerate(starts):
        end = marks[index].start() if index < len(marks) else len(text)
        body = text[start:end].strip()
        if body:
            out.extend((title, piece) for piece in _pieces(body, max(1, limit - len(title))))
    return out


def _pieces(body: str, limit: int) -> list[str]:
    """Cut ``body`` at blank lines (or, for one huge paragraph, anywhere) into pieces of at most ``limit``."""
    if len(body) <= limit:
        return [body]
    pieces, current = [], ""
    for paragraph in re.split(r"\n\s*\n", body):
        while len(paragraph) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(paragraph[:limit])
            paragraph = paragraph[limit:]
        if current and len(current) + 2 + len(paragraph) > limit:
            pieces.append(current)
            current = ""
        current = f"{current}\n\n{paragraph}" if current else paragraph
    if current.strip():
        pieces.append(current)
    return pieces
