"""Tool profiles: which of parac's MCP tools one server offers.

Chat clients cap the tools they take (Cursor at 80, Copilot at 128, some far fewer) and every tool's schema costs
the client's model context, so a server can be asked to offer a named subset: `mcp: {profile: NAME}` in
`parac.yaml`, or `parac mcp serve --profile NAME` (which wins). A profile selects tools by name or glob, by the
plugin that registered them, or by the external MCP server they come from; the project may define its own under
`mcp.profiles` (a name of a built-in one replaces it).

A profile narrows `tools/list` and `tools/call` only: resources and prompts are read-only views that cost a
client nothing until it asks for them, so every profile keeps them all.

A profile that is wrong (unknown name, a tool or plugin that does not exist) stops `parac mcp serve` at start with
the place in `parac.yaml`; one that goes wrong while serving (the file edited) is logged and the last good profile
stays (a typo must not take a client's tools away mid-session).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from parac.core.diagnostics import suggestion
from parac.core.errors import ParacBaseError

if TYPE_CHECKING:
    from parac.core.specs import McpSettings

    from .faces import ToolFace

DEFAULT = "all"

# `minimal`: what a chat client needs to work on code with parac beside it. Reading and changing files (read,
# search, glob, edit, write) and seeing what changed (git status and diff) cover the editing loop; running an
# agent or a workflow and following it (list_agents, run_agent, run_workflow, workflow_status) is what parac adds.
# Shell, HTTP, git writes and governance are left out: a chat client does those through its own tools or a person.
MINIMAL = (
    "file_read", "file_search", "file_glob", "file_edit", "file_write",
    "git_status", "git_diff",
    "list_agents", "run_agent", "run_workflow", "workflow_status", "validate_workspace",
)  # fmt: skip
# `authoring`: writing parac's own specs (agents, skills, workflows) and the files beside them, checking them.
AUTHORING = (
    "file_*", "code_*", "diagram_*", "git_status", "git_diff", "git_log", "git_show",
    "list_*", "get_*", "create_*", "validate_workspace", "plan_workflow", "policy_check",
)  # fmt: skip
# `operations`: running work and governing it: runs, gates, audit, costs, budgets, and the shell and git to act.
OPERATIONS = (
    "run_*", "workflow_status", "approve_step", "reject_step", "answer_task", "workflow_tasks", "audit_verify",
    "policy_check", "cost_report",
    "budget_status", "list_*", "get_*", "git_*", "shell_run", "file_read", "file_search", "file_list",
)  # fmt: skip


class ProfileError(ParacBaseError, ValueError):
    """A profile that cannot be served; `loc` is where in `parac.yaml` the mistake stands. Public: it names tools
    and profiles, never a secret."""

    public = True

    def __init__(self, message: str, loc: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.loc = loc


@dataclass(frozen=True)
class Profile:
    name: str
    tools: tuple[str, ...] = ()
    plugins: tuple[str, ...] = ()
    servers: tuple[str, ...] = ()

    def admits(self, face: ToolFace) -> bool:
        origin = face.origin or ""
        return (
            any(fnmatch.fnmatchcase(face.name, pattern) for pattern in self.tools)
            or origin in self.plugins
            or (origin.startswith("mcp:") and origin[4:] in self.servers)
        )


BUILT_IN = {
    "all": Profile("all", tools=("*",)),
    "minimal": Profile("minimal", tools=MINIMAL),
    "authoring": Profile("authoring", tools=AUTHORING),
    "operations": Profile("operations", tools=OPERATIONS),
}


def resolve(settings: McpSettings, override: str | None = None) -> Profile:
    """The profile to serve: `override` (`--profile`) or `settings.profile`, the project's own before built-ins."""
    name = override or settings.profile
    if name in settings.profiles:
        own = settings.profiles[name]
        return Profile(name, tuple(own.tools), tuple(own.plugins), tuple(own.servers))
    if name in BUILT_IN:
        return BUILT_IN[name]
    known = sorted({*BUILT_IN, *settings.profiles})
    where = "--profile" if override else "mcp.profile"
    message = f'{where}: no profile "{name}"{suggestion(name, known)}; known: {", ".join(known)}'
    raise ProfileError(message, ("mcp", "profile"))


def check(profile: Profile, tools: Iterable[ToolFace], plugins: Iterable[str], servers: Iterable[str]) -> None:
    """Refuse a project's profile that names a tool (not a glob), plugin or server that does not exist: a typo
    would otherwise just hide a tool."""
    names = {face.name for face in tools}
    base: tuple[str | int, ...] = ("mcp", "profiles", profile.name)
    lists = (("tool", profile.tools, names), ("plugin", profile.plugins, set(plugins)), ("server", profile.servers, set(servers)))
    for kind, wanted, known in lists:
        for index, item in enumerate(wanted):
            if kind == "tool" and any(char in item for char in "*?["):
                continue
            if item not in known:
                hint = suggestion(item, known)
                raise ProfileError(f'profile "{profile.name}": no {kind} "{item}"{hint}', (*base, f"{kind}s", index))


def positioned(error: ProfileError, settings_file: Path) -> str:
    """The error as FILE:LINE:COL: MESSAGE, placed in `parac.yaml` (at the top when it cannot be placed there)."""
    from parac.core.sources import load_source

    span = load_source(settings_file).span(error.loc)
    return f"{settings_file}:{span.line}:{span.column}: {error}"

