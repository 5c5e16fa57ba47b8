"""Tool policies: deny unless granted, explain every decision.

The policy of a workspace is the union of its policy files (``.parac/policies/*.yaml`` and the extra files
``parac.yaml`` names). A tool call is decided in this order, and the first rule that applies wins:

1. a policy file that does not load denies everything (a broken file may have held the ``deny`` that mattered);
2. a ``deny`` entry matching the tool denies it, whatever grants it elsewhere;
3. an ``allow`` grant whose ``tools`` match and whose ``agents`` / ``workflows`` (globs; omitted = any) match the
   caller grants it (a call with no agent, such as one made straight from the CLI or an MCP client, matches only
   grants that name no agents, and likewise for workflows);
4. nothing granted it: denied.

A granted tool may also need a person's approval (``require_approval``) and may be rate limited (``rate_limits``,
counted per tool by each workspace's `PolicyCache`). `Policies.decide` answers without side effects, with a trace of every rule it
looked at, which is what ``parac policy check`` prints; `Policies.admit` also counts the call against rate limits.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from parac.core.confine import CommandPolicy, FileJail, HttpPolicy
from parac.core.diagnostics import Diagnostic
from parac.core.redact import Redactor
from parac.core.specs import PolicySpec, ProjectSettings
from parac.core.sources import SourceDoc, load_source

PERIODS = {"s": 1.0, "min": 60.0, "h": 3600.0, "day": 86400.0}
#: How long a loaded set of policies is trusted before its files are looked at again.
RECHECK_S = 0.5


@dataclass(frozen=True)
class PolicyFile:
    """One loaded policy file: its label (path relative to the workspace), its spec when valid, its problems."""

    label: str
    spec: PolicySpec | None
    doc: SourceDoc | None = None
    problems: tuple[Diagnostic, ...] = ()

    def at(self, *loc: str | int) -> str:
        """``label:line:column`` of a key path, for explanations."""
        if self.doc is None:
            return self.label
        span = self.doc.span(tuple(loc))
        return f"{self.label}:{span.line}:{span.column}"


@dataclass
class Decision:
    """Whether a tool may be called, and why, with the rule that decided and the trace of the rules examined."""

    tool: str
    agent: str | None
    workflow: str | None
    allowed: bool
    reason: str
    rule: str | None = None
    approval_required: bool = False
    rate_limit: str | None = None
    trace: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Policies:
    """The decisions of one set of policy files."""

    def __init__(self, files: Sequence[PolicyFile], *, data_minimisation: bool = False) -> None:
        self.files = list(files)
        self.data_minimisation = data_minimisation
        self._valid = [f for f in self.files if f.spec is not None]
        self._broken = [f for f in self.files if f.spec is None or f.problems]
        self._windows: dict[tuple[str, str], deque[float]] = {}
        self._decisions: dict[tuple[str, str | None, str | None], Decision] = {}
        self._jails: dict[Path, FileJail] = {}
        self._redactor: Redactor | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_root(cls, root: str | Path) -> Policies:
        """The policies of the workspace rooted at ``root``, read now. What serves calls keeps them instead: a
        workspace's `PolicyCache` (``Workspace.current_policies()``), which a tool finds in ``ctx.policies``."""
        return load_policies(root)

    # --- decisions --------------------------------------------------------------------------------------------

    def decide(self, tool: str, *, agent: str | None = None, workflow: str | None = None) -> Decision:
        """The decision for ``tool`` called by ``agent`` in ``workflow``; changes nothing.

        Decisions depend only on the files, so each is worked out once and copied after."""
        known = self._decisions.get((tool, agent, workflow))
        if known is None:
            known = self._decisions[(tool, agent, workflow)] = self._decide(tool, agent, workflow)
        return replace(known, trace=list(known.trace))

    def _decide(self, tool: str, agent: str | None, workflow: str | None) -> Decision:
        decision = Decision(tool, agent, workflow, allowed=False, reason="")
        trace = decision.trace
        who = _caller(agent, workflow)
        if self._broken:
            bad = self._broken[0]
            where = bad.problems[0] if bad.problems else None
            detail = f" ({where.message} at line {where.line})" if where else ""
            decision.reason = f"policy file {bad.label} has errors{detail}; every tool is denied until it is fixed"
            decision.rule = bad.label
            trace.append(decision.reason)
            return decision
        if not self.files:
            trace.append("no policy files in .parac/policies/")
        for file in self._valid:
            assert file.spec is not None
            for index, pattern in enumerate(file.spec.deny):
                if fnmatch.fnmatchcase(tool, pattern):
                    decision.rule = file.at("deny", index)
                    decision.reason = f'tool "{tool}" is denied by "{pattern}" in {decision.rule}'
                    trace.append(decision.reason)
                    return decision
        for file in self._valid:
            assert file.spec is not None
            for index, grant in enumerate(file.spec.allow):
                pattern = next((p for p in grant.tools if fnmatch.fnmatchcase(tool, p)), None)
                where = file.at("allow", index)
                if pattern is None:
                    continue
                if not _scope_matches(grant.agents, agent):
                    trace.append(f'{where}: grants "{pattern}" only to agents {", ".join(grant.agents or [])}')
                    continue
                if not _scope_matches(grant.workflows, workflow):
                    trace.append(f'{where}: grants "{pattern}" only in workflows {", ".join(grant.workflows or [])}')
                    continue
                decision.allowed, decision.rule = True, where
                decision.reason = f'tool "{tool}" is granted to {who} by "{pattern}" in {where}'
                trace.append(decision.reason)
                break
        if not decision.allowed:
            decision.reason = (f'tool "{tool}" is not granted to {who}: no policy allows it '
                               f"(tools are denied unless a policy in .parac/policies/ grants them)")
            trace.append(decision.reason)
            return decision
        approval = self._match_list("require_approval", tool)
        if approval:
            decision.approval_required = True
            trace.append(f'each call needs a person\'s approval ("{approval[0]}" in {approval[1]})')
        limit = self._rate_for(tool)
        if limit:
            decision.rate_limit = f"{limit[1]} ({limit[0]} in {limit[2]})"
            trace.append(f"rate limited to {decision.rate_limit}")
        return decision

    def admit(self, tool: str, *, agent: str | None = None, workflow: str | None = None,
              now: float | None = None) -> Decision:
        """`decide`, then count an allowed call against the tool's rate limit, denying it when the limit is
        reached (the denied call is not counted)."""
        decision = self.decide(tool, agent=agent, workflow=workflow)
        limit = self._rate_for(tool) if decision.allowed else None
        if limit is None:
            return decision
        pattern, rate, where = limit
        calls, period = _parse_rate(rate)
        moment = time.monotonic() if now is None else now
        with self._lock:
            window = self._windows.setdefault((pattern, tool), deque())
            while window and window[0] <= moment - period:
                window.popleft()
            if len(window) >= calls:
                decision.allowed = False
                decision.rule = where
                decision.reason = f'tool "{tool}" reached its rate limit of {rate} ("{pattern}" in {where})'
                decision.trace.append(decision.reason)
                return decision
            window.append(moment)
        return decision

    def _match_list(self, key: str, tool: str) -> tuple[str, str] | None:
        for file in self._valid:
            for index, pattern in enumerate(getattr(file.spec, key)):
                if fnmatch.fnmatchcase(tool, pattern):
                    return pattern, file.at(key, index)
        return None

    def _rate_for(self, tool: str) -> tuple[str, str, str] | None:
        for file in self._valid:
            assert file.spec is not None
            for pattern, rate in file.spec.rate_limits.items():
                if fnmatch.fnmatchcase(tool, pattern):
                    return pattern, rate, file.at("rate_limits", pattern)
        return None

    # --- confinement settings ---------------------------------------------------------------------------------

    def command_policy(self) -> CommandPolicy:
        """The shell settings of every file together: commands and variables are unions, limits the strictest.

        The sandbox is bubblewrap unless a file says ``sandbox: none`` and none says ``bubblewrap``; the network
        is reachable only when a file says ``network: true`` and none says ``false``."""
        from parac.core.sandbox import Limits, SandboxPolicy

        specs = [f.spec.shell for f in self._valid if f.spec is not None]
        files = [f.spec.files for f in self._valid if f.spec is not None]
        kinds = {spec.sandbox for spec in specs}
        networks = {spec.network for spec in specs}
        defaults = Limits()
        limits = Limits(**{
            name: int(_strictest((getattr(spec.limits, name) for spec in specs), getattr(defaults, name)))
            for name in ("cpu_s", "memory_mb", "processes", "file_size_mb")
        })
        return CommandPolicy(
            allow=tuple(dict.fromkeys(entry for spec in specs for entry in spec.allow)),
            timeout_s=_strictest((spec.timeout_s for spec in specs), 60.0),
            max_output_bytes=int(_strictest((spec.max_output_bytes for spec in specs), 1_000_000)),
            env=tuple(dict.fromkeys(name for spec in specs for name in spec.env)),
            sandbox=SandboxPolicy(
                kind="none" if "none" in kinds and "bubblewrap" not in kinds else "bubblewrap",
                network=True in networks and False not in networks,
                limits=limits,
                read_only=tuple(path for spec in files for path in spec.read_only),
                hidden=tuple(path for spec in files for path in spec.hidden),
            ),
        )

    def http_policy(self) -> HttpPolicy:
        """The HTTP settings of every file together: hosts are a union, limits the strictest."""
        specs = [f.spec.http for f in self._valid if f.spec is not None]
        return HttpPolicy(
            allow_hosts=tuple(dict.fromkeys(host for spec in specs for host in spec.allow_hosts)),
            timeout_s=_strictest((spec.timeout_s for spec in specs), 30.0),
            max_bytes=int(_strictest((spec.max_bytes for spec in specs), 5_000_000)),
            max_request_bytes=int(_strictest((spec.max_request_bytes for spec in specs), 1_000_000)),
            max_redirects=int(_strictest((spec.max_redirects for spec in specs), 5)),
        )

    def file_jail(self, root: str | Path) -> FileJail:
        """A `FileJail` for ``root`` with the built-in limits plus every file's ``files`` section; one per root for
        as long as these policies hold, so that its descriptor of the root is opened once."""
        key = Path(root)
        jail = self._jails.get(key)
        if jail is None:
            specs = [f.spec.files for f in self._valid if f.spec is not None]
            jail = self._jails.setdefault(key, FileJail(
                root,
                hidden=[path for spec in specs for path in spec.hidden],
                read_only=[path for spec in specs for path in spec.read_only],
            ))
        return jail

    def redactor(self) -> Redactor:
        """A `Redactor` with every file's patterns and PII kinds (all kinds in data-minimisation mode), made once:
        policy files read again are a new `Policies`, and a `Redactor` is fixed once made, so every agent run and
        the governance plugin share one, with its compiled shapes and remembered masks (a run made its own before,
        on its way to its first streamed event)."""
        redactor = self._redactor
        if redactor is None:
            specs = [f.spec.redaction for f in self._valid if f.spec is not None]
            pii: list[str] = ["all"] if self.data_minimisation else [k for spec in specs for k in spec.pii]
            redactor = self._redactor = Redactor(patterns=[p for spec in specs for p in spec.patterns],
                                                 pii=dict.fromkeys(pii))
        return redactor


