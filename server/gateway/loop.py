"""The private event loop, in one daemon thread, that every external server's connection lives on.

Why: a client session belongs to the loop that opened it, while its callers do not share one (each CLI command and
test runs its own loop, the runtime reads tool schemas synchronously). One long-lived loop lets every caller, sync or
async, use the same connections.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import suppress
from typing import Any

from parac.core import telemetry
from parac.core.tools import ToolError


class BackgroundLoop:
    """An event loop started on first use; ``run`` submits a coroutine from any thread and waits for it."""

    def __init__(self, thread_name: str, at_exit: Callable[[], None]) -> None:
        """``at_exit`` runs when the interpreter exits with the loop still running: stdio servers end with parac,
        even when nobody closed their connections."""
        self._thread_name = thread_name
        self._at_exit = at_exit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._loop is not None

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float) -> Any:
        """Run ``coroutine`` on the loop in the caller's context (its trace span: the request an external server
        receives names it as parent), and wait at most ``timeout`` seconds."""
        future = asyncio.run_coroutine_threadsafe(_within(telemetry.carried(), coroutine), self._ensure())
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise ToolError(f"an external MCP server did not answer within {timeout:g} s") from None

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever, name=self._thread_name, daemon=True)
                self._thread.start()
                atexit.register(self._at_exit)
            return self._loop

    def stop(self, last: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``last()`` on the loop (within 10 s), then stop the loop and its thread."""
        if self._loop is None:
            return
        atexit.unregister(self._at_exit)
        with suppress(Exception):
            asyncio.run_coroutine_threadsafe(last(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._loop = self._thread = None


async def _within(caller: Any, coroutine: Coroutine[Any, Any, Any]) -> Any:
    with telemetry.resumed(caller):
        return await coroutine
