"""MCP tools that create agents, skills and workflows from templates: the same as ``parac agents|skills|workflow
new``, checked by the workspace's validation before anything is written (`parac.core.scaffold`)."""

from __future__ import annotations

from typing_extensions import TypedDict

from parac.server.mcp.call import Call
from parac.server.mcp.faces import Faces


class CreatedFile(TypedDict):
    kind: str
    name: str
    path: str
    replaced: bool


def written(created: CreatedFile) -> list[str]:
    """The file a create tool wrote: clients get a link to open it."""
    return [created["path"]]


def register(faces: Faces) -> None:
    # `force` replaces an existing file; the same call again writes the same file (or is refused without force).
    creates = dict(role="operator", read_only=False, destructive=True, idempotent=True, output=CreatedFile, links=written)

    @faces.tool(**creates, title="Create an agent")
    async def create_agent(
        call: Call,
        name: str,
        parent: str | None = None,
        model: str | None = None,
        description: str | None = None,
        tools: list[str] | None = None,
        skills: list[str] | None = None,
        force: bool = False,
    ) -> CreatedFile:
        """Write .parac/agents/NAME.yaml (inheriting from `parent` when given). Nothing is written when the file
        would not validate (the errors say where), or when it exists and `force` is false."""
        from parac.core.scaffold import new_agent

        created = new_agent(await call.workspace(), name, parent=parent, model=model, description=description,
                            tools=tools or (), skills=skills or (), force=force)
        return CreatedFile(**created.to_json())  # type: ignore[typeddict-item]

    @faces.tool(**creates, title="Create a skill")
    async def create_skill(call: Call, name: str, description: str | None = None, force: bool = False) -> CreatedFile:
        """Write .parac/skills/NAME/SKILL.md (Agent Skills format); nothing is written when it would not validate."""
        from parac.core.scaffold import new_skill

        created = new_skill(await call.workspace(), name, description=description, force=force)
        return CreatedFile(**created.to_json())  # type: ignore[typeddict-item]

    @faces.tool(**creates, title="Create a workflow")
    async def create_workflow(
        call: Call,
        name: str,
        kind: str = "dag",
        agent: str | None = None,
        description: str | None = None,
        force: bool = False,
    ) -> CreatedFile:
        """Write .parac/workflows/NAME.yaml from the template of `kind` (dag), its steps run by `agent`; nothing is
        written when it would not validate."""
        from parac.core.scaffold import new_workflow

        created = new_workflow(await call.workspace(), name, kind=kind, agent=agent, description=description,
                               force=force)
        return CreatedFile(**created.to_json())  # type: ignore[typeddict-item]
