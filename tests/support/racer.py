"""A racing process for confinement tests: swaps two paths as fast as it can, atomically, until killed.

``python racer.py A B`` exchanges ``A`` and ``B`` with ``renameat2(RENAME_EXCHANGE)`` in a loop (so one of the two
names is always a file or folder inside the workspace and the other a link leading out), and
on SIGTERM prints how many swaps it made. Run as its own process so that it races the server truly in parallel.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import sys

AT_FDCWD = -100
RENAME_EXCHANGE = 2


def main(first: str, second: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    a, b = os.fsencode(first), os.fsencode(second)
    swaps = 0
    stop = False

    def finish(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, finish)
    print("ready", flush=True)
    while not stop:
        if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0:
            swaps += 1
        elif ctypes.get_errno() != errno.ENOENT:  # one side deleted or moved by the test's calls: it refills it
            raise OSError(ctypes.get_errno(), "renameat2 failed")
    print(swaps, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
