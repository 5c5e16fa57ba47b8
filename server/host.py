"""The plugin host: loads plugins with pluggy, collects what they register, and runs the call hooks.

Loading is forgiving by design: a plugin that fails to import, or raises in a hook, is recorded in
:attr:`Host.problems` (shown by ``parac plugins`` and on stderr) and the host carries on without it.

Which plugins load:
- built-ins: every module of :mod:`parac.plugins`, named by its module name;
- installed packages: the ``parac`` entry-point group, named by entry-point name; ``PARAC_LOAD_PLUGINS`` (a
  comma-separated allow-list; empty means none) limits them;
- ``PARAC_DISABLE_PLUGINS`` and ``parac.yaml``'s ``plugins.disabled`` block any of the above by name.

A plugin is registered as it is (a module, an object), unless it defines ``parac_plugin()``: then each host
registers the object that call returns, so a plugin that keeps state (governance: a workspace's policies, trail and
redactor) keeps it per host, and one process can serve several workspaces.
"""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from parac.core import telemetry
from parac.core.calls import CallContext, CallDenied, LLMCall, ToolCall
from parac.core.diagnostics import ParacError
from parac.core.sources import load_source
from parac.core.tools import Tool, invoke_tool
from parac.core.workspace import SETTINGS_FILE, PARAC_DIR, Workspace, find_root

from . import hookspecs
from .registry import KINDS, Registry

if TYPE_CHECKING:
    from parac.core.channels import Channel

    from .gateway import ToolSources
    from .metrics import Metrics

log = logging.getLogger("parac.host")
events_log = logging.getLogger("parac.events")
"""A line per run, step and gate for the process's own logs (JSON lines name run and trace); MCP clients get the
same events as progress, so `parac.server.mcp.logs` does not forward these records to them."""
ENV_ALLOW = "PARAC_LOAD_PLUGINS"
ENV_DISABLE = "PARAC_DISABLE_PLUGINS"
BUILTIN_PACKAGE = "parac.plugins"
#: A plugin that defines this callable is registered as what it returns, called once per host (see parac.server.api).
PLUGIN_FACTORY = "parac_plugin"


@dataclass
class PluginProblem:
    plugin: str
    phase: str  # "import" or the hook's name
    message: str


@dataclass
class PluginInfo:
    name: str
    source: str  # "builtin", "entry point <dist> <version>", or "object"
    module: str | None
    enabled: bool = True
    registered: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**self.loaded(), "registered": self.registered}

    def loaded(self) -> dict[str, Any]:
        """What the ``plugin.load`` event says of it (the source names an entry point's distribution and version)."""
        return {"name": self.name, "source": self.source, "module": self.module, "enabled": self.enabled,
                "problems": list(self.problems)}


