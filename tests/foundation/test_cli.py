"""The foundation's CLI, run as a subprocess on real workspaces."""

from __future__ import annotations

import json
from pathlib import Path

from parac.core.specs import SPEC_MODELS


def test_version_and_help(parac):
    assert parac("--version").out.strip() == "parac, version 0.1.0"
    result = parac("--help")
    assert result.code == 0
    for command in ("init", "validate", "agents", "skills", "plugins", "schema"):
        assert f"  {command} " in result.out


def test_init_default_template_validates_clean(project: Path, parac):
    parac_dir = project / ".parac"
    agents = {p.stem for p in (parac_dir / "agents").glob("*.yaml")}
    assert {"architect", "coder", "reviewer", "tester", "qa", "pm", "documenter", "release-manager"} <= agents
    assert {p.stem for p in (parac_dir / "workflows").glob("*.yaml")} == {"feature", "code-review"}
    assert (parac_dir / "skills" / "code-review" / "SKILL.md").is_file()
    result = parac("validate", cwd=project)
    assert result.code == 0, result
    assert parac("validate", "--json", cwd=project).json() == []


def test_init_refuses_existing_workspace(project: Path, parac):
    result = parac("init", str(project))
    assert result.code == 1
    assert "already exists" in result.err
    assert "Traceback" not in result.err


def test_empty_template(empty_project: Path, parac):
    assert sorted(p.name for p in (empty_project / ".parac").iterdir()) == [".gitignore", "parac.yaml"]
    assert parac("validate", cwd=empty_project).code == 0
    assert parac("agents", "list", "--json", cwd=empty_project).json() == []


def test_workspace_found_walking_up_and_by_option_and_env(project: Path, parac, tmp_path: Path):
    deep = project / "src" / "pkg"
    deep.mkdir(parents=True)
    assert parac("validate", cwd=deep).code == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    missing = parac("validate", cwd=elsewhere)
    assert missing.code == 1 and "no .parac/ folder" in missing.err
    assert parac("--workspace", str(project), "validate", cwd=elsewhere).code == 0
    assert parac("validate", cwd=elsewhere, env={"PARAC_WORKSPACE": str(project)}).code == 0


def test_agents_show_json_has_chain_and_provenance(project: Path, parac):
    data = parac("agents", "show", "qa", "--json", cwd=project).json()
    assert data["chain"] == ["qa", "tester", "base"]
    assert data["provenance"]["system_prompt"] == "qa"
    assert data["provenance"]["skills"] == "tester"
    assert data["provenance"]["temperature"] == "base"
    assert data["provenance"]["model"] == "parac.yaml"
    assert data["model"] == "echo"
    assert data["skills"] == ["testing"]
    assert data["path"].endswith("qa.yaml")
    listed = {row["name"]: row for row in parac("agents", "list", "--json", cwd=project).json()}
    assert listed["qa"]["parent"] == "tester"
    assert listed["base"]["parent"] is None


def test_agents_show_unknown_suggests(project: Path, parac):
    result = parac("agents", "show", "tster", cwd=project)
    assert result.code == 1
    assert 'unknown agent "tster" (did you mean "tester"?)' in result.err


def test_skills_list_and_show(project: Path, parac):
    names = [row["name"] for row in parac("skills", "list", "--json", cwd=project).json()]
    assert names == ["code-review", "documentation", "testing"]
    shown = parac("skills", "show", "code-review", "--json", cwd=project).json()
    assert shown["files"] == ["SKILL.md"]
    assert shown["instructions"].startswith("# Code review")
    assert parac("skills", "show", "nope", cwd=project).code == 1


def test_schema_for_every_kind(parac):
    for kind in SPEC_MODELS:
        schema = parac("schema", kind).json()
        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False
    agent = parac("schema", "agent").json()
    assert "parent" in agent["properties"]
    assert "inherits" in agent["properties"]["parent"]["description"]
    assert parac("schema", "nonsense").code == 2


def test_plugins_json_lists_builtins(project: Path, parac):
    plugins = {p["name"]: p for p in parac("plugins", "--json", cwd=project).json()}
    assert plugins["offline"]["source"] == "builtin"
    assert "echo" in plugins["offline"]["registered"]["providers"]


def test_disable_plugin_by_env_and_settings(project: Path, parac):
    result = parac("plugins", "--json", cwd=project, env={"PARAC_DISABLE_PLUGINS": "offline"})
    assert {p["name"]: p["enabled"] for p in result.json()}["offline"] is False
    # Without the offline plugin, nothing serves the template's `echo` model: validation says so.
    invalid = parac("validate", "--json", cwd=project, env={"PARAC_DISABLE_PLUGINS": "offline"})
    assert invalid.code == 1
    assert {d["code"] for d in invalid.json()} == {"unknown-provider"}
    settings = project / ".parac" / "parac.yaml"
    settings.write_text(settings.read_text().replace("disabled: []", "disabled: [offline]"))
    assert {p["name"]: p["enabled"] for p in parac("plugins", "--json", cwd=project).json()}["offline"] is False


def test_validate_text_output_format(project: Path, parac):
    agent = project / ".parac" / "agents" / "coder.yaml"
    agent.write_text(agent.read_text().replace("parent: base", "parent: bsae"))
    result = parac("validate", cwd=project)
    assert result.code == 1
    assert ".parac/agents/coder.yaml:1:9: error unknown-parent: unknown parent agent \"bsae\" (did you mean \"base\"?)" in result.out
    data = parac("validate", "--json", cwd=project).json()
    assert set(data[0]) == {"file", "line", "column", "end_line", "end_column", "severity", "code", "message"}
    assert json.dumps(data)
