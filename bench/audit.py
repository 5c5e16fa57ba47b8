"""Benchmark of the audit trail and the governance hooks (not a test: it prints figures and ratios).

- durable append throughput: `AuditLog` appends in batches (one durable commit each, ``synchronous=FULL``),
  beside bare SQLite inserts of the same rows at the same durability, and single-entry commits;
- verify speed: `AuditLog.verify` over 200,000 entries (unkeyed and HMAC), beside a bare loop that only reads
  the rows and hashes them;
- hook overhead: a registered async tool called through `Host.call_tool` with the governance plugin (policy
  decision, redaction, audit submit) and, in the same run, with a plugin that allows every call instead (the host
  refuses registered tools when no plugin decides them).

Targets (issue 7): ≥ 20,000 durable appends/s, ≥ 200,000 verified entries/s.
Run: ``.venv/bin/python bench/audit.py``.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio

from parac.core.audit import AuditLog
from parac.core.calls import CallContext

ENTRIES = 200_000
BATCH = 1000
DATA = {"tool": "file_read", "arguments_digest": "9f" * 32, "agent": "coder", "duration_ms": 1.25}


def appends(folder: Path, batch: int, count: int, key: bytes | None = None) -> float:
    log = AuditLog(folder / "parac.db", key=key)
    started = time.perf_counter()
    for first in range(0, count, batch):
        with log.batch():
            for index in range(first, min(first + batch, count)):
                log.append("tool.call", actor="bench", subject="file_read", data={**DATA, "n": index})
    elapsed = time.perf_counter() - started
    log.close()
    return count / elapsed


def bare_inserts(folder: Path, batch: int, count: int) -> float:
    """The floor: the same rows inserted with no hashing, no redaction, same journal and durability."""
    conn = sqlite3.connect(folder / "bare.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY, ts, actor, action, subject, outcome, data, prev, hash)")
    row = ("2026-01-01T00:00:00.000000Z", "bench", "tool.call", "file_read", "ok", str(DATA), "0" * 71, "1" * 71)
    started = time.perf_counter()
    for first in range(0, count, batch):
        conn.execute("BEGIN IMMEDIATE")
        for index in range(first, min(first + batch, count)):
            conn.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (index + 1, *row))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return count / elapsed


def verify_rate(folder: Path, key: bytes | None) -> float:
    log = AuditLog(folder / "parac.db", key=key)
    started = time.perf_counter()
    report = log.verify()
    elapsed = time.perf_counter() - started
    assert report.ok, report.problems
    log.close()
    return report.entries / elapsed


def bare_hash_rate(folder: Path) -> float:
    """The floor: read every row and hash its columns, no canonical form, no checks."""
    conn = sqlite3.connect(folder / "parac.db")
    started = time.perf_counter()
    count = 0
    sha = hashlib.sha256
    for row in conn.execute("SELECT seq, ts, actor, action, subject, outcome, data, prev_hash, hash FROM audit"):
        sha("".join(map(str, row)).encode()).hexdigest()
        count += 1
    elapsed = time.perf_counter() - started
    conn.close()
    return count / elapsed


def hook_overhead(folder: Path, calls: int = 3000) -> tuple[float, float]:
    """Median microseconds per `Host.call_tool` of a no-op async tool, with and without governance."""
    from parac.server.api import hookimpl, tool_from_function
    from parac.server.host import Host

    root = folder / "ws"
    (root / ".parac" / "policies").mkdir(parents=True)
    (root / ".parac" / "parac.yaml").write_text("name: bench\n")
    (root / ".parac" / "policies" / "bench.yaml").write_text("allow: [{tools: [noop]}]\n")

    async def noop(text: str = "") -> str:
        return text

    class Tools:
        @hookimpl
        def parac_register_tools(self, register):  # type: ignore[no-untyped-def]
            register(tool_from_function(noop, name="noop"))

    class AllowAll:
        @hookimpl
        def parac_before_tool_call(self, call):  # type: ignore[no-untyped-def]
            return None

    governed = Host(entry_points=False, extra_plugins=[("bench", Tools())])
    governed.open_workspace(root)
    bare = Host(entry_points=False, extra_plugins=[("bench", Tools()), ("allow", AllowAll())], disabled=["governance"])
    bare.open_workspace(root)

    async def chunk(host: Host) -> float:
        started = time.perf_counter()
        for _ in range(calls // 10):
            await host.call_tool("noop", {"text": "hello"}, CallContext(agent="coder"))
        return (time.perf_counter() - started) / (calls // 10) * 1e6

    async def interleaved() -> tuple[float, float]:
        """Alternate the two hosts so that a change in machine load hits both alike."""
        await chunk(bare)
        await chunk(governed)
        pairs = [(await chunk(governed), await chunk(bare)) for _ in range(10)]
        return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)

    with_governance, without = anyio.run(interleaved)
    governance = governed.pm.get_plugin("governance")  # the governed host's own instance
    assert governance.audit is not None
    governance.audit.flush()
    return with_governance, without


def main() -> int:
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        folder = Path(tmp)
        print(f"audit benchmark ({ENTRIES:,} entries, batches of {BATCH}, synchronous=FULL)")
        (folder / "single").mkdir()
        single = appends(folder / "single", 1, 300)
        (folder / "a").mkdir()
        batched = appends(folder / "a", BATCH, ENTRIES)
        floor = bare_inserts(folder / "a", BATCH, ENTRIES)
        print(f"  durable appends, batched      {batched:>10,.0f} /s   (target 20,000; bare SQLite inserts "
              f"{floor:,.0f} /s, ratio {floor / batched:.1f}x)")
        print(f"  durable appends, one per commit {single:>8,.0f} /s   (one fsync each)")
        unkeyed = verify_rate(folder / "a", None)
        bare = bare_hash_rate(folder / "a")
        print(f"  verify, sha256                {unkeyed:>10,.0f} /s   (target 200,000; bare read+hash "
              f"{bare:,.0f} /s, ratio {bare / unkeyed:.2f}x)")
        (folder / "k").mkdir()
        appends(folder / "k", BATCH, ENTRIES, key=b"bench-key")
        keyed = verify_rate(folder / "k", b"bench-key")
        print(f"  verify, HMAC-sha256           {keyed:>10,.0f} /s")
        governed, without = hook_overhead(folder)
        print(f"  tool call via Host.call_tool  {governed:>8.1f} us with governance, {without:.1f} us without "
              f"(+{governed - without:.1f} us, {governed / without:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