def _names(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").split(",") if part.strip()}


class Host:
    """One plugin manager and its registry; optionally bound to a workspace."""

    def __init__(
        self,
        *,
        disabled: Iterable[str] = (),
        extra_plugins: Iterable[tuple[str, object]] = (),
        entry_points: bool = True,
    ) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.problems: list[PluginProblem] = []
        self.infos: dict[str, PluginInfo] = {}
        self.workspace: Workspace | None = None
        self.tool_sources: ToolSources | None = None
        self.hooks = PluginHooks(self)
        self.metrics: Metrics | None = None  # the serving app's counters (``Metrics.watch``), if it keeps any
        self._disabled = set(disabled) | _names(os.environ.get(ENV_DISABLE))
        self._load_builtins()
        if entry_points:
            self._load_entry_points()
        for name, plugin in extra_plugins:
            self._add(name, plugin, "object", getattr(plugin, "__name__", None))
        self._collect()
        # What was loaded is itself an audited fact; governance writes it with the process's first audit entry.
        self.hooks.event("plugin.load", {"plugins": [info.loaded() for info in self.infos.values()]})

    @classmethod
    def for_workspace(cls, start: Path | str | None = None, **options: Any) -> Host:
        """A host whose plugins follow the workspace's ``parac.yaml``, with that workspace opened."""
        root = find_root(start)
        disabled = set(options.pop("disabled", ())) | _disabled_in_settings(root)
        host = cls(disabled=disabled, **options)
        host.open_workspace(root)
        return host

    def open_workspace(self, root: Path) -> Workspace:
        self.workspace = Workspace(root, self.registry.catalog)
        if self.tool_sources is not None:  # a workspace opened again: the old servers' tools go with them
            self.tool_sources.close()
            for name in self.tool_sources.tools:
                self.registry.catalog.tools.pop(name, None)
            self.registry.version += 1
            self.tool_sources = None
        if self.workspace.settings.mcp_servers:  # the client machinery (asyncio, the SDK) loads only when used
            from .gateway import ToolSources, referenced_tools

            # External MCP servers' tools join the registry as SERVER.tool; nothing connects until one is needed.
            self.tool_sources = ToolSources(self.workspace.settings.mcp_servers, self.workspace.root, self._add_external)
            self.tool_sources.declare(referenced_tools(self.workspace))
        telemetry.configure(self.workspace.settings.telemetry)  # traces on if parac.yaml or OTEL_* ask (process-wide)
        self._each_impl("parac_workspace_opened", workspace=self.workspace)
        return self.workspace

    def _add_external(self, tool: Tool) -> None:
        self.registry.registrar("tools", f"mcp:{tool.name.partition('.')[0]}")(tool)

    # -- loading ---------------------------------------------------------------------------------------------------

    def _load_builtins(self) -> None:
        package = importlib.import_module(BUILTIN_PACKAGE)
        for module in sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_")):
            self._import(module, f"{BUILTIN_PACKAGE}.{module}", "builtin")

    def _load_entry_points(self) -> None:
        allow = os.environ.get(ENV_ALLOW)
        allowed = None if allow is None else _names(allow)
        if allowed == set():
            return  # an empty allow-list: no need to read every installed package's metadata
        from importlib.metadata import entry_points
        for ep in entry_points(group=hookspecs.PROJECT):
            if allowed is not None and ep.name not in allowed:
                continue
            dist = f" {ep.dist.name} {ep.dist.version}" if ep.dist else ""
            if ep.name in self._disabled:
                self.infos[ep.name] = PluginInfo(ep.name, f"entry point{dist}", ep.value, enabled=False)
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken plugin must not take the host down
                self._problem(ep.name, "import", f"{type(exc).__name__}: {exc}")
                self.infos[ep.name] = PluginInfo(ep.name, f"entry point{dist}", ep.value, problems=[str(exc)])
                continue
            self._add(ep.name, plugin, f"entry point{dist}", ep.value)

    def _import(self, name: str, module: str, source: str) -> None:
        if name in self._disabled:
            self.infos[name] = PluginInfo(name, source, module, enabled=False)
            return
        try:
            plugin = importlib.import_module(module)
        except Exception as exc:
            self._problem(name, "import", f"{type(exc).__name__}: {exc}")
            self.infos[name] = PluginInfo(name, source, module, problems=[str(exc)])
            return
        self._add(name, plugin, source, module)

    def _add(self, name: str, plugin: object, source: str, module: str | None) -> None:
        if name in self._disabled:
            self.infos[name] = PluginInfo(name, source, module, enabled=False)
            return
        try:
            factory = getattr(plugin, PLUGIN_FACTORY, None)
            if callable(factory):  # a plugin with state per host: this host gets its own instance
                plugin = factory()
            self.pm.register(plugin, name=name)
            self.hooks.bind()
        except Exception as exc:  # e.g. a hookimpl that matches no hookspec's signature
            self._problem(name, "register", str(exc))
            self.infos[name] = PluginInfo(name, source, module, problems=[str(exc)])
            return
        self.infos[name] = PluginInfo(name, source, module)

    def _collect(self) -> None:
        for kind in KINDS:
            hook = f"parac_register_{kind}"
            for impl in getattr(self.pm.hook, hook).get_hookimpls():  # registration order: first wins
                register = self.registry.registrar(kind, impl.plugin_name)
                try:
                    impl.function(register=register)
                except Exception as exc:
                    self._problem(impl.plugin_name, hook, _describe(exc))
        for name, kinds in self.registry.names_by_plugin().items():
            if name in self.infos:
                self.infos[name].registered = kinds
        for message in self.registry.conflicts:
            log.warning(message)

    def _each_impl(self, hook: str, **kwargs: Any) -> None:
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            try:
                impl.function(**kwargs)
            except Exception as exc:
                self._problem(impl.plugin_name, hook, _describe(exc))

    def enforcing(self) -> bool:
        """Whether a plugin decides tool calls: one implementing ``parac_before_tool_call`` that loaded, and opened
        the workspace, without a problem. Without one, registered tools are refused (deny unless granted)."""
        return any(
            not (info := self.infos.get(impl.plugin_name)) or not info.problems
            for impl in self.pm.hook.parac_before_tool_call.get_hookimpls()
        )

    def _problem(self, plugin: str, phase: str, message: str) -> None:
        self.problems.append(PluginProblem(plugin, phase, message))
        if plugin in self.infos:
            self.infos[plugin].problems.append(f"{phase}: {message}")
        log.warning("plugin %s failed in %s: %s", plugin, phase, message)

    # -- use ---------------------------------------------------------------------------------------------------------

    def tool(self, name: str) -> Tool:
        contribution = self.registry.catalog.tools.get(name)
        if contribution is None and self.tool_sources is not None and self.tool_sources.tool(name) is not None:
            contribution = self.registry.catalog.tools.get(name)
        if contribution is None:
            from parac.core.diagnostics import suggestion

            raise ParacError(f'unknown tool "{name}"{suggestion(name, self.registry.catalog.tools)}')
        return contribution.value

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: CallContext | None = None, channel: Channel | None = None
    ) -> Any:
        """Run a registered tool through argument checks and the governance hooks, on behalf of ``context`` (the
        caller's, built by the face; a local caller's when there is none); ``channel`` is the face's way back to
        the caller for the tool's logs, progress and questions (none: nobody to ask)."""
        call = (context or CallContext()).tool_call(name, arguments)
        return await invoke_tool(self.tool(name), call, self.hooks, workspace=self.workspace, channel=channel)


