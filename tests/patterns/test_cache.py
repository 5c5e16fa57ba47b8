"""The response cache through litellm against the local server: an identical request at temperature 0 is answered
from the workspace database (the server sees it once), costs $0 and says so in the ledger; anything else is a miss."""

from __future__ import annotations

import json

import pytest

from parac.core.costs import ensure_schema, report
from parac.core.runtime import run_agent
from parac.core.store import connect_workspace
from support.openai_server import Reply
from support.runtime import set_settings

MODEL = "gpt-4o-mini"


def ledger(root) -> list[dict]:
    conn = ensure_schema(connect_workspace(root))
    return [dict(r) for r in conn.execute("SELECT cost_usd, prompt_tokens, status FROM llm_calls ORDER BY seq")]


@pytest.fixture
def served(space, llm_server):
    set_settings(space.root, providers={"local": {"api_base": llm_server.base_url, "model_prefix": "openai"}})
    return space


async def test_an_identical_request_is_answered_from_the_cache_at_no_cost(served, llm_server, parac):
    served.agent("det", model=f"local/{MODEL}", temperature=0, cache={"ttl_s": 3600})
    llm_server.script(MODEL, Reply.message("cached answer", prompt_tokens=100, completion_tokens=10))
    host = served.host()
    first = await run_agent(host.workspace, "det", "same question", hooks=host.hooks)
    second = await run_agent(host.workspace, "det", "same question", hooks=host.hooks)
    assert first.output == second.output == "cached answer"
    assert len(llm_server.requests) == 1
    assert (first.cached_calls, second.cached_calls) == (0, 1) and second.cost_usd == 0 and first.cost_usd > 0
    rows = ledger(served.root)
    assert [r["status"] for r in rows] == ["ok", "cached"] and rows[1]["cost_usd"] == 0
    total = report(ensure_schema(connect_workspace(served.root)), by="model")["total"]
    assert total["errors"] == 0 and total["calls"] == 2
    different = await run_agent(host.workspace, "det", "another question", hooks=host.hooks)
    assert different.cached_calls == 0 and len(llm_server.requests) == 2
    exported = parac("audit", "export", "--action", "llm.call", cwd=served.root)
    audited = [json.loads(line)["data"] for line in exported.out.splitlines()]
    assert [entry.get("cached", False) for entry in audited] == [False, True, False]


async def test_tool_calls_are_replayed_and_the_loop_still_runs_the_tools(served, llm_server):
    served.agent("det", model=f"local/{MODEL}", temperature=0, cache={"ttl_s": 3600}, tools=["add"])
    for _ in range(2):
        llm_server.script(MODEL, Reply.calls(("add", {"a": 1, "b": 2})), Reply.message("3"))
    host = served.host()
    first = await run_agent(host.workspace, "det", "1+2", hooks=host.hooks)
    second = await run_agent(host.workspace, "det", "1+2", hooks=host.hooks)
    assert first.output == second.output == "3" and second.tool_calls == 1 and second.cached_calls == 2
    assert len(llm_server.requests) == 2  # the second run asked the server nothing


@pytest.mark.parametrize("fields", [{"temperature": 0.7, "cache": {"ttl_s": 3600}}, {"temperature": 0}],
                         ids=["not-temperature-0", "cache-off"])
async def test_no_cache_without_temperature_0_or_without_cache(served, llm_server, fields):
    served.agent("agent", model=f"local/{MODEL}", **fields)
    host = served.host()
    for _ in range(2):
        llm_server.script(MODEL, Reply.message("fresh"))
        result = await run_agent(host.workspace, "agent", "same", hooks=host.hooks)
        assert result.cached_calls == 0
    assert len(llm_server.requests) == 2


async def test_an_expired_entry_is_asked_again(served, llm_server):
    served.agent("det", model=f"local/{MODEL}", temperature=0, cache={"ttl_s": 60})
    host = served.host()
    llm_server.script(MODEL, Reply.message("old"))
    await run_agent(host.workspace, "det", "q", hooks=host.hooks)
    conn = connect_workspace(served.root)
    conn.execute("UPDATE llm_cache SET created = created - 61")  # age the entry past its TTL
    llm_server.script(MODEL, Reply.message("new"))
    again = await run_agent(host.workspace, "det", "q", hooks=host.hooks)
    assert again.output == "new" and again.cached_calls == 0 and len(llm_server.requests) == 2


