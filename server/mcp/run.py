"""Start the MCP server on a transport: stdio (what editors spawn) or Streamable HTTP (uvicorn)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parac.core import telemetry
from parac.core.errors import ParacBaseError
from parac.core.secrets import SecretFileError, read_secret_file

from .http import HttpOptions, build_http_app, is_loopback, resource_url
from parac.server.auth.roles import TokenAuthority

if TYPE_CHECKING:
    from parac.core.sources import SourceDoc
    from parac.server.metrics import Metrics

    from .app import ParacApp
    from .oauth import OAuth

ENV_TOKEN = "PARAC_MCP_TOKEN"
log = logging.getLogger("parac.mcp")

__all__ = ["Endpoint", "HttpOptions", "ServeError", "prepare_endpoint", "run_http", "run_stdio"]


class ServeError(ParacBaseError):
    """The server cannot start as asked (unsafe bind, unreadable token file); the message says what to change."""


def run_stdio(
    workspace: Path | None, *, resume_runs: bool = False, profile: str | None = None, metrics_port: int | None = None
) -> None:
    from parac.server.startup import loading

    check_profile(workspace, profile)
    start_tracing(workspace)
    metrics = serve_metrics(metrics_port)
    with loading():
        import anyio

        from .app import ParacApp
        from .server import build_server
        from .stdio import answering_stdio_server

    app = ParacApp(workspace, transport="stdio", resume_runs=resume_runs, profile=profile, metrics=metrics)
    server = build_server(app)

    async def serve() -> None:
        async with answering_stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    try:
        anyio.run(serve)
    finally:
        telemetry.flush()  # the last request's spans, before the client stops waiting for this process


def run_http(
    workspace: Path | None,
    options: HttpOptions,
    *,
    resume_runs: bool = False,
    profile: str | None = None,
    metrics_port: int | None = None,
) -> None:
    import uvicorn

    asgi, _sdk = prepare_endpoint(workspace, options, resume_runs=resume_runs, profile=profile,
                                  metrics_port=metrics_port).build()
    config = uvicorn.Config(asgi, host=options.host, port=options.port, log_level="warning", lifespan="on")
    uvicorn.Server(config).run()


@dataclass
class Endpoint:
    """What the Streamable HTTP MCP application of one workspace is made of, checked but not built: building it
    imports the MCP SDK (most of a cold start), which `parac serve` leaves until /mcp is first needed."""

    app: ParacApp
    tokens: TokenAuthority
    options: HttpOptions
    oauth: OAuth | None = None
    home: Path | None = None
    """The served workspace, where the endpoint's denials are audited."""

    def build(self) -> tuple[Any, Any]:
        """The ASGI application (behind its authentication) and the SDK's app inside it, whose lifespan (the session
        manager) must run."""
        from .server import build_server

        return build_http_app(build_server(self.app), self.tokens, self.options, self.oauth, self.home)


def prepare_endpoint(
    workspace: Path | None, options: HttpOptions, *, resume_runs: bool = False, profile: str | None = None,
    metrics_port: int | None = None, guarded: bool = False, metrics: Metrics | None = None,
) -> Endpoint:
    """The Streamable HTTP MCP endpoint for `workspace`, ready to build; refuses (`ServeError`) what `parac mcp serve
    --transport http` refuses. `guarded`: an outer authentication layer with credentials of its own decides
    whether an exposed bind may serve (`parac serve`: its `load_gate`). `metrics`: a registry of the caller's
    (`parac serve` serves it at its own `/metrics`) instead of one of `--metrics-port`. Imports no MCP SDK."""
    from .app import ParacApp

    check_profile(workspace, profile)
    start_tracing(workspace)
    serve_keys = _mcp_settings(workspace)
    mcp_settings, parac_dir = serve_keys.values, serve_keys.parac_dir
    tokens = TokenAuthority(_token(serve_keys))
    home = parac_dir.parent if parac_dir is not None else None
    if home is not None:
        tokens.add_store(home)
    oauth = _oauth(serve_keys, options)
    app = ParacApp(workspace, tokens=tokens, transport="http", resume_runs=resume_runs, profile=profile,
                   metrics=metrics or serve_metrics(metrics_port))
    if not guarded and not is_loopback(options.host) and not tokens.required and oauth is None:
        raise ServeError(
            f"refusing to serve MCP on {options.host} without a token: anyone who can reach it could run tools. "
            f"Set {ENV_TOKEN} (or mcp.token_file or mcp.oauth in parac.yaml), or bind 127.0.0.1"
        )
    if options.max_body_bytes is None and isinstance(mcp_settings.get("max_body_bytes"), int):
        options = HttpOptions(**{**options.__dict__, "max_body_bytes": mcp_settings["max_body_bytes"]})
    return Endpoint(app, tokens, options, oauth, home)


