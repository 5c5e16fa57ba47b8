"""Bad input: every problem is a positioned diagnostic, none crashes, none stops other files being checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from parac.core.workspace import Workspace
from parac.server.host import Host


def write(root: Path, relative: str, text: str | bytes) -> Path:
    path = root / ".parac" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


@pytest.fixture
def ws_root(tmp_path: Path) -> Path:
    write(tmp_path, "parac.yaml", "default_model: echo\n")
    write(tmp_path, "agents/base.yaml", "description: base\nsystem_prompt: hi\n")
    return tmp_path


def check(root: Path) -> dict[str, list]:
    host = Host(entry_points=False)
    workspace = host.open_workspace(root)
    out: dict[str, list] = {}
    for d in workspace.validate():
        out.setdefault(Path(d.file).name, []).append(d)
    return out


def codes(diagnostics) -> list[str]:
    return [d.code for d in diagnostics]


def test_an_unclosed_quote_is_found_at_the_end_and_named_where_it_opened(ws_root: Path):
    write(ws_root, "agents/quote.yaml", 'model: echo\ndescription: "never closed\n')
    (syntax,) = check(ws_root)["quote.yaml"]
    assert (syntax.code, syntax.line, syntax.column) == ("syntax", 3, 1)
    assert syntax.message == (
        "found unexpected end of stream while scanning a quoted scalar that begins at line 2, column 14"
    )


def test_malformed_yaml_has_position_and_other_files_still_checked(ws_root: Path):
    write(ws_root, "agents/broken.yaml", "description: x\ntools: [a, b\nmodel: echo\n")
    write(ws_root, "agents/typo.yaml", "parent: base\ndescriptoin: x\n")
    found = check(ws_root)
    (syntax,) = found["broken.yaml"]
    assert syntax.code == "syntax" and syntax.line == 3
    assert "that begins at line 2, column 8" in syntax.message  # where the unclosed flow sequence opened
    (typo,) = found["typo.yaml"]
    assert typo.code == "unknown-key"
    assert 'unknown key "descriptoin" (did you mean "description"?)' == typo.message
    assert (typo.line, typo.column, typo.end_line, typo.end_column) == (2, 1, 2, 12)


def test_wrong_types_point_at_the_value(ws_root: Path):
    write(ws_root, "agents/a.yaml", "parent: base\ntemperature: hot\nmax_iterations: 0\ntools: {x: 1}\n")
    found = {d.message.split(":")[0]: d for d in check(ws_root)["a.yaml"]}
    assert found['"temperature"'].line == 2 and found['"temperature"'].column == 14
    assert found['"max_iterations"'].line == 3
    assert found['"tools"'].line == 4


def test_nested_unknown_key_suggests_from_the_nested_model(ws_root: Path):
    write(ws_root, "agents/a.yaml", "budget:\n  per_run_ud: 1\n")
    (d,) = check(ws_root)["a.yaml"]
    assert d.message == 'unknown key "per_run_ud" (did you mean "per_run_usd"?)'
    assert (d.line, d.column) == (2, 3)


def test_top_level_not_a_mapping(ws_root: Path):
    write(ws_root, "agents/a.yaml", "- just\n- a list\n")
    (d,) = check(ws_root)["a.yaml"]
    assert d.code == "type" and "expected a mapping" in d.message and "a list" in d.message


def test_name_must_match_file(ws_root: Path):
    write(ws_root, "agents/a.yaml", "name: b\n")
    (d,) = check(ws_root)["a.yaml"]
    assert d.code == "name-mismatch" and d.line == 1 and d.column == 7


def test_unknown_parent_and_descendant(ws_root: Path):
    write(ws_root, "agents/a.yaml", "parent: ghost\n")
    write(ws_root, "agents/b.yaml", "parent: a\n")
    found = check(ws_root)
    assert codes(found["a.yaml"]) == ["unknown-parent"]
    assert codes(found["b.yaml"]) == ["broken-chain"]
    assert "ghost" in found["b.yaml"][0].message


def test_cycle_reported_on_every_member(ws_root: Path):
    write(ws_root, "agents/a.yaml", "parent: b\n")
    write(ws_root, "agents/b.yaml", "parent: c\n")
    write(ws_root, "agents/c.yaml", "parent: a\n")
    write(ws_root, "agents/d.yaml", "parent: a\n")
    found = check(ws_root)
    for name in ("a", "b", "c"):
        (d,) = found[f"{name}.yaml"]
        assert d.code == "inheritance-cycle"
        assert all(member in d.message for member in ("a", "b", "c"))
    assert codes(found["d.yaml"]) == ["broken-chain"]


def test_duplicate_agent_from_two_files(ws_root: Path):
    write(ws_root, "agents/dup.yaml", "description: one\n")
    write(ws_root, "agents/dup.md", "---\ndescription: two\n---\nbody\n")
    found = check(ws_root)
    assert codes(found["dup.yaml"]) == ["duplicate-name"]
    assert codes(found["dup.md"]) == ["duplicate-name"]


def test_unreadable_and_non_utf8_files(ws_root: Path):
    (ws_root / ".parac" / "agents" / "dir.yaml").mkdir()
    write(ws_root, "agents/latin.yaml", b"description: caf\xe9\n")
    found = check(ws_root)
    assert codes(found["dir.yaml"]) == ["unreadable"]
    (d,) = found["latin.yaml"]
    assert d.code == "encoding" and (d.line, d.column) == (1, 17)


def test_unknown_tool_skill_and_provider(ws_root: Path):
    write(ws_root, "agents/a.yaml", "tools: [nope]\nskills: [missing]\nmodel: martian/x-1\n")
    found = check(ws_root)["a.yaml"]
    assert set(codes(found)) == {"unknown-tool", "unknown-skill", "unknown-provider"}
    tool = next(d for d in found if d.code == "unknown-tool")
    assert tool.line == 1 and tool.column == 9


def test_claude_code_subagent_file_loads_as_is(ws_root: Path):
    write(
        ws_root,
        "agents/code-reviewer.md",
        "---\nname: code-reviewer\ndescription: Expert code reviewer.\ntools: \nmodel: inherit\ncolor: blue\n---\n\nYou are a senior code reviewer.\n",
    )
    workspace = Workspace(ws_root)
    assert workspace.validate() == []
    resolved = workspace.resolve_agent("code-reviewer")
    assert resolved.fields["system_prompt"] == "You are a senior code reviewer."
    assert resolved.fields["model"] == "echo"


def test_claude_code_tools_string_maps_to_parac_tools(ws_root: Path):
    write(ws_root, "agents/r.md", "---\nname: r\ndescription: d\ntools: Read, Grep, Edit, MultiEdit, custom\nmodel: sonnet\n---\nbody\n")
    spec = Workspace(ws_root).agents["r"].spec
    assert spec.tools == ["file_read", "file_search", "file_edit", "custom"]
    assert spec.model == "anthropic/claude-sonnet-4-5"


def test_workflow_structure_errors(ws_root: Path):
    write(
        ws_root,
        "workflows/w.yaml",
        """inputs: {topic: {type: string}}
