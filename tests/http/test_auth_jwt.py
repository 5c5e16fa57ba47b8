"""JWT bearer tokens through the authentication middleware on real uvicorn, made with pyjwt from keys the test
generates: HS256 with a key file, RS256 and ES256 with a PEM public key; every bad token refused, nothing written."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from support.auth_server import add_serve_settings, auth_server, denials, last_place, serve_once, trail

ISSUER = "https://idp.example"
AUDIENCE = "parac-api"


def keys(algorithm: str) -> tuple[object, object, str]:
    """(signing key, another key of the same kind, the setting that names the verifying key)."""
    if algorithm == "HS256":
        return "k" * 48, "f" * 48, "key_file"
    if algorithm == "RS256":
        return (rsa.generate_private_key(public_exponent=65537, key_size=2048),
                rsa.generate_private_key(public_exponent=65537, key_size=2048), "public_key_file")
    return ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1()), "public_key_file"


@pytest.mark.parametrize("algorithm", ["HS256", "RS256", "ES256"])
def test_jwts_signed_by_the_configured_key(project: Path, tmp_path: Path, parac, algorithm: str):
    key, other, setting = keys(algorithm)
    if setting == "key_file":
        (project / ".parac/jwt.key").write_text(str(key) + "\n")
    else:
        pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        (project / ".parac/jwt.key").write_bytes(pem)
    add_serve_settings(project, f"  jwt:\n    issuer: {ISSUER}\n    audience: {AUDIENCE}\n    {setting}: jwt.key\n"
                                "    role_claim: groups\n    roles: {parac-ops: operator}\n")
    now = int(time.time())

    def make(signer=key, alg=algorithm, **overrides) -> str:
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "exp": now + 600, "nbf": now - 5,
                  "groups": ["staff", "parac-ops"], **overrides}
        return jwt.encode({k: v for k, v in claims.items() if v is not None}, signer, algorithm=alg)

    bad = {
        "expired": make(exp=now - 3600),
        "not-yet-valid": make(nbf=now + 3600),
        "wrong-issuer": make(iss="https://other.example"),
        "wrong-audience": make(aud="someone-else"),
        "forged": make(signer=other),
        "no-subject": make(sub=None),
        "unsigned": jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "exp": now + 600}, None,
                               algorithm="none"),
    }
    if algorithm != "HS256":  # the public key used as an HMAC secret: the classic algorithm confusion
        bad["alg-confusion"] = _hmac_with(pem, now)
    log = tmp_path / "server.log"
    with auth_server(project, log) as url:
        good = httpx.get(f"{url}/whoami", headers={"Authorization": f"Bearer {make()}"})
        wrong_role = httpx.get(f"{url}/whoami", headers={"Authorization": f"Bearer {make(groups='superuser')}"})
        refused = {case: httpx.post(f"{url}/notes/{case}", content=b"x", headers={"Authorization": f"Bearer {t}"})
                   for case, t in bad.items()}
    assert good.status_code == 200
    assert good.json() == {"role": "operator", "kind": "jwt", "name": "alice", "tenant": None}
    assert wrong_role.json()["role"] == "viewer"  # a role claim naming no parac role grants the least
    assert {case: r.status_code for case, r in refused.items()} == dict.fromkeys(bad, 401)
    assert not (project / "notes").exists()
    details = {case: r.json()["detail"] for case, r in refused.items()}
    assert "expired" in details["expired"] and "nbf" in details["not-yet-valid"]
    assert "issuer" in details["wrong-issuer"] and "aud" in details["wrong-audience"]
    assert "signature" in details["forged"] and "sub" in details["no-subject"]
    assert sorted(e["subject"] for e in denials(parac, project)) == sorted(f"POST /notes/{case}" for case in bad)
    exported = str(trail(parac, project))
    for token in bad.values():
        assert token not in log.read_text() and token not in exported
        assert all(token not in r.text for r in refused.values())


def _hmac_with(pem: bytes, now: int) -> str:
    """An HS256 token whose 'secret' is the public key: pyjwt refuses to make one, so it is assembled by hand."""
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps({"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": now + 600}).encode())
    signature = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def test_an_unusable_jwt_key_stops_the_start_naming_the_setting(project: Path, tmp_path: Path):
    (project / ".parac/jwt.pem").write_text("not a key\n")
    add_serve_settings(project, f"  jwt:\n    issuer: {ISSUER}\n    public_key_file: jwt.pem\n")
    log = tmp_path / "server.log"
    with pytest.raises(AssertionError, match="the server exited"):
        with auth_server(project, log):
            pass
    assert "serve.jwt.public_key_file" in log.read_text() and "not a PEM public key" in log.read_text()


@pytest.mark.parametrize("setting", ["key_file", "public_key_file", "jwks_file"])
def test_an_unusable_key_file_is_refused_at_its_place_in_parac_yaml(project: Path, parac, setting: str):
    """A `serve.jwt` key file that is missing or holds no usable key stops the start with the error at that key in
    parac.yaml (FILE:LINE:COL: serve.jwt.SETTING: ...), naming the file, never what it holds."""
    secret = "k" * 48
    add_serve_settings(project, f"  jwt:\n    issuer: {ISSUER}\n    {setting}: jwt.key\n")
    place = last_place(project, setting, f"serve.jwt.{setting}")
    key = project / ".parac/jwt.key"
    missing = serve_once(parac, project)
    key.write_text("\n" if setting == "key_file" else secret)
    unusable = serve_once(parac, project)
    assert missing.code == unusable.code == 1
    assert f"{place}: cannot serve JWTs: cannot read {key}: No such file or directory" in missing.err, missing.err
    detail = {"key_file": "is empty", "public_key_file": "is not a PEM public key", "jwks_file": "is not JSON"}
    assert f"{place}: cannot serve JWTs: {key} {detail[setting]}" in unusable.err, unusable.err
    assert secret not in unusable.out + unusable.err
