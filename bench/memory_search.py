"""Memory search and ingest: parac's FTS5/BM25 index against a plain ``LIKE`` scan and LangGraph's ``InMemoryStore``.

Corpus: N entries of 30 words drawn from a Zipf-like vocabulary of 20,000 words (seeded, identical for every
system); queries: 3 words of one entry (a known-item search), leaving out the 200 most frequent words as a search
leaves out "the" and "of". Measured at N = 10,000 and 100,000, in one run:

- **ingest**: entries per second into each store (parac: batches of 1,000 through ``Memory.add_many``, redaction
  and FTS indexing included; ``LIKE``: the same rows into a table without an index, the floor of writing them at
  all; LangGraph: ``InMemoryStore.put``, no persistence at all). LangGraph's store keeps nothing on disk, so it is
  no measure of what durable indexing costs: the **FTS5 floor** is, the same rows inserted into a bare FTS5 table
  (same tokenizer) in one transaction on a connection with parac's settings (WAL, ``synchronous=NORMAL``): the
  same durability and the same index, with nothing of parac's (no entries table, no redaction, no checks);
- **search p50**: median latency of one search returning at most 10 results (parac: BM25-ranked ``Memory.search``;
  ``LIKE`` ranked: rows containing any word, ordered by how many they contain, so every row is read; ``LIKE`` first
  10: the first rows containing any word, the scan stopping there; LangGraph:
  ``InMemoryStore.search(namespace, query=..., limit=10)``);
- **entry in top 10**: how often the entry a query was taken from is among the results: what the time buys.

Read the peers honestly: the first-10 ``LIKE`` scan and LangGraph's store without an embedding index do not *rank*
(the store then ignores the query text and returns the namespace's first items), so they do less work and mostly
miss the entry; the ranked ``LIKE`` scan is the peer that answers the same question. parac is expected to lose to
plain inserts and in-memory puts on ingest (it indexes every word); the FTS5 floor says how much of that is the
index itself. LangGraph runs in ``bench/.venv-langgraph`` (created on first use by
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
from typing import Any

from workflow_overhead import ensure_langgraph

SIZES = (10_000, 100_000)
QUERIES = 200
WORDS_PER_ENTRY = 30
VOCABULARY = 20_000
BATCH = 1_000
FUNCTION_WORDS = 200
#: At the largest size, parac's ranked search must be at least this many times faster than a ranked LIKE scan (an
#: index against reading every row); a miss is printed.
TARGET_VS_RANKED_LIKE = 5.0
#: At every size, parac must ingest at least at this fraction of the FTS5 floor's rate: its entries table (and its
#: indexes), redaction and checks may cost up to as much again as the full-text index itself; a miss is printed.
TARGET_INGEST_VS_FLOOR = 0.5
INGEST_TURNS = 5

LANGGRAPH_SCRIPT = r"""
import json, statistics, sys, time
from langgraph.store.memory import InMemoryStore
corpus, queries = sys.argv[1], sys.argv[2]
entries = [json.loads(line) for line in open(corpus)]
queries, answers = json.load(open(queries))
store = InMemoryStore()
start = time.perf_counter()
for index, entry in enumerate(entries):
    store.put(("docs",), str(index), {"title": entry["title"], "content": entry["content"]})
ingest = len(entries) / (time.perf_counter() - start)
times, hits = [], 0
for query, answer in zip(queries, answers):
    start = time.perf_counter()
    found = store.search(("docs",), query=query, limit=10)
    times.append(time.perf_counter() - start)
    hits += str(answer) in [item.key for item in found]
