"""Vector memory for real: entries embedded through litellm's ``embedding`` against the local OpenAI-compatible
server (a named provider of parac.yaml, as a self-hosted model would be), stored by sqlite-vec in the vector file
beside the workspace database, and retrieved by vector alone and fused with BM25."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from parac.core.memory import Memory, open_memory
from parac.core.memory.store import word_query
from parac.core.memory.vectors import VectorsUnavailable
from parac.core.store import db_path
from parac.core.workspace import Workspace
from support.openai_server import OpenAIServer, Reply
from support.runtime import set_settings

FIXTURES = Path(__file__).parent / "fixtures"
EMBEDDER = "text-embedding-test"
VECTOR_RECALL_AT_5_FLOOR = 0.8
"""Vectors alone and fused with BM25 both reach 1.0 on the shipped corpus with the test server's hashed-trigram
embedding at the time of writing; the floors leave room for ranking changes."""
HYBRID_RECALL_AT_5_FLOOR = 0.8


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / name).read_text().splitlines() if line.strip()]


@pytest.fixture
def memory(workspace_dir: Path) -> Memory:
    set_settings(workspace_dir, memory={"embedding_model": f"local/{EMBEDDER}"})
    with open_memory(Workspace.open(workspace_dir)) as memory:
        yield memory


def recall(found_for, queries: list[dict]) -> tuple[float, list]:
    hits, misses = 0, []
    for query in queries:
        found = found_for(query["query"])
        if query["answer"] in found:
            hits += 1
        else:
            misses.append((query["query"], query["answer"], found))
    return hits / len(queries), misses


def test_vectors_are_stored_and_retrieved_by_vector_and_hybrid(memory: Memory, llm_server: OpenAIServer,
                                                                workspace_dir: Path):
    corpus, queries = load("memory_corpus.jsonl"), load("memory_queries.jsonl")
    stored = memory.add_many(dict(e, metadata={"key": e["key"]}) for e in corpus)
    calls = [r for r in llm_server.requests if r.path.endswith("/embeddings")]
    assert len(calls) == 1 and calls[0].model == EMBEDDER and len(calls[0].body["input"]) == len(corpus)
    vectors = sqlite3.connect(db_path(workspace_dir).with_suffix(".vectors.db"))
    assert vectors.execute("SELECT COUNT(*) FROM memory_vec_rowids").fetchone()[0] == len(corpus)
    vectors.close()

    key = {entry.id: entry.metadata["key"] for entry in stored}
    assert memory.vectors is not None
    by_vector, vector_misses = recall(lambda q: [key[i] for i in memory.vectors.nearest(q, 5)], queries)
    hybrid, hybrid_misses = recall(lambda q: [e.metadata["key"] for e in memory.search(q, limit=5)], queries)
    print(f"recall@5 by vector = {by_vector:.3f}, hybrid (BM25 + vector) = {hybrid:.3f}; "
          f"misses by vector: {vector_misses}; hybrid: {hybrid_misses}")
    assert by_vector >= VECTOR_RECALL_AT_5_FLOOR, vector_misses
    assert hybrid >= HYBRID_RECALL_AT_5_FLOOR, hybrid_misses


def test_a_misspelt_query_is_found_by_its_vector(memory: Memory):
    """No word of the query is in the full-text index, so BM25 alone finds nothing; the vector of its words' parts
    still lands on the entry."""
    target = memory.add("Snapshots of the warehouse database are taken hourly", namespace="workspace")
    memory.add("The kettle is in the second cupboard", namespace="workspace")
    query = "snapshotz warehous"
    assert memory.conn.execute("SELECT rowid FROM memory_fts WHERE memory_fts MATCH ?", (word_query(query),)).fetchall() == []
    assert [e.id for e in memory.search(query, limit=1)] == [target.id]


def test_forget_removes_the_vector(memory: Memory, workspace_dir: Path):
    gone = memory.add("Quokkaberry is the codename of the launch", namespace="agent:planner")
    kept = memory.add("The kettle is in the second cupboard", namespace="workspace")
    assert memory.vectors is not None and gone.id in memory.vectors.nearest("quokkaberry", 2)
    assert memory.forget(ids=[gone.id]) == 1
    assert memory.vectors.nearest("quokkaberry", 2) == [kept.id]


def test_an_unreachable_embedding_model_stores_nothing(memory: Memory, llm_server: OpenAIServer):
    llm_server.always(EMBEDDER, Reply.error(500))
    with pytest.raises(VectorsUnavailable, match=EMBEDDER):
        memory.add("Never stored", namespace="workspace")
    assert memory.list() == []


def test_an_embedding_provider_without_its_key_says_which_variable(workspace_dir: Path, llm_server: OpenAIServer,
                                                                   monkeypatch):
    monkeypatch.delenv("PARAC_TEST_EMBED_KEY", raising=False)
    set_settings(workspace_dir, memory={"embedding_model": f"keyed/{EMBEDDER}"},
                 providers={"keyed": {"api_base": llm_server.base_url, "api_key_env": "PARAC_TEST_EMBED_KEY"}})
    with pytest.raises(VectorsUnavailable, match="environment variable PARAC_TEST_EMBED_KEY, which is not set"):
        open_memory(Workspace.open(workspace_dir))
    assert llm_server.requests == []
