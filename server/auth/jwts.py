"""JWT bearer tokens: one issuer's tokens checked against its key, for `parac serve` and the MCP HTTP face alike.

parac issues no JWTs. The settings (`serve.jwt` in parac.yaml, or `settings.mcp.oauth` for the MCP face's OAuth,
both `parac.core.specs.JwtSettings`) name the issuer and exactly one key: an HS256 secret (`key_file`), an RS256 or
ES256 public key (`public_key_file`, PEM), or a JSON Web Key Set (`jwks_file`, or `jwks_url`, fetched with a time
limit and cached). Each key source admits only its own algorithms, so a token cannot choose how it is checked (an
HS256 token "signed" with a public key is refused). A token is accepted only when it is signed by the key, names the
issuer and the audience (by default the server's URL), carries a subject, and is within `nbf`..`exp`. Its role comes
from `role_claim` (mapped through `roles` when given); without one the caller is a viewer.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parac.core.errors import ParacBaseError
from parac.core.secrets import SecretFileError, read_secret_file

from .roles import ROLES, Caller, Role

if TYPE_CHECKING:
    from parac.core.specs import JwtSettings

JWKS_ALGORITHMS = ("RS256", "ES256")
JWKS_TIMEOUT_S = 5.0
JWKS_TTL_S = 600.0
JWKS_REFETCH_S = 30.0  # an unknown key id makes a fresh fetch at most this often
CLOCK_LEEWAY_S = 30


class KeyConfigError(ParacBaseError):
    """A JWT key named in the settings cannot be used: `setting` is its dotted path in parac.yaml
    (`serve.jwt.key_file`), which callers place in the file; `detail` says what is wrong, never the key."""

    def __init__(self, setting: str, detail: str) -> None:
        super().__init__(f"{setting}: {detail}")
        self.setting = setting
        self.detail = detail


class InvalidToken(ParacBaseError):
    """A JWT was refused; the message is safe to show (it never contains the token)."""

    public = True


class JwtVerifier:
    """Checks JWTs against one issuer's key. The key (or key file) is read at construction, so a bad one stops the
    start; `where` names the settings in messages (`serve.jwt`, `mcp.oauth`)."""

    def __init__(self, settings: JwtSettings, audience: str, base_dir: Path | None, where: str) -> None:
        self.settings = settings
        self.audience = settings.audience or audience
        self.where = where
        self._keys: Any = None  # jwt.PyJWKSet, for a key set
        self._key: Any = None  # the one key and its algorithms otherwise
        self._algorithms: tuple[str, ...] = JWKS_ALGORITHMS
        self._fetched = 0.0
        if settings.key_file is not None:
            self._key = _secret(settings.key_file, base_dir, f"{where}.key_file")
            self._algorithms = ("HS256",)
        elif settings.public_key_file is not None:
            self._key, self._algorithms = _public_key(settings.public_key_file, base_dir, f"{where}.public_key_file")
        elif settings.jwks_file is not None:
            self._keys = _key_set(_read_json(settings.jwks_file, base_dir, f"{where}.jwks_file"), f"{where}.jwks_file")

    async def claims(self, token: str) -> dict[str, Any]:
        """The token's claims once every check passed; raises InvalidToken saying which check failed."""
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise InvalidToken("not a JWT") from None
        algorithm = header.get("alg")
        if algorithm not in self._algorithms:
            raise InvalidToken(
                f"signing algorithm {algorithm!r} is not accepted (only {', '.join(self._algorithms)})"
            )
        key = self._key if self._key is not None else (await self._from_set(header.get("kid"))).key
        try:
            return jwt.decode(
                token,
                key=key,
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

    async def identify(self, token: str) -> Caller:
        """The caller a token stands for (`jwt:<sub>`); raises InvalidToken saying which check failed."""
        return self.caller(await self.claims(token))

    def caller(self, claims: dict[str, Any]) -> Caller:
        return Caller(self._role(claims), str(claims["sub"]), kind="jwt")

    def _role(self, claims: dict[str, Any]) -> Role:
        """The highest role the role claim grants (a string or a list of strings); viewer when it grants none."""
        if self.settings.role_claim is None:
            return "viewer"
        value = claims.get(self.settings.role_claim)
        values = value if isinstance(value, list) else [value]
        granted = [self.settings.roles.get(v, v) for v in values if isinstance(v, str)]
        return max((r for r in granted if r in ROLES), key=ROLES.index, default="viewer")  # type: ignore[arg-type]

    async def _from_set(self, kid: str | None) -> Any:
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
                self._keys = _key_set(response.json(), f"{self.where}.jwks_url ({url})")
        except (httpx.HTTPError, ValueError, KeyConfigError) as error:
            if self._keys is None:
                raise InvalidToken(f"the issuer's key set cannot be fetched ({type(error).__name__})") from None


def _path(name: str, base_dir: Path | None) -> Path:
    path = Path(name).expanduser()
    return base_dir / path if not path.is_absolute() and base_dir is not None else path


def _secret(name: str, base_dir: Path | None, setting: str) -> bytes:
    try:
        return read_secret_file(name, base_dir).encode()
    except SecretFileError as error:
        raise KeyConfigError(setting, str(error)) from None


def _public_key(name: str, base_dir: Path | None, setting: str) -> tuple[Any, tuple[str, ...]]:
    """The PEM public key and the one algorithm its type admits (RSA: RS256, EC P-256: ES256)."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    path = _path(name, base_dir)
    try:
        key = load_pem_public_key(path.read_bytes())
    except OSError as error:
        raise KeyConfigError(setting, f"cannot read {path}: {error.strerror}") from None
    except ValueError:
        raise KeyConfigError(setting, f"{path} is not a PEM public key") from None
    if isinstance(key, rsa.RSAPublicKey):
        return key, ("RS256",)
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key, ("ES256",)
    raise KeyConfigError(setting, f"{path} is neither an RSA nor a P-256 key (RS256, ES256)")


def _read_json(name: str, base_dir: Path | None, setting: str) -> Any:
    path = _path(name, base_dir)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise KeyConfigError(setting, f"cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise KeyConfigError(setting, f"{path} is not JSON: {error}") from None


def _key_set(data: Any, where: str) -> Any:
    import jwt

    try:
        return jwt.PyJWKSet.from_dict(data)
    except (jwt.PyJWKSetError, jwt.InvalidKeyError, TypeError, AttributeError) as error:
        raise KeyConfigError(where, f"not a usable JSON Web Key Set: {error}") from None
