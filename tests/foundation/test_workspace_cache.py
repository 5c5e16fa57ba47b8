"""The workspace keeps resolved agents (and their listing rows) until a change to their lineage or to parac.yaml."""

from __future__ import annotations

from pathlib import Path

from parac.core.workspace import Workspace


def test_a_change_drops_its_lineage_and_keeps_the_rest(project: Path):
    workspace = Workspace(project)
    base, coder, reviewer = (workspace.agent_summary(n) for n in ("base", "coder", "reviewer"))
    grandchild = project / ".parac/agents/junior.yaml"
    grandchild.write_text("parent: coder\ndescription: Junior\n")
    workspace.refresh(grandchild)
    assert workspace.agent_summary("junior")["model"] == coder["model"]
    assert workspace.agent_summary("reviewer") is reviewer  # not in junior's lineage: still cached

    (project / ".parac/agents/coder.yaml").write_text("parent: base\nmodel: echo/other\n")
    workspace.set_overlay(project / ".parac/agents/coder.yaml", None)
    assert workspace.agent_summary("coder")["model"] == "echo/other"
    assert workspace.agent_summary("junior")["model"] == "echo/other"  # a descendant follows its parent
    assert workspace.agent_summary("base") is base and workspace.agent_summary("reviewer") is reviewer

    (project / ".parac/parac.yaml").write_text("default_model: echo/default\n")
    workspace.refresh(project / ".parac/parac.yaml")
    assert workspace.agent_summary("base")["model"] == "echo/default"  # the settings reach every agent
    assert workspace.agent_summary("reviewer") is not reviewer

    (project / ".parac/agents/coder.yaml").write_text("parent: nobody\n")
    workspace.refresh(project / ".parac/agents/coder.yaml")
    assert "nobody" in workspace.agent_summary("junior")["error"]