steps:
  - id: a
    agent: base
    task: "{{ inputs.topik }} {{ steps.c.output }}"
    depends_on: [c]
  - id: b
    agent: nobody
    depends_on: [zzz]
  - id: c
    agent: base
    depends_on: [a]
  - id: a
    agent: base
  - id: d
    agent: base
    task: "{{ steps.b.output }}"
""",
    )
    found = check(ws_root)["w.yaml"]
    got = {(d.code, d.line) for d in found}
    assert ("duplicate-step", 13) in got
    assert ("unknown-step", 9) in got
    assert ("unknown-agent", 8) in got
    assert ("dependency-cycle", 6) in got and ("dependency-cycle", 12) in got
    assert ("unknown-input", 5) in got
    assert ("not-a-dependency", 17) in got


def test_workflow_of_wrong_shape_and_unknown_step_key(ws_root: Path):
    write(ws_root, "workflows/w.yaml", "steps:\n  - id: a\n    agnet: base\n")
    (d,) = check(ws_root)["w.yaml"]
    assert d.message == 'unknown key "agnet" (did you mean "agent"?)' and d.line == 3


def test_skill_name_must_match_folder_and_front_matter_required(ws_root: Path):
    write(ws_root, "skills/tidy/SKILL.md", "---\nname: tidy-up\ndescription: Tidy.\n---\nDo it.\n")
    write(ws_root, "skills/bare/SKILL.md", "no front matter\n")
    found = check(ws_root)
    assert sorted(codes(found["SKILL.md"])) == ["missing-key", "missing-key", "name-mismatch"]


def test_duplicate_yaml_keys_are_reported(ws_root: Path):
    write(ws_root, "agents/a.yaml", "description: one\ndescription: two\n")
    (d,) = check(ws_root)["a.yaml"]
    assert d.code == "duplicate-key" and d.line == 2


def test_unclosed_front_matter(ws_root: Path):
    write(ws_root, "agents/m.md", "---\ndescription: x\n")
    (d,) = check(ws_root)["m.md"]
    assert d.code == "syntax" and "not closed" in d.message


def test_overlay_revalidates_dependents(ws_root: Path):
    write(ws_root, "agents/child.yaml", "parent: base\n")
    write(ws_root, "workflows/w.yaml", "steps:\n  - id: s\n    agent: base\n")
    workspace = Host(entry_points=False).open_workspace(ws_root)
    assert workspace.validate() == []
    base = ws_root / ".parac" / "agents" / "base.yaml"
    affected = workspace.set_overlay(base, "parent: child\n")
    names = {p.name for p in affected}
    assert {"base.yaml", "child.yaml", "w.yaml"} <= names
    assert codes(workspace.diagnostics_for(ws_root / ".parac" / "agents" / "child.yaml")) == ["inheritance-cycle"]
    workspace.set_overlay(base, None)
    assert workspace.validate() == []


# -- one pass: `parac validate` run as a user would, every problem of a file at once ----------------------------------


def validate_json(parac, root: Path) -> dict[str, set[tuple]]:
    """`parac validate --json` in ``root``: file name -> {(code, line, column)}."""
    result = parac("validate", "--json", cwd=root)
    assert result.code == 1, result
    out: dict[str, set[tuple]] = {}
    for d in result.json():
        out.setdefault(Path(d["file"]).name, set()).add((d["code"], d["line"], d["column"]))
    return out, {Path(d["file"]).name + ":" + d["code"]: d["message"] for d in result.json()}


def test_a_type_error_does_not_hide_unknown_tools_and_skills(ws_root: Path, parac):
    write(ws_root, "agents/hot.yaml", "temperature: hot\ntools: [file_reed]\nskills: [revew]\nmodel: ''\n")
    found, messages = validate_json(parac, ws_root)
    assert found["hot.yaml"] == {("type", 1, 14), ("unknown-tool", 2, 9), ("unknown-skill", 3, 10), ("type", 4, 8)}
    assert 'did you mean "file_read"' in messages["hot.yaml:unknown-tool"]


def test_a_bad_item_does_not_hide_the_other_items_of_its_list(ws_root: Path, parac):
    write(ws_root, "agents/mixed.yaml", 'tools: [file_reed, "a: b", file_raed]\nskills: [revew, {x: 1}, revieew]\n')
    found, messages = validate_json(parac, ws_root)
    assert found["mixed.yaml"] == {
        ("unknown-tool", 1, 9), ("type", 1, 20), ("unknown-tool", 1, 28),
        ("unknown-skill", 2, 10), ("type", 2, 17), ("unknown-skill", 2, 25),
    }
    assert 'did you mean "file_read"' in messages["mixed.yaml:unknown-tool"]


def test_empty_model_is_refused_where_a_model_is_required(ws_root: Path, parac):
    write(ws_root, "agents/blank.yaml", 'model: ""\n')
    write(ws_root, "workflows/w.yaml", "steps:\n  - id: a\n    agent: base\n    model: ''\n")
    (ws_root / ".parac/parac.yaml").write_text("default_model: ''\n")
    found, messages = validate_json(parac, ws_root)
    assert found["blank.yaml"] == {("type", 1, 8)}
    assert found["w.yaml"] == {("type", 4, 12)}
    assert found["parac.yaml"] == {("type", 1, 16)}
    assert "empty string" in messages["blank.yaml:type"]


def test_pattern_errors_show_the_value_and_name_an_indentation_mistake(ws_root: Path, parac):
    write(ws_root, "agents/quoted.yaml", 'tools: [file_read, "file_write: x"]\n')
    write(ws_root, "agents/indent.yaml", "tools:\n  - file_read\n  - name: x\n    description: y\n")
    found, messages = validate_json(parac, ws_root)
    assert found["quoted.yaml"] == {("type", 1, 20)}
    assert "'file_write: x'" in messages["quoted.yaml:type"] and "mis-indented" in messages["quoted.yaml:type"]
    assert "letters, digits" in messages["quoted.yaml:type"]  # the rule, in words rather than a regex
    assert found["indent.yaml"] == {("type", 3, 5)}
    assert "mis-indented" in messages["indent.yaml:type"]


def test_template_references_are_checked_at_their_column(ws_root: Path, parac):
    write(
        ws_root,
        "workflows/w.yaml",
        """inputs: {topic: {type: string}}
