"""A test plugin: tools whose side effects go to a log file, so tests can count what really happened.

``record`` is idempotent the way a careful tool is: it appends ``start`` and then ``applied`` lines tagged with the
call's idempotency key, and a call whose key was already applied appends ``dedup`` instead of applying again.
The log path comes from ``WFTEST_LOG``; each line is JSON ``{event, step, key, run_id, pid, label}``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import anyio

from parac.server.api import ToolContext, ToolError, hookimpl

#: Events the host passed to plugins (``parac_event``), in order, for tests that run in this process.
EVENTS: list[tuple[str, dict[str, Any]]] = []
#: How many ``probe`` calls run at this moment, and the most that ever ran at once.
CONCURRENCY = {"now": 0, "peak": 0}


def _log(event: str, ctx: ToolContext, label: str) -> None:
    call = ctx.call
    line = {"event": event, "step": call.step, "key": call.idempotency_key, "run_id": call.run_id,
            "pid": os.getpid(), "label": label}
    with open(os.environ["WFTEST_LOG"], "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _applied_keys() -> set[str]:
    path = Path(os.environ["WFTEST_LOG"])
    if not path.exists():
        return set()
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {line["key"] for line in lines if line["event"] == "applied"}


def record(label: str, ctx: ToolContext, sleep_s: float = 0.0, hold: str | None = None) -> dict:
    """Apply a side effect once per idempotency key (logging it), after sleeping ``sleep_s`` seconds, and with
    ``hold`` (a path) only once that file exists (for at most a minute): the test says when the call may end."""
    if ctx.call.idempotency_key in _applied_keys():
        _log("dedup", ctx, label)
        return {"label": label, "dedup": True}
    _log("start", ctx, label)
    time.sleep(sleep_s)
    deadline = time.monotonic() + 60
    while hold is not None and not Path(hold).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    _log("applied", ctx, label)
    return {"label": label, "dedup": False}


def flaky(label: str, failures: int, ctx: ToolContext) -> dict:
    """Fail the first ``failures`` attempts of this step (counted in the log), then succeed."""
    _log("attempt", ctx, label)
    path = Path(os.environ["WFTEST_LOG"])
    attempts = sum(1 for line in path.read_text().splitlines() if json.loads(line)["key"] == ctx.call.idempotency_key)
    if attempts <= failures:
        raise ToolError(f"transient failure {attempts} of {failures}")
    return {"label": label, "attempts": attempts}


def broken(label: str) -> dict:
    """Always fails the same way."""
    raise RuntimeError(f"{label} is broken")


async def probe(label: str, sleep_s: float = 0.05) -> dict:
    """Sleep without blocking the event loop, counting how many probes overlap."""
    CONCURRENCY["now"] += 1
    CONCURRENCY["peak"] = max(CONCURRENCY["peak"], CONCURRENCY["now"])
    try:
        await anyio.sleep(sleep_s)
    finally:
        CONCURRENCY["now"] -= 1
    return {"label": label}


@hookimpl
def parac_register_tools(register) -> None:
    for fn in (record, flaky, broken, probe):
        register(fn)


@hookimpl
def parac_event(name: str, data: dict[str, Any]) -> None:
    EVENTS.append((name, dict(data)))
