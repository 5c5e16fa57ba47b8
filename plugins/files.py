"""File tools: read, write, edit, list, glob, search, move and delete, inside the workspace root only.

Every path goes through governance's confinement (:class:`parac.core.confine.FileJail`): no ``..``, absolute
paths or symbolic links out of the root, no access to ``.parac/state``, and no writes to policies, settings or
``.git/`` (an agent that could rewrite its policy could grant itself anything). Writes are atomic: a crash or a
full disk never leaves half a file.
"""

import errno
import fnmatch
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import Field
from typing_extensions import TypedDict

from parac.server.api import ConfinementError, ToolContext, ToolError, hookimpl

from ._tooling import NOISE_DIRS, TypedTool, decode_text, jail, read_text, refusals, resolve_path, walk_files

MAX_READ_BYTES = 8 * 1024 * 1024
MAX_WRITE_BYTES = 8 * 1024 * 1024
MAX_SEARCH_FILE_BYTES = 2 * 1024 * 1024
MAX_RETURNED_CHARS = 200_000

RelPath = Annotated[str, Field(min_length=1, description="A path relative to the workspace root.")]
Folder = Annotated[str, Field(description="A folder relative to the workspace root.")]


class ReadResult(TypedDict):
    path: str
    content: str
    start_line: int
    end_line: int
    total_lines: int
    truncated: bool


class WriteResult(TypedDict):
    path: str
    bytes_written: int
    created: bool


class EditResult(TypedDict):
    path: str
    replacements: int


class Entry(TypedDict):
    path: str
    type: Literal["file", "dir", "symlink", "other"]
    size: int


class ListResult(TypedDict):
    path: str
    entries: list[Entry]
    truncated: bool


class GlobResult(TypedDict):
    pattern: str
    matches: list[str]
    truncated: bool


class Match(TypedDict):
    path: str
    line: int
    text: str


class SearchResult(TypedDict):
    pattern: str
    matches: list[Match]
    files_searched: int
    truncated: bool


class MoveResult(TypedDict):
    source: str
    destination: str


class DeleteResult(TypedDict):
    path: str
    type: Literal["file", "dir", "symlink"]


@contextmanager
def _answers(path: str) -> Iterator[None]:
    """The tool's error for what the file system answered (a refusal by the jail already names its rule)."""
    try:
        with refusals():
            yield
    except FileNotFoundError:
        raise ToolError(f"{path}: no such file or folder") from None
    except FileExistsError:
        raise ToolError(f"{path}: already exists (pass overwrite: true to replace it)") from None
    except IsADirectoryError:
        raise ToolError(f"{path}: a folder already exists there") from None
    except NotADirectoryError:
        raise ToolError(f"{path}: not a folder") from None
    except OSError as exc:
        if exc.errno == errno.ENOTEMPTY:
            raise ToolError(f"{path}: folder is not empty (pass recursive: true to delete it and its contents)") from None
        raise ToolError(f"{path}: {exc.strerror or exc}") from None


def file_read(
    path: RelPath,
    ctx: ToolContext,
    start_line: Annotated[int, Field(ge=1, description="First line to return (1-based).")] = 1,
    end_line: Annotated[int | None, Field(ge=1, description="Last line to return, inclusive; the end when omitted.")] = None,
) -> ReadResult:
    """Read a UTF-8 text file, whole or a range of lines. Binary files and files over 8 MiB are refused."""
    if end_line is not None and end_line < start_line:
        raise ToolError(f"end_line ({end_line}) is before start_line ({start_line})")
    text = read_text(ctx, path, MAX_READ_BYTES)
    lines = text.splitlines(keepends=True)
    last = min(end_line or len(lines), len(lines))
    if start_line > max(len(lines), 1):
        raise ToolError(f"{path}: start_line {start_line} is past the end of the file ({len(lines)} lines)")
    content = "".join(lines[start_line - 1 : last])
    truncated = len(content) > MAX_RETURNED_CHARS
    if truncated:
        content = content[:MAX_RETURNED_CHARS]
        last = start_line + content.count("\n") - 1
    return ReadResult(
        path=path, content=content, start_line=start_line, end_line=last, total_lines=len(lines), truncated=truncated
    )


