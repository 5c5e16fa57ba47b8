"""The memory index on a real database file: retrieval quality, forgetting for good, limits, query errors,
retention, redaction and the re-indexing of `.parac/memory/` notes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from parac.core.memory import Memory, MemoryError, open_memory
from parac.core.memory.ingest import sync
from parac.core.store import connect
from parac.core.workspace import Workspace

FIXTURES = Path(__file__).parent / "fixtures"
RECALL_AT_5_FLOOR = 0.8
"""BM25 over the shipped corpus reaches 1.0 at the time of writing; the floor leaves room for ranking changes."""


@pytest.fixture
def memory(tmp_path: Path) -> Memory:
    return Memory(connect(tmp_path / "parac.db"), owned=True)


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / name).read_text().splitlines() if line.strip()]


def test_recall_at_5_on_the_fixture_corpus(memory: Memory):
    corpus, queries = load("memory_corpus.jsonl"), load("memory_queries.jsonl")
    assert len(corpus) >= 200 and len(queries) == 30
    stored = memory.add_many(dict(e, metadata={"key": e["key"]}) for e in corpus)
    assert len(stored) == len(corpus)
    hits, misses = 0, []
    for query in queries:
        found = [entry.metadata["key"] for entry in memory.search(query["query"], limit=5)]
        if query["answer"] in found:
            hits += 1
        else:
            misses.append((query["query"], query["answer"], found))
    recall = hits / len(queries)
    print(f"recall@5 = {recall:.3f} ({hits}/{len(queries)}); misses: {misses}")
    assert recall >= RECALL_AT_5_FLOOR, misses


def test_forget_removes_the_entry_from_the_table_the_index_and_the_file(tmp_path: Path, memory: Memory):
    keep = memory.add("The kettle is in the second cupboard", namespace="workspace")
    gone = memory.add("Quokkaberry is the codename of the launch", namespace="agent:planner")
    assert [e.id for e in memory.search("quokkaberry")] == [gone.id]
    assert memory.forget(ids=[gone.id]) == 1
    conn = memory.conn
    assert conn.execute("SELECT rowid FROM memory_fts WHERE memory_fts MATCH 'quokkaberry'").fetchall() == []
    conn.execute("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, memory_fts, 'row')")
    terms = {row[0] for row in conn.execute("SELECT term FROM temp.vocab")}
    assert "quokkaberri" not in terms and "kettl" in terms  # porter stems; the kept entry's terms remain
    assert conn.execute("SELECT COUNT(*) FROM memory_entries WHERE id = ?", (gone.id,)).fetchone()[0] == 0
    memory.close()
    for name in os.listdir(tmp_path):  # the database and its WAL: no page still holds the text
        assert b"uokkaberr" not in (tmp_path / name).read_bytes(), name
    again = Memory(connect(tmp_path / "parac.db"), owned=True)
    assert [e.id for e in again.search("kettle")] == [keep.id] and again.search("quokkaberry") == []
    assert again.forget(namespace="workspace") == 1 and again.list() == []
    again.close()


def test_an_oversized_entry_is_refused_with_the_limit_and_nothing_is_stored(tmp_path: Path):
    memory = Memory(connect(tmp_path / "parac.db"), max_entry_chars=1000, owned=True)
    with pytest.raises(MemoryError, match=r"entry of 1001 characters refused: the limit is 1000"):
        memory.add("x" * 1001)
    with pytest.raises(MemoryError):  # a batch with one bad entry stores none of them
        memory.add_many([{"content": "fine"}, {"content": "y" * 2000}])
    assert memory.list() == []


def test_query_errors_are_clear(memory: Memory):
    memory.add("alpha beta")
    with pytest.raises(MemoryError, match=r"invalid search 'alpha AND': fts5: syntax error"):
        memory.search("alpha AND", fts=True)
    with pytest.raises(MemoryError, match=r"unterminated string|syntax error"):
        memory.search('"alpha', fts=True)
    with pytest.raises(MemoryError, match="nothing to search for"):
        memory.search("?!")
    assert [e.content for e in memory.search('"alpha beta"', fts=True)] == ["alpha beta"]
    assert memory.search("alpha NOT beta", fts=True) == []
    with pytest.raises(MemoryError, match="invalid namespace"):
        memory.add("x", namespace="has space")


def test_namespaces_filter_searches(memory: Memory):
    memory.add("deploy on tuesday", namespace="workspace")
    memory.add("deploy on friday", namespace="agent:ops")
    memory.add("deploy never", namespace="run:r1")
    assert {e.namespace for e in memory.search("deploy")} == {"workspace", "agent:ops", "run:r1"}
    assert [e.content for e in memory.search("deploy", namespaces=["agent:ops"])] == ["deploy on friday"]
    assert {row["namespace"]: row["entries"] for row in memory.namespaces()} == {
        "agent:ops": 1, "run:r1": 1, "workspace": 1}


def test_retention_hides_then_purges_expired_entries(memory: Memory):
    old = memory.add("temporary note about widgets", ttl_days=1)
    memory.add("lasting note about widgets")
    assert old.expires_at is not None and old.expires_at - old.created_at == pytest.approx(86400)
    memory.conn.execute("UPDATE memory_entries SET expires_at = ? WHERE id = ?", (old.created_at - 1, old.id))
    assert [e.content for e in memory.search("widgets")] == ["lasting note about widgets"]
    assert memory.purge_expired() == 1
    assert memory.conn.execute("SELECT COUNT(*) FROM memory_entries").fetchone()[0] == 1


def test_secrets_and_configured_pii_are_masked_before_they_are_stored(workspace_dir: Path):
    (workspace_dir / ".parac" / "policies" / "pii.yaml").write_text("redaction:\n  pii: [email]\n")
    secret = "sk-proj-" + "A1b2C3d4" * 4
    with open_memory(Workspace.open(workspace_dir)) as memory:
        entry = memory.add(f"key {secret} belongs to ana@example.com", metadata={"contact": "ana@example.com"})
        assert secret not in entry.content and "ana@example.com" not in entry.content
        assert "REDACTED" in entry.content and "ana@example.com" not in json.dumps(entry.metadata)
    for name in os.listdir(workspace_dir / ".parac" / "state"):
        data = (workspace_dir / ".parac" / "state" / name).read_bytes()
        assert secret.encode() not in data and b"ana@example.com" not in data


def test_notes_are_indexed_and_follow_their_files(workspace_dir: Path):
    notes = workspace_dir / ".parac" / "memory" / "knowledge"
    (notes / "deploy.md").write_text("# Deploys\nWe deploy with ArgoCD.\n\n## Rollback\nRun argocd app rollback.\n")
    memory = Memory(connect(workspace_dir / ".parac" / "state" / "parac.db"), owned=True)
    assert sync(memory, workspace_dir) == {"added": 1, "updated": 0, "removed": 0}
    [hit] = memory.search("rollback", limit=1)
    assert hit.kind == "document" and hit.title == "knowledge/deploy.md — Rollback"
    assert hit.metadata == {"path": ".parac/memory/knowledge/deploy.md"}
    assert sync(memory, workspace_dir) == {"added": 0, "updated": 0, "removed": 0}
    (notes / "deploy.md").write_text("# Deploys\nWe deploy with Flux now.\n")
    assert sync(memory, workspace_dir) == {"added": 0, "updated": 1, "removed": 0}
    assert memory.search("argocd") == [] and len(memory.search("flux")) == 1
    (notes / "deploy.md").unlink()
    assert sync(memory, workspace_dir) == {"added": 0, "updated": 0, "removed": 1}
    assert memory.list() == []
    memory.close()


def test_a_large_note_is_cut_into_sections_under_the_limit(workspace_dir: Path):
    paragraphs = "\n\n".join(f"Paragraph {i} " + "word " * 60 for i in range(40))
    (workspace_dir / ".parac" / "memory" / "big.md").write_text(f"# Big\n{paragraphs}\n")
    memory = Memory(connect(workspace_dir / ".parac" / "state" / "parac.db"), max_entry_chars=1000, owned=True)
    sync(memory, workspace_dir)
    entries = memory.list(limit=1000)
    assert len(entries) > 10 and all(len(e.content) + len(e.title) <= 1000 for e in entries)
    assert "Paragraph 39" in "".join(e.content for e in entries)
    memory.close()


def test_a_database_of_an_older_parac_is_brought_up_to_date(tmp_path: Path):
    """Databases made before add_many indexed in bulk have a per-row insert trigger: it goes, or every new entry
    would be indexed twice. Those made before the vector backfill lack the ``unembedded`` mark: it is added."""
    from parac.core.memory.store import _SCHEMA

    conn = connect(tmp_path / "parac.db")
    conn.executescript(_SCHEMA + "CREATE TRIGGER memory_fts_insert AFTER INSERT ON memory_entries BEGIN INSERT INTO"
                       " memory_fts (rowid, title, content) VALUES (new.id, new.title, new.content); END;"
                       "DROP INDEX memory_unembedded; ALTER TABLE memory_entries DROP COLUMN unembedded;")
    memory = Memory(conn, owned=True)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'memory_fts_insert'").fetchall() == []
    assert "unembedded" in {row[1] for row in conn.execute("PRAGMA table_info(memory_entries)")}
    entry = memory.add("Quokkaberry is the codename of the launch")
    assert [e.id for e in memory.search("quokkaberry")] == [entry.id]
    conn.execute("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, memory_fts, 'row')")
    assert tuple(conn.execute("SELECT doc, cnt FROM temp.vocab WHERE term = 'quokkaberri'").fetchone()) == (1, 1)
    memory.close()
