"""`parac init --template support|content|devops`: each passes `parac validate` and runs end to end offline with
the scripted model it ships (the command `parac init` prints), and the support desk's refund path waits for a
person whose answer finishes it."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from parac.server.cli.init import TRY


@pytest.mark.parametrize("template", ["support", "content", "devops"])
def test_template_validates_and_runs_offline(tmp_path: Path, parac, template: str):
    created = parac("init", str(tmp_path / template), "--template", template)
    assert created.code == 0, created
    root = tmp_path / template
    assert parac("validate", cwd=root).code == 0
    command = shlex.split(TRY[template])[1:]
    assert f"`{TRY[template]}`" in created.out  # the command init prints is the one run here
    ran = parac(*command, "--json", cwd=root)
    assert ran.code == 0, ran
    data = ran.json()
    assert data["status"] == "completed"
    ids = [step["id"] for step in data["steps"]]
    if template == "support":
        assert ids == ["triage", "answer", "done"]
    elif template == "content":
        assert {"research", "draft", "edit", "publish"} <= set(ids) and data["outputs"]["article"]
    else:
        assert ids == ["planner", "~plan1", "build", "staging", "approve", "production"]
        assert data["steps"][4]["output"]["approved"] is True  # production came after the approval


def test_support_refund_waits_for_a_person(tmp_path: Path, parac):
    root = tmp_path / "desk"
    assert parac("init", str(root), "--template", "support").code == 0
    (root / ".parac" / "scripts" / "refund.yaml").write_text(yaml.safe_dump({"turns": [{"text": "Refund request"}]}))
    paused = parac("workflow", "run", "support", "-i", "ticket=money back please", "--dry-run",
                   "scripted:.parac/scripts/refund.yaml", "--no-wait", "--json", cwd=root)
    assert paused.code == 3, paused
    run_id = paused.json()["run_id"]
    tasks = parac("workflow", "tasks", "--role", "support-agent", "--json", cwd=root).json()
    assert [task["step_id"] for task in tasks] == ["escalate"] and tasks[0]["form"]["required"] == ["refund"]
    refused = parac("workflow", "answer", run_id, "escalate", "--data", '{"note": "no decision"}', cwd=root)
    assert refused.code == 1 and "'refund' is a required property" in refused.err
    done = parac("workflow", "answer", run_id, "escalate", "--data", '{"refund": true, "note": "sent"}', "--json",
                 cwd=root)
    assert done.code == 0, done
    assert done.json()["outputs"] == {"answer": {"refund": True, "note": "sent"}}