def load_policies(root: str | Path) -> Policies:
    """Read the policy files of the workspace rooted at ``root`` (no caching; see `PolicyCache`)."""
    root = Path(root)
    files = [_load_file(root, path) for path in policy_paths(root)]
    settings = project_settings(root)
    return Policies(files, data_minimisation=bool(settings and settings.data_minimisation))


def policy_paths(root: Path) -> list[Path]:
    """The policy files of a workspace: ``policies/*.yaml`` and ``*.yml``, then those ``parac.yaml`` lists."""
    folder = root / ".parac" / "policies"
    paths = sorted(p for pattern in ("*.yaml", "*.yml") for p in folder.glob(pattern)) if folder.is_dir() else []
    settings = project_settings(root)
    for extra in settings.policies if settings else ():
        path = root / ".parac" / extra
        if path not in paths:
            paths.append(path)
    return paths


def project_settings(root: Path) -> ProjectSettings | None:
    """``parac.yaml``'s settings read without loading the workspace; None when the file is absent or does not load."""
    doc = load_source(root / ".parac" / "parac.yaml") if (root / ".parac" / "parac.yaml").is_file() else None
    if doc is None or not doc.ok or not isinstance(doc.data, dict):
        return None
    try:
        return ProjectSettings.model_validate(doc.data)
    except ValueError:
        return None


