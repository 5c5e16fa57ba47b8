"""A JSON log line's structured fields are masked like its message: a step's error can quote a secret."""

from __future__ import annotations

import io
import json
import logging

from parac.core.redact import install_log_redaction
from parac.server.jsonlog import JsonFormatter

SECRET = "sk-proj-" + "Zq8vT3xLm2Nw7Pd4Rk9Ys6Hb1Jc5Fg0A"


def test_a_secret_in_a_records_fields_never_reaches_the_line():
    stream = io.StringIO()
    logger = logging.getLogger("parac.test.json_redaction")
    logger.propagate = False
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    try:
        install_log_redaction(logger)
        logger.warning("step failed", extra={"fields": {"event": "step.end", "step": "deploy",
                                                        "error": f"401 from the API with key {SECRET}",
                                                        "detail": {"headers": [f"Bearer {SECRET}"]}}})
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert SECRET not in stream.getvalue()
    assert line["event"] == "step.end" and line["step"] == "deploy"
    assert line["error"].startswith("401 from the API with key ")
