"""Secrets kept in files: API keys (``providers.NAME.api_key_file``), the MCP bearer token (``mcp.token_file``),
HMAC secrets (``serve.hmac_keys.ID.secret_file``) and JWT keys (``serve.jwt.key_file``, ``mcp.oauth.key_file``).

All are read the same way, so all behave the same way: a relative path is taken from the folder of the file that
names it (``.parac/``, beside ``parac.yaml``), not from wherever the process was started; surrounding whitespace (an
editor's final newline) is dropped; an unreadable, empty or non-text file is an error that names the file, never
the content. The caller puts the setting's place in ``parac.yaml`` in front of it (``FILE:LINE:COL: key.path:``),
as every ``parac.yaml`` error reads.
"""

from __future__ import annotations

from pathlib import Path

from .errors import ParacBaseError


class SecretFileError(ParacBaseError):
    """The file named for a secret cannot be read or holds nothing."""


def secret_path(path: str | Path, base_dir: Path | None) -> Path:
    """Where the file named ``path`` is: ``~`` expanded, a relative path taken from ``base_dir``."""
    resolved = Path(path).expanduser()
    return base_dir / resolved if not resolved.is_absolute() and base_dir is not None else resolved


def read_secret_file(path: str | Path, base_dir: Path | None) -> str:
    """The secret in the file at ``path`` (relative to ``base_dir``)."""
    resolved = secret_path(path, base_dir)
    try:
        value = resolved.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise SecretFileError(f"cannot read {resolved}: {error.strerror}") from None
    except UnicodeDecodeError:  # said without the decoder's message, which quotes the bytes it stopped at
        raise SecretFileError(f"{resolved} is not UTF-8 text") from None
    if not value:
        raise SecretFileError(f"{resolved} is empty")
    return value
