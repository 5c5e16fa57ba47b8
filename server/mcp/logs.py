"""Logging for `parac mcp serve`: stderr only, configured before the MCP SDK is imported.

Over stdio, stdout carries protocol frames and nothing else, from the first byte. Records logged while a request is
being served also go to the client as MCP logging notifications when its protocol era has them (see `forward`).
"""

from __future__ import annotations

import logging
import sys
import warnings

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure_stderr_logging(level: str = "warning") -> None:
    """Route every logger and every warning to stderr (never stdout) at `level`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS.get(level, logging.WARNING))
    logging.captureWarnings(True)
    # The SDK marks the logging capability deprecated for 2026-07-28; parac serves both eras on purpose.
    warnings.filterwarnings("ignore", message=r".*deprecated as of 2026-07-28.*")
