"""The workspace: a project's ``.parac/`` folder, loaded, indexed and checked.

Every face works through one :class:`Workspace`: the CLI loads it once per command, the MCP server and the language
server keep it and tell it about changes (:meth:`Workspace.set_overlay`), which re-checks only the files a change can
affect. Checking is the core's alone; faces only present :class:`~parac.core.diagnostics.Diagnostic` lists.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import ValidationError

from .catalog import Catalog, Contribution, Skill
from .diagnostics import Diagnostic, ParacError, Problem, suggestion
from .inheritance import InheritanceError, ResolvedAgent, chain_of, resolve
from .roots import ENV_WORKSPACE, PARAC_DIR, SETTINGS_FILE, WorkspaceNotFound, find_root  # re-exported
from .sources import Loc, SourceDoc, load_source
from .specs import AgentSpec, PolicySpec, ProjectSettings, SkillSpec, Spec, WorkflowSpec
from .validation import kept_places, not_a_mapping, salvage, schema_diagnostics

if TYPE_CHECKING:
    from .policy import Policies, PolicyCache

YAML_SUFFIXES = (".yaml", ".yml")
WORKSPACE_ORIGIN = "workspace"
# Claude Code subagent files name a model family; map them to litellm ids so they load as they are.
CLAUDE_MODEL_ALIASES = {
    "sonnet": "anthropic/claude-sonnet-4-5",
    "opus": "anthropic/claude-opus-4-1",
    "haiku": "anthropic/claude-haiku-4-5",
}
# ... and name their tools; map them to parac's built-in tools of the same purpose.
CLAUDE_TOOL_NAMES = {
    "Read": "file_read",
    "Write": "file_write",
    "Edit": "file_edit",
    "MultiEdit": "file_edit",
    "Glob": "file_glob",
    "Grep": "file_search",
    "LS": "file_list",
    "Bash": "shell_run",
    "WebFetch": "http_request",
}

S = TypeVar("S", bound=Spec)


@dataclass
class Entry(Generic[S]):
    """One file of the workspace (or one contribution of a plugin), its spec if it is valid, and its problems."""

    kind: str
    name: str
    path: Path | None
    origin: str = WORKSPACE_ORIGIN
    doc: SourceDoc | None = None
    spec: S | None = None
    problems: list[Diagnostic] = field(default_factory=list)  # from loading alone (syntax, schema)
    salvaged: S | None = None  # an invalid spec minus its refused keys: its references are still checked
    refused: set[Loc] = field(default_factory=set)  # the key paths taken out to salvage it


def kind_of(parac_dir: Path, path: Path) -> str | None:
    """Which kind of spec a path under ``.parac/`` holds, or None for files parac does not read as specs."""
    try:
        parts = path.relative_to(parac_dir).parts
    except ValueError:
        return None
    if parts == (SETTINGS_FILE,):
        return "project"
    if len(parts) == 2 and parts[0] == "agents" and path.suffix in (*YAML_SUFFIXES, ".md"):
        return "agent"
    if len(parts) == 2 and parts[0] == "workflows" and path.suffix in YAML_SUFFIXES:
        return "workflow"
    if len(parts) == 2 and parts[0] == "policies" and path.suffix in YAML_SUFFIXES:
        return "policy"
    if len(parts) == 3 and parts[0] == "skills" and parts[2] == "SKILL.md":
        return "skill"
    return None


def _listdir(folder: Path) -> list[str]:
    """The names in ``folder``, sorted; none when it is missing or not a folder."""
    try:
        return sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []


MODELS: dict[str, type[Spec]] = {
    "project": ProjectSettings,
    "agent": AgentSpec,
    "workflow": WorkflowSpec,
    "policy": PolicySpec,
    "skill": SkillSpec,
}


class Workspace:
    """A loaded ``.parac/`` folder plus what plugins contributed (the ``catalog``)."""

    def __init__(self, root: Path, catalog: Catalog | None = None) -> None:
        self.root = Path(root).resolve()
        self.dir = self.root / PARAC_DIR
        self.catalog = catalog
        self.overlays: dict[Path, str] = {}
        self.files: dict[Path, Entry[Any]] = {}
        self._resolved: dict[str, ResolvedAgent | InheritanceError] = {}  # by name, until its lineage changes
        self._summaries: dict[str, dict[str, Any]] = {}  # listing rows, dropped with the resolution
        self.version = 0
        """Moves on every re-index (a file read again): caches of what the workspace shows compare it."""
        self._checked: dict[Path, list[Diagnostic]] = {}
        self._policies: PolicyCache | None = None
        self._load_all()

    @classmethod
    def open(cls, start: Path | str | None = None, *, catalog: Catalog | None = None) -> Workspace:
        return cls(find_root(start), catalog)

    def current_policies(self, *, refresh: bool = False) -> Policies:
        """This workspace's policies, kept here (not per process) and re-read when a policy file changes; the
        cache is made on first use, so loading a workspace for validation never reads them."""
        if self._policies is None:
            from .policy import PolicyCache

            self._policies = PolicyCache(self.root)
        return self._policies.get(refresh=refresh)

    # -- loading ---------------------------------------------------------------------------------------------------

    def spec_files(self) -> Iterator[Path]:
        """Every file under ``.parac/`` that parac reads as a spec, in a stable order."""
        for path, _kind in self._spec_files():
            yield path

    def _spec_files(self) -> Iterator[tuple[Path, str]]:
        # os.listdir and a suffix test rather than Path.glob: a thousand-agent folder lists ten times faster.
        if (self.dir / SETTINGS_FILE).exists():
            yield self.dir / SETTINGS_FILE, "project"
        for sub, kind, suffixes in (
            ("agents", "agent", (*YAML_SUFFIXES, ".md")),
            ("workflows", "workflow", YAML_SUFFIXES),
            ("policies", "policy", YAML_SUFFIXES),
        ):
            folder = self.dir / sub
            for name in _listdir(folder):
                if name.endswith(suffixes):
                    yield folder / name, kind
        skills = self.dir / "skills"
        for name in _listdir(skills):
            if (path := skills / name / "SKILL.md").is_file():
                yield path, "skill"

    def _load_all(self) -> None:
        self.files = {}
        # Loading allocates tens of thousands of objects that all stay alive, so the cyclic collector would only
        # re-scan them (a quarter of the load time for a thousand agents): it pauses until the files are in.
        collecting = gc.isenabled()
        gc.disable()
        try:
            for path, kind in self._spec_files():  # the folder tells the kind: no per-file kind_of()
                self._load(path, kind)
            for path in self.overlays:
                if path not in self.files and kind_of(self.dir, path):
                    self._load(path)
        finally:
            if collecting:
                gc.enable()
        self._reindex()

    def _load(self, path: Path, kind: str | None = None) -> None:
        kind = kind or kind_of(self.dir, path)
        if kind is None:
            return
        doc = load_source(path, self.overlays.get(path))
        self.files[path] = build_entry(kind, path, doc)

    def _stale_agents(self, kind: str, path: Path) -> set[str] | None:
        """The agents whose resolution a change to ``path`` may alter; None for all (the settings' default model)."""
        if kind == "project":
            return None
        return self.lineage(path.stem) if kind == "agent" else set()

    def _reindex(self, stale_agents: set[str] | None = None) -> None:
        """Index the loaded files again. Resolved agents stay cached except ``stale_agents`` (None: all of them),
        so that a file's change costs resolving its own lineage again, not a thousand agents."""
        self.version += 1
        if stale_agents is None:
            self._resolved.clear()
            self._summaries.clear()
        else:
            self._forget(stale_agents)
        self._checked.clear()
        by_kind: dict[str, dict[str, list[Entry[Any]]]] = {"agent": {}, "workflow": {}, "skill": {}}
        self.policies: list[Entry[PolicySpec]] = []
        self.settings_entry: Entry[ProjectSettings] | None = None
        for entry in self.files.values():
            if entry.kind == "project":
                self.settings_entry = entry
            elif entry.kind == "policy":
                self.policies.append(entry)
            else:
                by_kind[entry.kind].setdefault(entry.name, []).append(entry)
        self._duplicates = {
            kind: {name: entries for name, entries in named.items() if len(entries) > 1}
            for kind, named in by_kind.items()
        }
        self.agents: dict[str, Entry[AgentSpec]] = {n: e[0] for n, e in by_kind["agent"].items()}
        self.workflows: dict[str, Entry[WorkflowSpec]] = {n: e[0] for n, e in by_kind["workflow"].items()}
        self.skill_entries: dict[str, Entry[SkillSpec]] = {n: e[0] for n, e in by_kind["skill"].items()}
        catalog = self.catalog or Catalog()
        self._agent_specs: dict[str, AgentSpec] = {n: c.value for n, c in catalog.agents.items()}
        self._agent_specs.update({n: e.spec for n, e in self.agents.items() if e.spec is not None})
        # Names that exist, valid or not: a child of a broken parent should not also be told the parent is missing.
        self._agent_names = set(catalog.agents) | set(self.agents)
        # parent -> children, so that finding a change's dependents is linear even for a thousand-agent cycle
        self._children: dict[str, list[str]] = {}
        for name, agent in self.agents.items():
            if agent.spec is not None and agent.spec.parent is not None:
                self._children.setdefault(agent.spec.parent, []).append(name)

    def set_overlay(self, path: Path | str, text: str | None) -> set[Path]:
        """Use ``text`` as the content of ``path`` (an editor's unsaved buffer), or the disk again when None.

        Returns the spec files whose diagnostics may have changed: the file, and those that depend on it.
        """
        path = Path(path).resolve()
        if text is None:
            self.overlays.pop(path, None)
            return self.refresh(path)
        self.overlays[path] = text
        entry = self.files.get(path)
        if entry is not None and entry.doc is not None and entry.doc.text == text and entry.doc.text:
            return {path}  # an editor opening a file as it is on disk: nothing to re-read or re-check
        return self.refresh(path)

    def refresh(self, path: Path | str) -> set[Path]:
        """Re-read ``path`` (from its overlay or the disk, or drop it when it is gone) and re-index."""
        path = Path(path).resolve()
        kind = kind_of(self.dir, path)
        if kind is None:
            return set()
        before = self.files.get(path)
        affected = self.dependents_of(path) if before else set()
        stale = self._stale_agents(kind, path)
        if path in self.overlays or path.exists():
            self._load(path)
        else:
            self.files.pop(path, None)
        self._reindex(stale)
        self._forget(self._stale_agents(kind, path) or ())  # the lineage as the file links it now
        affected |= self.dependents_of(path) | {path}
        return {p for p in affected if p in self.files or p == path}

    def _forget(self, names: Iterable[str]) -> None:
        for name in names:
            self._resolved.pop(name, None)
            self._summaries.pop(name, None)

    def reload(self) -> None:
        self._load_all()

    # -- lookups ---------------------------------------------------------------------------------------------------

    @property
    def settings(self) -> ProjectSettings:
        entry = self.settings_entry
        return entry.spec if entry is not None and entry.spec is not None else ProjectSettings()

    @property
    def skills(self) -> dict[str, Contribution[Skill]]:
        """Every skill by name: the workspace's own and those plugins registered."""
        out = dict(self.catalog.skills) if self.catalog else {}
        for name, entry in self.skill_entries.items():
            if entry.spec is not None:
                body = entry.doc.body if entry.doc else ""
                out[name] = Contribution(Skill(entry.spec, body or "", entry.path), WORKSPACE_ORIGIN, entry.path)
        return out

    def agent_names(self) -> list[str]:
        return sorted(self._agent_names)

    def has_agent(self, name: str) -> bool:
        """Whether `name` is an agent here (the workspace's or a plugin's), without sorting them all to ask."""
        return name in self._agent_names

    def agent_path(self, name: str) -> Path | None:
        if name in self.agents:
            return self.agents[name].path
        contribution = self.catalog.agents.get(name) if self.catalog else None
        return contribution.path if contribution else None

    def agent_origin(self, name: str) -> str | None:
        if name in self.agents:
            return WORKSPACE_ORIGIN
        contribution = self.catalog.agents.get(name) if self.catalog else None
        return contribution.origin if contribution else None

    def resolve_agent(self, name: str) -> ResolvedAgent:
        """The agent with its chain merged; raises :class:`ParacError` (with positioned diagnostics) when it can't be."""
        if name in self.agents and self.agents[name].spec is None:  # before resolving, which knows only valid specs
            raise ParacError(f'agent "{name}" has errors; run `parac validate`', self.agents[name].problems)
        result = self._resolve(name)
        if isinstance(result, InheritanceError) and result.kind == "unknown-parent":
            parent = self.agents.get(result.agents[-1])
            if parent is not None and parent.spec is None:  # it exists: its file has errors
                raise ParacError(
                    f'agent "{result.agents[0]}" inherits from "{parent.name}", which has errors; run `parac validate`',
                    parent.problems,
                )
        if isinstance(result, InheritanceError):
            diagnostics = [d for n in result.agents for d in self._inheritance_diagnostics(n, result)]
            raise ParacError(str(result), diagnostics)
        return result

    def agent_summary(self, name: str) -> dict[str, Any]:
        """What a listing shows of an agent: name, origin, parent, model, description, and the error that keeps
        it from resolving (None when it resolves). Cached with the resolution (shared: do not modify it)."""
        summary = self._summaries.get(name)
        if summary is None:
            origin = self.agent_origin(name)
            summary = {"name": name, "origin": origin, "parent": None, "model": None, "description": None, "error": None}
            try:
                resolved = self.resolve_agent(name)
            except ParacError as error:
                summary["error"] = str(error)
            else:
                summary["parent"] = resolved.chain[1] if len(resolved.chain) > 1 else None
                summary["model"] = resolved.fields.get("model")
                summary["description"] = resolved.fields.get("description")
            self._summaries[name] = summary
        return summary

    def _resolve(self, name: str) -> ResolvedAgent | InheritanceError:
        if name not in self._resolved:
            if name not in self._agent_specs:
                self._resolved[name] = InheritanceError("unknown-agent", [name], f'unknown agent "{name}"')
            else:
                defaults = {"model": self.settings.default_model}
                try:
                    self._resolved[name] = resolve(name, self._agent_specs, defaults)
                except InheritanceError as exc:
                    self._resolved[name] = exc
        return self._resolved[name]

    def _chain_error(self, name: str) -> InheritanceError | None:
        """Why ``name``'s parent chain cannot be followed, if it cannot: checking needs the chain, not the merge."""
        try:
            chain_of(name, self._agent_specs)
        except InheritanceError as exc:
            return exc
        return None

    def lineage(self, name: str) -> set[str]:
        """``name`` and every agent that inherits from it, however deep: those whose resolution its file alters."""
        names = {name}
        todo = [name]
        while todo:  # a cycle ends because names are visited once
            for child in self._children.get(todo.pop(), ()):
                if child not in names:
                    names.add(child)
                    todo.append(child)
        return names

    def dependents_of(self, path: Path) -> set[Path]:
        """Files whose diagnostics can change when ``path`` changes."""
        entry = self.files.get(path)
        if entry is None:
            return set()
        if entry.kind == "project":
            return set(self.files)
        out: set[Path] = set()
        if entry.kind == "agent":
            names = self.lineage(entry.name)
            out |= {self.agents[n].path for n in names if n in self.agents and self.agents[n].path}
            out |= {e.path for e in self.workflows.values() if e.path and _workflow_agents(e) & names}
            out |= {e.path for e in self._duplicates["agent"].get(entry.name, []) if e.path}
        elif entry.kind == "skill":
            out |= {e.path for e in self.agents.values() if e.path and e.spec and entry.name in e.spec.skills}
        elif entry.kind == "workflow":
            out |= {e.path for e in self.workflows.values() if e.path and entry.name in _workflow_subflows(e)}
        out.discard(path)
        return out

    # -- checking --------------------------------------------------------------------------------------------------

    def validate(self) -> list[Diagnostic]:
        """Every problem in every spec file, in file order."""
        return [d for path in self.files for d in self.diagnostics_for(path)]

    def diagnostics_for(self, path: Path | str) -> list[Diagnostic]:
        if path not in self.files:  # keys are resolved paths; resolve() only for paths from outside
            path = Path(path).resolve()
        if path not in self._checked:
            entry = self.files.get(path)
            self._checked[path] = [] if entry is None else self._check(entry)
        return self._checked[path]

    def _check(self, entry: Entry[Any]) -> list[Diagnostic]:
        out = list(entry.problems)
        if entry.spec is None:
            if entry.salvaged is not None:  # a type error must not hide the references beside it
                out.extend(self._check_references(entry, entry.salvaged))
            return out
        check = getattr(self, f"_check_{entry.kind}", None)
        if check is not None:
            out.extend(check(entry))
        duplicates = self._duplicates.get(entry.kind, {}).get(entry.name, [])
        if len(duplicates) > 1:
            others = ", ".join(str(e.path.name) for e in duplicates if e is not entry and e.path)
            out.append(self._at(entry, ("name",), "duplicate-name", f'{entry.kind} "{entry.name}" is also defined in {others}', key=True))
        return out

    def _at(self, entry: Entry[Any], loc: Loc, code: str, message: str, *, key: bool = False, **data: Any) -> Diagnostic:
        span = entry.doc.span(loc, key=key) if entry.doc else None
        return Diagnostic.at(entry.path, span, code, message, **data)

    def _check_references(self, entry: Entry[Any], spec: Any) -> list[Diagnostic]:
        """What an invalid file's salvaged spec names that does not exist (its inheritance is left to a valid file)."""
        if entry.kind == "agent":
            return self._agent_references(entry, spec)
        if entry.kind == "workflow":
            changed = {loc[1] for loc in entry.refused if len(loc) > 2 and loc[0] in ("steps", "states")}
            return self._workflow_problems(entry, spec, skip_steps=changed)
        return []

    def _check_project(self, entry: Entry[ProjectSettings]) -> list[Diagnostic]:
        out: list[Diagnostic] = []
        model = entry.spec.default_model
        if model and not self._knows_model(model):
            out.append(self._unknown_model(entry, ("default_model",), model))
        published = entry.spec.serve.a2a.agents or []
        named = [(("serve", "a2a", "agents", index), agent) for index, agent in enumerate(published)]
        out.extend(self._unknown_agents(entry, named, self.agent_names()))
        return out

    def _check_agent(self, entry: Entry[AgentSpec]) -> list[Diagnostic]:
        spec = entry.spec
        out: list[Diagnostic] = []
        if spec.name is not None and spec.name != entry.name:
            out.append(
                self._at(entry, ("name",), "name-mismatch", f'name "{spec.name}" does not match the file name "{entry.name}"', replace_with=entry.name)
            )
        if self.catalog and entry.name in self.catalog.agents:
            origin = self.catalog.agents[entry.name].origin
            out.append(self._at(entry, ("name",), "duplicate-name", f'agent "{entry.name}" is also registered by plugin "{origin}"', key=True))
        if spec.parent is not None and spec.parent not in self._agent_specs and spec.parent in self._agent_names:
            # checked first: resolving would call an existing but broken parent "unknown"
            out.append(self._at(entry, ("parent",), "parent-invalid", f'parent "{spec.parent}" has errors'))
        elif (problem := self._chain_error(entry.name)) is not None:
            out.extend(d for d in self._inheritance_diagnostics(entry.name, problem) if d.file == str(entry.path))
        out.extend(self._agent_references(entry, spec))
        return out

    def _agent_references(self, entry: Entry[AgentSpec], spec: AgentSpec) -> list[Diagnostic]:
        """Tools, model and skills the agent names that nothing provides."""
        out: list[Diagnostic] = []
        if self.catalog is not None:
            tools = self.catalog.tools
            for field_name in ("tools", "exclude_tools"):
                named = getattr(spec, field_name)
                for index, tool in zip(kept_places(entry.refused, field_name, len(named)), named):
                    if not self._knows_tool(tool):
                        out.append(
                            self._at(entry, (field_name, index), "unknown-tool", f'unknown tool "{tool}"{suggestion(tool, tools)}', candidates=sorted(tools))
                        )
            if spec.model and not self._knows_model(spec.model):
                out.append(self._unknown_model(entry, ("model",), spec.model))
        known = self.agent_names()
        named = [((key, index), agent) for key in ("delegates", "handoffs") for index, agent in enumerate(getattr(spec, key))]
        if spec.reflect is not None:
            named.append((("reflect", "critic"), spec.reflect.critic))
            if spec.reflect.until:
                from .workflows.templates import syntax_error

                problem = syntax_error(spec.reflect.until, expression=True)
                if problem is not None:
                    out.append(self._at(entry, ("reflect", "until"), "template-syntax", problem))
        out.extend(self._unknown_agents(entry, named, known))
        skills = self.skills
        for index, skill in zip(kept_places(entry.refused, "skills", len(spec.skills)), spec.skills):
            if skill not in skills and skill not in self.skill_entries:
                out.append(
                    self._at(entry, ("skills", index), "unknown-skill", f'unknown skill "{skill}"{suggestion(skill, skills)}', candidates=sorted(skills))
                )
        return out

    def _unknown_agents(self, entry: Entry[Any], named: list[tuple[Loc, str]], known: list[str]) -> list[Diagnostic]:
        """A diagnostic at each place that names an agent the workspace does not have."""
        return [
            self._at(entry, loc, "unknown-agent", f'unknown agent "{name}"{suggestion(name, known)}', candidates=known)
            for loc, name in named
            if name not in self._agent_names
        ]

    def _inheritance_diagnostics(self, name: str, error: InheritanceError) -> list[Diagnostic]:
        entry = self.agents.get(name)
        if entry is None:
            return []
        if error.kind == "cycle" and name in error.agents:
            on_cycle = " -> ".join([*error.agents, error.agents[0]])
            return [self._at(entry, ("parent",), "inheritance-cycle", f"inheritance cycle: {on_cycle}")]
        if error.kind == "unknown-parent" and error.agents[0] == name:
            parent = error.agents[1]
            known = self.agent_names()
            return [
                self._at(entry, ("parent",), "unknown-parent", f'unknown parent agent "{parent}"{suggestion(parent, known)}', candidates=known)
            ]
        if error.kind in ("cycle", "unknown-parent"):
            # The problem is further up the chain; say so once here, the culprit's file carries the details.
            culprit = error.agents[0]
            return [self._at(entry, ("parent",), "broken-chain", f'cannot resolve the parent chain: {error} (see agent "{culprit}")')]
        return []

    def _check_skill(self, entry: Entry[SkillSpec]) -> list[Diagnostic]:
        folder = entry.path.parent.name if entry.path else entry.name
        if entry.spec.name != folder:
            return [self._at(entry, ("name",), "name-mismatch", f'name "{entry.spec.name}" does not match the folder "{folder}"', replace_with=folder)]
        return []

    def _check_policy(self, entry: Entry[PolicySpec]) -> list[Diagnostic]:
        return []

    def _check_workflow(self, entry: Entry[WorkflowSpec]) -> list[Diagnostic]:
        spec = entry.spec
        out: list[Diagnostic] = []
        if spec.name is not None and spec.name != entry.name:
            out.append(self._at(entry, ("name",), "name-mismatch", f'name "{spec.name}" does not match the file name "{entry.name}"', replace_with=entry.name))
        out.extend(self._workflow_problems(entry, spec))
        return out

    def _workflow_problems(self, entry: Entry[WorkflowSpec], spec: WorkflowSpec, skip_steps: Collection[int | str] = ()) -> list[Diagnostic]:
        """The step graph, what each step runs, and what its templates read (but for ``skip_steps``, salvaged)."""
        if spec.flow == "fsm":
            return self._state_machine_problems(entry, spec, skip_steps)
        if spec.flow == "behavior_tree":
            return self._tree_problems(entry, spec)
        if spec.flow == "llm_plan":
            from .workflows import llm_plan

            known = sorted(set(self.workflows) | (set(self.catalog.workflows) if self.catalog else set()))
            return self._place(entry, llm_plan.structure_problems(spec, self.agent_names(), known))
        from .workflows import graph  # here: a workspace without workflows starts without the graph and its templates

        out = self._place(entry, graph.structure_problems(spec))
        for index, step in enumerate(spec.steps):
            if index not in skip_steps:
                out.extend(self._check_step_target(entry, ("steps", index), step, step.agent_name))
        templates = [p for p in graph.template_problems(spec) if not (p.loc[0] == "steps" and p.loc[1] in skip_steps)]
        out.extend(self._place(entry, templates))
        return out

    def _state_machine_problems(self, entry: Entry[WorkflowSpec], spec: WorkflowSpec, skip: Collection[int | str]) -> list[Diagnostic]:
        """A state machine's graph, what each state runs, and what its templates read (but for ``skip``, salvaged)."""
        from .workflows import fsm

        out = self._place(entry, fsm.structure_problems(spec))
        for name, state in fsm.states_of(spec).items():
            if name not in skip and not state.final:
                out.extend(self._check_step_target(entry, ("states", name), state, (state.agent or name) if state.type == "agent" else None))
        out.extend(self._place(entry, [p for p in fsm.template_problems(spec) if not (p.loc[0] == "states" and p.loc[1] in skip)]))
        return out

    def _tree_problems(self, entry: Entry[WorkflowSpec], spec: WorkflowSpec) -> list[Diagnostic]:
        """A behaviour tree's shape, what each action runs, and what its templates read."""
        from .workflows import behavior_tree

        out = self._place(entry, behavior_tree.structure_problems(spec))
        for loc, action in behavior_tree.actions(spec):
            out.extend(self._check_step_target(entry, loc, action, action.agent_name))
        out.extend(self._place(entry, behavior_tree.template_problems(spec)))
        return out

    def _place(self, entry: Entry[Any], problems: list[Problem]) -> list[Diagnostic]:
        out = []
        for p in problems:
            if (p.data.get("missing"),) in entry.refused:  # taken out to salvage the rest: reported as refused
                continue
            found = self._at(entry, p.loc, p.code, p.message, **p.data)
            if "reference" in p.data and entry.doc is not None:
                found = _narrowed(found, entry.doc, p.data["reference"], p.data["within"])
            out.append(found)
        return out

    def _check_step_target(self, entry: Entry[WorkflowSpec], at: Loc, step: Any, agent: str | None) -> list[Diagnostic]:
        """What a step (``at`` ``("steps", index)``), a state (``("states", name)``) or a tree's action names must
        exist; ``agent`` is the agent it runs (its own id or state name when it names none)."""
        if agent is not None and step.remote_agent is None:  # a remote A2A agent is checked when it is called
            loc = (*at, "agent") if step.agent else (*at, "id") if at[0] != "states" else at
            problems = self._unknown_agents(entry, [(loc, agent)], self.agent_names())
            if problems:
                return problems
        elif step.type == "tool" and self.catalog is not None and not self._knows_tool(step.tool):
            tools = self.catalog.tools
            return [self._at(entry, (*at, "tool"), "unknown-tool", f'unknown tool "{step.tool}"{suggestion(step.tool, tools)}', candidates=sorted(tools))]
        elif step.type == "council":
            named = [((*at, "agents", position), name) for position, name in enumerate(step.agents)]
            if step.judge:
                named.append(((*at, "judge"), step.judge))
            problems = self._unknown_agents(entry, named, self.agent_names())
            if problems:
                return problems
        elif step.type == "workflow":
            known = set(self.workflows) | (set(self.catalog.workflows) if self.catalog else set())
            if step.workflow not in known:
                return [self._at(entry, (*at, "workflow"), "unknown-workflow", f'unknown workflow "{step.workflow}"{suggestion(step.workflow, known)}', candidates=sorted(known))]
        if step.model and self.catalog is not None and not self._knows_model(step.model):
            return [self._unknown_model(entry, (*at, "model"), step.model)]
        return []

    def _knows_tool(self, name: str) -> bool:
        """A registered tool, or ``SERVER.tool`` of an external MCP server in ``mcp_servers`` (whose tools are
        known only once it runs; a name it lacks is reported when the tool is called)."""
        server, dot, tool = name.partition(".")
        return name in (self.catalog.tools if self.catalog else {}) or bool(dot and tool and server in self.settings.mcp_servers)

    def _knows_model(self, model: str) -> bool:
        if self.catalog is None:
            return True
        prefix = model.split("/", 1)[0]
        if prefix in self.settings.providers:
            return True
        return self.catalog.provider_for(model) is not None

    def _unknown_model(self, entry: Entry[Any], loc: Loc, model: str) -> Diagnostic:
        providers = sorted({*(self.catalog.providers if self.catalog else {}), *self.settings.providers})
        return self._at(
            entry, loc, "unknown-provider", f'no provider serves model "{model}" (providers: {", ".join(providers) or "none"})'
        )


def _narrowed(found: Diagnostic, doc: SourceDoc, reference: str, within: tuple[int, int]) -> Diagnostic:
    """``found`` placed on the ``within`` part of ``reference`` inside its template, when the value holds it on its
    first line as written."""
    if not 0 < found.line <= len(doc.lines):
        return found
    column = doc.lines[found.line - 1].find(reference, found.column - 1)
    if column < 0:
        return found  # a folded or escaped scalar: the whole value stays marked
    return replace(found, column=column + 1 + within[0], end_line=found.line, end_column=column + 1 + within[1])


# -- building entries from documents ---------------------------------------------------------------------------------


def build_entry(kind: str, path: Path, doc: SourceDoc) -> Entry[Any]:
    name = path.parent.name if kind == "skill" else path.stem
    entry: Entry[Any] = Entry(kind, name, path, doc=doc, problems=list(doc.diagnostics))
    if not doc.ok:
        return entry
    data = doc.data
    if kind == "agent" and path.suffix == ".md":
        data = _agent_from_markdown(doc)
    if not isinstance(data, dict):
        entry.problems.append(not_a_mapping(doc, data))
        return entry
    model = MODELS[kind]
    try:
        entry.spec = model.model_validate(data)
    except ValidationError as exc:
        entry.problems.extend(schema_diagnostics(model, exc, doc))
        entry.salvaged, entry.refused = salvage(model, data, exc)
    return entry


def _agent_from_markdown(doc: SourceDoc) -> Any:
    data = doc.data
    if not isinstance(data, dict):
        return data
    data = dict(data)
    if doc.body and doc.body.strip() and "system_prompt" not in data:
        data["system_prompt"] = doc.body.strip()
    tools = data.get("tools")
    if isinstance(tools, str):
        names = [CLAUDE_TOOL_NAMES.get(t.strip(), t.strip()) for t in tools.split(",") if t.strip()]
        data["tools"] = list(dict.fromkeys(names))
    model = data.get("model")
    if isinstance(model, str) and model in CLAUDE_MODEL_ALIASES:
        data["model"] = CLAUDE_MODEL_ALIASES[model]
    elif model == "inherit":
        del data["model"]
    return data


# -- what a workflow names (for dependents_of) ------------------------------------------------------------------------


def _workflow_work(spec: WorkflowSpec) -> list[tuple[str, Any]]:
    """(the name an agent defaults to, the work) of each step, state or action of a workflow of any kind."""
    states = [(name, state) for name, state in (spec.states or {}).items() if not state.final]
    out = [*((s.id, s) for s in spec.steps), *states]
    if spec.root is not None:
        from .workflows.behavior_tree import actions

        out.extend((action.id, action) for _, action in actions(spec))
    return out


def _workflow_agents(entry: Entry[WorkflowSpec]) -> set[str]:
    if entry.spec is None:
        return set()
    out: set[str] = set()
    for name, work in _workflow_work(entry.spec):
        if work.type == "agent" and work.remote_agent is None:
            out.add(work.agent or name)
        elif work.type == "council":
            out |= {*work.agents, *([work.judge] if work.judge else [])}
    return out


def _workflow_subflows(entry: Entry[WorkflowSpec]) -> set[str]:
    return {work.workflow for _, work in _workflow_work(entry.spec) if work.workflow} if entry.spec else set()
