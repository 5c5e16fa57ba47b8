"""`parac://` resources: agents (resolved and as written), skills and their files, workflows, policies, plugins,
spec schemas, the team's memory notes and the decision records.

Paths taken from a URI are confined to their folder: a `..`, an absolute path or a symlink that leads out is
refused, never followed.
"""

from __future__ import annotations

import json
from pathlib import Path

from parac.core.diagnostics import suggestion
from parac.core.specs import SPEC_MODELS, json_schema
from parac.core.workspace import Workspace
from parac.server.mcp.call import Call
from parac.server.mcp.faces import FaceError, Faces, ResourceFace

TEXT_SUFFIXES = {".md": "text/markdown", ".yaml": "application/yaml", ".yml": "application/yaml", ".json": "application/json"}


def confined(folder: Path, relative: str) -> Path:
    """`folder / relative`, refusing anything that resolves outside `folder` (`..`, absolute, symlinks out)."""
    if not relative or relative.startswith(("/", "\\")) or Path(relative).is_absolute():
        raise FaceError(f'"{relative}" is not a relative path inside {folder.name}/')
    base = folder.resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base):
        raise FaceError(f'"{relative}" leads outside {folder.name}/')
    if not target.is_file():
        raise FaceError(f'no file "{relative}" in {folder.name}/')
    return target


