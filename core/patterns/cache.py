"""The response cache: a model request answered again from the workspace database instead of the provider.

Only deterministic requests are cached (temperature 0, asked for with ``cache: {ttl_s}`` on the agent): the key is
a SHA-256 over the request as the provider would see it (model, messages, tools, temperature, max_tokens), so any
difference is a miss. The value is the completion (text, tool calls, finish reason). A hit still goes through the
governance hooks and gets a ledger row, at $0 and zero tokens with status ``cached`` (:meth:`ModelClient.complete
<parac.core.llm.ModelClient.complete>`), so what a run cost and what it was answered from stay visible.

What is stored is masked first, as the audit trail is (the process's output redactor: secret shapes, secret-named
environment values, every open workspace's policy patterns): the database file is as durable as the audit and must
not be where a key a model echoed survives. A hit therefore answers with the masked text. Each row carries when it
expires; every write deletes a bounded batch of expired rows, so the table holds what is still usable.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from typing import Any

from ..providers import Completion, ToolCallRequest
from ..redact import default_redactor

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS llm_cache (
        key TEXT PRIMARY KEY,
        model TEXT NOT NULL,
        created REAL NOT NULL,
        completion TEXT NOT NULL,
        expires REAL NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX IF NOT EXISTS llm_cache_expires ON llm_cache (expires)",
)
#: Expired rows one write deletes at most: a write stays cheap however long the cache went unwritten, and a steady
#: flow of writes still empties a backlog.
PRUNE_BATCH = 100


def request_key(
    model: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    temperature: float | None,
    max_tokens: int | None,
) -> str:
    """The cache key of one request: equal exactly when the provider would be asked the same thing."""
    canonical = json.dumps(
        {"model": model, "messages": messages, "tools": tools or None, "temperature": temperature,
         "max_tokens": max_tokens},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class ResponseCache:
    """Cached completions in one workspace database (the ledger's)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._ready = False

    def _schema(self) -> None:
        if not self._ready:
            columns = {row[1] for row in self.conn.execute("PRAGMA table_info(llm_cache)")}
            if columns and "expires" not in columns:  # a cache written before rows expired: its rows count as expired
                self.conn.execute("ALTER TABLE llm_cache ADD COLUMN expires REAL NOT NULL DEFAULT 0")
            for statement in SCHEMA:  # one by one: executescript would commit a transaction another thread has open
                self.conn.execute(statement)
            self._ready = True

    def get(self, key: str, ttl_s: float) -> Completion | None:
        """The completion stored under ``key`` no longer than ``ttl_s`` ago, or None."""
        self._schema()
        row = self.conn.execute(
            "SELECT completion FROM llm_cache WHERE key = ? AND created >= ?", (key, time.time() - ttl_s)
        ).fetchone()
        if row is None:
            return None
        data = json.loads(row[0])
        calls = [ToolCallRequest(c["id"], c["name"], c["arguments"]) for c in data.get("tool_calls", [])]
        return Completion(text=data["text"], tool_calls=calls, model=data.get("model", ""),
                          finish_reason=data.get("finish_reason", "stop"), cost_usd=0.0, cached=True)

    def put(self, key: str, model: str, completion: Completion, ttl_s: float) -> None:
        """Store (or refresh) the answer to the request ``key``, masked, for ``ttl_s`` seconds; delete up to
        `PRUNE_BATCH` expired rows."""
        self._schema()
        redactor = default_redactor()
        data = {
            "text": redactor.text(completion.text),
            "tool_calls": [{"id": c.id, "name": c.name, "arguments": redactor.value(c.arguments)}
                           for c in completion.tool_calls],
            "model": completion.model,
            "finish_reason": completion.finish_reason,
        }
        now = time.time()
        self.conn.execute(
            "DELETE FROM llm_cache WHERE rowid IN (SELECT rowid FROM llm_cache WHERE expires <= ? LIMIT ?)",
            (now, PRUNE_BATCH),
        )
        self.conn.execute(
            "INSERT OR REPLACE INTO llm_cache (key, model, created, completion, expires) VALUES (?, ?, ?, ?, ?)",
            (key, model, now, json.dumps(data, ensure_ascii=False), now + ttl_s),
        )
