"""Memory search and ingest: parac's FTS5/BM25 index against a plain ``LIKE`` scan and LangGraph's ``InMemoryStore``.

Corpus: N entries of 30 words drawn from a Zipf-like vocabulary of 20,000 words (seeded, identical for every
system); queries: 3 words of one entry (a known-item search), leaving out the 200 most frequent words as a search
leaves out "the" and "of". Measured at N = 10,000 and 100,000, in one run, every system taking turns with the
others (the order rotated at each turn), so that a drift of the machine's speed falls on all of them alike:

- **ingest**: entries per second into each store, the median of :data:`INGEST_TURNS` turns, each on fresh files
  (parac: batches of 1,000 through ``Memory.add_many``, redaction and FTS indexing included; ``LIKE``: the same rows
  into a table without an index, the floor of writing them at all; LangGraph: ``InMemoryStore.put`` into a fresh
  store, no persistence at all). LangGraph's store keeps nothing on disk, so it is no measure of what durable
  indexing costs: the **FTS5 floor** is, the same rows inserted into a bare FTS5 table (same tokenizer) in one
  transaction on a connection with parac's settings (WAL, ``synchronous=NORMAL``): the same durability and the same
  index, with nothing of parac's (no entries table, no redaction, no checks);
- **search p50**: median latency of one search returning at most 10 results, each query asked of every system in
  turn, on the stores the last ingest turn left (parac: BM25-ranked ``Memory.search``; ``LIKE`` ranked: rows
  containing any word, ordered by how many they contain, so every row is read; ``LIKE`` first 10: the first rows
  containing any word, the scan stopping there; LangGraph: ``InMemoryStore.search(namespace, query=..., limit=10)``);
- **entry in top 10**: how often the entry a query was taken from is among the results: what the time buys.

Read the peers honestly: the first-10 ``LIKE`` scan and LangGraph's store without an embedding index do not *rank*
(the store then ignores the query text and returns the namespace's first items), so they do less work and mostly
miss the entry; the ranked ``LIKE`` scan is the peer that answers the same question. parac is expected to lose to
plain inserts and in-memory puts on ingest (it indexes every word); the FTS5 floor says how much of that is the
index itself. LangGraph runs in ``bench/.venv-langgraph`` (created on first use by
``workflow_overhead.ensure_langgraph``; it is not a dependency of parac), in a process of its own that takes one
command at a time over a pipe and times itself, so the pipe is not counted. The load average is printed before and
after; on a loaded machine compare ratios, not absolute figures. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import check_ratios, load_average
from workflow_overhead import ensure_langgraph

SIZES = (10_000, 100_000)
QUERIES = 200
WORDS_PER_ENTRY = 30
VOCABULARY = 20_000
BATCH = 1_000
FUNCTION_WORDS = 200
#: At the largest size, parac's ranked search must take at most this share of a ranked LIKE scan's time (an index
#: against reading every row, at least 5x faster); a miss is printed.
TARGET_VS_RANKED_LIKE = 0.2
#: At every size, parac may take at most this many times the FTS5 floor's time per entry ingested: its entries
#: table (and its indexes), redaction and checks may cost up to as much again as the full-text index itself.
TARGET_INGEST_VS_FLOOR = 2.0
INGEST_TURNS = 5

LANGGRAPH_WORKER = r"""
import json, sys, time
from langgraph.store.memory import InMemoryStore
entries = [json.loads(line) for line in open(sys.argv[1])]
queries = json.load(open(sys.argv[2]))
store = None
for line in sys.stdin:
    command = json.loads(line)
    if command["op"] == "ingest":
        store = InMemoryStore()
        start = time.perf_counter()
        for index, entry in enumerate(entries):
            store.put(("docs",), str(index), {"title": entry["title"], "content": entry["content"]})
        answer = {"rate": len(entries) / (time.perf_counter() - start)}
    else:
        start = time.perf_counter()
        found = store.search(("docs",), query=queries[command["query"]], limit=10)
        answer = {"seconds": time.perf_counter() - start, "found": [int(item.key) for item in found]}
    print(json.dumps(answer), flush=True)
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


