"""Secrets kept in files: API keys (``providers.NAME.api_key_file``) and the MCP bearer token
(``settings.mcp.token_file``).

Both are read the same way, so both behave the same way: a relative path is taken from the folder of the file that
names it (``.parac/``, beside ``parac.yaml``), not from wherever the process was started; surrounding whitespace (an editor's final
newline) is dropped; an unreadable or empty file is an error that names the file and the setting, never the
content.
"""

from __future__ import annotations

from pathlib import Path

from .errors import ParacBaseError


class SecretFileError(ParacBaseError):
    """The file named for a secret cannot be read or holds nothing."""


def read_secret_file(path: str | Path, base_dir: Path | None, *, setting: str | None) -> str:
    """The secret in the file at ``path`` (relative to ``base_dir``); ``setting`` names where the path was set
    (None: the caller's message places the error itself, as ``FILE:LINE:COL: key``)."""
    resolved = Path(path).expanduser()
    if not resolved.is_absolute() and base_dir is not None:
        resolved = base_dir / resolved
    named = f"{resolved} ({setting})" if setting else str(resolved)
    try:
        value = resolved.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise SecretFileError(f"cannot read {named}: {error.strerror}") from None
    if not value:
        raise SecretFileError(f"{named} is empty")
    return value
