"""The catalog: everything plugins contributed that workspace files may name.

The workspace checks names against it (a parent agent, a tool, a skill, a model's provider). The server's plugin
registry fills it; the core never asks where a contribution came from beyond its ``origin`` (a plugin's name).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from .providers import Provider
from .specs import AgentSpec, SkillSpec, WorkflowSpec
from .tools import Tool

T = TypeVar("T")


@dataclass
class Contribution(Generic[T]):
    value: T
    origin: str
    path: Path | None = None  # the file that defines it, when there is one (go-to-definition)


@dataclass
class Skill:
    """A skill: its front matter, its instructions (the SKILL.md body) and the folder with its other files."""

    spec: SkillSpec
    instructions: str
    path: Path | None = None  # the SKILL.md

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def folder(self) -> Path | None:
        return self.path.parent if self.path else None


@dataclass
class Catalog:
    agents: dict[str, Contribution[AgentSpec]] = field(default_factory=dict)
    tools: dict[str, Contribution[Tool]] = field(default_factory=dict)
    skills: dict[str, Contribution[Skill]] = field(default_factory=dict)
    providers: dict[str, Contribution[Provider]] = field(default_factory=dict)
    workflows: dict[str, Contribution[WorkflowSpec]] = field(default_factory=dict)

    def provider_for(self, model: str) -> Provider | None:
        """The provider that serves ``model``: an exact name first (``echo``), then the first that accepts it."""
        exact = self.providers.get(model.split(":", 1)[0])
        if exact is not None and exact.value.accepts(model):
            return exact.value
        for contribution in self.providers.values():
            if contribution.value.accepts(model):
                return contribution.value
        return None

    def kinds(self) -> dict[str, dict[str, Contribution[Any]]]:
        return {
            "agents": self.agents,
            "tools": self.tools,
            "skills": self.skills,
            "providers": self.providers,
            "workflows": self.workflows,
        }
