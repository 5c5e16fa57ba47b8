"""One process's share of a workspace's ledger: rows written by a group-committing thread, budgets checked in memory.

Recording a call and checking a budget used to cost two durable SQLite transactions per call (reserve, then
settle). Here both are in-memory steps and the database sees far fewer, larger writes:

- **Rows.** :meth:`Ledger.settle` queues the row; a writer thread commits whatever has queued up every
  :data:`GROUP_COMMIT_S` in one transaction on its own connection with ``synchronous=FULL`` (the commit reaches the
  disk). A row is *acknowledged* when :meth:`Ledger.flush` (or :meth:`Ledger.flushed`) returns after it was
  queued: from then on it survives a crash of the process and a power loss. :meth:`parac.core.runtime.Runtime.run`
  flushes before it returns, so every face that reports a run (CLI, MCP, workflow step checkpoints) reports only
  recorded costs. A crash before that point may lose the rows of calls settled within the last
  :data:`GROUP_COMMIT_S`, which no caller was told about; never an acknowledged row, never half a batch.
- **Budgets.** A process *claims* dollars against a limited total in the database (``spend_claims``: key, pid,
  dollars) in one ``BEGIN IMMEDIATE`` transaction that checks ``spent + every claim + this claim <= limit``.
  Calls then reserve from that claim in memory (:meth:`Ledger.take`) until it runs short, and the writer moves
  each settled cost from the claim to ``spent`` in the same transaction as the row. Every process's in-flight
  and settled-but-unwritten dollars are always inside its claim, so limits hold across processes (the MCP
  server and a CLI command at once) exactly as within one.

  A claim is the call's bound, and only for a *busy* process (one that claimed less than :data:`IDLE_RELEASE_S`
  ago, nobody waiting) also :data:`CLAIM_SHARE` of what is left: far from a limit a busy process asks the
  database once per many calls; a process making one call at a time (``parac agents run``) holds exactly
  what its call may cost. Unused headroom goes back when the process has been idle for :data:`IDLE_RELEASE_S`
  and when its last user closes.

  **Exact refusals (needs and answers).** A call is refused only when spent + what calls in flight may still
  cost + its bound passes the limit. When a claim falls short while another live process holds a claim on the
  total, that headroom may be unused, so the process first records a *need* (``spend_needs``) and asks again
  every :data:`NEED_POLL_S`. Every process holding a claim looks for needs as often (``PRAGMA data_version``
  first, so a quiet database costs nothing), gives back all its unused headroom and records its *answer*
  (``spend_answers``: the last need it answered); while a need stands it claims bounds only. The call is
  refused when every live holder has answered the need and the room is still short (then what they hold is
  in flight or settled and unwritten), or after :data:`NEED_WAIT_S` if one never answers. This is simpler
  than claims of exactly what is in flight (a durable transaction per call, 3x the CPU of the row itself) and
  than borrowing between processes (a claim would have to move between two processes' memories atomically).
- **Crashes.** A dead process's claim is never reclaimed as unspent as a whole: a call of it may have reached
  its provider, and only a ledger row could tell. What it may still owe is kept beside the database in a small
  file the process maps into memory (:class:`HeldFile`: the bounds of its calls in flight plus the costs it
  settled and had not written, raised before a call may start), which outlives a ``kill -9`` in the page
  cache at the price of a store to memory per call. :func:`settle_dead` (run by the next process that claims
  on the database, and by any that runs short) moves the smaller of each claim and that amount to
  ``spend_unsettled``, which counts as spent (``budget show``: "unsettled after a crash"), and releases the
  rest: a busy process's unused headroom goes back. Without a file written since the machine booted (a power
  loss, a process killed before it made one) the whole claim stays unsettled.

One :class:`Ledger` exists per database file per process (:func:`acquire`), shared by every
:class:`parac.core.budgets.Accountant` and thread, so two runtimes in one process never hold separate headroom.
"""

