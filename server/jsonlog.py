"""``--log-format json``: one JSON object a line, for log collectors.

Each line has ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, and where known the ``request_id`` (an
MCP or HTTP request), ``run_id`` and ``step`` (:data:`parac.core.telemetry.LOG_FIELDS`), ``trace_id`` and
``span_id`` (the current span, when tracing is on), and ``exception``. The same lines tie to the traces (trace id)
and to the audit trail and the ledger (run id). Secrets are masked as on text lines: the handlers' redacting filter
(``parac.core.redact.install_log_redaction``) rewrites a record before any formatter sees it.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

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
        ids = telemetry.ids()
        if ids is not None:
            line["trace_id"], line["span_id"] = ids
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:  # set by the redacting filter, already masked
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


def use_json_logs(logger: logging.Logger | None = None) -> None:
    """Format every handler of ``logger`` (default: the root logger) as JSON lines, and keep run ids for them."""
    telemetry.want_log_fields()
    for handler in (logger or logging.getLogger()).handlers:
        handler.setFormatter(JsonFormatter())
