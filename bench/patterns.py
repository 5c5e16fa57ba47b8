"""Benchmark of the agent patterns' measurable parts (not a test: it prints figures and ratios).

- Compaction: tokens before and after :func:`parac.core.patterns.compaction.compact` on each transcript of the
  fixture set the tests ship (``tests/patterns/fixtures/transcripts``), with ``context_tokens`` at a quarter of the
  transcript, and how many of its facts (strings only an older tool output holds, used by a later turn) are still
  sent. Target: >= 30% of the tokens saved over the set, every fact kept. Beside it, the time one compaction takes
  against ``json.dumps`` of the same messages (what sending them costs anyway).
- Response cache: the latency of a cache hit through :meth:`parac.core.llm.ModelClient.complete` (governance hooks
  of a real host, the ledger row with status ``cached``) against a call of the same request to the local
  OpenAI-compatible test server through litellm (``tests/support/openai_server.py``, on 127.0.0.1: the fastest a
  provider can answer), taking turns. Target: a hit <= 20% of the local call. Beside it, the floor of a hit: the
  bare SQLite lookup of the cached row.

Run: ``.venv/bin/python bench/patterns.py``.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
from harness import load_average

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from parac.core.patterns.cache import request_key  # noqa: E402
from parac.core.patterns.compaction import compact, count_tokens  # noqa: E402
from parac.core.runtime import Runtime  # noqa: E402
from parac.server.host import Host  # noqa: E402
from support.openai_server import OpenAIServer  # noqa: E402

FIXTURES = REPO / "tests" / "patterns" / "fixtures" / "transcripts"
BUDGET_SHARE = 0.25
ROUNDS = 200


def compaction() -> None:
    print(f"\ncompaction, context_tokens = {BUDGET_SHARE:.0%} of each transcript ({load_average()})")
    before = after = 0
    lost: list[str] = []
    for path in sorted(FIXTURES.glob("*.json")):
        fixture = json.loads(path.read_text())
        messages = fixture["messages"]
        budget = int(count_tokens(messages) * BUDGET_SHARE)
        compacted = compact(messages, budget)
        sent = "\n".join(str(m.get("content") or "") for m in compacted.messages)
        kept = [fact for fact in fixture["facts"] if fact in sent]
        lost += [f"{path.stem}: {fact}" for fact in fixture["facts"] if fact not in sent]
        ours = _median_s(lambda: compact(messages, budget))
        dumps = _median_s(lambda: json.dumps(messages))
        before, after = before + compacted.tokens_before, after + compacted.tokens_after
        print(f"  {path.stem:<16} {compacted.tokens_before:6d} -> {compacted.tokens_after:6d} tokens"
              f" ({1 - compacted.tokens_after / compacted.tokens_before:5.1%} saved), facts kept {len(kept)}/"
              f"{len(fixture['facts'])}, compact {ours * 1000:6.2f} ms vs json.dumps {dumps * 1000:6.2f} ms"
              f" (x{ours / dumps:.1f})")
    saved = 1 - after / before
    verdict = "ok" if saved >= 0.30 and not lost else "MISSED"
    print(f"  set: {before} -> {after} tokens, {saved:.1%} saved (target >= 30%, every fact kept) {verdict}")
    for fact in lost:
        print(f"  lost: {fact}")


def _median_s(work, runs: int = 21) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


async def cache(root: Path, server: OpenAIServer) -> None:
    (root / ".parac" / "agents").mkdir(parents=True)
    (root / ".parac" / "parac.yaml").write_text(
        f"providers:\n  local:\n    api_base: {server.base_url}\n    model_prefix: openai\n")
    host = Host(entry_points=False)
    host.open_workspace(root)
    model, messages = "local/gpt-4o-mini", [{"role": "user", "content": "the same question every time"}]
    with Runtime(host.workspace, hooks=host.hooks) as runtime:
        client = runtime.client
        await client.complete(model, messages, temperature=0, cache_ttl_s=3600)  # fills the cache
        for _ in range(5):  # warm both paths (litellm's first call imports and builds a lot)
            await client.complete(model, messages, temperature=0, cache_ttl_s=3600)
            await client.complete(model, messages, temperature=0)
        key = request_key(model, messages, None, 0, None)
        hits, calls, floor = [], [], []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            answer = await client.complete(model, messages, temperature=0, cache_ttl_s=3600)
            hits.append(time.perf_counter() - start)
            assert answer.cached
            start = time.perf_counter()
            await client.complete(model, messages, temperature=0)
            calls.append(time.perf_counter() - start)
            start = time.perf_counter()
            runtime.conn.execute("SELECT completion FROM llm_cache WHERE key = ? AND created >= ?",
                                 (key, time.time() - 3600)).fetchone()
            floor.append(time.perf_counter() - start)
        await client.accountant.flushed()
    hit, call, bare = (statistics.median(s) for s in (hits, calls, floor))
    share = hit / call
    print(f"\nresponse cache, {ROUNDS} rounds taking turns ({load_average()})")
    print(f"  cache hit (hooks, ledger row)   {hit * 1000:8.3f} ms")
    print(f"  local test server via litellm   {call * 1000:8.3f} ms")
    print(f"  hit / server call               {share:8.3f}  (target <= 0.20) {'ok' if share <= 0.20 else 'OVER TARGET'}")
    print(f"  floor: bare SQLite lookup       {bare * 1000:8.3f} ms  (hit / floor x{hit / bare:.0f})")


def main() -> None:
    compaction()
    with tempfile.TemporaryDirectory() as folder, OpenAIServer() as server:
        anyio.run(cache, Path(folder), server)


if __name__ == "__main__":
    main()