class PluginHooks:
    """The core's :class:`~parac.core.calls.CallHooks`, answered by the plugins' hook implementations."""

    def __init__(self, host: Host) -> None:
        self._host = host
        self._hook = host.pm.hook
        self.bind()

    def bind(self) -> None:
        """Settle how each tool call reaches its hooks; the host calls it after every plugin it registers. A tool
        call runs two hooks per request, and pluggy's dispatch costs about as much as the governance plugin's own
        work, so a hook with exactly one plain implementation (the governance plugin's) is called directly; a
        second implementation or a wrapper, registered later, brings pluggy's dispatch back."""
        self._before_tool = _direct(self._hook.parac_before_tool_call)
        self._after_tool = _direct(self._hook.parac_after_tool_call)

    def before_tool_call(self, call: ToolCall) -> None:
        call.registered = call.tool in self._host.registry.catalog.tools
        if call.registered and not self._host.enforcing():
            raise CallDenied(
                f'tool "{call.tool}" refused: no policy plugin is active (governance is disabled or failed to '
                f"load), so nothing can grant it",
                rule="no policy plugin",
            )
        try:  # as _fail_closed does, without a closure made for every call
            self._before_tool(call=call)
        except CallDenied:
            raise
        except Exception as exc:
            _refuse_failed(exc, f'tool "{call.tool}"')

    def after_tool_call(self, call: ToolCall, result: Any, error: BaseException | None) -> None:
        try:  # as _observe does, without a closure made for every call
            self._after_tool(call=call, result=result, error=error)
        except Exception as exc:
            _observed_failed(exc)
        if self._host.metrics is not None:
            self._host.metrics.tool_call(call, error)

    def before_llm_call(self, call: LLMCall) -> None:
        _fail_closed(lambda: self._hook.parac_before_llm_call(call=call), f'model "{call.model}"')

    def after_llm_call(self, call: LLMCall, response: Any, error: BaseException | None) -> None:
        _observe(lambda: self._hook.parac_after_llm_call(call=call, response=response, error=error))
        if self._host.metrics is not None:
            self._host.metrics.llm_call(call, response, error)

    def event(self, name: str, data: dict[str, Any]) -> None:
        if events_log.isEnabledFor(logging.INFO):
            events_log.info("%s", " ".join([name, *(f"{k}={data[k]}" for k in _EVENT_KEYS if data.get(k) is not None)]))
        _observe(lambda: self._hook.parac_event(name=name, data=data))
        if self._host.metrics is not None:
            self._host.metrics.event(name, data)


_EVENT_KEYS = ("run_id", "workflow", "agent", "step", "status", "attempt")
"""What an event's log line names."""


def _direct(hook: pluggy.HookCaller) -> Any:
    """`hook`'s one implementation itself, when calling it is all pluggy would do: a single implementation, no
    wrapper, taking every argument the hookspec gives (so it is called with the same keywords); else `hook`."""
    impls = hook.get_hookimpls()
    if len(impls) != 1 or hook.spec is None:
        return hook
    impl = impls[0]
    if impl.hookwrapper or impl.wrapper or impl.kwargnames or set(impl.argnames) != set(hook.spec.argnames):
        return hook
    return impl.function


def _fail_closed(run: Any, what: str) -> None:
    try:
        run()
    except CallDenied:
        raise
    except Exception as exc:
        _refuse_failed(exc, what)


def _refuse_failed(exc: Exception, what: str) -> None:
    log.error("a governance hook failed for %s: %s", what, _describe(exc))
    raise CallDenied(f"{what} refused: a governance hook failed ({type(exc).__name__})") from exc


def _observe(run: Any) -> None:
    try:
        run()
    except Exception as exc:
        _observed_failed(exc)


def _observed_failed(exc: Exception) -> None:
    log.error("an observing hook failed: %s", _describe(exc))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _disabled_in_settings(root: Path) -> set[str]:
    """Plugins ``parac.yaml`` disables, read before plugins load (a broken file disables nothing)."""
    doc = load_source(root / PARAC_DIR / SETTINGS_FILE)
    if not doc.ok or not isinstance(doc.data, dict):
        return set()
    plugins = doc.data.get("plugins")
    disabled = plugins.get("disabled") if isinstance(plugins, dict) else None
    return {str(name) for name in disabled} if isinstance(disabled, list) else set()
