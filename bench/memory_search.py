"""Memory search and ingest: parac's FTS5/BM25 index against a plain ``LIKE`` scan and LangGraph's ``InMemoryStore``.

Corpus: N entries of 30 words drawn from a Zipf-like vocabulary of 20,000 words (seeded, identical for every
system); queries: 3 words of one entry (a known-item search), leaving out the 200 most frequent words as a search
leaves out "the" and "of". Measured at N = 10,000 and 100,000, in one run:

- **ingest**: entries per second into each store (parac: batches of 1,000 through ``Memory.add_many``, redaction
  and FTS indexing included; ``LIKE``: the same rows into a table without an index, the floor of writing them at
  all; LangGraph: ``InMemoryStore.put``, no persistence at all);
- **search p50**: median latency of one search returning at most 10 results (parac: BM25-ranked ``Memory.search``;
  ``LIKE``: ``content LIKE '%w%'`` for any of the words, unranked, the floor a table scan sets; LangGraph:
  ``InMemoryStore.search(namespace, query=..., limit=10)``).

Read the peers honestly: neither ``LIKE`` nor LangGraph's store without an embedding index *ranks* anything (the
store then ignores the query text and returns the namespace's first items), so they do less work than a relevance
search; parac is expected to beat the ``LIKE`` scan once the corpus is large (an index against a scan) and to
lose to pure in-memory listing on ingest. LangGraph runs in ``bench/.venv-langgraph`` (created on first use by
``workflow_overhead.ensure_langgraph``): it is not a dependency of parac. The load average is printed before and
after; on a loaded machine compare ratios, not absolute figures. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workflow_overhead import ensure_langgraph

SIZES = (10_000, 100_000)
QUERIES = 200
WORDS_PER_ENTRY = 30
VOCABULARY = 20_000
BATCH = 1_000
FUNCTION_WORDS = 200
#: parac's search must be at least this many times faster than the LIKE scan at 100k entries (an index against a
#: scan); a miss is printed.
TARGET_VS_LIKE_AT_100K = 5.0

LANGGRAPH_SCRIPT = r"""
import json, statistics, sys, time
from langgraph.store.memory import InMemoryStore
corpus, queries = sys.argv[1], sys.argv[2]
entries = [json.loads(line) for line in open(corpus)]
queries = json.load(open(queries))
store = InMemoryStore()
start = time.perf_counter()
for index, entry in enumerate(entries):
    store.put(("docs",), str(index), {"title": entry["title"], "content": entry["content"]})
ingest = len(entries) / (time.perf_counter() - start)
times = []
for query in queries:
    start = time.perf_counter()
    store.search(("docs",), query=query, limit=10)
    times.append(time.perf_counter() - start)
print(json.dumps({"ingest": ingest, "p50": statistics.median(times)}))
"""


def vocabulary() -> list[str]:
    rng = random.Random(1)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(4, 10))) for _ in range(VOCABULARY)]


def corpus(size: int, words: list[str]) -> tuple[list[dict], list[str]]:
    """``size`` entries and :data:`QUERIES` known-item queries: three words of one entry, none of the
    :data:`FUNCTION_WORDS` most frequent (in real text those are "the", "of", "and": a search drops them)."""
    rng = random.Random(size)
    weights = [1 / (rank + 1) for rank in range(len(words))]
    drawn = rng.choices(words, weights, k=size * WORDS_PER_ENTRY)
    entries = [{"title": " ".join(drawn[i * WORDS_PER_ENTRY : i * WORDS_PER_ENTRY + 3]),
                "content": " ".join(drawn[i * WORDS_PER_ENTRY : (i + 1) * WORDS_PER_ENTRY])} for i in range(size)]
    common = set(words[:FUNCTION_WORDS])
    queries = []
    while len(queries) < QUERIES:
        content = [w for w in rng.choice(entries)["content"].split() if w not in common]
        if len(set(content)) >= 3:
            queries.append(" ".join(rng.sample(sorted(set(content)), 3)))
    return entries, queries


def parac_run(folder: Path, entries: list[dict], queries: list[str]) -> dict[str, float]:
    from parac.core.memory import Memory
    from parac.core.redact import Redactor
    from parac.core.store import connect

    memory = Memory(connect(folder / "parac.db"), redact=Redactor().text, owned=True)
    start = time.perf_counter()
    for index in range(0, len(entries), BATCH):
        memory.add_many(entries[index : index + BATCH])
    ingest = len(entries) / (time.perf_counter() - start)
    times = []
    for query in queries:
        start = time.perf_counter()
        memory.search(query, limit=10)
        times.append(time.perf_counter() - start)
    memory.close()
    return {"ingest": ingest, "p50": statistics.median(times)}


def like_run(folder: Path, entries: list[dict], queries: list[str]) -> dict[str, float]:
    from parac.core.store import connect, transaction

    conn = connect(folder / "like.db")
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, content TEXT)")
    start = time.perf_counter()
    for index in range(0, len(entries), BATCH):
        with transaction(conn):
            conn.executemany("INSERT INTO notes (title, content) VALUES (?, ?)",
                             [(e["title"], e["content"]) for e in entries[index : index + BATCH]])
    ingest = len(entries) / (time.perf_counter() - start)
    times = []
    for query in queries:
        words = query.split()
        sql = "SELECT id, title, content FROM notes WHERE " + " OR ".join("content LIKE ?" for _ in words) + " LIMIT 10"
        start = time.perf_counter()
        conn.execute(sql, [f"%{w}%" for w in words]).fetchall()
        times.append(time.perf_counter() - start)
    conn.close()
    return {"ingest": ingest, "p50": statistics.median(times)}


def langgraph_run(python: Path, folder: Path, entries: list[dict], queries: list[str]) -> dict[str, float]:
    corpus_file, queries_file = folder / "corpus.jsonl", folder / "queries.json"
    corpus_file.write_text("".join(json.dumps(e) + "\n" for e in entries))
    queries_file.write_text(json.dumps(queries))
    proc = subprocess.run([str(python), "-c", LANGGRAPH_SCRIPT, str(corpus_file), str(queries_file)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def main() -> int:
    python = ensure_langgraph()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    words = vocabulary()
    missed = []
    for size in SIZES:
        entries, queries = corpus(size, words)
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            results = {"parac": parac_run(folder, entries, queries), "LIKE scan": like_run(folder, entries, queries),
                       "LangGraph InMemoryStore": langgraph_run(python, folder, entries, queries)}
        print(f"\n{size:,} entries, {QUERIES} queries of 3 words, at most 10 results")
        print(f"  {'system':<26}{'ingest (entries/s)':>20}{'search p50 (ms)':>18}")
        for system, figures in results.items():
            print(f"  {system:<26}{figures['ingest']:>20,.0f}{figures['p50'] * 1000:>18.3f}")
        parac, like, graph = results["parac"], results["LIKE scan"], results["LangGraph InMemoryStore"]
        print(f"  search: LIKE / parac = {like['p50'] / parac['p50']:.2f}x, "
              f"LangGraph / parac = {graph['p50'] / parac['p50']:.2f}x")
        print(f"  ingest: parac / LIKE = {parac['ingest'] / like['ingest']:.2f}x, "
              f"parac / LangGraph = {parac['ingest'] / graph['ingest']:.2f}x")
        if size == 100_000 and like["p50"] / parac["p50"] < TARGET_VS_LIKE_AT_100K:
            missed.append(f"search at 100k: {like['p50'] / parac['p50']:.2f}x faster than a LIKE scan, "
                          f"target {TARGET_VS_LIKE_AT_100K}x")
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for miss in missed:
        print(f"MISSED: {miss}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
