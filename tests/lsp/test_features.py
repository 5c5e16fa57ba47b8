"""Completion, hover, definition, references, rename, symbols and code actions, against `parac lsp` as an editor
drives it (VS Code's and Neovim's capabilities in turn)."""

from __future__ import annotations

from pathlib import Path

from lsp_support import PLUGIN_SITE, open_file, replace_all, uri, wait_for
from lsprotocol import types
from pytest_lsp import LanguageClient


def at(path: Path, line: int, character: int) -> dict:
    return {"text_document": types.TextDocumentIdentifier(uri=uri(path)), "position": types.Position(line=line, character=character)}


async def labels(client: LanguageClient, path: Path, line: int, character: int) -> list[str]:
    result = await client.text_document_completion_async(types.CompletionParams(**at(path, line, character)))
    items = result.items if isinstance(result, types.CompletionList) else (result or [])
    return [item.label for item in items]


# -- completion ----------------------------------------------------------------------------------------------------


async def test_completion_of_keys_at_every_level(client: LanguageClient, workspace: Path):
    agent = workspace / ".parac/agents/new.yaml"
    text = "description: x\n\nbudget:\n  per_run_usd: 1\n  \n"
    open_file(client, agent, text)
    top = await labels(client, agent, 1, 0)
    assert {"parent", "model", "tools", "skills", "temperature"} <= set(top)
    assert "description" not in top and "budget" not in top  # already there
    nested = await labels(client, agent, 4, 2)
    assert {"daily_usd", "monthly_usd"} <= set(nested) and "per_run_usd" not in nested and "parent" not in nested


async def test_completion_in_markdown_front_matter(client: LanguageClient, workspace: Path):
    reviewer = workspace / ".parac/agents/reviewer.md"
    open_file(client, reviewer, "---\nparent: \n\n---\nYou review code.\n")
    assert "coder" in await labels(client, reviewer, 1, 8)
    keys = await labels(client, reviewer, 2, 0)
    assert "model" in keys and "parent" not in keys
    assert await labels(client, reviewer, 4, 3) == []  # the body is prose


async def test_completion_of_names_and_values(client: LanguageClient, workspace: Path):
    agent = workspace / ".parac/agents/new.yaml"
    open_file(client, agent, "parent: \ntools: [lsp_probe, ]\nskills:\n  - \nmodel: \n")
    parents = await labels(client, agent, 0, 8)
    assert {"base", "coder", "reviewer", "plugin-base"} <= set(parents) and "new" not in parents
    assert "lsp_probe" in await labels(client, agent, 1, 19)  # the plugin's tool
    assert "review" in await labels(client, agent, 3, 4)
    assert {"echo", "fixed:", "random", "scripted:"} <= set(await labels(client, agent, 4, 7))


async def test_completion_in_workflows(client: LanguageClient, workspace: Path):
    workflow = workspace / ".parac/workflows/feature.yaml"
    text = workflow.read_text() + "  - id: ship\n    agent: \n    depends_on: [des]\n    retry: {backoff: }\n    \n"
    open_file(client, workflow, text)
    lines = text.splitlines()
    row = lines.index("    agent: ")
    assert {"coder", "reviewer", "base"} <= set(await labels(client, workflow, row, 11))
    assert {"design", "reviewer"} <= set(await labels(client, workflow, row + 1, 19))
    assert await labels(client, workflow, row + 2, 21) == ["exponential", "fixed", "none"]
    step_keys = await labels(client, workflow, row + 3, 4)
    assert {"task", "when", "timeout_s"} <= set(step_keys) and "agent" not in step_keys and "id" not in step_keys


async def test_completion_while_the_file_does_not_parse(client: LanguageClient, workspace: Path):
    agent = workspace / ".parac/agents/new.yaml"
    text = "tools: [lsp_probe\nbudget:\n  da\nparent: co"
    open_file(client, agent, text)
    await wait_for(lambda: any(d.code == "syntax" for d in client.diagnostics.get(uri(agent), [])), what="syntax error")
    assert "daily_usd" in await labels(client, agent, 2, 4)
    assert "coder" in await labels(client, agent, 3, 10)


# -- hover ---------------------------------------------------------------------------------------------------------


async def test_hover_shows_docs_and_resolved_value_with_its_source(client: LanguageClient, workspace: Path):
    coder = workspace / ".parac/agents/coder.yaml"
    open_file(client, coder, "parent: base\ntools: []\n")
    hover = await client.text_document_hover_async(types.HoverParams(**at(coder, 1, 2)))
    text = hover.contents.value
    assert "Tools the agent may call" in text
    assert '["lsp_probe"]' in text and "from **base**" in text
    on_parent = await client.text_document_hover_async(types.HoverParams(**at(coder, 0, 10)))
    assert "agent base" in on_parent.contents.value and "The root of every agent here" in on_parent.contents.value


