"""A real OpenAI-compatible chat-completions server for tests, on 127.0.0.1 and a random port.

Tests drive parac's litellm provider over real HTTP against this server, so the request that litellm builds,
the streaming it parses and the errors it maps are the real ones. Behaviour is scripted per model name: a
test queues replies (text, tool calls, HTTP errors, hangs, garbage) and the server answers each request for
that model with the next one; when a model's queue is empty the server echoes the last user message. A reply
is streamed (server-sent events) exactly when the request asks for ``stream: true``, so one script serves
both the plain and the streamed paths.

``POST /embeddings`` answers with :func:`embedding`'s deterministic vectors (or a scripted error), for tests of
vector memory.

Every request is recorded (``server.requests``) so tests can check how many calls were really made, with
which headers and which messages.
"""

from __future__ import annotations

import collections
import hashlib
import json
import math
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted answer. Build them with the class methods; ``kind`` says which fields matter."""

    kind: str
    text: str = ""
    tool_calls: tuple[tuple[str, str], ...] = ()
    status: int = 200
    seconds: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    @classmethod
    def message(cls, text: str, *, prompt_tokens: int | None = None, completion_tokens: int | None = None) -> Reply:
        """An assistant message with ``text`` (usage computed from word counts unless given)."""
        return cls("text", text=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)

    @classmethod
    def calls(cls, *calls: tuple[str, dict[str, Any] | str]) -> Reply:
        """An assistant turn calling tools: each ``(name, arguments)``; arguments as a dict or raw JSON text."""
        encoded = tuple((name, args if isinstance(args, str) else json.dumps(args)) for name, args in calls)
        return cls("tools", tool_calls=encoded)

    @classmethod
    def error(cls, status: int, text: str = "scripted failure") -> Reply:
        """An HTTP error with an OpenAI-style error body (429 and 5xx are what retries are about)."""
        return cls("error", status=status, text=text)

    @classmethod
    def hang(cls, seconds: float = 60.0) -> Reply:
        """Accept the request and answer nothing for ``seconds`` (or until the server stops)."""
        return cls("hang", seconds=seconds)

    @classmethod
    def garbage(cls) -> Reply:
        """A 200 response whose body is not JSON."""
        return cls("garbage", text="<html>this is not json</html>")


@dataclass
class RecordedRequest:
    """What the server saw: the path, the headers (lower-cased names) and the decoded JSON body."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))


@dataclass
class _State:
    scripts: dict[str, collections.deque[Reply]] = field(default_factory=dict)
    always: dict[str, Reply] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)

    def next_reply(self, model: str) -> Reply | None:
        with self.lock:
            if model in self.always:
                return self.always[model]
            queue = self.scripts.get(model)
            if queue:
                return queue.popleft()
            return None


def _words(text: str) -> int:
    return max(1, len(text.split()))


def _prompt_words(messages: list[dict[str, Any]]) -> int:
    total = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            total += _words(content)
        elif isinstance(content, list):
            total += sum(_words(str(part.get("text", ""))) for part in content if isinstance(part, dict))
    return max(1, total)


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


EMBEDDING_DIMENSIONS = 256


