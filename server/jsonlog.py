"""``--log-format json``: one JSON object a line, for log collectors.

Each line has ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, and where known the ``request_id`` (an
MCP or HTTP request), ``run_id`` and ``step`` (:data:`parac.core.telemetry.LOG_FIELDS`), ``trace_id`` and
``span_id`` (the current span, when tracing is on), and ``exception``. The same lines tie to the traces (trace id)
and to the audit trail and the ledger (run id). Secrets are masked as on text lines: the handlers' redacting filter
(``parac.core.redact.install_log_redaction``) rewrites a record before any formatter sees it. A record's
``fields`` (``extra={"fields": {...}}``) are added too, masked by the same filter: the CLI's progress events name
their event, run id, step, status and a failed step's error that way.

The CLI's own lines on stderr (``error: ...``, prompts, notices) are text written by click and rich, not log
records: with ``use_json_logs(stderr=True)`` stderr becomes :class:`JsonLines`, which makes each such line a JSON
object too, so that every line a collector reads parses.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from datetime import datetime, timezone
from typing import TextIO

from parac.core import telemetry


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(telemetry.LOG_FIELDS.get() or {})
        line.update(getattr(record, "fields", None) or {})
        ids = telemetry.ids()
        if ids is not None:
            line["trace_id"], line["span_id"] = ids
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:  # set by the redacting filter, already masked
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


class JsonLines(io.TextIOBase):
    """A text stream that writes each line to ``stream`` as a JSON object: a line that already is one (a log
    handler's) as it is, any other as the ``message`` of a record of the logger ``parac.cli`` (an ``error: `` or
    ``warning: `` prefix sets the level). Text is held until its line ends."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.formatter = JsonFormatter()
        self.pending = ""

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False  # no live tables, no colours: a collector reads this

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            self.stream.write(self._json(line) + "\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        if self.pending:
            self.stream.write(self._json(self.pending) + "\n")
            self.pending = ""
        self.flush()

    def _json(self, line: str) -> str:
        if line.startswith("{"):
            try:
                if isinstance(json.loads(line), dict):
                    return line
            except ValueError:
                pass
        level = logging.INFO
        for prefix, prefixed in (("error: ", logging.ERROR), ("warning: ", logging.WARNING)):
            if line.startswith(prefix):
                line, level = line[len(prefix):], prefixed
        return self.formatter.format(logging.LogRecord("parac.cli", level, "", 0, line, None, None))


def use_json_logs(logger: logging.Logger | None = None, *, stderr: bool = False) -> None:
    """Format every handler of ``logger`` (default: the root logger) as JSON lines, and keep run ids for them; with
    ``stderr``, make every other line written to stderr a JSON object too (:class:`JsonLines`)."""
    telemetry.want_log_fields()
    for handler in (logger or logging.getLogger()).handlers:
        handler.setFormatter(JsonFormatter())
    if stderr and not isinstance(sys.stderr, JsonLines):
        sys.stderr = JsonLines(sys.stderr)