async def test_hover_keeps_working_while_broken(client: LanguageClient, workspace: Path):
    coder = workspace / ".parac/agents/coder.yaml"
    open_file(client, coder, "parent: base\nmodel: echo\n")
    await wait_for(lambda: uri(coder) in client.diagnostics, what="first check")
    replace_all(client, coder, "parent: base\nmodel: echo\ntools: [\n", 2)
    await wait_for(lambda: any(d.code == "syntax" for d in client.diagnostics.get(uri(coder), [])), what="syntax error")
    hover = await client.text_document_hover_async(types.HoverParams(**at(coder, 1, 1)))
    assert "`\"echo\"`" in hover.contents.value and "as last valid" in hover.contents.value


# -- definition and references -------------------------------------------------------------------------------------


async def test_definition(client: LanguageClient, workspace: Path):
    coder = workspace / ".parac/agents/coder.yaml"
    workflow = workspace / ".parac/workflows/feature.yaml"
    open_file(client, coder)
    open_file(client, workflow)

    async def goto(path: Path, line: int, character: int) -> list[types.Location]:
        return await client.text_document_definition_async(types.DefinitionParams(**at(path, line, character)))

    assert [loc.uri for loc in await goto(coder, 0, 9)] == [uri(workspace / ".parac/agents/base.yaml")]
    assert [loc.uri for loc in await goto(coder, 3, 10)] == [uri(workspace / ".parac/skills/review/SKILL.md")]
    assert [loc.uri for loc in await goto(workflow, 4, 12)] == [uri(workspace / ".parac/agents/coder.yaml")]
    implicit = await goto(workflow, 6, 11)  # "- id: reviewer" runs the agent reviewer
    assert [loc.uri for loc in implicit] == [uri(workspace / ".parac/agents/reviewer.md")]
    depends = await goto(workflow, 7, 20)
    assert depends[0].uri == uri(workflow) and depends[0].range.start.line == 3
    base = workspace / ".parac/agents/base.yaml"
    open_file(client, base)
    tool = await goto(base, 3, 10)
    assert tool[0].uri == uri(PLUGIN_SITE / "lsp_probe_plugin.py") and tool[0].range.start.line == 5
    inherited = await goto(coder, 1, 3)  # "description" is coder's own
    assert inherited[0].uri == uri(coder)


async def test_references_to_an_agent(client: LanguageClient, workspace: Path):
    base = workspace / ".parac/agents/base.yaml"
    coder = workspace / ".parac/agents/coder.yaml"
    open_file(client, base)
    refs = await client.text_document_references_async(
        types.ReferenceParams(**at(base, 0, 0), context=types.ReferenceContext(include_declaration=False))
    )
    assert sorted(r.uri for r in refs) == sorted([uri(coder), uri(workspace / ".parac/agents/reviewer.md")])
    open_file(client, coder)
    refs = await client.text_document_references_async(
        types.ReferenceParams(**at(coder, 2, 0), context=types.ReferenceContext(include_declaration=True))
    )
    where = {(r.uri, r.range.start.line) for r in refs}
    assert where == {
        (uri(coder), 0),
        (uri(workspace / ".parac/workflows/feature.yaml"), 4),
        (uri(workspace / ".parac/policies/default.yaml"), 2),
    }


# -- rename ----------------------------------------------------------------------------------------------------------


async def test_rename_an_agent_across_the_workspace(client: LanguageClient, workspace: Path):
    base = workspace / ".parac/agents/base.yaml"
    coder = workspace / ".parac/agents/coder.yaml"
    open_file(client, coder)
    prepared = await client.text_document_prepare_rename_async(types.PrepareRenameParams(**at(coder, 0, 9)))
    assert prepared.placeholder == "base"
    edit = await client.text_document_rename_async(types.RenameParams(**at(coder, 0, 9), new_name="foundation"))
    changes = edit.document_changes
    renames = [c for c in changes if isinstance(c, types.RenameFile)]
    assert [(r.old_uri, r.new_uri) for r in renames] == [(uri(base), uri(base.with_name("foundation.yaml")))]
    texts = {c.text_document.uri: [e.new_text for e in c.edits] for c in changes if isinstance(c, types.TextDocumentEdit)}
    assert texts == {uri(coder): ["foundation"], uri(workspace / ".parac/agents/reviewer.md"): ["foundation"]}


