"""Two tenants for `parac serve --tenants`: workspaces team-a (default template) and team-b, an operator token for
each (alice for a, bob for b) created in the home project's token store, and the tenants file naming them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class TwoTenants:
    team_a: Path
    team_b: Path
    tokens: dict[str, str]  # alice, bob
    file: Path


def two_tenants(parac: Any, project: Path, tmp_path: Path, *, b_template: str = "default") -> TwoTenants:
    team_a, team_b = tmp_path / "team-a", tmp_path / "team-b"
    assert parac("init", str(team_a)).code == 0
    assert parac("init", str(team_b), "--template", b_template).code == 0
    tokens = {name: parac("token", "create", "--role", "operator", "--name", name, "--json", cwd=project).json()["token"]
              for name in ("alice", "bob")}
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(f"tenants:\n  a:\n    workspace: {team_a}\n    tokens: [alice]\n"
                       f"  b:\n    workspace: {team_b}\n    tokens: [bob]\n")
    return TwoTenants(team_a, team_b, tokens, tenants)
