"""The process's output masking (`redact.OUTPUT`) forgets a gone host's configuration from a weakref finalizer,
which the garbage collector may run on any thread at any allocation, including one made while the rebuild holds
the lock. A plain lock deadlocked a test run there (seen as a hung CI)."""

from __future__ import annotations

import gc
import threading

from parac.core.redact import OutputRedaction, Redactor


class Owner:
    """Stands for a host's governance: what `OutputRedaction.add` watches."""


def test_a_hosts_finalizer_running_during_a_rebuild_does_not_deadlock():
    output = OutputRedaction()
    owners = [Owner()]
    output.add(owners[0], Redactor())

    class Collecting(list):
        """Patterns whose reading drops the last reference to the owner and collects, as a GC pass might."""

        def __iter__(self):
            owners.clear()
            gc.collect()
            return super().__iter__()

    chatty = Redactor()
    chatty.patterns = Collecting(["ticket-[0-9]+"])
    keeper = Owner()
    output.add(keeper, chatty)
    done = threading.Event()

    def rebuild() -> None:
        output.redactor()
        done.set()

    thread = threading.Thread(target=rebuild, daemon=True)
    thread.start()
    assert done.wait(10), "the rebuild deadlocked on its own lock"
    assert not owners  # the finalizer did run inside the rebuild
    assert output.redactor().text("see ticket-42") != "see ticket-42"  # the living owner's pattern still masks