def embedding(text: str) -> list[float]:
    """A deterministic stand-in for an embedding model: each word and each of its character trigrams hashed into
    one of :data:`EMBEDDING_DIMENSIONS` signed buckets, the vector normalised. Texts sharing words or word parts
    (``backup``/``backups``) lie near each other, which is what a test of vector retrieval needs; it knows no
    synonyms, so it is no judge of semantic quality."""
    vector = [0.0] * EMBEDDING_DIMENSIONS
    for word in (w.lower() for w in re.findall(r"\w+", text)):
        padded = f"#{word}#"
        for feature in (word, *(padded[i:i + 3] for i in range(len(padded) - 2))):
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "big") % EMBEDDING_DIMENSIONS
            vector[bucket] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        """Keep test output clean; the recorded requests say what happened."""

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": []})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._json(400, {"error": {"message": "request body is not JSON", "type": "invalid_request_error"}})
            return
        state = self.server.state
        with state.lock:
            state.requests.append(RecordedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        if self.path.rstrip("/").endswith("/embeddings"):
            scripted = state.next_reply(str(body.get("model", "")))
            if scripted is not None and scripted.kind == "error":
                self._json(scripted.status, {"error": {"message": scripted.text, "type": "server_error"}})
                return
            texts = body.get("input") or []
            texts = [texts] if isinstance(texts, str) else [str(text) for text in texts]
            tokens = sum(_words(text) for text in texts)
            self._json(200, {"object": "list", "model": str(body.get("model", "")),
                             "data": [{"object": "embedding", "index": i, "embedding": embedding(text)}
                                      for i, text in enumerate(texts)],
                             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        model = str(body.get("model", ""))
        messages = body.get("messages") or []
        reply = state.next_reply(model) or Reply.message(_last_user_text(messages))
        if reply.kind == "error":
            self._json(reply.status, {"error": {"message": reply.text, "type": "server_error", "code": reply.status}})
        elif reply.kind == "hang":
            state.stopping.wait(reply.seconds)
            self._json(504, {"error": {"message": "hung", "type": "timeout"}})
        elif reply.kind == "garbage":
            self._send(200, "application/json", reply.text.encode())
        elif body.get("stream"):
            self._stream(model, messages, reply, bool((body.get("stream_options") or {}).get("include_usage")))
        else:
            self._json(200, self._completion(model, messages, reply))

    # -- answers -------------------------------------------------------------------------------------------
    def _usage(self, messages: list[dict[str, Any]], reply: Reply) -> dict[str, int]:
        prompt = reply.prompt_tokens if reply.prompt_tokens is not None else _prompt_words(messages)
        if reply.completion_tokens is not None:
            completion = reply.completion_tokens
        elif reply.kind == "tools":
            completion = sum(_words(args) + 1 for _, args in reply.tool_calls)
        else:
            completion = _words(reply.text)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _completion(self, model: str, messages: list[dict[str, Any]], reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text if reply.kind == "text" else None}
        if reply.kind == "tools":
            message["tool_calls"] = [
                {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": args}}
                for i, (name, args) in enumerate(reply.tool_calls)
            ]
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "message": message, "finish_reason": "tool_calls" if reply.kind == "tools" else "stop"}
            ],
            "usage": self._usage(messages, reply),
        }

    def _stream(self, model: str, messages: list[dict[str, Any]], reply: Reply, include_usage: bool) -> None:
        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": "chatcmpl-test",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        events: list[dict[str, Any]] = [chunk({"role": "assistant", "content": ""})]
        if reply.kind == "tools":
            for i, (name, args) in enumerate(reply.tool_calls):
                start = {"index": i, "id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": ""}}
                events.append(chunk({"tool_calls": [start]}))
                half = len(args) // 2
                for piece in (args[:half], args[half:]):
                    events.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
            events.append(chunk({}, "tool_calls"))
        else:
            pieces = reply.text.split(" ")
            for i, piece in enumerate(pieces):
                events.append(chunk({"content": piece if i == 0 else " " + piece}))
            events.append(chunk({}, "stop"))
        if include_usage:
            usage_event = chunk({})
            usage_event["choices"] = []
            usage_event["usage"] = self._usage(messages, reply)
            events.append(usage_event)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        for event in events:
            self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, "application/json", json.dumps(payload).encode())

    def _send(self, status: int, content_type: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (a timeout test) closes the socket under us; that is expected, not news."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class OpenAIServer:
    """Start with ``with OpenAIServer() as server:``; ``server.base_url`` is the ``api_base`` to use."""

    def __init__(self) -> None:
        self._state = _State()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.state = self._state
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="openai-test-server", daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    def requests_for(self, model: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.model == model]

    def script(self, model: str, *replies: Reply) -> None:
        """Queue ``replies`` for ``model``; each request for it takes the next one."""
        with self._state.lock:
            self._state.scripts.setdefault(model, collections.deque()).extend(replies)

    def always(self, model: str, reply: Reply) -> None:
        """Answer every request for ``model`` with ``reply`` (e.g. a 500 that never recovers)."""
        with self._state.lock:
            self._state.always[model] = reply

    def start(self) -> OpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._state.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
