"""OAuth 2.1 for the Streamable HTTP face: parac as a protected resource that accepts JWT access tokens.

parac issues no OAuth tokens itself. `mcp.oauth` in parac.yaml (`settings.mcp.oauth`, its older place) names the authorization server (`issuer`) and
its signing key, as `serve.jwt` does for `parac serve` (`parac.core.specs.JwtSettings`; usually `jwks_file` or
`jwks_url`), plus this server's public URL (`resource`). Tokens are checked by the one JWT verifier
(`parac.server.auth.jwts`), with the resource URL as the default audience. OAuth-capable clients find the issuer
through the RFC 9728 metadata at `/.well-known/oauth-protected-resource` (also under the endpoint's path), which the
`WWW-Authenticate` header of every 401 points to. The audit names such callers `jwt:<sub>`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from parac.core.errors import ParacBaseError
from parac.core.specs import JwtSettings
from parac.server.auth.jwts import JwtVerifier, KeyConfigError


class OAuthError(ParacBaseError):
    """The OAuth settings or the key set cannot be used; the message names the setting."""


class OAuthSettings(JwtSettings):
    """`mcp.oauth` of parac.yaml."""

    resource: str | None = Field(None, description="This server's public URL (default: the bound address and path).")


@dataclass(frozen=True)
class OAuth:
    """The issuer's verifier and what the RFC 9728 metadata says."""

    verifier: JwtVerifier
    resource: str
    issuer: str


Place = Callable[..., str]
"""Names a setting of the OAuth section, given its path under it, as an error shows it: the key in parac.yaml and
its position (`.parac/parac.yaml:12:7: mcp.oauth.jwks_file`)."""


def _dotted(*loc: str | int) -> str:
    return ".".join(("mcp.oauth", *map(str, loc)))


def load_oauth(raw: Any, parac_dir: Path | None, bound_url: str, place: Place = _dotted) -> OAuth:
    """The OAuth setup the section `raw` asks for (its key read now, so a bad one stops the start); errors name the
    setting at fault through `place`."""
    try:
        settings = OAuthSettings.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        raise OAuthError(f"{place(*first['loc'])}: {first['msg']}") from None
    resource = settings.resource or bound_url
    section = _dotted()
    try:
        return OAuth(JwtVerifier(settings, resource, parac_dir, section), resource, settings.issuer)
    except KeyConfigError as error:  # said again at that key's place
        raise OAuthError(f"{place(*error.setting.removeprefix(section + '.').split('.'))}: {error.detail}") from None
