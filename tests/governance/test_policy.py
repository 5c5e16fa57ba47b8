"""Policy decisions: deny unless granted, per agent / workflow / globally, deny wins, approvals, rate limits."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from parac.core.policy import Policies, PolicyCache, load_policies

POLICY = """\
description: test policy
allow:
  - tools: [files.read, "git.*"]
  - tools: [shell.run]
    agents: [coder, "test*"]
  - tools: [http.get]
    workflows: [release]
  - tools: [files.write]
    agents: [coder]
    workflows: [feature]
deny: [git.push]
require_approval: ["files.delete", "shell.*"]
rate_limits: {"http.*": 2/min}
shell: {allow: [pytest, "git status"], timeout_s: 30}
http: {allow_hosts: [api.github.com], max_bytes: 1000}
"""


def workspace(tmp_path: Path, *policies: str, settings: str = "name: t\n") -> Path:
    folder = tmp_path / ".parac" / "policies"
    folder.mkdir(parents=True)
    (tmp_path / ".parac" / "parac.yaml").write_text(settings)
    for index, text in enumerate(policies):
        (folder / f"p{index}.yaml").write_text(text)
    return tmp_path


@pytest.fixture
def policies(tmp_path: Path) -> Policies:
    return load_policies(workspace(tmp_path, POLICY))


@pytest.mark.parametrize(
    ("tool", "agent", "workflow", "allowed"),
    [
        ("files.read", None, None, True),
        ("git.status", "anyone", None, True),
        ("git.push", "coder", None, False),          # denied although "git.*" grants it
        ("files.delete", "coder", None, False),       # never granted
        ("shell.run", "coder", None, True),
        ("shell.run", "tester", None, True),          # agent glob
        ("shell.run", "reviewer", None, False),
        ("shell.run", None, None, False),             # a direct call is not an agent
        ("http.get", "coder", "release", True),
        ("http.get", "coder", "feature", False),
        ("http.get", None, None, False),
        ("files.write", "coder", "feature", True),
        ("files.write", "coder", None, False),
        ("files.write", "tester", "feature", False),
        ("unknown.tool", "coder", "feature", False),
        ("FILES.READ", None, None, False),            # names are case-sensitive
    ],
)
def test_decisions(policies, tool, agent, workflow, allowed):
    decision = policies.decide(tool, agent=agent, workflow=workflow)
    assert decision.allowed is allowed, decision.trace
    assert decision.reason and decision.trace


def test_explanation_names_the_rule(policies):
    denied = policies.decide("git.push", agent="coder")
    assert '"git.push"' in denied.reason and denied.rule == ".parac/policies/p0.yaml:11:8"
    granted = policies.decide("shell.run", agent="coder")
    assert granted.rule.startswith(".parac/policies/p0.yaml:4:") and granted.approval_required
    scoped = policies.decide("shell.run", agent="reviewer")
    assert any("only to agents coder, test*" in line for line in scoped.trace)


def test_no_policy_denies_everything(tmp_path):
    empty = load_policies(workspace(tmp_path))
    decision = empty.decide("files.read")
    assert not decision.allowed and "no policy allows it" in decision.reason


@pytest.mark.parametrize("broken", ["allow: [", "allow: 3", "allow:\n  - agents: [x]\n", "deny: {a: 1}\n",
                                    "rate_limits: {x: often}\n", "redaction: {patterns: ['(']}\n"])
def test_a_broken_policy_file_denies_everything(tmp_path, broken):
    policies = load_policies(workspace(tmp_path, POLICY, broken))
    decision = policies.decide("files.read")
    assert not decision.allowed and "p1.yaml has errors" in decision.reason


def test_rate_limit(policies):
    start = time.monotonic()
    first = policies.admit("http.get", agent="a", workflow="release", now=start)
    second = policies.admit("http.get", agent="a", workflow="release", now=start + 1)
    third = policies.admit("http.get", agent="a", workflow="release", now=start + 2)
    later = policies.admit("http.get", agent="a", workflow="release", now=start + 61)
    assert [first.allowed, second.allowed, third.allowed, later.allowed] == [True, True, False, True]
    assert "rate limit of 2/min" in third.reason


def test_union_of_files_and_strictest_limits(tmp_path):
    second = "allow: [{tools: [extra.tool]}]\nshell: {allow: [make], timeout_s: 5}\nhttp: {allow_hosts: [pypi.org]}\n"
    policies = load_policies(workspace(tmp_path, POLICY, second))
    assert policies.decide("extra.tool").allowed and policies.decide("files.read").allowed
    shell = policies.command_policy()
    assert shell.allow == ("pytest", "git status", "make") and shell.timeout_s == 5
    http = policies.http_policy()
    assert http.allow_hosts == ("api.github.com", "pypi.org") and http.max_bytes == 1000


def test_cache_follows_edits(tmp_path, monkeypatch):
    monkeypatch.setattr("parac.core.policy.RECHECK_S", 0.0)
    cache = PolicyCache(workspace(tmp_path, "allow: [{tools: [a]}]\n"))
    assert cache.get().decide("a").allowed
    assert cache.get() is cache.get()
    (cache.root / ".parac" / "policies" / "p0.yaml").write_text("allow: [{tools: [b]}]\n# edited\n")
    assert not cache.get().decide("a").allowed
    (cache.root / ".parac" / "policies" / "p9.yaml").write_text("allow: [{tools: [a]}]\n")
    assert cache.get().decide("a").allowed


def test_extra_policy_files_from_settings(tmp_path):
    root = workspace(tmp_path, settings="policies: [extra/more.yaml]\n")
    (root / ".parac" / "extra").mkdir()
    (root / ".parac" / "extra" / "more.yaml").write_text("allow: [{tools: [x]}]\n")
    assert load_policies(root).decide("x").allowed


def test_missing_extra_policy_file_denies(tmp_path):
    root = workspace(tmp_path, "allow: [{tools: [x]}]\n", settings="policies: [nope.yaml]\n")
    assert not load_policies(root).decide("x").allowed


def test_data_minimisation_masks_personal_data(tmp_path):
    plain = load_policies(workspace(tmp_path / "a", POLICY)).redactor()
    minimal = load_policies(workspace(tmp_path / "b", POLICY, settings="data_minimisation: true\n")).redactor()
    text = "write to jane.doe@example.com or +44 20 7946 0958"
    assert plain.text(text) == text
    masked = minimal.text(text)
    assert "jane.doe" not in masked and "7946" not in masked


def test_configured_patterns_and_pii(tmp_path):
    extra = "redaction: {patterns: ['ACME-\\d{6}'], pii: [email]}\n"
    redactor = load_policies(workspace(tmp_path, POLICY, extra)).redactor()
    assert redactor.text("ticket ACME-123456 from a@b.io") == "ticket [REDACTED:pattern] from [REDACTED:email]"
