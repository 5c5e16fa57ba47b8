"""What ``parac doctor`` checks: this machine and this workspace, each finding with the exact fix.

Every check only reads: files are opened for reading, providers get one bounded HTTP request, the sandbox probe runs
``true`` in a throw-away folder; nothing under the workspace or the editors' files is written (a test hashes the
tree before and after). A check that cannot run says why instead of failing the others.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from typing_extensions import TypedDict

from parac.core.secrets import SecretFileError, read_secret_file, secret_path
from parac.core.sources import settings_place

if TYPE_CHECKING:
    from parac.core.specs import ProviderSettings
    from parac.server.host import Host

Status = Literal["ok", "broken", "note"]
MIN_PYTHON = (3, 11)
PROBE_TIMEOUT_S = 3.0
SERVE_MODULE = "parac.server.mcp"


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    detail: str
    fix: str | None = None
    """The exact thing to do (a command to run, a line to write) when ``status`` is not ``ok``."""

    def to_json(self) -> dict[str, str | None]:
        return asdict(self)


def run_checks(workspace: str | None) -> list[Finding]:
    """Every finding, in the order a person would fix them (a broken workspace hides the checks that need it)."""
    findings = [_python()]
    from parac.core.diagnostics import ParacError
    from parac.core.workspace import find_root

    try:
        root = find_root(workspace)
    except ParacError as error:
        findings.append(Finding("workspace", "broken", str(error), "parac init  (or: parac -w PROJECT doctor)"))
        return [*findings, _sandbox(None)]
    from parac.server.host import Host

    host = Host.for_workspace(root)
    findings += [*_workspace(host), *_plugins(host), *_providers(host), *_models(host), _sandbox(root), *_clients(root)]
    return findings


def _python() -> Finding:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] >= MIN_PYTHON:
        return Finding("python", "ok", f"Python {version} ({sys.executable})")
    wanted = ".".join(map(str, MIN_PYTHON))
    return Finding("python", "broken", f"Python {version}; parac needs {wanted} or later",
                   f"install Python {wanted}+ and run `make` again (it builds .venv with it)")


def _workspace(host: Host) -> Iterator[Finding]:
    workspace = host.workspace
    assert workspace is not None
    yield Finding("workspace", "ok", f"{workspace.root} ({len(workspace.files)} files under .parac/)")
    errors = [d for d in workspace.validate() if d.severity == "error"]
    if errors:
        first = errors[0].format()
        yield Finding("validation", "broken", f"{len(errors)} error(s), the first: {first}", "parac validate  (and fix each line it prints)")
    else:
        yield Finding("validation", "ok", "every file validates")


def _plugins(host: Host) -> Iterator[Finding]:
    loaded = sum(info.enabled and not info.problems for info in host.infos.values())
    if not host.problems:
        yield Finding("plugins", "ok", f"{loaded} loaded without problems")
    for problem in host.problems:
        yield Finding(f"plugin {problem.plugin}", "broken", f"{problem.phase}: {problem.message}",
                      f"fix or reinstall it, or disable it: add {problem.plugin} to plugins.disabled in .parac/parac.yaml")


def _providers(host: Host) -> Iterator[Finding]:
    assert host.workspace is not None
    settings = host.workspace.settings
    if not settings.providers:
        yield Finding("providers", "ok", "none named in parac.yaml (offline models always work; hosted ones use litellm's defaults)")
    for name, provider in sorted(settings.providers.items()):
        yield from _key(name, provider, host.workspace.dir)
        if provider.api_base:
            yield _reach(name, provider.api_base)


def _models(host: Host) -> Iterator[Finding]:
    """Models the workspace's agents, workflow steps and default use, served by a provider that needs credentials
    from the environment (a named provider's key is checked with the provider)."""
    from parac.core.providers import provider_missing_keys

    workspace = host.workspace
    assert workspace is not None
    used = {workspace.settings.default_model} | {workspace.agent_summary(name)["model"] for name in workspace.agents}
    used |= {step.model for entry in workspace.workflows.values() if entry.spec for step in entry.spec.steps}
    catalog = host.registry.catalog
    models = sorted(m for m in used if m and m.split("/", 1)[0] not in workspace.settings.providers)
    broken = False
    for model in models:
        provider = catalog.provider_for(model)
        missing = provider_missing_keys(provider, model) if provider is not None else []
        if missing:
            broken = True
            yield Finding(f"model {model}", "broken", f"{provider.name} needs {', '.join(missing)}, which is not set",
                          f"export {missing[0]}=...  (or name a provider for it in .parac/parac.yaml)")
    if not broken:
        yield Finding("models", "ok", f"{', '.join(models) or 'none'}: nothing missing")


class ModelStatus(TypedDict):
    model: str
    provider: str | None
    reachable: bool
    detail: str | None


def model_status(host: Host) -> list[ModelStatus]:
    """Each model the workspace uses (its agents', workflow steps', default) and the offline ones: the provider
    serving it, and whether it is reachable as far as can be known without a paid call (an offline model always;
    a named provider's `api_base` when it answers HTTP and its key is set; another hosted model when the
    credentials its provider needs are set). `GET /chat/models` shows it."""
    from parac.core.providers import OFFLINE_MODELS, provider_missing_keys

    workspace = host.workspace
    assert workspace is not None
    settings = workspace.settings
    used = {settings.default_model} | {workspace.agent_summary(name)["model"] for name in workspace.agent_names()}
    used |= {step.model for entry in workspace.workflows.values() if entry.spec for step in entry.spec.steps}
    rows: list[ModelStatus] = []
    for model in sorted({m for m in used if m} | set(OFFLINE_MODELS)):
        prefix = model.split("/", 1)[0]
        named = settings.providers.get(prefix) if "/" in model else None
        provider = host.registry.catalog.provider_for(model)
        detail = None
        if named is not None:
            keys = [f.detail for f in _key(prefix, named, workspace.dir) if f.status != "ok"]
            reach = _reach(prefix, named.api_base) if named.api_base else None
            detail = "; ".join(keys + ([reach.detail] if reach is not None and reach.status != "ok" else [])) or None
            reachable = detail is None
            name = prefix
        elif provider is None:
            reachable, name, detail = False, None, "no provider serves this model"
        else:
            missing = provider_missing_keys(provider, model)
            reachable, name = not missing, provider.name
            detail = f"needs {', '.join(missing)}" if missing else None
        rows.append(ModelStatus(model=model, provider=name, reachable=reachable, detail=detail))
    return rows


def _key(name: str, provider: ProviderSettings, parac_dir: Path) -> Iterator[Finding]:
    where = f"providers.{name}"
    if provider.api_key_env:
        if os.environ.get(provider.api_key_env):
            yield Finding(f"{where} key", "ok", f"${provider.api_key_env} is set")
        else:
            yield Finding(f"{where} key", "broken", f"${provider.api_key_env} is not set",
                          f"export {provider.api_key_env}=...  (in the shell or the editor that starts parac)")
    if provider.api_key_file:
        path = secret_path(provider.api_key_file, parac_dir)
        try:
            read_secret_file(path, None)
        except SecretFileError as error:  # as a model call would find it: missing, empty or not text
            place = settings_place(parac_dir, ("providers", name, "api_key_file"))
            yield Finding(f"{where} key", "broken", f"{place}: {error}",
                          f"put the key in {path} (chmod 600), or change api_key_file")
            return
        yield Finding(f"{where} key", "ok", f"{path} holds a key")


def _reach(name: str, api_base: str) -> Finding:
    """Any HTTP answer (401 and 404 included) proves the server is there; only no answer at all is a problem."""
    import httpx

    try:
        response = httpx.get(api_base, timeout=PROBE_TIMEOUT_S, follow_redirects=False)
    except httpx.HTTPError as error:
        return Finding(f"providers.{name} reachable", "broken", f"{api_base}: {type(error).__name__}: {error}",
                       f"start the server behind {api_base}, or correct providers.{name}.api_base in .parac/parac.yaml")
    return Finding(f"providers.{name} reachable", "ok", f"{api_base} answered HTTP {response.status_code}")


def _sandbox(root: Path | None) -> Finding:
    """Whether the commands tools run can be confined as the policies ask (outside a workspace: bubblewrap)."""
    from parac.core import sandbox

    if root is not None:
        from parac.core.policy import Policies

        if Policies.for_root(root).command_policy().sandbox.kind == "none":
            return Finding("sandbox", "note", "a policy says shell: {sandbox: none}: commands run unconfined but for the allow-list",
                           "remove sandbox: none from .parac/policies/ once bubblewrap works here")
    found = sandbox.bubblewrap_status()
    if not isinstance(found, str):
        return Finding("sandbox", "ok", f"bubblewrap starts ({found[0]})")
    return Finding("sandbox", "broken", f"shell_run refuses every command: {found}", sandbox.FIX)


def _clients(root: Path) -> Iterator[Finding]:
    from parac.server.mcp.clients import CLIENTS, config_path

    configured = 0
    for client, fmt in CLIENTS.items():
        path = config_path(client, root)
        try:
            document = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        except (OSError, ValueError) as error:
            yield Finding(f"client {client}", "broken", f"cannot read {path}: {error}", f"fix or move {path}")
            continue
        servers = document.get(fmt.servers_key) if isinstance(document, dict) else None
        for name, entry in (servers or {}).items() if isinstance(servers, dict) else ():
            args = entry.get("args") if isinstance(entry, dict) else None
            if not isinstance(args, list) or SERVE_MODULE not in args:
                continue
            configured += 1
            yield _client_entry(client, fmt.name, name, entry, path, root)
    if not configured:
        yield Finding("editor clients", "note", "no MCP client is set up to start parac",
                      "parac mcp install claude-code  (or claude-desktop, cline, roo, kilo, cursor, vscode)")


def _client_entry(client: str, label: str, name: str, entry: dict[str, object], path: Path, root: Path) -> Finding:
    command = str(entry.get("command", ""))
    args = [str(a) for a in entry.get("args", [])]  # type: ignore[attr-defined]
    served = args[args.index("--workspace") + 1] if "--workspace" in args[:-1] else None
    check = f"client {client}"
    if not (os.path.isfile(command) and os.access(command, os.X_OK)):
        return Finding(check, "broken", f"{label} ({path}, {name!r}) starts {command}, which is not there",
                       f"parac mcp install {client} --name {name}")
    if served is not None and Path(served).resolve() != root:
        return Finding(check, "note", f"{label} ({path}, {name!r}) serves another workspace: {served}",
                       f"parac mcp install {client} --name {name}  (to serve {root})")
    return Finding(check, "ok", f"{label} starts parac ({path}, {name!r})")