def read_file(path: Path) -> str | bytes:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def as_json(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def known(kind: str, name: str, names: list[str]) -> None:
    if name not in names:
        raise FaceError(f'unknown {kind} "{name}"{suggestion(name, names)}')


def memory_files(workspace: Workspace) -> list[str]:
    folder = workspace.dir / "memory"
    if not folder.is_dir():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.md") if p.is_file())


async def agent_names(call: Call, typed: str) -> list[str]:
    return (await call.workspace()).agent_names()


async def skill_names(call: Call, typed: str) -> list[str]:
    return sorted((await call.workspace()).skills)


async def workflow_names(call: Call, typed: str) -> list[str]:
    workspace = await call.workspace()
    catalog = set(workspace.catalog.workflows) if workspace.catalog else set()
    return sorted(set(workspace.workflows) | catalog)


async def schema_kinds(call: Call, typed: str) -> list[str]:
    return sorted(SPEC_MODELS)


async def memory_paths(call: Call, typed: str) -> list[str]:
    return memory_files(await call.workspace())


def register(faces: Faces) -> None:
    @faces.template(
        "parac://agents/{name}/source",
        name="agent-source", title="Agent source",
        description="An agent's file as written (YAML or Markdown with front matter)",
        complete={"name": agent_names},
    )
    async def agent_source(call: Call, name: str) -> str | bytes:
        workspace = await call.workspace()
        known("agent", name, workspace.agent_names())
        path = workspace.agent_path(name)
        if path is None:
            return as_json(workspace.resolve_agent(name).to_json())  # registered by a plugin as a value, no file
        return read_file(path)

    @faces.template(
        "parac://agents/{name}",
        name="agent", title="Agent (resolved)",
        description="An agent resolved through its parents, with the chain and each field's provenance",
        mime_type="application/json",
        complete={"name": agent_names},
    )
    async def agent(call: Call, name: str) -> str:
        workspace = await call.workspace()
        known("agent", name, workspace.agent_names())
        return as_json({**workspace.resolve_agent(name).to_json(), "origin": workspace.agent_origin(name)})

    @faces.template(
        "parac://skills/{name}/{+file}",
        name="skill-file", title="Skill file",
        description="A file beside a skill's SKILL.md (scripts, references, templates)",
        complete={"name": skill_names},
    )
    async def skill_file(call: Call, name: str, file: str) -> str | bytes:
        skills = (await call.workspace()).skills
        known("skill", name, sorted(skills))
        folder = skills[name].value.folder
        if folder is None:
            raise FaceError(f'skill "{name}" has no folder')
        return read_file(confined(folder, file))

    @faces.template(
        "parac://skills/{name}",
        name="skill", title="Skill",
        description="A skill's SKILL.md: front matter and instructions",
        mime_type="text/markdown",
        complete={"name": skill_names},
    )
    async def skill(call: Call, name: str) -> str | bytes:
        skills = (await call.workspace()).skills
        known("skill", name, sorted(skills))
        found = skills[name].value
        return read_file(found.path) if found.path else found.instructions

    @faces.template(
        "parac://workflows/{name}",
        name="workflow", title="Workflow",
        description="A workflow's file as written",
        mime_type="application/yaml",
        complete={"name": workflow_names},
    )
    async def workflow(call: Call, name: str) -> str | bytes:
        workspace = await call.workspace()
        known("workflow", name, await workflow_names(call, ""))
        entry = workspace.workflows.get(name)
        if entry is not None and entry.path is not None:
            return read_file(entry.path)
        assert workspace.catalog is not None
        return as_json(workspace.catalog.workflows[name].value.model_dump(mode="json", by_alias=True, exclude_none=True))

    @faces.template(
        "parac://schemas/{kind}",
        name="schema", title="JSON Schema",
        description="The JSON Schema of a spec kind (agent, skill, workflow, policy, project)",
        mime_type="application/schema+json",
        complete={"kind": schema_kinds},
    )
    async def schema(call: Call, kind: str) -> str:
        known("schema kind", kind, sorted(SPEC_MODELS))
        return as_json(json_schema(kind))

    @faces.template(
        "parac://memory/{+path}",
        name="memory", title="Agent memory",
        description="The team's Markdown notes under .parac/memory/ (context, logs, knowledge)",
        mime_type="text/markdown",
        complete={"path": memory_paths},
    )
    async def memory(call: Call, path: str) -> str | bytes:
        return read_file(confined((await call.workspace()).dir / "memory", path))

    @faces.resource("parac://policies", name="policies", title="Policies", description="Every policy file, parsed", mime_type="application/json")
    async def policies(call: Call) -> str:
        workspace = await call.workspace()
        return as_json(
            [
                {
                    "path": str(entry.path),
                    "policy": entry.spec.model_dump(mode="json", by_alias=True, exclude_none=True) if entry.spec else None,
                    "problems": [d.to_json() for d in entry.problems],
                }
                for entry in workspace.policies
            ]
        )

    @faces.resource(
        "parac://plugins", name="plugins", title="Plugins", description="Loaded plugins and what each registered", mime_type="application/json"
    )
    async def plugins(call: Call) -> str:
        host = await call.host()
        return as_json([info.to_json() for info in sorted(host.infos.values(), key=lambda i: i.name)])

    @faces.resource(
        "parac://roadmap/decisions",
        name="decisions", title="Decision log",
        description="Architecture decision records (.parac/roadmap/decisions.md)",
        mime_type="text/markdown",
    )
    async def decisions(call: Call) -> str | bytes:
        path = (await call.workspace()).dir / "roadmap" / "decisions.md"
        if not path.is_file():
            raise FaceError("no .parac/roadmap/decisions.md in this workspace")
        return read_file(path)

    async def listed(call: Call) -> list[ResourceFace]:
        """One concrete resource per agent, skill, workflow, schema and memory note (clients browse lists)."""
        workspace = await call.workspace()
        out: list[ResourceFace] = []

        def add(uri: str, name: str, description: str | None, mime: str, read: object) -> None:
            title = name[0].upper() + name[1:]
            out.append(ResourceFace(uri=uri, name=name, read=read, description=description, mime_type=mime, title=title))  # type: ignore[arg-type]

        for name in workspace.agent_names():
            add(f"parac://agents/{name}", f"agent {name}", "resolved", "application/json", lambda c, n=name: agent(c, n))
            add(f"parac://agents/{name}/source", f"agent {name} (source)", None, "text/plain", lambda c, n=name: agent_source(c, n))
        for name, contribution in sorted(workspace.skills.items()):
            add(f"parac://skills/{name}", f"skill {name}", contribution.value.spec.description, "text/markdown", lambda c, n=name: skill(c, n))
        for name in await workflow_names(call, ""):
            add(f"parac://workflows/{name}", f"workflow {name}", None, "application/yaml", lambda c, n=name: workflow(c, n))
        for kind in sorted(SPEC_MODELS):
            add(f"parac://schemas/{kind}", f"schema {kind}", None, "application/schema+json", lambda c, k=kind: schema(c, k))
        for path in memory_files(workspace):
            add(f"parac://memory/{path}", f"memory {path}", None, "text/markdown", lambda c, p=path: memory(c, p))
        return out

    faces.resources_from(listed)
