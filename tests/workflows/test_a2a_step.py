"""parac as an A2A client: a workflow step `agent: a2a:URL` and the `a2a_send` tool an agent lists, against a small
agent built with the official `a2a-sdk` server (`support.a2a_server`), governed like every external call: a policy
must grant `a2a_send` and `http.allow_hosts` must name the agent's host; a refused call sends nothing."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from support.a2a_server import REPLY_PREFIX, A2AServer
from support.runtime import set_settings, write_script

WORKFLOW = """description: asks a remote agent
inputs:
  topic: {{type: string}}
steps:
  - id: ask
    agent: "a2a:{url}"
    task: "summarise {{{{ inputs.topic }}}}"
  - id: after
    agent: helper
    task: "{{{{ steps.ask.output }}}}"
    depends_on: [ask]
"""


def _policy(project: Path, grant: bool, hosts: list[str], workflows: tuple[str, ...] = ("remote",)) -> None:
    path = project / ".parac" / "policies" / "default.yaml"
    policy = yaml.safe_load(path.read_text())
    if grant:
        policy["allow"].append({"tools": ["a2a_send"], "workflows": list(workflows)})
        policy["allow"].append({"tools": ["a2a_send"], "agents": ["asker"]})
    policy["http"]["allow_hosts"] = hosts
    path.write_text(yaml.safe_dump(policy))


def _audit(parac, project: Path) -> list[dict]:
    exported = parac("audit", "export", "--format", "jsonl", "--action", "tool.call", cwd=project)
    assert exported.code == 0, exported
    return [json.loads(line) for line in exported.out.splitlines() if line.strip()]


def _setup(project: Path, url: str) -> None:
    (project / ".parac" / "agents" / "helper.yaml").write_text("description: says it back\nmodel: echo\n")
    (project / ".parac" / "workflows" / "remote.yaml").write_text(WORKFLOW.format(url=url))


def test_a_workflow_step_runs_a_remote_a2a_agent_audited(project: Path, parac):
    with A2AServer() as remote:
        _setup(project, remote.url)
        _policy(project, grant=True, hosts=[f"127.0.0.1:{remote.port}"])
        valid = parac("validate", cwd=project)
        plan = parac("workflow", "plan", "remote", "--input", "topic=tides", "--json", cwd=project)
        run = parac("workflow", "run", "remote", "--input", "topic=tides", "--json", cwd=project)
    assert valid.code == 0, valid
    assert plan.code == 0, plan
    assert run.code == 0, run
    steps = {step["id"]: step for step in run.json()["steps"]}
    assert steps["ask"]["output"] == REPLY_PREFIX + "summarise tides"
    assert steps["after"]["output"] == REPLY_PREFIX + "summarise tides"  # the echo agent said it back
    assert remote.messages == ["summarise tides"]
    calls = [e for e in _audit(parac, project) if e["subject"] == "a2a_send"]
    assert len(calls) == 1 and calls[0]["outcome"] == "ok"
    assert calls[0]["data"]["workflow"] == "remote" and calls[0]["data"]["step"] == "ask"
    assert calls[0]["data"]["a2a"]["url"] == remote.url and calls[0]["data"]["a2a"]["state"] == "completed"


def test_without_the_grant_or_the_host_nothing_is_sent(project: Path, parac):
    with A2AServer() as remote:
        _setup(project, remote.url)
        _policy(project, grant=False, hosts=[f"127.0.0.1:{remote.port}"])
        ungranted = parac("workflow", "run", "remote", "--input", "topic=tides", "--json", cwd=project)
        _policy(project, grant=True, hosts=[])
        no_host = parac("workflow", "run", "remote", "--input", "topic=tides", "--json", cwd=project)
        received = list(remote.received)
    assert ungranted.code == 1 and no_host.code == 1
    assert received == [] and remote.messages == []
    calls = [e for e in _audit(parac, project) if e["subject"] == "a2a_send"]
    assert [c["outcome"] for c in calls] == ["denied", "error"]
    assert "127.0.0.1" in json.dumps(no_host.json())  # the host the policy does not allow is named


def test_an_agent_calls_a_remote_agent_through_the_tool(project: Path, parac, tmp_path: Path):
    with A2AServer() as remote:
        model = write_script(tmp_path / "asker.yaml", [
            {"tool_calls": [{"name": "a2a_send", "arguments": {"url": remote.url, "message": "hello over there"}}]},
            {"text": "asked"},
        ])
        (project / ".parac" / "agents" / "asker.yaml").write_text(f"model: {model}\ntools: [a2a_send]\n")
        _policy(project, grant=True, hosts=[f"127.0.0.1:{remote.port}"])
        run = parac("agents", "run", "asker", "--task", "ask them", "--json", cwd=project)
    assert run.code == 0, run
    assert remote.messages == ["hello over there"]
    result = run.json()
    tool_message = next(m for m in result["transcript"] if m.get("role") == "tool")
    assert REPLY_PREFIX + "hello over there" in tool_message["content"]
    calls = [e for e in _audit(parac, project) if e["subject"] == "a2a_send"]
    assert len(calls) == 1 and calls[0]["outcome"] == "ok" and calls[0]["data"]["agent"] == "asker"


def test_a_configured_token_goes_to_its_agent_only_and_is_never_written(project: Path, parac):
    token = "a2a-test-token-" + "k3" * 12
    env = {"ECHO_A2A_TOKEN": token}
    with A2AServer() as remote, A2AServer() as other:
        _setup(project, remote.url)
        (project / ".parac" / "workflows" / "other.yaml").write_text(
            WORKFLOW.format(url=other.url).replace("asks a remote agent", "asks another agent"))
        set_settings(project, a2a_agents={"echo": {"url": remote.url, "token_env": "ECHO_A2A_TOKEN"}})
        _policy(project, grant=True, hosts=[f"127.0.0.1:{remote.port}", f"127.0.0.1:{other.port}"],
                workflows=("remote", "other"))
        unset = parac("workflow", "run", "remote", "--input", "topic=tides", "--json", cwd=project)
        sent_unset = list(remote.received)
        run = parac("workflow", "run", "remote", "--input", "topic=tides", "--json", cwd=project, env=env)
        elsewhere = parac("workflow", "run", "other", "--input", "topic=tides", "--json", cwd=project, env=env)
    assert unset.code == 1 and sent_unset == []  # no token, nothing sent; the error names the variable
    assert "ECHO_A2A_TOKEN" in json.dumps(unset.json())
    assert run.code == 0, run
    assert remote.received and {r.authorization for r in remote.received} == {f"Bearer {token}"}  # card and task
    assert elsewhere.code == 0, elsewhere
    assert other.received and {r.authorization for r in other.received} == {None}
    written = [path for path in (project / ".parac").rglob("*") if path.is_file() and token.encode() in path.read_bytes()]
    assert written == [] and token not in run.out + run.err
    assert token not in parac("audit", "export", "--format", "jsonl", cwd=project, env=env).out


def test_a_reply_past_the_policy_max_bytes_is_refused(project: Path, parac):
    with A2AServer(padding=50_000) as remote:
        _setup(project, remote.url)
        _policy(project, grant=True, hosts=[f"127.0.0.1:{remote.port}"])
        policy = project / ".parac" / "policies" / "default.yaml"
        data = yaml.safe_load(policy.read_text())
        data["http"]["max_bytes"] = 20_000
        policy.write_text(yaml.safe_dump(data))
        capped = parac("workflow", "run", "remote", "--input", "topic=tides", "--json", cwd=project)
        data["http"]["max_bytes"] = 200_000
        policy.write_text(yaml.safe_dump(data))
        roomy = parac("workflow", "run", "remote", "--input", "topic=tides", "--json", cwd=project)
    assert capped.code == 1
    assert "the reply is larger than the limit of 20000 bytes" in json.dumps(capped.json())
    assert roomy.code == 0, roomy
    assert roomy.json()["steps"][0]["output"].startswith(REPLY_PREFIX + "summarise tides...")