print(json.dumps({"ingest": ingest, "p50": statistics.median(times), "found": hits / len(queries)}))
"""


def vocabulary() -> list[str]:
    rng = random.Random(1)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(4, 10))) for _ in range(VOCABULARY)]


def corpus(size: int, words: list[str]) -> tuple[list[dict], list[str], list[int]]:
    """``size`` entries and :data:`QUERIES` known-item queries: three words of one entry, none of the
    :data:`FUNCTION_WORDS` most frequent (in real text those are "the", "of", "and": a search drops them)."""
    rng = random.Random(size)
    weights = [1 / (rank + 1) for rank in range(len(words))]
    drawn = rng.choices(words, weights, k=size * WORDS_PER_ENTRY)
    entries = [{"title": " ".join(drawn[i * WORDS_PER_ENTRY : i * WORDS_PER_ENTRY + 3]),
                "content": " ".join(drawn[i * WORDS_PER_ENTRY : (i + 1) * WORDS_PER_ENTRY])} for i in range(size)]
    common = set(words[:FUNCTION_WORDS])
    queries, answers = [], []
    while len(queries) < QUERIES:
        index = rng.randrange(size)
        content = sorted({w for w in entries[index]["content"].split() if w not in common})
        if len(content) >= 3:
            queries.append(" ".join(rng.sample(content, 3)))
            answers.append(index)
    return entries, queries, answers


def parac_ingest(path: Path, entries: list[dict]) -> tuple[Any, float]:
    """A memory at ``path`` holding ``entries`` (batches of :data:`BATCH`), and the entries per second it took."""
    from parac.core.memory import Memory
    from parac.core.redact import Redactor
    from parac.core.store import connect

    memory = Memory(connect(path), redactor=Redactor(), owned=True)
    start = time.perf_counter()
    for index in range(0, len(entries), BATCH):
        memory.add_many(entries[index : index + BATCH])
    return memory, len(entries) / (time.perf_counter() - start)


def parac_run(folder: Path, entries: list[dict], queries: list[str], answers: list[int]) -> dict[str, float]:
    memory, ingest = parac_ingest(folder / "parac.db", entries)
    times, hits = [], 0
    for query, answer in zip(queries, answers, strict=True):
        start = time.perf_counter()
        found = memory.search(query, limit=10)
        times.append(time.perf_counter() - start)
        hits += answer + 1 in [entry.id for entry in found]  # a fresh table numbers entries from 1, in order
    memory.close()
    return {"ingest": ingest, "p50": statistics.median(times), "found": hits / len(queries)}


def like_run(folder: Path, entries: list[dict], queries: list[str], answers: list[int], *, ranked: bool
             ) -> dict[str, float]:
    """``ranked``: order the rows by how many of the words each contains (every row is read); else the first 10
    rows containing any word (the scan stops there, and what it returns is whatever came first)."""
    from parac.core.store import connect, transaction

    conn = connect(folder / f"like-{ranked}.db")
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, content TEXT)")
    start = time.perf_counter()
    for index in range(0, len(entries), BATCH):
        with transaction(conn):
            conn.executemany("INSERT INTO notes (title, content) VALUES (?, ?)",
                             [(e["title"], e["content"]) for e in entries[index : index + BATCH]])
    ingest = len(entries) / (time.perf_counter() - start)
    times, hits = [], 0
    for query, answer in zip(queries, answers, strict=True):
        words = query.split()
        anywhere = " OR ".join("content LIKE ?" for _ in words)
        order = " ORDER BY " + " + ".join("(content LIKE ?)" for _ in words) + " DESC" if ranked else ""
        patterns = [f"%{w}%" for w in words]
        start = time.perf_counter()
        rows = conn.execute(f"SELECT id, title, content FROM notes WHERE {anywhere}{order} LIMIT 10",
                            patterns * (2 if ranked else 1)).fetchall()
        times.append(time.perf_counter() - start)
        hits += answer + 1 in [row[0] for row in rows]
    conn.close()
    return {"ingest": ingest, "p50": statistics.median(times), "found": hits / len(queries)}


def fts_floor(path: Path, entries: list[dict]) -> float:
    """Entries per second inserted into a bare FTS5 table in one transaction (see the module docstring)."""
    from parac.core.store import connect, transaction

    conn = connect(path)
    conn.execute("CREATE VIRTUAL TABLE notes USING fts5(title, content, tokenize='porter unicode61')")
    start = time.perf_counter()
    with transaction(conn):
        conn.executemany("INSERT INTO notes (title, content) VALUES (?, ?)", [(e["title"], e["content"]) for e in entries])
    rate = len(entries) / (time.perf_counter() - start)
    conn.close()
    return rate


def ingest_turns(folder: Path, entries: list[dict]) -> tuple[float, float]:
    """parac's ingest and the FTS5 floor, taking :data:`INGEST_TURNS` turns each on fresh files (the machine's load
    changes between turns, not within one pair): the median rate of each."""
    ours, floor = [], []
    for turn in range(INGEST_TURNS):
        floor.append(fts_floor(folder / f"floor-{turn}.db", entries))
        memory, rate = parac_ingest(folder / f"turn-{turn}.db", entries)
        memory.close()
        ours.append(rate)
    return statistics.median(ours), statistics.median(floor)


def langgraph_run(python: Path, folder: Path, entries: list[dict], queries: list[str], answers: list[int]
                  ) -> dict[str, float]:
    corpus_file, queries_file = folder / "corpus.jsonl", folder / "queries.json"
    corpus_file.write_text("".join(json.dumps(e) + "\n" for e in entries))
    queries_file.write_text(json.dumps([queries, answers]))
    proc = subprocess.run([str(python), "-c", LANGGRAPH_SCRIPT, str(corpus_file), str(queries_file)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def main() -> int:
    python = ensure_langgraph()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    words = vocabulary()
    missed = []
    for size in SIZES:
        entries, queries, answers = corpus(size, words)
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            results = {
                "parac (BM25)": parac_run(folder, entries, queries, answers),
                "LIKE scan, ranked": like_run(folder, entries, queries, answers, ranked=True),
                "LIKE scan, first 10": like_run(folder, entries, queries, answers, ranked=False),
                "LangGraph InMemoryStore": langgraph_run(python, folder, entries, queries, answers),
            }
            ours, floor = ingest_turns(folder, entries)
        print(f"\n{size:,} entries, {QUERIES} known-item queries of 3 words, at most 10 results")
        print(f"  {'system':<26}{'ingest (entries/s)':>20}{'search p50 (ms)':>18}{'entry in top 10':>18}")
        for system, figures in results.items():
            print(f"  {system:<26}{figures['ingest']:>20,.0f}{figures['p50'] * 1000:>18.3f}"
                  f"{figures['found']:>18.0%}")
        parac = results["parac (BM25)"]
        for system, figures in results.items():
            if system != "parac (BM25)":
                print(f"  {system}: its search p50 is {figures['p50'] / parac['p50']:.2f}x parac's; "
                      f"parac ingests at {parac['ingest'] / figures['ingest']:.2f}x its rate")
        print(f"  ingest in {INGEST_TURNS} turns (medians): FTS5 floor (bare FTS5 inserts, one transaction, same "
              f"durability) {floor:,.0f} entries/s, parac {ours:,.0f}: {ours / floor:.2f}x the floor")
        if ours / floor < TARGET_INGEST_VS_FLOOR:
            missed.append(f"ingest at {size:,}: {ours / floor:.2f}x the FTS5 floor, target {TARGET_INGEST_VS_FLOOR}x")
        ranked = results["LIKE scan, ranked"]
        if size == SIZES[-1] and ranked["p50"] / parac["p50"] < TARGET_VS_RANKED_LIKE:
            missed.append(f"search at {size:,}: {ranked['p50'] / parac['p50']:.2f}x faster than a ranked LIKE "
                          f"scan, target {TARGET_VS_RANKED_LIKE}x")
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for miss in missed:
        print(f"MISSED: {miss}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