Found = tuple[float, list[int]]  # a search's seconds, and the corpus indexes of what it returned


def timed(search: Callable[[], list[int]]) -> Found:
    start = time.perf_counter()
    found = search()
    return time.perf_counter() - start, found


def in_turns(names: list[str], turn: int) -> list[str]:
    """``names`` rotated by ``turn``: each system goes first as often as the others."""
    shift = turn % len(names)
    return names[shift:] + names[:shift]


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


def like_ingest(path: Path, entries: list[dict]) -> tuple[Any, float]:
    """A table without an index at ``path`` holding ``entries`` (batches of :data:`BATCH`), and the rate."""
    from parac.core.store import connect, transaction

    conn = connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, content TEXT)")
    start = time.perf_counter()
    for index in range(0, len(entries), BATCH):
        with transaction(conn):
            conn.executemany("INSERT INTO notes (title, content) VALUES (?, ?)",
                             [(e["title"], e["content"]) for e in entries[index : index + BATCH]])
    return conn, len(entries) / (time.perf_counter() - start)


def like_search(conn: Any, query: str, *, ranked: bool) -> list[int]:
    """``ranked``: order the rows by how many of the words each contains (every row is read); else the first 10
    rows containing any word (the scan stops there, and what it returns is whatever came first)."""
    words = query.split()
    anywhere = " OR ".join("content LIKE ?" for _ in words)
    order = " ORDER BY " + " + ".join("(content LIKE ?)" for _ in words) + " DESC" if ranked else ""
    patterns = [f"%{w}%" for w in words]
    rows = conn.execute(f"SELECT id FROM notes WHERE {anywhere}{order} LIMIT 10", patterns * (2 if ranked else 1))
    return [row[0] - 1 for row in rows]  # a fresh table numbers rows from 1, in corpus order


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