def _load_file(root: Path, path: Path) -> PolicyFile:
    from pydantic import ValidationError

    label = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    if not path.is_file():
        return PolicyFile(label, None, None, (Diagnostic.at(path, None, "missing", "the policy file does not exist"),))
    doc = load_source(path)
    if not doc.ok:
        return PolicyFile(label, None, doc, tuple(doc.diagnostics))
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        return PolicyFile(label, None, doc, (Diagnostic.at(path, doc.span(()), "type", "expected a mapping"),))
    try:
        return PolicyFile(label, PolicySpec.model_validate(data), doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        span = doc.span(tuple(first["loc"]))
        message = f'{".".join(str(p) for p in first["loc"])}: {first["msg"]}'
        return PolicyFile(label, None, doc, (Diagnostic.at(path, span, "policy", message),))


class PolicyCache:
    """One workspace's policies, rebuilt when ``parac.yaml``, the policies folder or a policy file changes.

    Each workspace holds its own (``Workspace.current_policies()``), so two hosts in one process never share
    decisions, rate-limit counts or file jails. The files are checked (a few ``stat`` calls) at most every `RECHECK_S`
    seconds, so a long-running server follows edits within that time without paying for the checks on every call."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._entry: tuple[list[Path], tuple[Any, ...], Policies] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def get(self, *, refresh: bool = False) -> Policies:
        """The current policies; ``refresh`` looks at the files now rather than within `RECHECK_S`."""
        cached = self._entry
        if cached is not None:
            now = time.monotonic()
            if not refresh and now - self._checked < RECHECK_S:
                return cached[2]
            if _stats(cached[0]) == cached[1]:
                self._checked = now
                return cached[2]
        root = self.root
        watched = [root / ".parac" / "parac.yaml", root / ".parac" / "policies", *policy_paths(root)]
        key = _stats(watched)
        policies = load_policies(root)
        with self._lock:
            if self._entry is not None:
                policies._windows = self._entry[2]._windows  # rate limits survive an edit of the policies
            self._entry = (watched, key, policies)
            self._checked = time.monotonic()
        return policies


def _stats(paths: list[Path]) -> tuple[Any, ...]:
    parts: list[Any] = []
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            parts.append(None)
            continue
        parts.append((info.st_mtime_ns, info.st_size, info.st_ino))
    return tuple(parts)


def _scope_matches(patterns: list[str] | None, value: str | None) -> bool:
    if patterns is None:
        return True
    return value is not None and any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


def _caller(agent: str | None, workflow: str | None) -> str:
    if agent and workflow:
        return f'agent "{agent}" in workflow "{workflow}"'
    if agent:
        return f'agent "{agent}"'
    if workflow:
        return f'workflow "{workflow}"'
    return "direct calls (no agent)"


def _parse_rate(rate: str) -> tuple[int, float]:
    calls, period = rate.split("/")
    return int(calls), PERIODS[period]


def _strictest(values: Iterable[float | int | None], default: float) -> float:
    chosen = [value for value in values if value is not None]
    return min(chosen) if chosen else default