steps:
  - id: a
    agent: base
    task: "About {{ inputs.topik }}"
  - id: b
    agent: base
    depends_on: [a]
    task: "Use {{ steps.a.outptu }} and {{ steps.a.status }}"
  - id: c
    agent: base
    when: "steps.b.eror"
    depends_on: [b]
outputs:
  result: "{{ steps.b.output }} {{ steps.zz.output }}"
""",
    )
    found, messages = validate_json(parac, ws_root)
    assert found["w.yaml"] == {
        ("unknown-input", 5, 28),  # on the word to change: "topik", "outptu", "eror", "zz"
        ("unknown-attribute", 9, 27),
        ("unknown-attribute", 12, 20),
        ("unknown-step", 15, 42),
    }
    assert 'did you mean "error"' in messages["w.yaml:unknown-attribute"]  # the last one, in `when:`
    assert 'did you mean "topic"' in messages["w.yaml:unknown-input"]


def test_a_duplicate_step_id_is_reported_once_without_a_spurious_dependency_error(ws_root: Path, parac):
    write(
        ws_root,
        "workflows/w.yaml",
        """steps:
  - id: a
    agent: base
  - id: b
    agent: base
  - id: b
    agent: base
    depends_on: [a]
    task: "{{ steps.a.output }}"
""",
    )
    found, _ = validate_json(parac, ws_root)
    assert found["w.yaml"] == {("duplicate-step", 6, 9)}


def test_method_calls_on_steps_are_not_steps_and_get_reads_the_step_it_names(ws_root: Path, parac):
    """``steps.get('a')`` reads step a (a dependency, checked like ``steps.a``); ``steps.items()`` reads no step
    called items. An unknown step read through ``get`` is placed on its name."""
    from parac.core.specs import WorkflowSpec
    from parac.core.workflows.graph import reference_problems

    text = """steps:
  - id: a
    agent: base
  - id: b
    agent: base
    depends_on: [a]
    task: "{{ steps.get('a').output }} of {{ steps.items() | list | length }}"
  - id: c
    agent: base
    task: "{{ steps.get('zz').output }}"
"""
    write(ws_root, "workflows/w.yaml", text)
    found, messages = validate_json(parac, ws_root)
    assert found["w.yaml"] == {("unknown-step", 10, 26)}, found  # on "zz", nothing on "get" or "items"
    assert 'unknown step "zz"' in messages["w.yaml:unknown-step"]
    import yaml

    spec = WorkflowSpec.model_validate(yaml.safe_load(text))
    assert reference_problems(spec.steps[:2]) == []  # b reads a through get, and depends on it
    spec.steps[1].depends_on = []
    assert reference_problems(spec.steps[:2]) == [
        ("b", "task", "the template reads step 'a', which is not a dependency of 'b' (add it to depends_on)")]
