"""`--limit` / `--cursor` on the CLI's `--json` listings: pages that walk every item once, bad cursors refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def add_agents(project: Path, count: int) -> list[str]:
    names = [f"extra-{index:03d}" for index in range(count)]
    for name in names:
        (project / ".parac/agents" / f"{name}.yaml").write_text(f"parent: base\ndescription: {name}\n")
    return names


def walk(parac: Any, project: Path, *command: str, field: str, limit: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = parac(*command, "--json", "--limit", str(limit), *(["--cursor", cursor] if cursor else []), cwd=project)
        assert page.code == 0, page.err
        rows += page.json()[field]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return rows


def test_agents_skills_and_workflows_page_by_cursor(project: Path, parac):
    names = add_agents(project, 12)
    agents = [row["name"] for row in walk(parac, project, "agents", "list", field="agents", limit=5)]
    assert agents == [row["name"] for row in parac("agents", "list", "--json", cwd=project).json()]
    assert set(names) <= set(agents)
    skills = walk(parac, project, "skills", "list", field="skills", limit=1)
    assert skills == parac("skills", "list", "--json", cwd=project).json()
    workflows = walk(parac, project, "workflow", "list", field="workflows", limit=1)
    assert workflows == parac("workflow", "list", "--json", cwd=project).json()


def test_workflow_runs_page_newest_first(project: Path, parac):
    for _ in range(3):
        assert parac("workflow", "run", "code-review", "--dry-run", "echo", "-y", "-i", "change=x", cwd=project).code == 0
    walked = [row["run_id"] for row in walk(parac, project, "workflow", "runs", field="runs", limit=2)]
    assert walked == [row["run_id"] for row in parac("workflow", "runs", "--json", cwd=project).json()]
    assert len(walked) == 3


def test_bad_cursors_and_limits_are_refused(project: Path, parac):
    agents_cursor = parac("agents", "list", "--json", "--limit", "1", cwd=project).json()["next_cursor"]
    for command in (("agents", "list"), ("skills", "list"), ("workflow", "runs")):
        refused = parac(*command, "--json", "--cursor", "bogus", cwd=project)
        assert refused.code == 1 and "invalid cursor" in refused.err and not refused.out
    refused = parac("skills", "list", "--json", "--cursor", agents_cursor, cwd=project)  # another listing's
    assert refused.code == 1 and "invalid cursor for skills list" in refused.err
    assert parac("agents", "list", "--json", "--limit", "0", cwd=project).code == 2
    assert parac("agents", "list", "--limit", "2", cwd=project).code == 2  # pages are for --json
