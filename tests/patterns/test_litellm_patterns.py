"""The patterns through litellm against the local OpenAI-compatible server (tests/support): each agent is a model
name the server scripts, so the requests it records show what every phase sent. The audit trail (read with
``parac audit export``) holds the phases and the model calls."""

from __future__ import annotations

import json

from parac.core.runtime import run_agent
from parac.core.workflows import RunOptions
from parac.core.workflows.runs import WorkflowRunner
from support.openai_server import Reply
from support.runtime import set_settings


def serve(space, server) -> None:
    set_settings(space.root, providers={"local": {"api_base": server.base_url, "model_prefix": "openai"}})


def audit(parac, space, action: str) -> list[dict]:
    exported = parac("audit", "export", "--action", action, cwd=space.root)
    assert exported.code == 0, exported
    return [json.loads(line) for line in exported.out.splitlines()]


async def test_delegate_and_handoff_over_http(space, llm_server, parac):
    serve(space, llm_server)
    space.agent("reviewer", model="local/reviewer-model")
    space.agent("closer", model="local/closer-model", system_prompt="You close tickets.")
    space.agent("lead", model="local/lead-model", delegates=["reviewer"], handoffs=["closer"])
    llm_server.script("lead-model", Reply.calls(("ask_reviewer", {"task": "review PR 9"})),
                      Reply.calls(("handoff_to_closer", {"reason": "done"})))
    llm_server.script("reviewer-model", Reply.message("PR 9 looks fine"))
    llm_server.script("closer-model", Reply.message("ticket closed"))
    host = space.host()
    result = await run_agent(host.workspace, "lead", "handle PR 9", hooks=host.hooks)
    assert result.ok and result.output == "ticket closed"
    models = [r.model for r in llm_server.requests]
    assert models == ["lead-model", "reviewer-model", "lead-model", "closer-model"]
    offered = [t["function"]["name"] for t in llm_server.requests[0].body["tools"]]
    assert offered == ["ask_reviewer", "handoff_to_closer"]
    closer_saw = llm_server.requests[3].body["messages"]
    assert closer_saw[0] == {"role": "system", "content": "You close tickets."}
    assert any(m.get("content") == "PR 9 looks fine" for m in closer_saw)  # the whole conversation was passed
    phases = [e["data"]["phase"] for e in audit(parac, space, "agent.phase")]
    assert phases == ["delegate", "delegated", "handoff"]


async def test_reflect_and_upee_over_http(space, llm_server, parac):
    serve(space, llm_server)
    space.agent("critic", model="local/critic-model")
    space.agent("writer", model="local/writer-model", loop="upee", reflect={"critic": "critic", "max_rounds": 2})
    llm_server.script("writer-model", Reply.message("restated"), Reply.message("plan: say it"), Reply.message("v1"),
                      Reply.message('{"score": 0.9, "reason": "fine"}'), Reply.message("v2"))
    llm_server.script("critic-model", Reply.message("needs a date"), Reply.message("ACCEPT"))
    host = space.host()
    result = await run_agent(host.workspace, "writer", "announce the release", hooks=host.hooks)
    assert result.ok and result.output == "v2"
    assert [p["phase"] for p in result.phases] == [
        "understand", "plan", "execute", "evaluate", "critique", "revise", "critique"]
    revise_request = [r for r in llm_server.requests if r.model == "writer-model"][-1].body["messages"]
    assert "needs a date" in revise_request[-1]["content"] and revise_request[-1]["name"] == "critic"
    calls = audit(parac, space, "llm.call")
    assert [c["subject"] for c in calls] == ["local/writer-model"] * 4 + ["local/critic-model", "local/writer-model",
                                                                          "local/critic-model"]


async def test_council_over_http(space, llm_server):
    serve(space, llm_server)
    for name in ("a", "b", "judge"):
        space.agent(name, model=f"local/{name}-model")
    llm_server.script("a-model", Reply.message("retry with backoff"))
    llm_server.script("b-model", Reply.message("fail fast"))
    llm_server.script("judge-model", Reply.message("1: backoff handles the flaky network"))
    space.workflow("choose", steps=[{"id": "c", "type": "council", "agents": ["a", "b"], "strategy": "judge",
                                     "judge": "judge", "task": "Network errors?"}])
    host = space.host()
    with WorkflowRunner(host.workspace, hooks=host.hooks) as runner:
        result = await runner.run("choose", {}, RunOptions())
    output = result.steps[0]["output"]
    assert result.status == "completed" and output["decision"] == "retry with backoff"
    judge_saw = [r for r in llm_server.requests if r.model == "judge-model"][0].body["messages"][-1]["content"]
    assert "[1] retry with backoff" in judge_saw and "[2] fail fast" in judge_saw