class LangGraph:
    """LangGraph's ``InMemoryStore`` in the LangGraph environment's Python, one command at a time over a pipe (see
    :data:`LANGGRAPH_WORKER`), so that it takes turns with the others; it times itself."""

    def __init__(self, python: Path, folder: Path, entries: list[dict], queries: list[str]) -> None:
        corpus_file, queries_file = folder / "corpus.jsonl", folder / "queries.json"
        corpus_file.write_text("".join(json.dumps(e) + "\n" for e in entries))
        queries_file.write_text(json.dumps(queries))
        self.proc = subprocess.Popen([str(python), "-c", LANGGRAPH_WORKER, str(corpus_file), str(queries_file)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, **command: Any) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the LangGraph worker ended (exit code {self.proc.wait()})")
        return json.loads(line)

    def ingest(self) -> float:
        return self.ask(op="ingest")["rate"]

    def search(self, query: int) -> Found:
        answer = self.ask(op="search", query=query)
        return answer["seconds"], answer["found"]

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def ingest_in_turns(folder: Path, entries: list[dict], langgraph: LangGraph) -> tuple[dict[str, float], Any, Any]:
    """The median rate of each system over :data:`INGEST_TURNS` turns, each turn on fresh files; and parac's memory
    and the ``LIKE`` table the last turn left, for the searches (LangGraph's worker keeps its last store)."""
    rates: dict[str, list[float]] = {"parac": [], "LIKE": [], "LangGraph": [], "FTS5 floor": []}
    kept: dict[str, Any] = {}

    def parac() -> float:
        kept["parac"], rate = parac_ingest(folder / "parac.db", entries)
        return rate

    def like() -> float:
        kept["LIKE"], rate = like_ingest(folder / "like.db", entries)
        return rate

    jobs = {"parac": parac, "LIKE": like, "LangGraph": langgraph.ingest,
            "FTS5 floor": lambda: fts_floor(folder / "floor.db", entries)}
    for turn in range(INGEST_TURNS):
        for store in kept.values():
            store.close()
        for old in folder.glob("*.db*"):  # the last turn's files: every turn starts from nothing
            old.unlink()
        for name in in_turns(list(jobs), turn):
            rates[name].append(jobs[name]())
    return {name: statistics.median(values) for name, values in rates.items()}, kept["parac"], kept["LIKE"]


def search_in_turns(memory: Any, like: Any, langgraph: LangGraph, queries: list[str], answers: list[int]
                    ) -> dict[str, dict[str, float]]:
    """Every query asked of each system in turn: each system's p50 and how often it returned the query's entry."""
    systems: dict[str, Callable[[int], Found]] = {
        "parac (BM25)": lambda q: timed(lambda: [e.id - 1 for e in memory.search(queries[q], limit=10)]),
        "LIKE scan, ranked": lambda q: timed(lambda: like_search(like, queries[q], ranked=True)),
        "LIKE scan, first 10": lambda q: timed(lambda: like_search(like, queries[q], ranked=False)),
        "LangGraph InMemoryStore": langgraph.search,
    }
    times: dict[str, list[float]] = {name: [] for name in systems}
    hits = dict.fromkeys(systems, 0)
    for query, answer in enumerate(answers):
        for name in in_turns(list(systems), query):
            seconds, found = systems[name](query)
            times[name].append(seconds)
            hits[name] += answer in found
    return {name: {"p50": statistics.median(times[name]), "found": hits[name] / len(queries)} for name in systems}


def main() -> int:
    python = ensure_langgraph()
    print(f"before: {load_average()}")
    words = vocabulary()
    checks: list[tuple[str, float, float]] = []
    figures: dict[str, Any] = {}
    for size in SIZES:
        entries, queries, answers = corpus(size, words)
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            langgraph = LangGraph(python, folder, entries, queries)
            rates, memory, like = ingest_in_turns(folder, entries, langgraph)
            found = search_in_turns(memory, like, langgraph, queries, answers)
            memory.close()
            like.close()
            langgraph.close()
        figures[str(size)] = {"ingest": rates, "search": found}
        ingested = {"parac (BM25)": rates["parac"], "LIKE scan, ranked": rates["LIKE"],
                    "LangGraph InMemoryStore": rates["LangGraph"]}
        print(f"\n{size:,} entries, {QUERIES} known-item queries of 3 words, at most 10 results; ingest: median of "
              f"{INGEST_TURNS} turns; search: every query in turns ({load_average()})")
        print(f"  {'system':<34}{'ingest (entries/s)':>20}{'search p50 (ms)':>18}{'entry in top 10':>18}")
        for system, result in found.items():
            rate = f"{ingested[system]:,.0f}" if system in ingested else "(same table)"
            print(f"  {system:<34}{rate:>20}{result['p50'] * 1000:>18.3f}{result['found']:>18.0%}")
        print(f"  {'FTS5 floor (bare FTS5 inserts)':<34}{rates['FTS5 floor']:>20,.0f}")
        ours = found["parac (BM25)"]
        for system in ("LIKE scan, ranked", "LangGraph InMemoryStore"):
            print(f"  parac vs {system}: search p50 {ours['p50'] / found[system]['p50']:.3f}x its time; "
                  f"ingest {rates['parac'] / ingested[system]:.2f}x its rate")
        print(f"  parac vs the FTS5 floor: ingest {rates['parac'] / rates['FTS5 floor']:.2f}x its rate")
        checks.append((f"ingest at {size:,}: parac's time per entry / the FTS5 floor's",
                       rates["FTS5 floor"] / rates["parac"], TARGET_INGEST_VS_FLOOR))
        if size == SIZES[-1]:
            checks.append((f"search p50 at {size:,}: parac / a ranked LIKE scan",
                           ours["p50"] / found["LIKE scan, ranked"]["p50"], TARGET_VS_RANKED_LIKE))
    print(f"\ntargets (after: {load_average()})")
    check_ratios("memory_search", checks, {"load": load_average(), "figures": figures}, width=62)
    return 0


if __name__ == "__main__":
    sys.exit(main())
