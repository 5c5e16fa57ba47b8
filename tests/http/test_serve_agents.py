"""Agent runs and chats over HTTP: JSON, and SSE streams of thinking, content, tool calls and results, parsed as a
browser would; offline models only (`scripted:`, `echo`)."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml

from support.runtime import write_script
from support.sse import events


def _stream(http: httpx.Client, path: str, body: dict, headers: dict | None = None) -> list:
    with http.stream("POST", path, json=body, headers=headers or {}) as response:
        assert response.status_code == 200, response.read()
        return list(events(response))


def test_agent_run_streams_thinking_tool_calls_and_content(project: Path, serve, tmp_path: Path):
    (project / "NOTES.md").write_text("hello from the notes\n")
    write_script(project / "script.yaml", [
        {"thinking": "the notes will say", "tool_calls": [{"name": "file_read", "arguments": {"path": "NOTES.md"}}]},
        {"text": "the notes say hello", "usage": {"prompt_tokens": 20, "completion_tokens": 5}},
    ])
    model = "scripted:script.yaml"  # a client's scripted:PATH stays beneath the workspace
    with serve(project) as served, httpx.Client(base_url=served.api, timeout=60) as http:
        streamed = _stream(http, "/agents/coder/runs", {"task": "read the notes", "model": model, "stream": True})
        by_accept = _stream(http, "/agents/coder/runs", {"task": "read the notes", "model": model},
                            {"Accept": "text/event-stream"})
        plain = http.post("/agents/coder/runs", json={"task": "read the notes", "model": model})
        unknown = http.post("/agents/codr/runs", json={"task": "x", "stream": True})
        missing_task = http.post("/agents/coder/runs", json={"stream": True})
        bad_flag = http.post("/agents/coder/runs", json={"task": "x", "stream": "yes please"})
    names = [e.event for e in streamed]
    assert names[:3] == ["thinking", "tool_call", "tool_result"] and names[-2:] == ["complete", "done"]
    assert set(names[3:-2]) == {"content"}
    assert streamed[0].json() == {"text": "the notes will say"}
    assert streamed[1].json()["name"] == "file_read" and '"NOTES.md"' in streamed[1].json()["arguments"]
    assert "hello from the notes" in streamed[2].json()["content"]
    assert "".join(e.json()["text"] for e in streamed if e.event == "content") == "the notes say hello"
    complete = streamed[-2].json()
    assert complete["status"] == "completed" and complete["tool_calls"] == 1
    assert complete["usage"]["completion_tokens"] >= 5 and complete["timings"]["total_s"] >= 0
    assert [e.event for e in by_accept] == names
    assert plain.status_code == 200 and plain.json()["output"] == "the notes say hello"
    assert unknown.status_code == 404 and "codr" in unknown.json()["detail"]
    assert missing_task.status_code == 422 and missing_task.json()["errors"][0]["loc"] == ["body", "task"]
    assert bad_flag.status_code == 422 and bad_flag.json()["errors"][0]["loc"] == ["body", "stream"]


def test_chat_streams_on_the_agent_loop(project: Path, serve, tmp_path: Path):
    write_script(project / "think.yaml", [{"thinking": "hmm", "text": "an answer"}])
    thinking = "scripted:think.yaml"
    with serve(project) as served, httpx.Client(base_url=served.api, timeout=60) as http:
        chat = _stream(http, "/chat/stream", {"message": "say this back", "model": "echo",
                                              "files": [{"name": "a.txt", "content": "AAA"}]})
        shown = _stream(http, "/chat/stream", {"message": "think", "model": thinking, "show_thinking": True})
        hidden = _stream(http, "/chat/stream", {"message": "think", "model": thinking})
        models = http.get("/chat/models").json()["models"]
        too_hot = http.post("/chat/stream", json={"message": "x", "temperature": 5})
        unknown_field = http.post("/chat/stream", json={"message": "x", "mood": "good"})
    text = "".join(e.json()["text"] for e in chat if e.event == "content")
    assert text.startswith("say this back") and "File a.txt" in text and "AAA" in text
    assert chat[-2].event == "complete" and chat[-2].json()["agent"] == "base"
    assert [e.json() for e in shown if e.event == "thinking"] == [{"text": "hmm"}]
    assert "thinking" not in [e.event for e in hidden]
    echo = next(row for row in models if row["model"] == "echo")
    assert echo["provider"] == "echo" and echo["reachable"] is True
    assert too_hot.status_code == 422 and too_hot.json()["errors"][0]["loc"] == ["body", "temperature"]
    assert unknown_field.status_code == 422 and unknown_field.json()["errors"][0]["loc"] == ["body", "mood"]


def test_a_streamed_run_reads_no_script_outside_the_workspace(project: Path, serve, tmp_path: Path):
    """Judged by a canary script beside the workspace whose answer must never come back, streamed or not."""
    secret = "canary-7d2e-streamed-answer-outside"
    canary = write_script(tmp_path / "canary.yaml", [{"text": secret}] * 3)
    write_script(project / "inside.yaml", [{"text": "lawful"}] * 3)
    with serve(project) as served, httpx.Client(base_url=served.api, timeout=60) as http:
        lawful = _stream(http, "/agents/coder/runs", {"task": "x", "model": "scripted:inside.yaml", "stream": True})
        streamed = _stream(http, "/agents/coder/runs", {"task": "x", "model": canary, "stream": True})
        chat = _stream(http, "/chat/stream", {"message": "x", "model": canary})
        plain = http.post("/agents/coder/runs", json={"task": "x", "model": canary})
    assert "".join(e.json()["text"] for e in lawful if e.event == "content") == "lawful"  # the test can fail
    seen = repr([(e.event, e.data) for e in streamed + chat]) + plain.text
    assert secret not in seen
    assert "error" in [e.event for e in streamed] and plain.status_code >= 400


def test_agent_run_streams_its_pattern_phases(project: Path, serve, tmp_path: Path):
    agents = project / ".parac" / "agents"

    def agent(name: str, **fields) -> None:
        (agents / f"{name}.yaml").write_text(yaml.safe_dump({"description": f"the {name}", **fields}))

    agent("solver", loop="upee", model=write_script(tmp_path / "solver.yaml", [
        {"text": "restated"}, {"text": "1. answer"}, {"text": "42"}, {"text": '{"score": 1}'}]))
    agent("critic", model=write_script(tmp_path / "critic.yaml", [{"text": "Too vague."}, {"text": "ACCEPT"}]))
    agent("writer", reflect={"critic": "critic", "max_rounds": 2},
          model=write_script(tmp_path / "writer.yaml", [{"text": "soon"}, {"text": "on Friday at 10:00"}]))
    agent("helper", model=write_script(tmp_path / "helper.yaml", [{"text": "two issues"}]))
    agent("lead", delegates=["helper"], model=write_script(tmp_path / "lead.yaml", [
        {"tool_calls": [{"name": "ask_helper", "arguments": {"task": "review the patch"}}]}, {"text": "fix two"}]))
    agent("steady", model="fixed:blue", temperature=0, cache={"ttl_s": 600})
    with serve(project) as served, httpx.Client(base_url=served.api, timeout=60) as http:
        upee = _stream(http, "/agents/solver/runs", {"task": "the answer?", "stream": True})
        reflect = _stream(http, "/agents/writer/runs", {"task": "When is the release?", "stream": True})
        delegated = _stream(http, "/agents/lead/runs", {"task": "ship it?", "stream": True})
        _stream(http, "/agents/steady/runs", {"task": "colour?", "stream": True})
        cached = _stream(http, "/agents/steady/runs", {"task": "colour?", "stream": True})
    phases = [e.json() for e in upee if e.event == "phase"]
    assert [p["phase"] for p in phases] == ["understand", "plan", "execute", "evaluate"]
    assert phases[0]["agent"] == "solver" and phases[0]["text"] == "restated" and phases[-1]["score"] == 1
    assert "actor" not in phases[0] and phases[0]["run_id"] == upee[-2].json()["run_id"]
    names = [e.event for e in upee]
    assert names.index("phase") < names.index("complete") and names[-2:] == ["complete", "done"]
    complete = upee[-2].json()
    assert [p["phase"] for p in complete["phases"]] == ["understand", "plan", "execute", "evaluate"]
    assert complete["output"] == "42" and complete["cached_calls"] == 0
    critiques = [e.json() for e in reflect if e.event == "phase"]
    assert [p["phase"] for p in critiques] == ["critique", "revise", "critique"]
    assert critiques[0]["text"] == "Too vague." and critiques[-1]["accepted"] is True
    assert reflect[-2].json()["output"] == "on Friday at 10:00"
    assert [e.json()["phase"] for e in delegated if e.event == "phase"] == ["delegate", "delegated"]
    assert [e.json()["to"] for e in delegated if e.event == "phase"][:1] == ["helper"]
    assert cached[-2].json()["cached_calls"] == 1 and cached[-2].json()["cost_usd"] == 0
