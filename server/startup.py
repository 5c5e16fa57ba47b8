"""Start-up without the cyclic garbage collector's repeated scans of what start-up builds.

A command or a server starts by importing modules, registering plugins and loading the workspace: tens of thousands of
objects that live as long as the process. Made with the collector on, they are scanned again and again while they are
made, and nothing is found (a twentieth of ``parac agents run``, more for the MCP server's first ``tools/list``).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def loading() -> Iterator[None]:
    """Run the block with the collector paused, then leave what exists out of its later scans (``gc.freeze``).

    Only for blocks that build what stays: an object frozen here and dropped later is not collected if it is in a
    reference cycle. The collector is back on afterwards, so a long run or a server collects as usual.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if collecting:
            gc.enable()