def file_write(
    path: RelPath,
    content: Annotated[str, Field(description="The whole new content of the file.")],
    ctx: ToolContext,
    overwrite: Annotated[bool, Field(description="Replace the file when it exists.")] = True,
) -> WriteResult:
    """Create or replace a text file (parent folders are created). Written atomically."""
    data = content.encode("utf-8")
    if len(data) > MAX_WRITE_BYTES:
        raise ToolError(f"{path}: content is {len(data)} bytes, more than the limit of {MAX_WRITE_BYTES} bytes")
    with _answers(path):
        created = jail(ctx).write_bytes(path, data, overwrite=overwrite)
    return WriteResult(path=path, bytes_written=len(data), created=created)


def file_edit(
    path: RelPath,
    old_text: Annotated[str, Field(min_length=1, description="Text to find, exactly as it is in the file.")],
    new_text: Annotated[str, Field(description="Text to put in its place.")],
    ctx: ToolContext,
    replace_all: Annotated[bool, Field(description="Replace every occurrence instead of requiring exactly one.")] = False,
) -> EditResult:
    """Replace an exact piece of text in a file. Without replace_all it must occur exactly once, so an edit never
    lands somewhere the caller did not mean."""
    resolve_path(ctx, path, write=True)  # a read-only file is refused as such, not after reading it
    text = read_text(ctx, path, MAX_WRITE_BYTES)
    count = text.count(old_text)
    if count == 0:
        raise ToolError(f"{path}: old_text was not found (it must match exactly, whitespace included)")
    if count > 1 and not replace_all:
        raise ToolError(f"{path}: old_text occurs {count} times; add context to make it unique or pass replace_all")
    with _answers(path):
        jail(ctx).write_bytes(path, text.replace(old_text, new_text).encode("utf-8"))
    return EditResult(path=path, replacements=count)


def file_list(
    ctx: ToolContext,
    path: Folder = ".",
    recursive: Annotated[
        bool, Field(description="List every file below the folder (not in .git, node_modules and the like).")
    ] = False,
    max_entries: Annotated[int, Field(ge=1, le=10000)] = 1000,
) -> ListResult:
    """List a folder's entries (files, folders, links) with their size; recursive lists every file below it."""
    with _answers(path):
        found = jail(ctx).entries(path, recursive=recursive, descend=_not_noise)
        items = [item for item in found if not recursive or item.kind == "file" or item.leads_to == "file"]
    entries = [Entry(path=item.path, type=item.kind, size=item.size) for item in items[:max_entries]]  # type: ignore[typeddict-item]
    return ListResult(path=path, entries=entries, truncated=len(items) > max_entries)


def _not_noise(folder: str) -> bool:
    return folder.rpartition("/")[2] not in NOISE_DIRS


def _check_pattern(pattern: str) -> None:
    if pattern.startswith(("/", "\\")) or ".." in pattern.split("/"):
        raise ToolError(f'glob "{pattern}" must be relative and must not contain ".."')


def file_glob(
    pattern: Annotated[str, Field(min_length=1, description="A glob such as `**/*.py` or `src/*.ts`.")],
    ctx: ToolContext,
    path: Folder = ".",
    max_results: Annotated[int, Field(ge=1, le=10000)] = 1000,
) -> GlobResult:
    """Find files and folders whose paths match a glob, relative to a folder of the workspace."""
    _check_pattern(pattern)
    wanted = [part for part in pattern.split("/") if part not in ("", ".")]
    with _answers(path):
        confined = jail(ctx)
        base = confined.resolve(path)
        prefix = "" if base == confined.root else confined.relative(base) + "/"

        def inside(item: str) -> list[str]:
            return item[len(prefix):].split("/")

        found = confined.entries(path, recursive=True, descend=lambda folder: _may_hold(wanted, inside(folder)))
        matches = sorted(item.path for item in found if _glob_match(wanted, inside(item.path)))
    return GlobResult(pattern=pattern, matches=matches[:max_results], truncated=len(matches) > max_results)