async def test_a_hit_is_still_governed_and_audited(served, llm_server):
    served.agent("det", model=f"local/{MODEL}", temperature=0, cache={"ttl_s": 3600})
    llm_server.script(MODEL, Reply.message("a"))
    host = served.host()
    seen: list = []
    from parac.core.calls import CallDenied

    class Deny:
        def __getattr__(self, name):
            return getattr(host.hooks, name)

        def before_llm_call(self, call):
            seen.append(call.model)
            raise CallDenied("model calls are off", rule="test")

    await run_agent(host.workspace, "det", "q", hooks=host.hooks)
    denied = await run_agent(host.workspace, "det", "q", hooks=Deny())
    assert denied.status == "denied" and seen == [f"local/{MODEL}"]  # the cache did not bypass the hook


async def test_expired_rows_are_deleted_by_the_next_write(served, llm_server):
    served.agent("det", model=f"local/{MODEL}", temperature=0, cache={"ttl_s": 60})
    host = served.host()
    for question in ("q1", "q2"):
        llm_server.script(MODEL, Reply.message(f"answer to {question}"))
        await run_agent(host.workspace, "det", question, hooks=host.hooks)
    conn = connect_workspace(served.root)
    conn.execute("UPDATE llm_cache SET created = created - 61, expires = expires - 61")  # both past their TTL
    llm_server.script(MODEL, Reply.message("answer to q3"))
    await run_agent(host.workspace, "det", "q3", hooks=host.hooks)  # a write: it prunes what expired
    kept = [json.loads(row[0])["text"] for row in conn.execute("SELECT completion FROM llm_cache")]
    assert kept == ["answer to q3"]


async def test_a_secret_in_an_answer_is_masked_before_it_is_stored(served, llm_server):
    """The answer (text and tool-call arguments) holds a key: no database file on disk holds it afterwards."""
    secret = "sk-proj-" + "Q7vLx2" * 8
    served.agent("det", model=f"local/{MODEL}", temperature=0, cache={"ttl_s": 3600}, tools=["add"])
    llm_server.script(MODEL, Reply.calls(("add", {"a": 1, "b": 2, "note": f"key {secret}"})),
                      Reply.message(f"your key is {secret}"))
    host = served.host()
    await run_agent(host.workspace, "det", "what is my key?", hooks=host.hooks)
    conn = connect_workspace(served.root)
    stored = [json.loads(row[0]) for row in conn.execute("SELECT completion FROM llm_cache")]
    assert len(stored) == 2 and "[REDACTED:openai-key]" in json.dumps(stored)
    conn.close()
    state = served.root / ".parac" / "state"
    files = [path for path in state.rglob("*") if path.is_file()]
    assert any(path.name.startswith("parac.db") for path in files)
    assert [path.name for path in files if secret.encode() in path.read_bytes()] == []


def test_a_cache_written_before_rows_expired_is_upgraded_and_its_rows_pruned(tmp_path):
    """A table from before the ``expires`` column gains it; its rows count as expired and the next write deletes
    them."""
    from parac.core.patterns.cache import ResponseCache
    from parac.core.providers import Completion
    from parac.core.store import connect

    conn = connect(tmp_path / "parac.db")
    conn.execute("CREATE TABLE llm_cache (key TEXT PRIMARY KEY, model TEXT NOT NULL, created REAL NOT NULL,"
                 " completion TEXT NOT NULL)")
    conn.execute("INSERT INTO llm_cache VALUES ('old', 'm', 0, '{\"text\": \"old\"}')")
    cache = ResponseCache(conn)
    cache.put("new", "m", Completion(text="new", tool_calls=[], model="m", finish_reason="stop"), 60)
    assert [row[0] for row in conn.execute("SELECT key FROM llm_cache")] == ["new"]
    assert cache.get("new", 60) is not None and cache.get("old", 1e12) is None
