"""`Gate`: everything the authentication middleware checks a request against, and how it is built from settings.

`load_gate` reads `serve:` of the home workspace's parac.yaml (checked like the rest of the file: an error is
reported as FILE:LINE:COL), the CLI's allow-lists and the tenants file, reads every key file once (a bad one stops
the start) and refuses an exposed bind without credentials (`refuse_exposed`). Bearer tokens come from the
`TokenAuthority` the caller passes (the MCP face's: `PARAC_MCP_TOKEN`, `settings.mcp.token_file`, `parac token`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parac.core.diagnostics import ParacError

from .limits import RateLimiter
from .roles import TokenAuthority

if TYPE_CHECKING:
    from parac.core.sources import SourceDoc
    from parac.core.specs import ServeSettings
    from parac.server.mcp.http import HttpOptions

    from .jwts import JwtVerifier
    from .signatures import HmacVerifier
    from .tenants import Tenants

log = logging.getLogger("parac.auth")

DEFAULT_MAX_BODY = 4 * 1024 * 1024
DEFAULT_BODY_TIMEOUT_S = 30.0


class AuthConfigError(ParacError):
    """The authentication settings cannot be used; the message (and diagnostics) say where."""


@dataclass(frozen=True)
class SessionCookie:
    """A browser's credential: the cookie `name` holds a token the other credentials accept (set by the dashboard's
    login form: Secure, HttpOnly, SameSite=Strict). It is read only on paths under `prefix` and not under any of
    `excluded` (the API and /mcp keep to headers, so a cookie can never make a cross-site call count there), and a
    page request refused for want of a credential is sent to `login` instead of a 401 body."""

    name: str
    login: str
    prefix: str = "/"
    excluded: tuple[str, ...] = ()

    def applies(self, path: str) -> bool:
        return path.startswith(self.prefix) and not any(path == e or path.startswith(e + "/") for e in self.excluded)


@dataclass
class Gate:
    """What a request must pass. `home` is the workspace whose audit trail records denials no tenant owns;
    `public_paths` are served to anyone (the MCP face's RFC 9728 metadata), `optional_paths` to anyone too, but
    as the caller a presented credential names (the health probes); `challenge` is appended to every
    401's `WWW-Authenticate` (the metadata's URL)."""

    tokens: TokenAuthority
    hosts: frozenset[str]
    origins: frozenset[str]
    cors_origins: frozenset[str] = frozenset()
    max_body: int = DEFAULT_MAX_BODY
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    """How long a request's body may take to arrive whole (uvicorn waits for a stalled upload for ever)."""
    jwt: JwtVerifier | None = None
    hmac: HmacVerifier | None = None
    tenants: Tenants | None = None
    limiter: RateLimiter = field(default_factory=RateLimiter)
    home: Path | None = None
    public_paths: tuple[str, ...] = ()
    challenge: str = ""
    session: SessionCookie | None = None
    optional_paths: tuple[str, ...] = ()

    def is_optional(self, path: str) -> bool:
        """Served to anyone, and to a caller who presents a credential as that caller (which must then be valid):
        the health report shows its details only to a known caller. Public paths ignore credentials."""
        return path in self.optional_paths

    def is_public(self, path: str) -> bool:
        """Served without a credential: a listed path, or one under a listed prefix ending in "/"."""
        return path in self.public_paths or any(p.endswith("/") and path.startswith(p) for p in self.public_paths)

    @property
    def required(self) -> bool:
        """True when every request needs a credential (any kind of credential is configured)."""
        return self.tokens.required or self.jwt is not None or self.hmac is not None

    def host_allowed(self, host: str) -> bool:
        return _listed(host, self.hosts)

    def origin_allowed(self, origin: str) -> bool:
        return self.own_origin(origin) or origin in self.cors_origins

    def own_origin(self, origin: str) -> bool:
        """An origin the server's own pages are served at: the bound address, or one the operator listed
        (`--allow-origin`, `serve.allowed_origins`: a reverse proxy's public origin). Not a CORS origin: that is
        another site, allowed to read the API's answers, never to act as the dashboard."""
        return _listed(origin, self.origins)

    def audit_root(self, tenant: str | None) -> Path | None:
        """Where a denial is recorded: the tenant's workspace, else the home workspace."""
        if tenant is not None and self.tenants is not None:
            return self.tenants.workspace_of(tenant)
        return self.home

    def record_denial(self, tenant: str | None, actor: str, subject: str, data: dict[str, Any]) -> None:
        """Write one `http.denied` entry (blocking: the middleware calls it in a worker thread)."""
        root = self.audit_root(tenant)
        if root is None:
            log.warning("HTTP request refused (no workspace to audit it in): %s %s", subject, data.get("reason"))
            return
        from parac.core.audit import AuditLog

        audit = AuditLog.for_workspace(root)
        try:
            audit.append("http.denied", actor=actor, subject=subject, outcome="denied", data=data)
        finally:
            audit.close()