def serve_metrics(port: int | None) -> Metrics | None:
    """Prometheus metrics on 127.0.0.1:``port`` (``--metrics-port``; 0 picks a free port, logged), else None."""
    if port is None:
        return None
    import logging

    from parac.server.metrics import Metrics

    metrics = Metrics()
    try:
        server = metrics.serve(port)
    except OSError as error:
        raise ServeError(f"--metrics-port {port}: cannot listen on 127.0.0.1:{port} ({error.strerror})") from None
    logging.getLogger("parac.metrics").warning("metrics at http://127.0.0.1:%d/metrics", server.server_port)
    return metrics


def start_tracing(workspace: Path | None) -> None:
    """Traces on before the first request when ``OTEL_*`` or ``telemetry:`` in `parac.yaml` ask for them (the SDK's
    span of each request is the parent of parac's); a wrong ``telemetry:`` refuses the start at its place."""
    from parac.core.diagnostics import ParacError
    from parac.core.roots import find_root

    try:
        root: Path | None = find_root(workspace)
    except ParacError:
        root = None
    try:
        telemetry.configure(telemetry.settings_of(root))
    except ParacError as error:
        raise ServeError(str(error)) from None


def check_profile(workspace: Path | None, override: str | None) -> None:
    """Refuse to start with a tool profile that cannot be served, naming its place in `parac.yaml` (or the flag).
    Only a project's own profile loads the plugins here (to check the names it gives), and `parac.yaml` is parsed
    only when it has a top-level `mcp:` key: the default start (benchmarked) imports neither YAML nor pydantic."""
    import re

    from parac.core.diagnostics import ParacError
    from parac.core.roots import PARAC_DIR, SETTINGS_FILE, find_root

    from .profiles import BUILT_IN

    try:
        root: Path | None = find_root(workspace)
    except ParacError:
        root = None
    settings_file = root / PARAC_DIR / SETTINGS_FILE if root is not None else None
    try:
        text = settings_file.read_text(encoding="utf-8") if settings_file is not None else ""
    except (OSError, UnicodeDecodeError):
        text = ""  # the workspace reports an unreadable parac.yaml when it loads
    if not re.search(r"^mcp\s*:", text, re.MULTILINE) and (override is None or override in BUILT_IN):
        return
    from pydantic import ValidationError

    from parac.core.sources import load_source

    from parac.core.specs import McpSettings

    from .profiles import ProfileError, positioned, resolve

    data = load_source(settings_file, text).data if settings_file is not None and text else None
    section = data.get("mcp") if isinstance(data, dict) else None
    try:
        try:
            settings = McpSettings.model_validate(section or {})
        except ValidationError as error:
            first = error.errors()[0]
            raise ProfileError(first["msg"], ("mcp", *first["loc"])) from None
        profile = resolve(settings, override)
        if root is not None and profile.name in settings.profiles:
            _check_names(root, profile)
    except ProfileError as error:
        if settings_file is None or (override is not None and error.loc == ("mcp", "profile")):
            raise ServeError(str(error)) from None
        raise ServeError(positioned(error, settings_file)) from None


