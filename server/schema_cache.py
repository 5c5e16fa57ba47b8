"""JSON Schemas of parac's own tools, kept on disk between runs.

Every tool's argument and output schemas come from pydantic (a model of the signature, an adapter of the returned
type), which costs about as much as everything else `parac mcp serve` does before its first `tools/list` answer.
For parac's own code they are a pure function of its source and of the installed libraries, so they are built
once and read back with one JSON load by every later process.

The cache is one file per installation, under the user's cache folder (``$XDG_CACHE_HOME/parac``, else
``~/.cache/parac``; never the workspace), stamped with a fingerprint of what the schemas follow from: the path,
size and modification time of every ``.py`` file of parac, the Python and pydantic versions, and the modification
time of the folder pydantic is installed in (installing, upgrading or removing any distribution there changes it).
A file with another fingerprint, or one that cannot be read or parsed, counts as empty; one that cannot be written
is left alone. Either way the schemas are built as if there were no cache.

Only code under parac's own package folders is cached: a third-party plugin's schemas may follow from modules of
other distributions that nothing here watches, so they are built every time.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("parac.schemas")

Schema = dict[str, Any] | None
FORMAT = 1
"""The layout of the file; part of the fingerprint."""


class SchemaCache:
    """The schemas of functions defined under `roots`, stored in `file`; loaded on first use, saved by `save` (and
    at exit). A schema read from the file is shared by everyone who asks for it: callers must not change it."""

    def __init__(self, file: Path, roots: Sequence[Path]) -> None:
        self.file = file
        self.roots = tuple(str(root) for root in roots)
        self._fingerprint: str | None = None
        self._schemas: dict[str, Schema] | None = None
        self._changed = False

    def get(self, owner: Callable[..., Any], part: str, build: Callable[[], Schema]) -> Schema:
        """The schema `build` returns for `part` of `owner` (``"input"``, ``"output"``, ...): from the file when
        `owner` is code under the roots and the file holds it for this fingerprint, else built (and kept)."""
        key = self._key(owner, part)
        if key is None:
            return build()
        schemas = self._loaded()
        if key in schemas:
            return schemas[key]
        log.debug("JSON Schema not cached, building it: %s", key)
        schema = build()
        try:  # a copy: what the caller does with its schema stays out of the file
            schemas[key] = json.loads(json.dumps(schema))
        except (TypeError, ValueError):  # not JSON (a default pydantic could not convert): built every time
            return schema
        if not self._changed:
            self._changed = True
            atexit.register(self.save)
        return schema

    def save(self) -> None:
        """Write what was built since the file was read (atomically: concurrent processes each leave a whole
        file). Does nothing when nothing was built; a failure is logged and otherwise ignored."""
        if not self._changed or self._schemas is None:
            return
        self._changed = False
        data = json.dumps({"fingerprint": self.fingerprint, "schemas": self._schemas}, separators=(",", ":"))
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.file.parent, prefix=".schemas-", suffix=".tmp")
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as out:
                    out.write(data)
                os.replace(temporary, self.file)
            except BaseException:
                os.unlink(temporary)
                raise
        except OSError as error:
            log.debug("JSON Schema cache not written to %s: %s", self.file, error)

    def _key(self, owner: Callable[..., Any], part: str) -> str | None:
        """``root/path:qualname:part`` for a function defined under the roots; None for anything else."""
        code = getattr(owner, "__code__", None)
        if code is None:
            return None
        filename = code.co_filename
        for root in self.roots:
            if filename.startswith(root + os.sep):
                return f"{os.path.basename(root)}/{filename[len(root) + 1:]}:{owner.__qualname__}:{part}"
        return None

    @property
    def fingerprint(self) -> str:
        """What the schemas follow from, hashed (made once per process: it stats every module of parac)."""
        if self._fingerprint is None:
            self._fingerprint = fingerprint(self.roots)
        return self._fingerprint

    def _loaded(self) -> dict[str, Schema]:
        if self._schemas is None:
            self._schemas = {}
            try:
                stored = json.loads(self.file.read_bytes())
            except (OSError, ValueError) as error:
                log.debug("JSON Schema cache %s not read: %s", self.file, error)
                return self._schemas
            if (
                isinstance(stored, dict)
                and stored.get("fingerprint") == self.fingerprint
                and isinstance(stored.get("schemas"), dict)
            ):
                self._schemas = {
                    key: value for key, value in stored["schemas"].items() if value is None or isinstance(value, dict)
                }
        return self._schemas


def fingerprint(roots: Sequence[str]) -> str:
    """What the cached schemas follow from, hashed: see the module's docstring."""
    import pydantic

    digest = hashlib.sha256(f"{FORMAT}\0{sys.version}\0{pydantic.VERSION}\0".encode())
    digest.update(str(os.stat(Path(pydantic.__file__).parent.parent).st_mtime_ns).encode())
    for root in roots:
        stack = [root]
        while stack:
            folder = stack.pop()
            try:
                entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
            except OSError:
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        stack.append(entry.path)
                elif entry.name.endswith(".py"):
                    stat = entry.stat()
                    digest.update(f"{entry.path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cache_folder() -> Path:
    """The user's cache folder for parac (``$XDG_CACHE_HOME/parac``, else ``~/.cache/parac``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "parac"


def _parac_roots() -> list[Path]:
    """parac's package folders (``core``, ``server``, ... beside this module's own), as installed or in a checkout."""
    top = Path(__file__).resolve().parent.parent
    return sorted(path for path in top.iterdir() if (path / "__init__.py").is_file())


@functools.cache
def parac_schemas() -> SchemaCache:
    """The cache of this installation of parac (one file per installation, named after its folder and the
    interpreter's: two environments serving one checkout do not overwrite each other's)."""
    roots = _parac_roots()
    name = hashlib.sha256(f"{roots[0].parent}\0{sys.prefix}".encode()).hexdigest()[:16]
    return SchemaCache(cache_folder() / f"schemas-{name}.json", roots)


def cached_schema(owner: Callable[..., Any], part: str, build: Callable[[], Schema]) -> Schema:
    """`part`'s JSON Schema for `owner` as `build` makes it, read from the cache when `owner` is parac's own code
    and it was built before; see :class:`SchemaCache`."""
    return parac_schemas().get(owner, part, build)
