"""Logging for `parac mcp serve`: stderr only, configured before the MCP SDK is imported.

Over stdio, stdout carries protocol frames and nothing else, from the first byte. Records logged while a tool call
is being served also go to its client as MCP logging notifications when its protocol era has them
(`ClientLogHandler`).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import warnings
from contextvars import ContextVar
from typing import Any

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure_stderr_logging(level: str = "warning", log_format: str = "text") -> None:
    """Route every logger and every warning to stderr (never stdout) at `level`, as text or JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # The level is the handler's, not the root logger's, so that parac's own records still reach MCP clients
    # (which choose their level with logging/setLevel) when stderr shows only warnings.
    handler.setLevel(LEVELS.get(level, logging.WARNING))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS.get(level, logging.WARNING))
    if log_format == "json":
        from parac.server.jsonlog import use_json_logs

        use_json_logs()
    logging.captureWarnings(True)
    # The SDK marks the logging capability deprecated for 2026-07-28; parac serves both eras on purpose.
    warnings.filterwarnings("ignore", message=r".*deprecated as of 2026-07-28.*")


MCP_LEVELS = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning", logging.ERROR: "error"}

current_request: ContextVar[Any] = ContextVar("parac_mcp_request", default=None)
"""The `Call` being served in this task, set by the server around each tool call."""


class ClientLogHandler(logging.Handler):
    """Forwards `parac.*` records logged while a tool call is served to that call's client, except the host's event
    lines (`parac.events`), which reach the client as progress.

    Only records logged in the event loop's thread are forwarded (a worker thread has no loop to send from); they
    still reach stderr. Sending is scheduled, never awaited, so logging cannot block or fail a call.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self._pending: set[asyncio.Task[None]] = set()

    def emit(self, record: logging.LogRecord) -> None:
        call = current_request.get()
        if call is None or record.name == "parac.events":  # the host's event lines: clients get progress instead
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        level = MCP_LEVELS.get(record.levelno, "critical" if record.levelno > logging.ERROR else "debug")
        task = loop.create_task(call.send_log(level, record.getMessage(), record.name))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)


CLIENT_LOGS = ClientLogHandler()


def forward_to_clients() -> None:
    """Install the forwarding handler on the `parac` logger (once per process)."""
    logger = logging.getLogger("parac")
    if CLIENT_LOGS not in logger.handlers:
        logger.addHandler(CLIENT_LOGS)
        logger.setLevel(logging.DEBUG)