def _check_names(root: Path, profile: Any) -> None:
    """The tools, plugins and servers a project's profile names exist (loads the plugins; parac's own tools)."""
    from parac.server.host import Host

    from parac.mcp_tools.registry import plugin_tool

    from .app import ParacApp
    from .profiles import check

    host = Host.for_workspace(root)
    tools = [*ParacApp(root).faces.tools.values()]
    tools += [plugin_tool(name, c.value, c.origin) for name, c in host.registry.catalog.tools.items()]
    servers = host.workspace.settings.mcp_servers if host.workspace is not None else {}
    check(profile, tools, host.infos, servers)


SERVE_KEYS = ("token_file", "oauth", "max_body_bytes")
"""What `parac mcp serve` reads of parac.yaml's `mcp:` before the workspace loads."""


@dataclass
class ServeKeys:
    """What `parac mcp serve` reads of parac.yaml before the workspace loads: the values of `SERVE_KEYS`, the
    `.parac/` folder, and where each value stands, so that an error names its key and position."""

    values: dict[str, Any] = field(default_factory=dict)
    parac_dir: Path | None = None
    doc: SourceDoc | None = None
    places: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """key -> its path in parac.yaml: (`mcp`, key), or (`settings`, `mcp`, key) in the old place."""

    def place(self, key: str, *loc: str | int) -> str:
        """`FILE:LINE:COL: mcp.oauth.jwks_file`: the setting `key`.`loc` as an error names it."""
        path = (*self.places.get(key, ("mcp", key)), *loc)
        return self.doc.place(path) if self.doc is not None else ".".join(map(str, path))


def _mcp_settings(workspace: Path | None) -> ServeKeys:
    """`mcp.token_file`, `mcp.oauth` and `mcp.max_body_bytes` of parac.yaml and the `.parac/` folder, read alone (the
    workspace loads later, on first use). `settings.mcp` is the place they had before `mcp:` held the tool
    profiles; it is still read (a key under `mcp:` wins) and a warning says to move it."""
    from parac.core.diagnostics import ParacError
    from parac.core.sources import load_source
    from parac.core.roots import PARAC_DIR, SETTINGS_FILE, find_root

    try:
        root = find_root(workspace)
    except ParacError:
        return ServeKeys()
    doc = load_source(root / PARAC_DIR / SETTINGS_FILE)
    data = doc.data if doc.ok and isinstance(doc.data, dict) else {}
    settings = data.get("settings") if isinstance(data.get("settings"), dict) else {}
    old = settings.get("mcp") if isinstance(settings.get("mcp"), dict) else {}
    new = data.get("mcp") if isinstance(data.get("mcp"), dict) else {}
    if old:
        log.warning("parac.yaml: settings.mcp is the old place of %s; move them under mcp:", ", ".join(sorted(old)))
    keys = ServeKeys(parac_dir=root / PARAC_DIR, doc=doc)
    for key in SERVE_KEYS:
        if key in new:
            keys.values[key], keys.places[key] = new[key], ("mcp", key)
        elif key in old:
            keys.values[key], keys.places[key] = old[key], ("settings", "mcp", key)
    return keys


def _token(keys: ServeKeys) -> str | None:
    if token := os.environ.get(ENV_TOKEN, "").strip():
        return token
    token_file = keys.values.get("token_file")
    if not token_file:
        return None
    try:
        return read_secret_file(str(token_file), keys.parac_dir)
    except SecretFileError as error:
        raise ServeError(f"{keys.place('token_file')}: no MCP token: {error}") from None


def _oauth(keys: ServeKeys, options: HttpOptions) -> OAuth | None:
    """The OAuth setup `mcp.oauth` asks for (its key file read now, so a bad one stops the start)."""
    if keys.values.get("oauth") is None:
        return None
    from .oauth import OAuthError, load_oauth

    try:
        return load_oauth(keys.values["oauth"], keys.parac_dir, resource_url(options),
                          lambda *loc: keys.place("oauth", *loc))
    except OAuthError as error:
        raise ServeError(f"cannot serve OAuth: {error}") from None
