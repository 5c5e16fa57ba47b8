"""Governance end to end through the installed `parac` command: policies decide, the trail records and verifies,
secrets never reach the database, the logs or stderr, tokens are stored hashed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

SECRET_SHAPED = "sk-proj-" + "Q7w" * 12
SECRET_ENV_VALUE = "correct-horse-battery-staple-42"
GRANTS = """\
allow:
  - tools: ["file_*"]
  - tools: [git_status]
    agents: [coder]
deny: [file_delete]
"""


@pytest.fixture
def project(project: Path) -> Path:
    """The default project with test grants."""
    (project / ".parac" / "policies" / "default.yaml").write_text(GRANTS)
    return project


@pytest.fixture
def run(parac):
    """`parac --workspace ROOT ...` with a secret-named variable in the environment."""
    return lambda root, *args: parac("--workspace", str(root), *args, env={"MY_SERVICE_TOKEN": SECRET_ENV_VALUE})


@pytest.fixture
def entries(run):
    """The trail of a project, as `parac audit export` gives it."""

    def export(root: Path) -> list[dict]:
        result = run(root, "audit", "export", "--format", "jsonl")
        assert result.code == 0, result
        return [json.loads(line) for line in result.out.splitlines()]

    return export


def test_denied_and_granted_calls_are_decided_and_audited(project, run, entries):
    denied = run(project, "tools", "call", "git_status", "--args", "{}")
    assert denied.code != 0 and "not granted to direct calls" in denied.err
    removed = run(project, "tools", "call", "file_delete", "--args", '{"path": "README.md"}')
    assert removed.code != 0 and 'denied by "file_delete"' in removed.err
    granted = run(project, "tools", "call", "file_write", "--args", '{"path": "a.txt", "content": "hi"}')
    assert granted.code == 0, granted
    calls = [e for e in entries(project) if e["action"] == "tool.call"]
    assert [(e["subject"], e["outcome"]) for e in calls] == [
        ("git_status", "denied"), ("file_delete", "denied"), ("file_write", "ok")]
    assert calls[0]["data"]["reason"].startswith('tool "git_status" is not granted')
    assert calls[1]["data"]["policy"] == ".parac/policies/default.yaml:5:8"
    assert calls[2]["data"]["policy"].startswith(".parac/policies/default.yaml:2:")
    assert calls[2]["actor"].startswith("cli")
    assert run(project, "audit", "verify").code == 0


def test_configuration_changes_are_audited(project, run, entries):
    run(project, "audit", "tail")  # reading does not load plugins, so it records nothing
    run(project, "tools", "call", "file_list", "--args", "{}")
    run(project, "tools", "call", "file_list", "--args", "{}")
    (project / ".parac" / "policies" / "default.yaml").write_text(GRANTS + "# tightened\n")
    run(project, "tools", "call", "file_list", "--args", "{}")
    changes = [e for e in entries(project) if e["action"] == "config.change"]
    assert len(changes) == 2
    assert changes[0]["data"]["files"] != changes[1]["data"]["files"]


def test_verify_exit_codes_and_json_after_tampering(project, run, entries):
    for name in ("a", "b", "c"):
        run(project, "tools", "call", "file_write", "--args", json.dumps({"path": f"{name}.txt", "content": name}))
    assert run(project, "audit", "verify").code == 0
    db = project / ".parac" / "state" / "parac.db"
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("UPDATE audit SET outcome = 'denied' WHERE seq = 3")
    conn.commit()
    conn.close()
    text = run(project, "audit", "verify")
    assert text.code == 1 and "entry 3 (changed)" in text.err
    report = run(project, "audit", "verify", "--json")
    assert report.code == 1
    assert report.json()["problems"][0] == {"kind": "changed", "seq": 3, "message": report.json()["problems"][0]["message"]}


def test_anchor_round_trip(project, tmp_path, run, entries):
    run(project, "tools", "call", "file_list", "--args", "{}")
    anchor = tmp_path / "anchor.json"
    assert run(project, "audit", "anchor", "-o", str(anchor)).code == 0
    assert run(project, "audit", "verify", "--anchor", str(anchor)).code == 0
    conn = sqlite3.connect(project / ".parac" / "state" / "parac.db")
    conn.execute("DROP TRIGGER audit_no_delete")
    conn.execute("DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)")
    conn.commit()
    conn.close()
    (project / ".parac" / "state" / "audit.head").unlink()
    result = run(project, "audit", "verify", "--anchor", str(anchor), "--json")
    assert result.code == 1 and result.json()["problems"][0]["kind"] in ("head", "truncated")
    bad = run(project, "audit", "verify", "--anchor", str(tmp_path / "missing.json"))
    assert bad.code == 2 and "cannot read the anchor" in bad.err


def test_show_tail_and_unknown_entry(project, run, entries):
    run(project, "tools", "call", "file_list", "--args", "{}")
    assert '"action": "tool.call"' in run(project, "audit", "show", "3", "--json").out  # after config.change, plugin.load
    assert "tool.call file_list ok" in run(project, "audit", "tail").out
    missing = run(project, "audit", "show", "999")
    assert missing.code == 1 and "no audit entry 999" in missing.err


def test_policy_check_explains(project, run, entries):
    allowed = run(project, "policy", "check", "coder", "git_status")
    assert allowed.code == 0 and allowed.out.startswith("ALLOWED")
    other = run(project, "policy", "check", "reviewer", "git_status")
    assert other.code == 1 and "only to agents coder" in other.out
    escape = run(project, "policy", "check", "-", "file_read", '{"path": "../../etc/passwd"}', "--json")
    assert escape.code == 1 and escape.json()["arguments"][0]["allowed"] is False
    typo = run(project, "policy", "check", "coder", "git_stauts", "--json")
    assert 'no registered tool is named "git_stauts"' in typo.json()["notes"]
    assert run(project, "policy", "check", "coder", "x", "not json").code == 2


def test_secrets_never_reach_database_logs_or_stderr(project, run, entries):
    """A secret in a tool argument, in a tool's exception and in a model's answer."""
    (project / ".parac" / "answers.yaml").write_text(
        json.dumps({"turns": [{"text": f"the key is {SECRET_SHAPED} and {SECRET_ENV_VALUE}"}]}))
    runs = [
        run(project, "tools", "call", "file_write",
              "--args", json.dumps({"path": "notes.txt", "content": f"{SECRET_SHAPED} {SECRET_ENV_VALUE}"})),
        run(project, "tools", "call", "file_read",
              "--args", json.dumps({"path": f"{SECRET_SHAPED}/{SECRET_ENV_VALUE}.txt"})),
        run(project, "--debug", "tools", "call", "file_read",
              "--args", json.dumps({"path": f"missing/{SECRET_ENV_VALUE}"})),
        run(project, "agents", "run", "coder", "--task", f"repeat {SECRET_SHAPED}",
              "--model", "scripted:.parac/answers.yaml"),
    ]
    assert runs[0].code == 0 and runs[1].code != 0 and runs[3].code == 0, runs
    assert SECRET_SHAPED in runs[3].out  # the answer itself goes to the user who asked for it
    for result in runs:
        assert SECRET_SHAPED not in result.err and SECRET_ENV_VALUE not in result.err
    state = project / ".parac" / "state"
    for path in state.iterdir():
        data = path.read_bytes()
        assert SECRET_SHAPED.encode() not in data and SECRET_ENV_VALUE.encode() not in data, path
    logged = "\n".join(json.dumps(e) for e in entries(project))
    assert "[REDACTED" in logged
    assert any(e["action"] == "llm.call" for e in entries(project))


def test_token_create_is_hashed_and_audited(project, run, entries):
    created = run(project, "token", "create", "--role", "operator", "--name", "ci-bot", "--json")
    assert created.code == 0, created
    token = created.json()["token"]
    assert token.startswith("parac_") and len(token) > 40
    stored = (project / ".parac" / "state" / "tokens.json").read_text()
    assert token not in stored and "ci-bot" in stored and "operator" in stored
    assert run(project, "token", "create", "--role", "operator", "--name", "ci-bot").code == 2
    assert run(project, "token", "create", "--role", "superuser").code == 2
    listed = run(project, "token", "list", "--json").json()
    assert [(t["name"], t["role"]) for t in listed] == [("ci-bot", "operator")]
    assert run(project, "token", "revoke", "ci-bot").code == 0
    assert [e["action"] for e in entries(project)][-2:] == ["token.create", "token.revoke"]
    assert token not in json.dumps(entries(project))
