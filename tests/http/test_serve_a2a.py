"""`parac serve` as an A2A server, driven by the official `a2a-sdk` client: agent cards, send, stream, get and cancel,
behind parac's authentication and roles, each task one governed agent run that the audit trail names the caller of."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from a2a.client import ClientConfig, create_client
from a2a.helpers import get_artifact_text, new_text_message
from a2a.types.a2a_pb2 import CancelTaskRequest, GetTaskRequest, Role, SendMessageRequest, TaskState

from support.openai_server import OpenAIServer, Reply
from support.runtime import set_settings
from support.serving import until


def _token(parac, project: Path, role: str, name: str) -> str:
    result = parac("token", "create", "--role", role, "--name", name, "--json", cwd=project)
    assert result.code == 0, result
    return result.json()["token"]


def _message(text: str) -> SendMessageRequest:
    return SendMessageRequest(message=new_text_message(text, role=Role.ROLE_USER))


async def _events(client, request: SendMessageRequest) -> list:
    return [event async for event in client.send_message(request)]


def test_the_a2a_client_sends_streams_gets_and_cancels(project: Path, serve, parac):
    (project / ".parac" / "agents" / "helper.yaml").write_text("description: Says the task back\nmodel: echo\n")
    (project / ".parac" / "agents" / "slow.yaml").write_text("model: local/slow\n")
    operator = _token(parac, project, "operator", "peer")
    viewer = _token(parac, project, "viewer", "watcher")
    with OpenAIServer() as llm:
        set_settings(project, providers={"local": {"api_base": llm.base_url, "timeout_s": 60, "max_retries": 0}})
        llm.script("slow", Reply.hang(60))
        with serve(project) as served:
            async def scenario() -> dict:
                bearer = {"Authorization": f"Bearer {operator}"}
                async with httpx.AsyncClient(timeout=60, headers=bearer) as http, \
                        httpx.AsyncClient(timeout=60) as anonymous, \
                        httpx.AsyncClient(timeout=60, headers={"Authorization": f"Bearer {viewer}"}) as watcher:
                    seen: dict = {}
                    seen["card_anonymous"] = await anonymous.get(served.url + "/.well-known/agent-card.json")
                    seen["send_anonymous"] = await anonymous.post(served.url + "/a2a/helper/", json={
                        "jsonrpc": "2.0", "id": 1, "method": "message/send",
                        "params": {"message": {"role": "user", "parts": [{"kind": "text", "text": "x"}], "messageId": "m"}}})
                    # the dashboard's session cookie never counts here: a cross-site form could send it
                    seen["send_with_cookie"] = await anonymous.post(
                        served.url + "/a2a/helper/", headers={"Cookie": f"parac_session={operator}"},
                        content=b'{"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {}}')
                    seen["card"] = (await http.get(served.url + "/.well-known/agent-card.json")).json()
                    seen["helper_card"] = (await http.get(served.url + "/a2a/helper/.well-known/agent-card.json")).json()
                    seen["unknown_card"] = await http.get(served.url + "/a2a/nobody/.well-known/agent-card.json")

                    helper = await create_client(served.url + "/a2a/helper/", ClientConfig(streaming=False, httpx_client=http))
                    sent = await _events(helper, _message("hello there"))
                    seen["sent"] = sent[-1].task
                    seen["got"] = await helper.get_task(GetTaskRequest(id=seen["sent"].id))
                    streaming = await create_client(served.url + "/a2a/helper/", ClientConfig(streaming=True, httpx_client=http))
                    seen["streamed"] = await _events(streaming, _message("one two three"))

                    as_viewer = await create_client(served.url + "/a2a/helper/", ClientConfig(streaming=False, httpx_client=watcher))
                    try:
                        await _events(as_viewer, _message("not yours to run"))
                        seen["viewer_send"] = "accepted"
                    except Exception as error:
                        seen["viewer_send"] = str(error)
                    try:
                        await as_viewer.get_task(GetTaskRequest(id=seen["sent"].id))
                        seen["viewer_get"] = "found"
                    except Exception as error:
                        seen["viewer_get"] = str(error)

                    slow = await create_client(served.url + "/a2a/slow/", ClientConfig(streaming=False, httpx_client=http))
                    request = _message("take your time")
                    request.configuration.return_immediately = True
                    started = (await _events(slow, request))[-1].task
                    await asyncio.to_thread(until, lambda: llm.requests_for("slow"))
                    seen["cancelled"] = await slow.cancel_task(CancelTaskRequest(id=started.id))
                    seen["after_cancel"] = await slow.get_task(GetTaskRequest(id=started.id))
                    return seen

            seen = asyncio.run(scenario())
    assert seen["card_anonymous"].status_code == 401 and seen["send_anonymous"].status_code == 401
    assert seen["send_with_cookie"].status_code == 401
    card, helper_card = seen["card"], seen["helper_card"]
    assert {"helper", "slow", "coder"} <= {skill["id"] for skill in card["skills"]}
    assert card["supportedInterfaces"][0]["url"] == served.url + "/a2a/"
    assert helper_card["name"] == "helper" and helper_card["description"] == "Says the task back"
    assert helper_card["supportedInterfaces"][0]["url"] == served.url + "/a2a/helper/"
    assert helper_card["capabilities"]["streaming"] is True and "bearer" in helper_card["securitySchemes"]
    assert seen["unknown_card"].status_code == 404

    sent, got = seen["sent"], seen["got"]
    assert sent.status.state == TaskState.TASK_STATE_COMPLETED
    assert [get_artifact_text(a) for a in sent.artifacts] == ["hello there"]
    assert got.id == sent.id and [get_artifact_text(a) for a in got.artifacts] == ["hello there"]

    streamed = seen["streamed"]
    chunks = [e.artifact_update for e in streamed if e.HasField("artifact_update")]
    assert len(chunks) >= 3 and chunks[1].append  # the text as the model wrote it, then the whole answer
    assert "".join(get_artifact_text(c.artifact) for c in chunks if c.append or c is chunks[0]) == "one two three"
    assert get_artifact_text(chunks[-1].artifact) == "one two three" and not chunks[-1].append
    assert streamed[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED

    assert "403" in seen["viewer_send"] or "operator" in seen["viewer_send"]
    assert seen["viewer_get"] != "found"  # a task is its caller's
    assert seen["cancelled"].status.state == TaskState.TASK_STATE_CANCELED
    assert seen["after_cancel"].status.state == TaskState.TASK_STATE_CANCELED

    exported = parac("audit", "export", "--format", "jsonl", "--action", "tool.call", cwd=project)
    runs = [json.loads(line) for line in exported.out.splitlines()]
    runs = [(e["actor"], e["outcome"]) for e in runs if e["subject"] == "run_agent"]
    assert runs.count(("token:peer", "ok")) == 2 and ("token:peer", "cancelled") in runs
    assert not any(actor == "token:watcher" for actor, _ in runs)


def test_a_chosen_set_is_published_and_checked(project: Path, serve, parac):
    (project / ".parac" / "agents" / "helper.yaml").write_text("model: echo\n")
    set_settings(project, serve={"a2a": {"agents": ["helper", "reviewr"]}})
    invalid = parac("validate", "--json", cwd=project)
    set_settings(project, serve={"a2a": {"agents": ["helper"]}})
    with serve(project) as served:
        card = httpx.get(served.url + "/.well-known/agent-card.json", timeout=30).json()
        coder = httpx.post(served.url + "/a2a/coder/", json={"jsonrpc": "2.0", "id": 1, "method": "message/send"},
                           timeout=30)
        answer = httpx.post(served.url + "/a2a/", timeout=60, json={
            "jsonrpc": "2.0", "id": 1, "method": "message/send",
            "params": {"message": {"role": "user", "parts": [{"kind": "text", "text": "only one"}], "messageId": "m"}}})
    set_settings(project, serve={"a2a": {"enabled": False}})
    with serve(project) as served:
        off = httpx.get(served.url + "/.well-known/agent-card.json", timeout=30)
    problems = [d for d in invalid.json() if d["code"] == "unknown-agent"]
    assert invalid.code == 1 and len(problems) == 1
    assert problems[0]["file"].endswith("parac.yaml") and problems[0]["line"] > 0 and "reviewr" in problems[0]["message"]
    assert [skill["id"] for skill in card["skills"]] == ["helper"]
    assert coder.status_code == 404
    result = answer.json()["result"]  # the workspace's endpoint runs the only agent published
    assert result["status"]["state"] == "completed" and result["artifacts"][0]["parts"][0]["text"] == "only one"
    assert off.status_code == 404


def test_the_sdk_is_imported_by_the_first_a2a_request_only():
    """`parac serve` mounts the A2A routes and loads the a2a plugin without importing the SDK (its start and every
    other face pay nothing for it)."""
    import subprocess
    import sys

    script = ("import sys\nfrom parac.server.http import a2a\nimport parac.plugins.a2a\n"
              "a2a.routes(None, None)\nprint(sorted({m.split('.')[0] for m in sys.modules if m == 'a2a' or m.startswith('a2a.')}))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
