"""`ParacApp`: the state behind one MCP server: the lazily loaded workspace and plugins, the face modules, who is
subscribed to what, and the watcher that turns file changes under `.parac/` into MCP notifications.

Nothing here runs before the handshake: the first request that needs the workspace or the faces loads them
(the workspace and plugins in a worker thread, so pings are still answered meanwhile), once.
"""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

from parac.server.startup import loading
from .faces import Faces
from .profiles import BUILT_IN, DEFAULT, Profile
from parac.server.auth.roles import TokenAuthority

if TYPE_CHECKING:
    from mcp.server.session import ServerSession
    from mcp.server.subscriptions import SubscriptionBus

    from parac.core.workspace import Workspace
    from parac.server.host import Host
    from parac.server.metrics import Metrics

log = logging.getLogger("parac.mcp")

FACE_PACKAGES = ("parac.mcp_tools", "parac.resources", "parac.prompts")
"""Every module of these packages that defines `register(faces)` contributes to the server."""

CLIENT_LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")


@dataclass
class Loaded:
    host: Host
    workspace: Workspace | None
    workspace_error: str | None = None


@dataclass
class Subscribers:
    """Legacy-era sessions (2025-11-25 and older) that get list-changed notifications, and their subscriptions."""

    sessions: list[ServerSession] = field(default_factory=list)
    by_uri: dict[str, list[ServerSession]] = field(default_factory=dict)


