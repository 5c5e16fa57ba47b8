"""OAuth 2.1 for the Streamable HTTP face: parac as a protected resource that accepts JWT access tokens.

parac issues no OAuth tokens itself. `settings.mcp.oauth` in parac.yaml names the authorization server (`issuer`)
and where its signing keys are (`jwks_file`, or `jwks_url`, fetched with a time limit and cached). OAuth-capable
clients find the issuer through the RFC 9728 metadata at `/.well-known/oauth-protected-resource` (also under the
endpoint's path), which the `WWW-Authenticate` header of every 401 points to. A token is accepted only when it is
signed (RS256 or ES256) by a key of the set, names the issuer and this server's resource URL as audience (or the
configured `audience`), and is within `nbf`..`exp`. Its role comes from `role_claim` (mapped through `roles` when
given); without one the caller is a viewer. The audit names such callers `jwt:<sub>`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from parac.core.errors import ParacBaseError

from .roles import ROLES, Caller, Role

ALGORITHMS = ("RS256", "ES256")
JWKS_TIMEOUT_S = 5.0
JWKS_TTL_S = 600.0
JWKS_REFETCH_S = 30.0  # an unknown key id makes a fresh fetch at most this often
CLOCK_LEEWAY_S = 30


class OAuthError(ParacBaseError):
    """The OAuth settings or the key set cannot be used; the message names the setting."""


class OAuthSettings(BaseModel):
    """`settings.mcp.oauth` of parac.yaml."""

    model_config = ConfigDict(extra="forbid")

    issuer: str = Field(description="The authorization server; tokens must carry it as `iss`.")
    jwks_file: str | None = Field(None, description="The issuer's JSON Web Key Set; relative paths start in .parac/.")
    jwks_url: str | None = Field(None, description="Where to fetch the key set (https, cached).")
    audience: str | None = Field(None, description="The `aud` tokens must name (default: the server's resource URL).")
    resource: str | None = Field(None, description="This server's public URL (default: the bound address and path).")
    role_claim: str | None = Field(None, description="The claim that carries the caller's role (default: viewer).")
    roles: dict[str, Role] = Field(default_factory=dict, description="Claim values to parac roles.")

    @model_validator(mode="after")
    def _one_key_source(self) -> OAuthSettings:
        if (self.jwks_file is None) == (self.jwks_url is None):
            raise ValueError("give exactly one of jwks_file and jwks_url")
        return self


def parse_settings(raw: Any) -> OAuthSettings:
    try:
        return OAuthSettings.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in ("settings", "mcp", "oauth", *first["loc"]))
        raise OAuthError(f"{where}: {first['msg']}") from None


class InvalidToken(ParacBaseError):
    """A JWT was refused; the message is safe to show (it never contains the token)."""

    public = True


class JwtVerifier:
    """Checks JWT access tokens against one issuer's key set."""

    def __init__(self, settings: OAuthSettings, resource: str, parac_dir: Path | None) -> None:
        self.settings = settings
        self.resource = resource
        self.audience = settings.audience or resource
        self._keys: Any = None  # jwt.PyJWKSet
        self._fetched = 0.0
        if settings.jwks_file is not None:
            self._keys = _key_set(_read_jwks_file(settings.jwks_file, parac_dir), "settings.mcp.oauth.jwks_file")

    async def identify(self, token: str) -> Caller:
        """The caller a token stands for; raises InvalidToken saying which check failed."""
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise InvalidToken("not a JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise InvalidToken(f"signing algorithm {algorithm!r} is not accepted (only {', '.join(ALGORITHMS)})")
        key = await self._key(header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.settings.issuer,
                leeway=CLOCK_LEEWAY_S,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.InvalidSignatureError:
            raise InvalidToken("the signature does not verify") from None
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("the token is not valid yet (nbf)") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken(f"the token is not for this resource (aud must be {self.audience})") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken(f"the token is not from the configured issuer ({self.settings.issuer})") from None
        except jwt.MissingRequiredClaimError as error:
            raise InvalidToken(f"the token lacks the {error.claim!r} claim") from None
        except jwt.InvalidTokenError as error:
            raise InvalidToken(f"the token is invalid ({type(error).__name__})") from None
        return Caller(self._role(claims), str(claims["sub"]), kind="jwt")

    def _role(self, claims: dict[str, Any]) -> Role:
        """The highest role the role claim grants (a string or a list of strings); viewer when it grants none."""
        if self.settings.role_claim is None:
            return "viewer"
        value = claims.get(self.settings.role_claim)
        values = value if isinstance(value, list) else [value]
        granted = [self.settings.roles.get(v, v) for v in values if isinstance(v, str)]
        return max((r for r in granted if r in ROLES), key=ROLES.index, default="viewer")  # type: ignore[arg-type]

    async def _key(self, kid: str | None) -> Any:
        if self.settings.jwks_url is not None:
            stale = time.monotonic() - self._fetched > JWKS_TTL_S
            unknown = self._find(kid) is None and time.monotonic() - self._fetched > JWKS_REFETCH_S
            if self._keys is None or stale or unknown:
                await self._fetch()
        key = self._find(kid)
        if key is None:
            raise InvalidToken("no key of the issuer's key set matches the token's key id")
        return key

    def _find(self, kid: str | None) -> Any:
        if self._keys is None:
            return None
        usable = [k for k in self._keys.keys if k.public_key_use in (None, "sig")]
        if kid is None:
            return usable[0] if len(usable) == 1 else None
        return next((k for k in usable if k.key_id == kid), None)

    async def _fetch(self) -> None:
        import httpx

        self._fetched = time.monotonic()
        url = str(self.settings.jwks_url)
        try:
            async with httpx.AsyncClient(timeout=JWKS_TIMEOUT_S, follow_redirects=False) as client:
                response = await client.get(url, headers={"Accept": "application/json"})
                response.raise_for_status()
                self._keys = _key_set(response.json(), f"settings.mcp.oauth.jwks_url ({url})")
        except (httpx.HTTPError, ValueError, OAuthError) as error:
            if self._keys is None:
                raise InvalidToken(f"the issuer's key set cannot be fetched ({type(error).__name__})") from None


def _read_jwks_file(name: str, parac_dir: Path | None) -> Any:
    path = Path(name).expanduser()
    if not path.is_absolute() and parac_dir is not None:
        path = parac_dir / path
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise OAuthError(f"settings.mcp.oauth.jwks_file: cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise OAuthError(f"settings.mcp.oauth.jwks_file: {path} is not JSON: {error}") from None


def _key_set(data: Any, where: str) -> Any:
    import jwt

    try:
        keys = jwt.PyJWKSet.from_dict(data)
    except (jwt.PyJWKSetError, jwt.InvalidKeyError, TypeError, AttributeError) as error:
        raise OAuthError(f"{where}: not a usable JSON Web Key Set: {error}") from None
    return keys

