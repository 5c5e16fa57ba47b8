"""MCP tools over the workspace: agents (resolved, with provenance), skills, workflows, and validation.

Read-only and quick: each answers from the workspace kept in memory (refreshed when files change on disk).
"""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict

from parac.core.diagnostics import ParacError, suggestion
from parac.core.workspace import Workspace
from parac.server.mcp.call import Call
from parac.server.mcp.faces import FaceError, Faces
from parac.server.mcp.listings import Cursor, Limit


class AgentRow(TypedDict):
    name: str
    origin: str | None
    parent: str | None
    model: str | None
    description: str | None
    error: str | None


class AgentList(TypedDict):
    agents: list[AgentRow]
    next_cursor: str | None


class AgentDetail(TypedDict):
    name: str
    origin: str | None
    path: str | None
    chain: list[str]
    fields: dict[str, Any]
    provenance: dict[str, str]
    item_provenance: dict[str, dict[str, str]]


class DiagnosticRow(TypedDict):
    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    severity: str
    code: str
    message: str


class Validation(TypedDict):
    ok: bool
    files: int
    errors: int
    warnings: int
    diagnostics: list[DiagnosticRow]


class NamedRow(TypedDict):
    name: str
    description: str | None
    origin: str
    path: str | None


class WorkflowList(TypedDict):
    workflows: list[NamedRow]
    next_cursor: str | None


class SkillList(TypedDict):
    skills: list[NamedRow]
    next_cursor: str | None


class WorkflowDetail(TypedDict):
    name: str
    origin: str
    path: str | None
    spec: dict[str, Any] | None
    problems: list[DiagnosticRow]


class SkillDetail(TypedDict):
    name: str
    origin: str
    path: str | None
    front_matter: dict[str, Any]
    instructions: str
    files: list[str]


def require(kind: str, name: str, known: Any) -> None:
    if name not in known:
        raise FaceError(f'unknown {kind} "{name}"{suggestion(name, list(known))}')


def workflow_entries(workspace: Workspace) -> dict[str, tuple[str, Any, Any]]:
    """Every workflow by name: (origin, path, spec); the workspace's own win over plugins' of the same name."""
    out: dict[str, tuple[str, Any, Any]] = {}
    if workspace.catalog is not None:
        out.update((n, (c.origin, c.path, c.value)) for n, c in workspace.catalog.workflows.items())
    out.update((n, (e.origin, e.path, e.spec)) for n, e in workspace.workflows.items())
    return out


def register(faces: Faces) -> None:
    @faces.tool(output=AgentList, title="List agents")
    async def list_agents(call: Call, limit: Limit = None, cursor: Cursor = None) -> AgentList:
        """Every agent of the workspace and of the plugins: name, parent, model, origin and description; a page at
        a time (pass the answer's next_cursor for the next page)."""
        workspace = await call.workspace()
        names = workspace.agent_names()
        span = call.page(names, listing="list_agents", cursor=cursor, limit=limit)
        rows = [AgentRow(**workspace.agent_summary(name)) for name in names[span.start : span.stop]]
        return AgentList(agents=rows, next_cursor=span.next_cursor)

    @faces.tool(output=AgentDetail, title="Show an agent, resolved")
    async def get_agent(call: Call, name: str) -> AgentDetail:
        """One agent resolved through its parent chain: every field, the chain, and which agent gave each field."""
        workspace = await call.workspace()
        if not workspace.has_agent(name):
            require("agent", name, workspace.agent_names())
        resolved = workspace.resolve_agent(name)
        path = workspace.agent_path(name)
        return AgentDetail(
            name=name,
            origin=workspace.agent_origin(name),
            path=str(path) if path else None,
            chain=resolved.chain,
            fields=resolved.fields,
            provenance=resolved.provenance,
            item_provenance=resolved.item_provenance,
        )

    @faces.tool(output=Validation, title="Validate the workspace")
    async def validate_workspace(call: Call) -> Validation:
        """Check every file under .parac/ (the same diagnostics as `parac validate`), with file, line and column."""
        workspace = await call.workspace()
        diagnostics = [DiagnosticRow(**d.to_json()) for d in workspace.validate()]
        errors = sum(d["severity"] == "error" for d in diagnostics)
        return Validation(
            ok=errors == 0,
            files=len(workspace.files),
            errors=errors,
            warnings=len(diagnostics) - errors,
            diagnostics=diagnostics,
        )

    @faces.tool(output=WorkflowList, title="List workflows")
    async def list_workflows(call: Call, limit: Limit = None, cursor: Cursor = None) -> WorkflowList:
        """Every workflow with its description and origin, a page at a time."""
        entries = sorted(workflow_entries(await call.workspace()).items())
        span = call.page([name for name, _ in entries], listing="list_workflows", cursor=cursor, limit=limit)
        rows = [
            NamedRow(name=name, description=spec.description if spec else None, origin=origin, path=str(path) if path else None)
            for name, (origin, path, spec) in entries[span.start : span.stop]
        ]
        return WorkflowList(workflows=rows, next_cursor=span.next_cursor)

    @faces.tool(output=WorkflowDetail, title="Show a workflow")
    async def get_workflow(call: Call, name: str) -> WorkflowDetail:
        """One workflow: its steps, inputs and budget as parsed, and the problems found in its file."""
        workspace = await call.workspace()
        entries = workflow_entries(workspace)
        require("workflow", name, entries)
        origin, path, spec = entries[name]
        problems = [DiagnosticRow(**d.to_json()) for d in workspace.diagnostics_for(path)] if path else []
        return WorkflowDetail(
            name=name,
            origin=origin,
            path=str(path) if path else None,
            spec=spec.model_dump(mode="json", by_alias=True, exclude_none=True) if spec is not None else None,
            problems=problems,
        )

    @faces.tool(output=SkillList, title="List skills")
    async def list_skills(call: Call, limit: Limit = None, cursor: Cursor = None) -> SkillList:
        """Every skill (Agent Skills format) with its description and origin, a page at a time."""
        skills = sorted((await call.workspace()).skills.items())
        span = call.page([name for name, _ in skills], listing="list_skills", cursor=cursor, limit=limit)
        rows = [
            NamedRow(name=name, description=c.value.spec.description, origin=c.origin, path=str(c.path) if c.path else None)
            for name, c in skills[span.start : span.stop]
        ]
        return SkillList(skills=rows, next_cursor=span.next_cursor)

    @faces.tool(output=SkillDetail, title="Show a skill")
    async def get_skill(call: Call, name: str) -> SkillDetail:
        """One skill: its front matter, its instructions (the SKILL.md body) and the files beside it."""
        workspace = await call.workspace()
        skills = workspace.skills
        require("skill", name, skills)
        contribution = skills[name]
        skill = contribution.value
        folder = skill.folder
        files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder else []
        return SkillDetail(
            name=name,
            origin=contribution.origin,
            path=str(skill.path) if skill.path else None,
            front_matter=skill.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
            instructions=skill.instructions,
            files=files,
        )