class ParacApp:
    def __init__(
        self,
        start: Path | None = None,
        *,
        tokens: TokenAuthority | None = None,
        transport: str = "stdio",
        poll_interval: float = 0.5,
        face_packages: tuple[str, ...] = FACE_PACKAGES,
        host: Host | None = None,
        resume_runs: bool = False,
        profile: str | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """`host`: serve an already loaded plugin host (and its workspace) instead of loading one on first use.
        `resume_runs`: load at start and resume workflow runs that were interrupted (opt-in: a server an editor
        spawns should not start spending on its own). `profile`: the tool profile to serve whatever `parac.yaml`
        says (`--profile`; checked at start by `parac.server.mcp.run`)."""
        self.start = start
        self.profile_override = profile
        self.profile: Profile = BUILT_IN.get(profile or DEFAULT, BUILT_IN[DEFAULT])
        """The tool profile served (`parac.server.mcp.profiles`): re-read with `parac.yaml`, the last good one kept."""
        self.resume_runs = resume_runs
        self.metrics = metrics
        """The server's Prometheus counters (`--metrics-port`): requests here, calls and runs of the host it loads."""
        self.tokens = tokens or TokenAuthority()
        self.transport = transport
        self.poll_interval = poll_interval
        self.face_packages = face_packages
        self.client_log_level = "info"
        self.file_changes = 0  # the watcher's count: memory notes and other files no spec index covers
        self.cursor_secret = os.urandom(16)
        """Signs the cursors of every listing this server answers: fresh per process, so that a cursor from an
        earlier server (or one a client made up) is refused rather than trusted (see `parac.core.pages`)."""
        self.subscribers = Subscribers()
        self.bus: SubscriptionBus | None = None  # set by the server assembly (2026-07-28 listen streams)
        self._faces: Faces | None = None
        self._loaded: Loaded | None = None if host is None else Loaded(host, host.workspace)
        if host is not None and metrics is not None:
            metrics.watch(host)
        self._load_lock = anyio.Lock()
        self._wanted = anyio.Event()  # set by the first loaded(): the watcher must not load anything by itself
        self._asked = False  # loaded() was called (it set _wanted): a plain flag, read on every request
        self._after_load: list[Callable[[], Awaitable[None]]] = []
        self._watching = False
        if resume_runs:
            self._wanted.set()

    # -- lazy parts ------------------------------------------------------------------------------------------------

    @property
    def faces(self) -> Faces:
        """The face modules' registrations, imported on first use (after the handshake)."""
        if self._faces is None:
            faces = Faces(self.start)
            with loading():
                for package_name in self.face_packages:
                    package = importlib.import_module(package_name)
                    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
                        if info.name.startswith("_"):
                            continue
                        module = importlib.import_module(f"{package_name}.{info.name}")
                        register = getattr(module, "register", None)
                        if callable(register):
                            register(faces)
            self._faces = faces
        return self._faces

    async def loaded(self) -> Loaded:
        """The plugins and the workspace, loaded once in a worker thread."""
        loaded = self._loaded
        if loaded is not None and self._asked:  # every request after the first: nothing to signal
            return loaded
        self._asked = True
        self._wanted.set()
        if self._loaded is None:
            async with self._load_lock:
                if self._loaded is None:
                    self._loaded = await anyio.to_thread.run_sync(self._load)
                    self.update_profile()
        return self._loaded

    def settled(self) -> Loaded | None:
        """What `loaded()` would answer at once (loaded, and asked for before: nothing to signal), else None; a
        plain call, so a request's many reads of the workspace make no coroutine each."""
        return self._loaded if self._asked else None

    @property
    def current(self) -> Loaded | None:
        """What is loaded so far (None before the first `loaded()`), for probes that must not start a load."""
        return self._loaded

    @property
    def cold(self) -> bool:
        """Nothing is loaded yet: neither the face modules nor the workspace (a list may come from disk)."""
        return self._loaded is None and self._faces is None

    def after_load(self, check: Callable[[], Awaitable[None]]) -> None:
        """Have the watcher load the workspace now and then run `check` (what was answered before it loaded)."""
        self._after_load.append(check)
        self._wanted.set()

    def _load(self) -> Loaded:
        from parac.core.diagnostics import ParacError
        from parac.server.host import Host

        try:
            with loading():
                host = Host.for_workspace(self.start)
            if self.metrics is not None:
                self.metrics.watch(host)
        except ParacError as error:
            log.warning("serving without a workspace: %s", error)
            return Loaded(Host(), None, str(error))
        return Loaded(host, host.workspace)  # plugin problems were logged by the host (stderr) and show in list_plugins

    def stamp(self) -> tuple[int, ...]:
        """Moves whenever what the lists show may have changed: a plugin registered something, the workspace
        re-read a file, or the watcher saw any file under `.parac/` change (agents, policies, settings, memory
        notes). The MCP lists are cached against it."""
        loaded = self._loaded
        if loaded is None:
            return ()
        workspace = loaded.workspace
        version = workspace.version if workspace is not None else 0
        return (loaded.host.registry.version, id(workspace), version, self.file_changes, self.profile)

    def update_profile(self) -> bool:
        """Read the profile again from the workspace's settings; True when it changed. One that cannot be served
        is logged and the last good one stays: a typo in `parac.yaml` must not take a client's tools away."""
        from .profiles import ProfileError, resolve

        loaded = self._loaded
        if loaded is None or loaded.workspace is None:
            return False
        try:
            profile = resolve(loaded.workspace.settings.mcp, self.profile_override)
        except ProfileError as error:
            log.error("keeping the MCP tool profile %s: %s", self.profile.name, error)
            return False
        changed, self.profile = profile != self.profile, profile
        if changed:
            log.info("MCP tool profile: %s", profile.name)
        return changed

    def client_logs(self, level: str) -> bool:
        """True when a log message at `level` should go to the client (the level set by `logging/setLevel`)."""
        order = CLIENT_LOG_LEVELS
        return level in order and order.index(level) >= order.index(self.client_log_level)

    # -- change notifications --------------------------------------------------------------------------------------

    def forget(self, session: ServerSession) -> None:
        if session in self.subscribers.sessions:
            self.subscribers.sessions.remove(session)
        for sessions in self.subscribers.by_uri.values():
            if session in sessions:
                sessions.remove(session)

    async def watch(self) -> None:
        """Poll `.parac/` for changed files; refresh the workspace and notify clients. Runs for the server's life.

        Polling (stat of a few dozen files) needs no extra dependency and behaves the same on every platform.
        It starts once something has asked for the workspace, so an idle or short-lived server never loads it.
        One watcher per app: a second call (`parac serve` runs it, and so does the MCP endpoint it mounts) returns.
        """
        if self._watching:
            return
        self._watching = True
        await self._wanted.wait()
        loaded = await self.loaded()
        while self._after_load:
            await self._after_load.pop(0)()
        workspace = loaded.workspace
        if workspace is None:
            return
        if self.resume_runs:
            from parac.mcp_tools.workflows_run import resume_interrupted

            resumed = await anyio.to_thread.run_sync(resume_interrupted, workspace, loaded.host)
            log.info("resumed %d interrupted workflow runs: %s", len(resumed), ", ".join(resumed) or "none")
        seen = _snapshot(str(workspace.dir))
        while True:
            await anyio.sleep(self.poll_interval)
            now = _snapshot(str(workspace.dir))
            if now != seen:
                changed = {Path(path) for path in seen.keys() | now.keys() if seen.get(path) != now.get(path)}
                seen = now
                await self.on_change(workspace, changed)

    async def on_change(self, workspace: Workspace, changed: set[Path]) -> None:
        for path in sorted(changed):
            workspace.refresh(path)
        self.file_changes += 1
        log.info("workspace changed: %s", ", ".join(str(p.relative_to(workspace.dir)) for p in sorted(changed)))
        uris = {uri for path in changed for uri in uris_for(workspace, path)}
        if self.update_profile():
            await self.publish_tools_changed()
        await self.publish_changes(uris)

    async def publish_tools_changed(self) -> None:
        """Tell every listening client that the tools changed (the profile did)."""
        from mcp.shared.subscriptions import ToolsListChanged

        for session in list(self.subscribers.sessions):
            try:
                await session.send_tool_list_changed()
            except Exception as error:
                log.debug("dropping a session that cannot be notified: %s", error)
                self.forget(session)
        if self.bus is not None:
            await self.bus.publish(ToolsListChanged())

    async def publish_changes(self, uris: set[str]) -> None:
        """Tell every listening client that resources and prompts changed, and which subscribed URIs were updated."""
        from mcp.shared.subscriptions import PromptsListChanged, ResourcesListChanged, ResourceUpdated

        for session in list(self.subscribers.sessions):
            try:
                await session.send_resource_list_changed()
                await session.send_prompt_list_changed()
            except Exception as error:
                log.debug("dropping a session that cannot be notified: %s", error)
                self.forget(session)
        for uri in sorted(uris):
            for session in list(self.subscribers.by_uri.get(uri, ())):
                try:
                    await session.send_resource_updated(uri)
                except Exception as error:
                    log.debug("dropping a session that cannot be notified: %s", error)
                    self.forget(session)
        if self.bus is not None:
            await self.bus.publish(ResourcesListChanged())
            await self.bus.publish(PromptsListChanged())
            for uri in sorted(uris):
                await self.bus.publish(ResourceUpdated(uri=uri))


def uris_for(workspace: Workspace, path: Path) -> set[str]:
    """The `parac://` resources whose content a change to `path` may alter."""
    try:
        parts = path.relative_to(workspace.dir).parts
    except ValueError:
        return set()
    if not parts:
        return set()
    if parts[0] == "agents":
        # A parent's change alters every resolved descendant: re-announce every agent.
        names = set(workspace.agent_names()) | {path.stem}
        return {f"parac://agents/{name}" for name in names} | {f"parac://agents/{path.stem}/source"}
    if parts[0] == "skills" and len(parts) >= 2:
        return {f"parac://skills/{parts[1]}", f"parac://skills/{parts[1]}/{'/'.join(parts[2:])}"}
    if parts[0] == "workflows":
        return {f"parac://workflows/{path.stem}"}
    if parts[0] == "policies":
        return {"parac://policies"}
    if parts[0] == "memory":
        return {f"parac://memory/{'/'.join(parts[1:])}"}
    if parts[:2] == ("roadmap", "decisions.md"):
        return {"parac://roadmap/decisions"}
    return set()


def _snapshot(root: str) -> dict[str, tuple[int, int]]:
    """(mtime, size) of every file under `root`, skipping `state/` (the database changes on every call). Paths
    stay strings: a workspace of a thousand agents is walked twice a second, and the server answers calls
    meanwhile."""
    out: dict[str, tuple[int, int]] = {}
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if not (folder == root and entry.name == "state"):
                    stack.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                stat = entry.stat(follow_symlinks=False)
                out[entry.path] = (stat.st_mtime_ns, stat.st_size)
    return out

