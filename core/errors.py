"""The root of parac's errors, and what of an error a caller may be shown.

Every error parac raises on purpose derives from :class:`ParacBaseError`, so a face (the MCP server, the CLI, the
language server, the HTTP service) catches one class and maps it once: an ``isError`` result, a JSON-RPC error, a
line with an exit code. Whether the message may leave the process is the error's own knowledge (:attr:`public`):
a refusal or a user's mistake is written for the caller, while a ledger that cannot write or an audit log that
cannot be read is written for whoever reads the server log, and a remote caller learns only that something failed.

The classes stay in the modules that raise them (``ToolError`` in ``core/tools.py``, ``CallDenied`` in
``core/calls.py``...), each importable from where it always was; an error that code also catches as a builtin
(``ConfinementError`` as a ``PermissionError``, ``TokenError`` as a ``ValueError``) derives from both.
``docs/architecture.md`` has the table.

:class:`ParacError` keeps its older, narrower meaning: a problem in the user's files or request, explained by
diagnostics. Code catches it to say "this is the user's to fix" (the workflow engine does not retry it), which is
why it is not the root.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from .diagnostics import Diagnostic


class ParacBaseError(Exception):
    """Any error parac raises on purpose. Not public unless a subclass says so: secure by default."""

    public: ClassVar[bool] = False
    """The message (and diagnostics) may be shown to a caller outside the process; it names no secret."""
    diagnostics: Sequence[Diagnostic] = ()
    """file:line:column explanations, when the error has them."""


class ParacError(ParacBaseError):
    """An error a user can act on; it carries the diagnostics that explain it."""

    public = True

    def __init__(self, message: str, diagnostics: Iterable[Diagnostic] = ()) -> None:
        super().__init__(message)
        self.diagnostics = list(diagnostics)


class NotFound(ParacError):
    """What a request names does not exist (a workflow run, a human task, a recorded agent run). A class of its
    own so that every face says so alike: HTTP 404, the CLI's exit code 4, an MCP error naming what is missing."""


def public_message(error: BaseException) -> str | None:
    """What a caller outside the process may read of ``error``: its message, then its diagnostics one per line;
    None when it is not a public parac error (the face logs it and tells the caller only that something failed)."""
    if not (isinstance(error, ParacBaseError) and error.public):
        return None
    return "\n".join([str(error), *(f"  {d.format()}" for d in error.diagnostics)])