async def test_rename_keeps_step_ids_and_adds_the_agent(client: LanguageClient, workspace: Path):
    reviewer = workspace / ".parac/agents/reviewer.md"
    workflow = workspace / ".parac/workflows/feature.yaml"
    open_file(client, workflow)
    edit = await client.text_document_rename_async(types.RenameParams(**at(workflow, 6, 11), new_name="critic"))
    texts = {c.text_document.uri: c.edits for c in edit.document_changes if isinstance(c, types.TextDocumentEdit)}
    [added] = texts[uri(workflow)]
    assert added.new_text == "    agent: critic\n" and added.range.start == types.Position(line=7, character=0)
    assert [(c.old_uri, c.new_uri) for c in edit.document_changes if isinstance(c, types.RenameFile)] == [
        (uri(reviewer), uri(reviewer.with_name("critic.md")))
    ]


async def test_rename_refuses_a_taken_name(client: LanguageClient, workspace: Path):
    coder = workspace / ".parac/agents/coder.yaml"
    open_file(client, coder)
    try:
        await client.text_document_rename_async(types.RenameParams(**at(coder, 0, 9), new_name="reviewer"))
    except Exception as exc:  # the server answers with an error response
        assert "already exists" in str(exc)
    else:
        raise AssertionError("renaming onto an existing agent was accepted")


# -- symbols ---------------------------------------------------------------------------------------------------------


async def test_document_and_workspace_symbols(client: LanguageClient, workspace: Path):
    workflow = workspace / ".parac/workflows/feature.yaml"
    open_file(client, workflow)
    symbols = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=types.TextDocumentIdentifier(uri=uri(workflow)))
    )
    names = [s.name for s in symbols]
    assert names == ["description", "inputs", "steps"]
    steps = symbols[2]
    assert [s.name for s in steps.children] == ["design", "reviewer"]
    assert [c.name for c in steps.children[1].children] == ["id", "depends_on", "task"]
    found = await client.workspace_symbol_async(types.WorkspaceSymbolParams(query="rev"))
    assert {(s.name, s.container_name) for s in found} == {("reviewer", "agent"), ("review", "skill"), ("reviewer", "feature")}


# -- code actions ----------------------------------------------------------------------------------------------------


async def actions(client: LanguageClient, path: Path, line: int) -> list[types.CodeAction]:
    rng = types.Range(start=types.Position(line=line, character=0), end=types.Position(line=line, character=1))
    return await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri(path)), range=rng, context=types.CodeActionContext(diagnostics=[])
        )
    )


async def test_code_actions_fix_misspellings(client: LanguageClient, workspace: Path):
    agent = workspace / ".parac/agents/new.yaml"
    open_file(client, agent, "descrption: x\n")
    [fix] = await actions(client, agent, 0)
    assert fix.title == 'Change "descrption" to "description"'
    [edit] = fix.edit.changes[uri(agent)]
    assert edit.new_text == "description" and edit.range.end == types.Position(line=0, character=10)
    replace_all(client, agent, "parent: basse\n", 2)
    await wait_for(lambda: any(d.code == "unknown-parent" for d in client.diagnostics.get(uri(agent), [])), what="diagnostic")
    titles = [a.title for a in await actions(client, agent, 0)]
    assert titles == ['Change "basse" to "base"', 'Create the parent agent "basse"']


async def test_code_action_adds_a_missing_required_key(client: LanguageClient, workspace: Path):
    skill = workspace / ".parac/skills/review/SKILL.md"
    open_file(client, skill, "---\nname: review\n---\nbody\n")
    await wait_for(lambda: any(d.code == "missing-key" for d in client.diagnostics.get(uri(skill), [])), what="diagnostic")
    [fix] = await actions(client, skill, 1)
    [edit] = fix.edit.changes[uri(skill)]
    assert edit.range.start == types.Position(line=1, character=0) and edit.new_text == 'description: ""\n'


async def test_code_action_creates_the_missing_parent(client: LanguageClient, workspace: Path):
    agent = workspace / ".parac/agents/new.yaml"
    open_file(client, agent, "parent: mentor\n")
    await wait_for(lambda: any(d.code == "unknown-parent" for d in client.diagnostics.get(uri(agent), [])), what="diagnostic")
    [create] = [a for a in await actions(client, agent, 0) if a.title.startswith("Create")]
    new_file, content = create.edit.document_changes
    assert new_file.uri == uri(workspace / ".parac/agents/mentor.yaml")
    assert content.edits[0].new_text.startswith("description: mentor\n")