from __future__ import annotations

import atexit
import collections
import functools
import logging
import math
import mmap
import os
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import anyio

from . import costs, store
from .errors import ParacBaseError

GROUP_COMMIT_S = 0.05
"""How long the writer lets rows gather before a commit: calls close together share one transaction and fsync."""

IDLE_RELEASE_S = 0.5
"""Headroom a process holds but has not used for this long goes back to the database, for other processes."""

CLAIM_SHARE = 0.25
"""Beyond what the call needs, a busy process's claim takes this share of what is left under the limit."""

NEED_POLL_S = 0.02
"""How often a process short of room asks again, and how often a process holding a claim looks for needs."""

NEED_WAIT_S = 10.0
"""How long a process short of room waits for holders that do not answer (stopped, or their writer starved)."""

ASKED = "asked"
"""What :meth:`Ledger.claim` returns while a need it recorded is not yet answered: ask again after
:data:`NEED_POLL_S`."""

SYNCHRONOUS = "FULL"
"""The writer's commits reach the disk: an acknowledged row survives a power loss, not only a killed process."""

SEEN_CALLS = 100_000
"""How many recent call ids a process remembers to refuse settling one twice (the database refuses the rest)."""

class Total:
    """One limited total as this process holds it. A budget plan keeps the totals of its calls, so the
    bookkeeping of a call is arithmetic on these attributes (no dictionary lookups: it runs on every call)."""

    __slots__ = ("key", "free", "cap", "view", "used", "alert")

    def __init__(self, key: str) -> None:
        self.key = key
        self.free = 0.0
        """Headroom claimed in the database and not reserved by a call."""
        self.cap = math.inf
        """The limit the headroom was claimed under (infinite until the first claim: nothing may be taken)."""
        self.view = 0.0
        """Spent on the total as this process knows it (its own settled costs, others' as of its last claim)."""
        self.used = 0.0
        """Costs of rows queued since the writer's last batch: it moves them from the claim to ``spent``."""
        self.alert = math.inf
        """The lowest spent at which a limit on the total has a threshold to report (see :meth:`Ledger.settle`)."""


Need = tuple[Total, float]
"""A limited total and the tightest limit on it, in dollars."""


class LedgerError(ParacBaseError):
    """Rows could not be written (a locked or full disk); the rows stay queued and are retried."""


DOLLARS = struct.Struct("<d")


class HeldFile:
    """The dollars a process's budget claims may still owe (calls in flight, settled costs not yet written), in a
    file beside the database mapped into memory: a store to it is in the kernel's page cache at once, so the
    figure survives the process being killed (not the machine losing power: the file carries the boot it was
    written in, and one from another boot is not trusted)."""

    LAYOUT = struct.Struct("<16sd")
    """The boot id, then the dollars (:data:`DOLLARS`)."""

    def __init__(self, path: str, boot: bytes) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, self.LAYOUT.size)
            self._map = mmap.mmap(fd, self.LAYOUT.size)
        finally:
            os.close(fd)
        self.LAYOUT.pack_into(self._map, 0, boot, 0.0)
        self.mark: Callable[[float], None] = functools.partial(DOLLARS.pack_into, self._map, 16)
        """Store the dollars (one C call: it runs before every call that takes headroom)."""

    def remove(self) -> None:
        self._map.close()
        Path(self.path).unlink(missing_ok=True)

    @classmethod
    def owed(cls, path: str) -> float | None:
        """What the file at ``path`` says its dead process may owe; None when there is none from this boot."""
        try:
            boot, usd = cls.LAYOUT.unpack(Path(path).read_bytes())
        except (OSError, struct.error):
            return None
        return max(0.0, usd) if boot == boot_id() and usd == usd else None