def load_gate(
    home: Path | None,
    options: HttpOptions,
    tokens: TokenAuthority,
    *,
    tenants_file: Path | None = None,
    cors_origins: tuple[str, ...] = (),
    optional_paths: tuple[str, ...] = (),
    service: str = "parac serve",
) -> Gate:
    """The gate for a server bound as `options` says, serving `home` (the default workspace's root).
    `optional_paths` are served without a credential (health probes, which orchestrators call bare) and to the
    caller a presented credential names; Host and Origin still apply."""
    from parac.server.mcp.http import allowed_hosts, allowed_origins

    settings, parac_dir, doc = serve_settings(home)
    hosts = [*allowed_hosts(options), *settings.allowed_hosts]
    origins = [*allowed_origins(options), *settings.allowed_origins]
    gate = Gate(
        tokens,
        frozenset(hosts),
        frozenset(origins),
        frozenset([*settings.cors_origins, *cors_origins]),
        options.max_body_bytes or settings.max_body_bytes or DEFAULT_MAX_BODY,
        home=home,
        optional_paths=optional_paths,
    )
    gate.body_timeout_s = settings.body_timeout_s
    if settings.rate_limit is not None:
        gate.limiter = RateLimiter(settings.rate_limit.per_second, settings.rate_limit.burst)
    if settings.jwt is not None:
        from .jwts import JwtVerifier, KeyConfigError

        try:
            gate.jwt = JwtVerifier(settings.jwt, f"http://{options.host}:{options.port}", parac_dir, "serve.jwt")
        except KeyConfigError as error:
            raise AuthConfigError(f"{_place(doc, error.setting)}: cannot serve JWTs: {error.detail}") from None
    if settings.hmac_keys:
        gate.hmac = _hmac(settings, parac_dir, doc)
    if tenants_file is not None:
        from .tenants import load_tenants

        gate.tenants = load_tenants(tenants_file)
    refuse_exposed(options.host, gate, service)
    if gate.tenants is not None and not gate.required:
        raise AuthConfigError(
            "--tenants needs credentials to tell tenants apart: create tokens (parac token create), or set "
            "serve.jwt or serve.hmac_keys in parac.yaml"
        )
    return gate


def refuse_exposed(host: str, gate: Gate, service: str, hint: str = "") -> None:
    """Refuse to start on an address other machines reach when no credential is configured: anyone could call."""
    from parac.server.mcp.http import is_loopback

    if not is_loopback(host) and not gate.required:
        raise AuthConfigError(
            f"refusing to serve {service} on {host} without a token: anyone who can reach it could run tools. "
            + (hint or "Create a token (parac token create), set serve.jwt or serve.hmac_keys in parac.yaml, "
               "or bind 127.0.0.1")
        )


def serve_settings(home: Path | None) -> tuple[ServeSettings, Path | None, SourceDoc | None]:
    """`serve:` of the home workspace's parac.yaml, its `.parac/` folder and the file as read (which places the errors
    found later, in the key files the section names); an invalid section is refused with its place in the file."""
    from pydantic import BaseModel, ConfigDict, ValidationError

    from parac.core.roots import PARAC_DIR, SETTINGS_FILE
    from parac.core.sources import load_source
    from parac.core.specs import ServeSettings
    from parac.core.validation import schema_diagnostics

    if home is None:
        return ServeSettings(), None, None
    path = home / PARAC_DIR / SETTINGS_FILE
    if not path.is_file():
        return ServeSettings(), home / PARAC_DIR, None
    doc = load_source(path)
    data = doc.data if doc.ok and isinstance(doc.data, dict) else {}

    class Section(BaseModel):  # only `serve:`, placed as in the file; the rest is the workspace's to check
        model_config = ConfigDict(extra="ignore")
        serve: ServeSettings = ServeSettings()

    try:
        return Section.model_validate(data).serve, home / PARAC_DIR, doc
    except ValidationError as error:
        diagnostics = schema_diagnostics(Section, error, doc)
        first = diagnostics[0]
        raise AuthConfigError(f"{first.file}:{first.line}:{first.column}: {first.message}", diagnostics) from None


def _hmac(settings: ServeSettings, parac_dir: Path | None, doc: SourceDoc | None) -> HmacVerifier:
    """The verifier of `serve.hmac_keys`, every secret file read now; one that cannot be used is refused at its
    `secret_file` in parac.yaml (FILE:LINE:COL: serve.hmac_keys.ID.secret_file: ...), naming the file, never its
    content."""
    from parac.core.secrets import SecretFileError, read_secret_file

    from .signatures import HmacKeyRef, HmacVerifier

    keys = {}
    for key_id, key in settings.hmac_keys.items():
        try:
            secret = read_secret_file(key.secret_file, parac_dir)
        except SecretFileError as error:
            where = _place(doc, f"serve.hmac_keys.{key_id}.secret_file")
            raise AuthConfigError(f"{where}: cannot serve HMAC-signed requests: {error}") from None
        keys[key_id] = HmacKeyRef(key_id, secret.encode(), key.role)
    return HmacVerifier(keys)


def _place(doc: SourceDoc | None, setting: str) -> str:
    """`FILE:LINE:COL: serve.jwt.key_file`: the dotted `setting` at its key in parac.yaml (as is without the file)."""
    return doc.place(tuple(setting.split("."))) if doc is not None else setting


def _listed(value: str, allowed: frozenset[str]) -> bool:
    """`value` is in `allowed`, where `name:*` stands for the name on any port (a server bound to port 0)."""
    if value in allowed:
        return True
    base, _, port = value.rpartition(":")
    return port.isdigit() and f"{base}:*" in allowed
