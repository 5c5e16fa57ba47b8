"""The real path: litellm talking HTTP to an OpenAI-compatible server started by the test on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parac.core.costs import ensure_schema
from parac.core.runtime import run_agent
from parac.core.store import connect_workspace
from parac.plugins.litellm_provider import CHAT_PROVIDERS, LiteLLMProvider
from support.openai_server import OpenAIServer, Reply
from support.runtime import set_settings

# gpt-4o-mini is in litellm's bundled price map, so the ledger's dollars can be checked against it.
MODEL = "gpt-4o-mini"
PRICE_IN, PRICE_OUT = LiteLLMProvider().price(f"openai/{MODEL}")


def use_server(root: Path, server: OpenAIServer, **provider: object) -> None:
    set_settings(root, providers={"local": {"api_base": server.base_url, "model_prefix": "openai", **provider}})


def ledger(root: Path) -> list[dict]:
    conn = ensure_schema(connect_workspace(root))
    return [dict(r) for r in conn.execute("SELECT * FROM llm_calls ORDER BY seq")]


async def test_plain_text_with_cost_from_the_bundled_price_map(workspace_dir, host_for, llm_server):
    use_server(workspace_dir, llm_server)
    llm_server.script(MODEL, Reply.message("hello from the server", prompt_tokens=1000, completion_tokens=500))
    host = host_for(workspace_dir)
    result = await run_agent(host.workspace, "calc", "say hello", model=f"local/{MODEL}", hooks=host.hooks)
    assert result.status == "completed" and result.output == "hello from the server"
    [row] = ledger(workspace_dir)
    assert (row["provider"], row["model"], row["prompt_tokens"], row["completion_tokens"]) == ("local", f"local/{MODEL}", 1000, 500)
    assert row["cost_usd"] == pytest.approx(1000 * PRICE_IN + 500 * PRICE_OUT)
    [request] = llm_server.requests
    assert request.body["model"] == MODEL and request.body["messages"][-1] == {"role": "user", "content": "say hello"}
    assert [t["function"]["name"] for t in request.body["tools"]] == ["add", "explode"]


async def test_streamed_text_arrives_in_chunks(workspace_dir, host_for, llm_server):
    use_server(workspace_dir, llm_server)
    llm_server.script(MODEL, Reply.message("one two three four"))
    host = host_for(workspace_dir)
    pieces: list[str] = []
    result = await run_agent(host.workspace, "calc", "count", model=f"local/{MODEL}", on_text=pieces.append)
    assert "".join(pieces) == result.output == "one two three four"
    assert len(pieces) >= 4
    assert llm_server.requests[0].body["stream"] is True
    [row] = ledger(workspace_dir)
    assert row["completion_tokens"] == 4 and row["cost_usd"] > 0  # usage from the stream's final chunk


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
async def test_tool_calls_round_trip(workspace_dir, host_for, tools, llm_server, stream):
    use_server(workspace_dir, llm_server)
    llm_server.script(MODEL, Reply.calls(("add", {"a": 20, "b": 22}), ("add", {"a": 1, "b": 1})), Reply.message("42 and 2"))
    host = host_for(workspace_dir)
    pieces: list[str] = []
    result = await run_agent(
        host.workspace, "calc", "add", model=f"local/{MODEL}", hooks=host.hooks, on_text=pieces.append if stream else None
    )
    assert result.status == "completed" and result.output == "42 and 2"
    assert tools.calls == [("add", {"a": 20, "b": 22}), ("add", {"a": 1, "b": 1})]
    second = llm_server.requests[1].body["messages"]
    assert second[-3]["tool_calls"][0]["function"] == {"name": "add", "arguments": json.dumps({"a": 20, "b": 22})}
    assert [(m["role"], m["content"]) for m in second[-2:]] == [("tool", "42"), ("tool", "2")]
    assert len(ledger(workspace_dir)) == 2


async def test_429_is_retried_by_parac_alone(workspace_dir, host_for, llm_server):
    use_server(workspace_dir, llm_server, max_retries=2)
    llm_server.script(MODEL, Reply.error(429, "slow down"), Reply.message("finally"))
    host = host_for(workspace_dir)
    result = await run_agent(host.workspace, "calc", "x", model=f"local/{MODEL}")
    assert result.output == "finally"
    assert len(llm_server.requests) == 2  # one retry: litellm's and the OpenAI SDK's own retries are off
    assert [r["status"] for r in ledger(workspace_dir)] == ["ok"]  # one call, charged once


async def test_500_until_the_fallback_is_used(workspace_dir, host_for, llm_server):
    use_server(workspace_dir, llm_server, max_retries=1, fallbacks=[f"local/{MODEL}"])
    llm_server.always("broken-model", Reply.error(500, "internal failure"))
    llm_server.script(MODEL, Reply.message("from the fallback"))
    host = host_for(workspace_dir)
    result = await run_agent(host.workspace, "calc", "x", model="local/broken-model")
    assert result.status == "completed" and result.output == "from the fallback" and result.model == f"local/{MODEL}"
    assert [r.model for r in llm_server.requests] == ["broken-model", "broken-model", MODEL]
    rows = ledger(workspace_dir)
    assert [(r["model"], r["status"]) for r in rows] == [("local/broken-model", "error"), (f"local/{MODEL}", "ok")]
    assert rows[0]["cost_usd"] == 0 and "HTTP 500" in rows[0]["error"]


async def test_a_hanging_endpoint_times_out_and_the_failure_is_recorded(workspace_dir, host_for, llm_server):
    use_server(workspace_dir, llm_server, timeout_s=0.5, max_retries=0)
    llm_server.script("sleepy", Reply.hang(30))
    host = host_for(workspace_dir)
    result = await run_agent(host.workspace, "calc", "x", model="local/sleepy")
    assert result.status == "failed" and "timed out" in (result.error or "")
    assert [r["status"] for r in ledger(workspace_dir)] == ["error"]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [(Reply.garbage(), "InternalServerError"), (Reply.error(401, "bad key"), "HTTP 401"), (Reply.error(404, "no model"), "HTTP 404")],
    ids=["garbage", "401", "404"],
)
async def test_errors_that_retrying_cannot_fix_fail_clearly(workspace_dir, host_for, llm_server, reply, expected):
    use_server(workspace_dir, llm_server, max_retries=0)
    llm_server.script(MODEL, reply)
    host = host_for(workspace_dir)
    result = await run_agent(host.workspace, "calc", "x", model=f"local/{MODEL}")
    assert result.status == "failed" and expected in (result.error or "")


async def test_an_endpoint_that_is_down(workspace_dir, host_for):
    set_settings(workspace_dir, providers={"gone": {"api_base": "http://127.0.0.1:9/v1", "max_retries": 0}})
    host = host_for(workspace_dir)
    result = await run_agent(host.workspace, "calc", "x", model="gone/model")
    assert result.status == "failed" and "Connection error" in (result.error or "")


async def test_the_key_comes_from_the_environment_and_never_appears_in_errors(workspace_dir, host_for, llm_server, monkeypatch):
    secret = "sk-test-4f1d9e2a7c3b"
    monkeypatch.setenv("PARAC_TEST_LOCAL_KEY", secret)
    use_server(workspace_dir, llm_server, api_key_env="PARAC_TEST_LOCAL_KEY", max_retries=0)
    llm_server.script(MODEL, Reply.message("ok"), Reply.error(401, f"key {secret} is revoked"))
    host = host_for(workspace_dir)
    ok = await run_agent(host.workspace, "calc", "x", model=f"local/{MODEL}")
    assert ok.output == "ok" and llm_server.requests[0].headers["authorization"] == f"Bearer {secret}"
    failed = await run_agent(host.workspace, "calc", "x", model=f"local/{MODEL}")
    assert failed.status == "failed" and secret not in (failed.error or "") and "***" in (failed.error or "")
    assert all(secret not in (row["error"] or "") for row in ledger(workspace_dir))


async def test_the_key_comes_from_a_file_beside_parac_yaml(workspace_dir, host_for, llm_server, monkeypatch, tmp_path):
    secret = "sk-file-83b1c0d9e4"
    (workspace_dir / ".parac/local.key").write_text(secret + "\n")
    use_server(workspace_dir, llm_server, api_key_file="local.key", max_retries=0)
    llm_server.script(MODEL, Reply.message("ok"))
    monkeypatch.chdir(tmp_path)  # relative to .parac/, not to where the process runs
    ok = await run_agent(host_for(workspace_dir).workspace, "calc", "x", model=f"local/{MODEL}")
    assert ok.output == "ok", ok.error
    assert llm_server.requests[0].headers["authorization"] == f"Bearer {secret}"

    # a key file that cannot be used is named at its place in parac.yaml, like every parac.yaml error
    settings = workspace_dir / ".parac/parac.yaml"
    lines = settings.read_text().splitlines()
    line = next(number for number, text in enumerate(lines, 1) if "api_key_file" in text)
    place = f"{settings}:{line}:{lines[line - 1].index('api_key_file') + 1}: providers.local.api_key_file"
    key = workspace_dir / ".parac/local.key"
    key.write_text("  \n")
    empty = await run_agent(host_for(workspace_dir).workspace, "calc", "x", model=f"local/{MODEL}")
    assert empty.status == "failed"
    assert f'{place}: provider "local" has no API key: {key} is empty' in (empty.error or ""), empty.error
    key.write_bytes(b"\xff" + secret.encode())  # a key it cannot read as text: the error never shows what it holds
    garbled = await run_agent(host_for(workspace_dir).workspace, "calc", "x", model=f"local/{MODEL}")
    key.unlink()
    missing = await run_agent(host_for(workspace_dir).workspace, "calc", "x", model=f"local/{MODEL}")
    assert missing.status == "failed"
    assert f'{place}: provider "local" has no API key: cannot read {key}: ' in (missing.error or ""), missing.error
    assert garbled.status == "failed" and secret not in (garbled.error or "")
    assert f'{place}: provider "local" has no API key: {key} is not UTF-8 text' in (garbled.error or ""), garbled.error
    assert len(llm_server.requests) == 1  # no request went out without its key


def test_accepts_reads_litellm_data_without_importing_it():
    import subprocess
    import sys

    code = (
        "import sys; from parac.plugins.litellm_provider import LiteLLMProvider as P; p = P(); "
        "print(p.accepts('openai/gpt-4o'), p.accepts('ollama/llama3'), p.accepts('hosted_vllm/x'), p.accepts('gpt-4o'), "
        "p.accepts('nope/x'), p.accepts('echo'), 'litellm' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True", "True", "True", "False", "False", "False"]


def test_every_prefix_parac_routes_is_one_litellm_routes(monkeypatch):
    """parac's table against litellm's public provider list, on whichever litellm is installed: the locked release
    in `make test`, the newest one in `make test-litellm-newest`."""
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    public = {getattr(p, "value", p) for p in litellm.provider_list}
    assert CHAT_PROVIDERS - public == set(), f"litellm {litellm.version} no longer routes these"
    routed = {prefix: litellm.get_llm_provider(f"{prefix}/some-model")[1] for prefix in sorted(CHAT_PROVIDERS)}
    assert {p: r for p, r in routed.items() if p != r} == {}


async def test_the_circuit_breaker_opens_and_later_calls_skip_the_dead_provider(workspace_dir, host_for, llm_server):
    from parac.core.resilience import BREAKERS

    set_settings(
        workspace_dir,
        providers={
            "local": {"api_base": llm_server.base_url, "model_prefix": "openai", "max_retries": 4},
            "spare": {"api_base": llm_server.base_url, "model_prefix": "openai"},
        },
    )
    llm_server.always("dead", Reply.error(503, "unavailable"))
    host = host_for(workspace_dir)
    first = await run_agent(host.workspace, "calc", "x", model="local/dead", fallbacks=[f"spare/{MODEL}"])
    assert first.output == "x" and BREAKERS("local").state == "open"
    assert len(llm_server.requests_for("dead")) == 5  # threshold reached: the breaker opened
    second = await run_agent(host.workspace, "calc", "y", model="local/dead", fallbacks=[f"spare/{MODEL}"])
    assert second.output == "y"
    assert len(llm_server.requests_for("dead")) == 5  # refused at once, no request sent
    rows = ledger(workspace_dir)
    assert "paused after 5 failures" in rows[2]["error"]