@functools.cache
def boot_id() -> bytes:
    """This boot of the machine (Linux); empty where it cannot be told, and then no :class:`HeldFile` is kept."""
    try:
        return bytes.fromhex(Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", ""))
    except (OSError, ValueError):
        return b""


def held_path(database: str, pid: int) -> str:
    return f"{database}.held-{pid}"


class Ledger:
    """The ledger rows and the budget headroom of this process for one database file; thread-safe."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self._queue: collections.deque[costs.CostRow] = collections.deque()
        self._used: list[Total] = []  # the totals whose `used` the writer has to move (none is there twice)
        self._wake = threading.Event()
        self._hurry = threading.Event()
        self._done = threading.Condition()
        self._submitted = 0
        self._written = 0
        self._failure: Exception | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._users = 0
        self._seen: set[str] = set()  # recent call ids, oldest first in _seen_order (a dict's oldest key costs a
        self._seen_order: collections.deque[str] = collections.deque()  # scan over every slot deleted before it)
        self._open = 0  # reservations taken and not yet settled or released
        self._claimed = False  # whether this process may hold claims in the database (the writer then tends them)
        self._claimed_at = -IDLE_RELEASE_S  # monotonic time of the last claim: a recent one makes the process busy
        self._active_at = 0.0  # monotonic time of the last claim or written batch: headroom goes back when idle
        self._lean = False  # another process needs room: claim bounds only, hold no headroom
        self._answered = 0  # the last need this process answered
        self._data_version = -1  # the writer connection's PRAGMA data_version when it last looked for needs
        self._tended_at = 0.0  # monotonic time the writer last looked for needs
        self.totals: dict[str, Total] = {}
        self._owed = 0.0  # bounds of calls in flight plus settled costs not yet written, on limited totals
        self._marked = 0.0  # what the held file says (never less than _owed while a call may be at a provider)
        self._pending = 0.0  # settled costs on limited totals not yet handed to the writer
        self._held_file: HeldFile | None = None
        self._reconciled = False  # whether the claims of dead processes were settled since this ledger began

    # -- budgets ----------------------------------------------------------------------------------------------
    def total(self, key: str) -> Total:
        """The limited total ``key`` as this process holds it (made on first use)."""
        with self.lock:
            found = self.totals.get(key)
            if found is None:
                found = self.totals[key] = Total(key)
            return found

    def take(self, needs: Sequence[Need], usd: float) -> bool:
        """Reserve ``usd`` on every total from headroom already claimed; False when one falls short (or its
        limit was lowered since the claim, or nothing was claimed yet) and the database must be asked
        (:meth:`claim`)."""
        with self.lock:
            for total, limit in needs:
                if total.free < usd or limit < total.cap:
                    return False
            for total, _ in needs:
                total.free -= usd
            self._open += 1
            owed = self._owed = self._owed + usd  # _owe, inlined: this runs on every call's thread
            if owed > self._marked and self._held_file is not None:
                self._held_file.mark(owed)
                self._marked = owed
        return True

    def _owe(self, usd: float) -> None:
        """Count ``usd`` more as owed; raise the held file's figure before the call can start (under the lock)."""
        owed = self._owed = self._owed + usd
        if owed > self._marked and self._held_file is not None:
            self._held_file.mark(owed)
            self._marked = owed

    def claim(
        self, conn: sqlite3.Connection, needs: Sequence[Need], usd: float, *, last_try: bool = False
    ) -> tuple[str, float, float] | str | None:
        """Reserve ``usd`` on every total by claiming it in the database. Returns None when reserved;
        :data:`ASKED` when the room is short but another live process holds a claim that may be unused headroom
        (a need is recorded: ask again after :data:`NEED_POLL_S`); otherwise the refusal, as the first total
        that cannot take it: ``(key, spent, held by calls in flight and unsettled after crashes)``.

        ``last_try`` refuses rather than wait any longer for holders that have not answered. This process's own
        unused headroom on these totals is given back first, so the check is made against the limits of now.
        """
        keys = [total.key for total, _ in needs]
        with self.lock:  # held until memory matches the commit: no call may spend headroom given back here
            if self._held_file is None and (boot := boot_id()):
                try:
                    self._held_file = HeldFile(held_path(self.path, self.pid), boot)
                except OSError as error:  # without it a crash leaves the whole claim unsettled, as before
                    logging.getLogger("parac.ledger").warning("no held file beside %s: %s", self.path, error)
            with store.transaction(conn):
                if not self._reconciled:
                    settle_dead(conn, self.path)
                    self._reconciled = True
                returned = {total.key: total.free for total, _ in needs}
                conn.executemany(
                    "UPDATE spend_claims SET usd = usd - ? WHERE key = ? AND pid = ?",
                    [(f, key, self.pid) for key, f in returned.items() if f],
                )
                totals = costs.spent(conn, keys, materialize=True)
                outcome: tuple[str, float, float] | str | None = _shortfall(needs, totals, usd)
                claims: dict[str, float] = {}
                now = time.monotonic()
                if outcome is None:
                    busy = not self._lean and now - self._claimed_at < IDLE_RELEASE_S
                    for total, limit in needs:
                        spent, claimed = totals[total.key]
                        claims[total.key] = usd + (
                            max(0.0, limit - spent - claimed - usd) * CLAIM_SHARE if busy else 0.0
                        )
                    conn.executemany(
                        "INSERT INTO spend_claims (key, pid, usd) VALUES (?, ?, ?) "
                        "ON CONFLICT (key, pid) DO UPDATE SET usd = usd + excluded.usd",
                        [(key, self.pid, amount) for key, amount in claims.items()],
                    )
                    conn.execute("DELETE FROM spend_needs WHERE pid = ?", (self.pid,))
                else:
                    outcome = self._ask(conn, outcome, last_try)
            for total, limit in needs:
                key = total.key
                total.free = total.free - returned[key] + claims.get(key, usd) - usd
                total.cap = limit
                total.view = max(total.view, totals[key][0])
            if outcome is None:
                self._open += 1
                self._owe(usd)
                self._claimed_at = self._active_at = now
                if not self._claimed:  # the writer sleeps until woken while nothing is claimed: it must tend this
                    self._claimed = True
                    self._wake.set()
        return outcome

    def _ask(
        self, conn: sqlite3.Connection, breach: tuple[str, float, float], last_try: bool
    ) -> tuple[str, float, float] | str:
        """Inside :meth:`claim`'s transaction, the room being short on ``breach``'s total: record a need, or
        keep waiting for its answers, or refuse (every live holder answered, or ``last_try``)."""
        settle_dead(conn, self.path)
        key = breach[0]
        holders = [
            pid
            for (pid,) in conn.execute(
                "SELECT pid FROM spend_claims WHERE key = ? AND pid != ? AND usd > 1e-12", (key, self.pid)
            )
        ]
        need = conn.execute("SELECT MAX(id) FROM spend_needs WHERE pid = ?", (self.pid,)).fetchone()[0]
        if holders and not last_try:
            if need is None:
                conn.execute("INSERT INTO spend_needs (key, pid) VALUES (?, ?)", (key, self.pid))
                return ASKED
            marks = ",".join("?" * len(holders))
            answered = conn.execute(
                f"SELECT COUNT(*) FROM spend_answers WHERE need >= ? AND pid IN ({marks})", (need, *holders)
            ).fetchone()[0]
            if answered < len(holders):
                return ASKED
        conn.execute("DELETE FROM spend_needs WHERE pid = ?", (self.pid,))
        return breach

    def settle(
        self, row: costs.CostRow, totals: Sequence[Total], usd: float, charged: Sequence[Total]
    ) -> Sequence[float] | None:
        """Queue ``row`` for writing and turn the call's reservation of ``usd`` on ``totals`` into its real cost.

        ``charged`` are the limited totals the row adds to (``totals`` unless the day turned during the call).
        Returns the new ``view`` of each of them when one reached its ``alert`` (a threshold event may be due),
        else an empty tuple; None (charging nothing) when this call id was settled before.
        """
        with self.lock:
            seen = self._seen
            again = row.call_id in seen
            cost = 0.0 if again else row.cost_usd
            after: Sequence[float] = ()
            if totals:
                self._open -= 1
                spare = usd - cost
                self._pending += cost
                if spare >= 0:  # the common case: less is owed, and the held file may say more until the writer's turn
                    self._owed -= spare
                else:
                    self._owe(-spare)
                if cost:
                    same, alert = charged is totals, False
                    used = self._used
                    for total in totals:  # one pass: this runs on every call's thread
                        total.free += spare
                        if not total.used:
                            used.append(total)
                        total.used += cost
                        if same:
                            total.view += cost
                            alert = alert or total.view >= total.alert
                    if not same:  # the day turned during the call: the row adds to the new day's totals
                        for total in charged:
                            total.view += cost
                            alert = alert or total.view >= total.alert
                    if alert:
                        after = [total.view for total in charged]
                else:
                    for total in totals:
                        total.free += spare
            if again:
                return None
            seen.add(row.call_id)
            order = self._seen_order
            order.append(row.call_id)
            if len(order) > SEEN_CALLS:
                seen.discard(order.popleft())
            self._queue.append(row)
            self._submitted += 1
        if not self._wake.is_set():
            self._wake.set()
        return after

    def release(self, totals: Sequence[Total], usd: float) -> None:
        """Give back a reservation whose call was never made."""
        with self.lock:
            self._open -= 1
            self._owe(-usd)
            for total in totals:
                total.free += usd

    def _give_back(self, conn: sqlite3.Connection, *, everything: bool, answer: int = 0) -> None:
        """Return unused headroom to the database; ``everything`` also drops the claims themselves when no call of
        this process is in flight and every row is written; ``answer`` records that the need of that id (and
        every earlier one) has had this process's headroom. Done under the lock (as :meth:`claim`): a claim
        committed between the two would otherwise be dropped with the rest."""
        with self.lock:
            drop = everything and self._open == 0 and not self._queue and not self._used
            returned = {total: total.free for total in self.totals.values() if drop or total.free > 0}
            if not returned and not drop and not answer:
                return
            with store.transaction(conn):
                if drop:
                    conn.execute("DELETE FROM spend_claims WHERE pid = ?", (self.pid,))
                    conn.execute("DELETE FROM spend_answers WHERE pid = ?", (self.pid,))
                else:
                    conn.executemany(
                        "UPDATE spend_claims SET usd = usd - ? WHERE key = ? AND pid = ?",
                        [(f, total.key, self.pid) for total, f in returned.items()],
                    )
                    if answer:
                        conn.execute(
                            "INSERT INTO spend_answers (pid, need) VALUES (?, ?) "
                            "ON CONFLICT (pid) DO UPDATE SET need = excluded.need",
                            (self.pid, answer),
                        )
            for total, f in returned.items():
                total.free -= f
            if drop:
                self._claimed = False
            if answer:
                self._answered = answer

    # -- writing ----------------------------------------------------------------------------------------------
    def flush(self, timeout: float | None = 30.0) -> None:
        """Wait until every row settled so far is committed to disk (acknowledged); raises :class:`LedgerError`
        when the writer cannot write."""
        with self.lock:
            target = self._submitted
        self._wait(target, timeout)

    async def flushed(self) -> None:
        """:meth:`flush` for async code: returns at once when the rows are written, else waits in a thread."""
        with self.lock:
            target = self._submitted
        if self._written >= target:
            return
        await anyio.to_thread.run_sync(self._wait, target, 30.0)

    def _wait(self, target: int, timeout: float | None) -> None:
        self._hurry.set()
        self._wake.set()
        with self._done:
            self._done.wait_for(lambda: self._written >= target or self._failure is not None, timeout)
            if self._written < target:
                failure = self._failure
                raise LedgerError(
                    f"ledger rows could not be written to {self.path}: {failure or 'timed out waiting for the writer'}"
                )

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="parac-ledger", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        conn = store.connect(self.path)
        conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")
        costs.ensure_schema(conn)
        try:
            while True:
                due = self._tended_at + NEED_POLL_S - time.monotonic() if self._claimed else None
                if self._wake.wait(max(0.0, due) if due is not None else None):
                    if not self._hurry.is_set():
                        self._hurry.wait(GROUP_COMMIT_S)
                    self._hurry.clear()
                    self._wake.clear()
                    self._write(conn)
                    if self._stopping:
                        return
                if self._claimed and time.monotonic() - self._tended_at >= NEED_POLL_S:
                    self._tended_at = time.monotonic()  # at most once per NEED_POLL_S: a look costs ~50 us
                    self._tend(conn)
        finally:
            conn.close()

    def _write(self, conn: sqlite3.Connection) -> None:
        """Write what queued up to now in one transaction. Rows that arrive meanwhile wait for the next turn (a
        writer that drained until empty would write a busy caller's rows a few at a time)."""
        with self.lock:  # the rows and the claims they used, taken together
            count, used = len(self._queue), {total.key: total.used for total in self._used}
            for total in self._used:
                total.used = 0.0
            self._used.clear()
            pending, self._pending = self._pending, 0.0
        if not count:
            return
        self._active_at = time.monotonic()
        queue = self._queue
        batch = [queue.popleft() for _ in range(count)]
        try:
            with store.transaction(conn):
                costs.write_rows(conn, batch, claims_used=used, pid=self.pid)
        except Exception as exc:  # the writer must outlive a locked or full disk: keep the rows, report, retry
            with self.lock:
                self._pending += pending
                queue.extendleft(reversed(batch))
                for key, usd in used.items():
                    total = self.totals[key]
                    if not total.used:
                        self._used.append(total)
                    total.used += usd
            with self._done:
                self._failure = exc
                self._done.notify_all()
            logging.getLogger("parac.ledger").error("ledger batch of %d rows failed: %s", len(batch), exc)
            time.sleep(IDLE_RELEASE_S)
            return
        with self.lock:  # the batch's costs are spent now, and calls settled since: the held file may say less
            self._owed = 0.0 if self._open == 0 and not self._pending else max(0.0, self._owed - pending)
            if self._held_file is not None and self._owed != self._marked:
                self._held_file.mark(self._owed)
                self._marked = self._owed
        with self._done:
            self._failure = None
            self._written += count
            self._done.notify_all()

    def _tend(self, conn: sqlite3.Connection) -> None:
        """Between batches, while this process holds claims: answer other processes' needs (give back every
        unused dollar, then claim bounds only while a need stands), and give headroom back when idle."""
        try:
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if version != self._data_version:  # another connection committed: a need may have come or gone
                self._data_version = version
                needs = conn.execute("SELECT pid, MAX(id) FROM spend_needs WHERE pid != ? GROUP BY pid", (self.pid,))
                live = [need for pid, need in needs.fetchall() if store.process_alive(pid)]
                self._lean = bool(live)
                if live and max(live) > self._answered:
                    self._give_back(conn, everything=False, answer=max(live))
                    return
            if time.monotonic() - self._active_at >= IDLE_RELEASE_S:
                self._give_back(conn, everything=True)  # idle: nothing held at all once no call is in flight
            elif self._lean:
                self._give_back(conn, everything=False)
        except sqlite3.Error as exc:
            logging.getLogger("parac.ledger").warning("could not give back budget headroom: %s", exc)

    def _stop(self) -> None:
        """Write what is queued, give every claim back and end the writer (the last user closed)."""
        thread = self._thread
        if thread is None:
            return
        self.flush()
        self._stopping = True
        self._wake.set()
        thread.join()
        self._thread = None
        conn = store.connect(self.path)
        try:
            self._give_back(conn, everything=True)
        finally:
            conn.close()
        if not self._claimed and self._held_file is not None:  # nothing is claimed: nothing can be owed
            self._held_file.remove()
            self._held_file = None


def settle_dead(conn: sqlite3.Connection, database: str) -> bool:
    """Settle the claims of processes on this machine that died (inside the caller's transaction): of each
    claim, what the process may still owe (its :class:`HeldFile`; the whole claim without one) moves to
    ``spend_unsettled``, where it counts as spent for good (a call of theirs may have reached its provider; no
    row will ever say what it cost), and the rest, headroom it never used, is released. Their needs and
    answers are dropped. True when any process was found dead."""
    pids = {r[0] for r in conn.execute("SELECT pid FROM spend_claims UNION SELECT pid FROM spend_needs")}
    dead = [pid for pid in pids if not store.process_alive(pid)]
    if not dead:
        return False
    now = time.time()
    for pid in dead:
        owed = HeldFile.owed(held_path(database, pid))
        claims = conn.execute("SELECT key, usd FROM spend_claims WHERE pid = ? AND usd > 1e-12", (pid,)).fetchall()
        conn.executemany(
            "INSERT INTO spend_unsettled (key, pid, usd, since) VALUES (?, ?, ?, ?)",
            [(key, pid, usd if owed is None else min(usd, owed), now) for key, usd in claims if owed is None or owed > 0],
        )
        for table in ("spend_claims", "spend_needs", "spend_answers"):
            conn.execute(f"DELETE FROM {table} WHERE pid = ?", (pid,))
        Path(held_path(database, pid)).unlink(missing_ok=True)  # before the commit: a failed one only keeps more
    return True


def _shortfall(
    needs: Sequence[Need], totals: dict[str, tuple[float, float]], usd: float
) -> tuple[str, float, float] | None:
    for total, limit in needs:
        spent, claimed = totals[total.key]
        if spent + claimed + usd > limit + 1e-12:
            return total.key, spent, claimed
    return None


#: This process's ledgers, by database file. Per process, not per host, on purpose: the database knows a process's
#: headroom by its pid (``spend_claims``), so two `Ledger` objects of one process on one file would give back and
#: drop each other's claims. Workspaces never share one (each has its own database file), and two hosts of one
#: workspace share it as two processes could not.
_ledgers: dict[str, Ledger] = {}
_registry_lock = threading.Lock()


def database_file(conn: sqlite3.Connection) -> str:
    """The file behind ``conn``'s main database (the ledger's writer opens its own connection to it)."""
    path = conn.execute("PRAGMA database_list").fetchall()[0][2]  # fetchall: no statement left holding a read
    if not path:
        raise ValueError("the ledger needs a database file, not an in-memory database")
    return os.path.realpath(path)


def acquire(conn: sqlite3.Connection) -> Ledger:
    """This process's ledger for ``conn``'s database, its writer started; pair with :func:`release_user`."""
    path = database_file(conn)
    with _registry_lock:
        ledger = _ledgers.get(path)
        if ledger is None:
            ledger = _ledgers[path] = Ledger(path)
            atexit.register(_flush_quietly, ledger)
        ledger._users += 1
        ledger._start()
    return ledger


def release_user(ledger: Ledger) -> None:
    """One user is done; the last one writes every row, gives the claims back and stops the writer."""
    with _registry_lock:  # held while stopping: a new ledger for the file must not start before claims are gone
        ledger._users -= 1
        if ledger._users > 0:
            return
        _ledgers.pop(ledger.path, None)
        ledger._stop()


def _flush_quietly(ledger: Ledger) -> None:
    """At interpreter exit: write what is queued (a process that exits normally loses no row)."""
    if ledger._thread is not None and ledger._thread.is_alive():
        try:
            ledger.flush(timeout=10.0)
        except LedgerError as exc:
            logging.getLogger("parac.ledger").error("%s", exc)