def _glob_match(pattern: list[str], parts: list[str]) -> bool:
    """Whether path components match glob components: ``**`` stands for any number of folders, other components
    match one name each (``*``, ``?``, ``[...]``), as ``pathlib`` globs."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_glob_match(pattern[1:], parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pattern[0]) and _glob_match(pattern[1:], parts[1:])


def _may_hold(pattern: list[str], parts: list[str]) -> bool:
    """Whether a folder at ``parts`` may hold a match, so that a glob enters only the folders it can match in."""
    for index, name in enumerate(parts):
        if index >= len(pattern):
            return False
        if pattern[index] == "**":
            return True
        if not fnmatch.fnmatchcase(name, pattern[index]):
            return False
    return True


def file_search(
    pattern: Annotated[str, Field(min_length=1, description="A Python regular expression, matched per line.")],
    ctx: ToolContext,
    path: Folder = ".",
    glob: Annotated[str | None, Field(description="Only files whose name matches this glob, e.g. `*.py`.")] = None,
    ignore_case: bool = False,
    max_results: Annotated[int, Field(ge=1, le=10000)] = 200,
) -> SearchResult:
    """Search text files for lines matching a regular expression. Binary files, files over 2 MiB, and folders such
    as .git and node_modules are skipped."""
    try:
        regex = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise ToolError(f"invalid regular expression {pattern!r}: {exc}") from None
    if glob:
        _check_pattern(glob)
    confined = jail(ctx)
    files = walk_files(ctx, path)
    matches: list[Match] = []
    searched = 0
    for file in files:
        if glob and not PurePosixPath(file).match(glob):
            continue
        try:
            text = decode_text(confined.read_bytes(file, MAX_SEARCH_FILE_BYTES), file)
        except (ToolError, ConfinementError, OSError):
            continue  # binary, too large or unreadable: nothing a line search should match
        searched += 1
        for number, line in enumerate(text.splitlines(), start=1):
            if regex.search(line):
                if len(matches) >= max_results:
                    return SearchResult(pattern=pattern, matches=matches, files_searched=searched, truncated=True)
                matches.append(Match(path=file, line=number, text=line[:500]))
    return SearchResult(pattern=pattern, matches=matches, files_searched=searched, truncated=False)


def file_move(
    source: RelPath,
    destination: RelPath,
    ctx: ToolContext,
    overwrite: Annotated[bool, Field(description="Replace the destination file when it exists.")] = False,
) -> MoveResult:
    """Move or rename a file, folder or link inside the workspace."""
    with _answers(destination):
        jail(ctx).move(source, destination, overwrite=overwrite)
    return MoveResult(source=source, destination=destination)


def file_delete(
    path: RelPath,
    ctx: ToolContext,
    recursive: Annotated[bool, Field(description="Required to delete a folder that is not empty.")] = False,
) -> DeleteResult:
    """Delete a file, a link (not what it points to), or a folder (recursive for a non-empty one)."""
    with _answers(path):
        kind = jail(ctx).delete(path, recursive=recursive)
    return DeleteResult(path=path, type=kind)  # type: ignore[typeddict-item]


@hookimpl
def parac_register_tools(register) -> None:
    for fn, title in ((file_read, "Read a file"), (file_list, "List files"), (file_glob, "Find files by pattern"),
                      (file_search, "Search file contents")):
        register(TypedTool(fn, title, read_only=True))
    register(TypedTool(file_write, "Write a file", destructive=True, idempotent=True, links=_written))
    register(TypedTool(file_edit, "Edit a file", destructive=True, idempotent=False, links=_written))
    register(TypedTool(file_move, "Move a file", destructive=True, idempotent=False,
                       links=lambda result: [result["destination"]]))
    register(TypedTool(file_delete, "Delete a file or folder", destructive=True, idempotent=True))


def _written(result: dict) -> list[str]:
    """The file a write or edit made: clients get a link to open it."""
    return [result["path"]]
