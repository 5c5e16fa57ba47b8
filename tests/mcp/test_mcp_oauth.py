"""OAuth on `parac mcp serve --transport http`: RFC 9728 discovery, then JWT access tokens signed by the test's own
key (its JWKS written by the test into .parac/), checked for signature, issuer, audience and validity window."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

ISSUER = "https://issuer.example"
KID = "test-key"
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "oauth", "version": "1"}},
}


@pytest.fixture
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def oauth_project(project: Path, signing_key: rsa.RSAPrivateKey) -> Path:
    """The project with `settings.mcp.oauth` trusting ISSUER, whose key set holds only the test's public key, and a
    policy that grants `file_write` (so a refused token is seen to change nothing)."""
    (project / ".parac/policies/default.yaml").write_text("allow:\n  - tools: [file_write]\n")
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key()))
    (project / ".parac/jwks.json").write_text(json.dumps({"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}))
    settings = project / ".parac/parac.yaml"
    settings.write_text(
        settings.read_text()
        + f"settings:\n  mcp:\n    oauth:\n      issuer: {ISSUER}\n      jwks_file: jwks.json\n"
        + "      role_claim: parac_role\n"
    )
    return project


def token_for(url: str, key, **overrides) -> str:
    """An access token as the issuer would mint it for this server, with `overrides` to break one claim."""
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": url, "sub": "alice", "iat": now, "nbf": now - 5, "exp": now + 600,
              "parac_role": "operator", **overrides}
    algorithm = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256"
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": KID})


def bearer(token: str) -> dict[str, str]:
    return {**MCP_HEADERS, "Authorization": f"Bearer {token}"}


def trail(parac, root: Path) -> list[dict]:
    result = parac("--workspace", str(root), "audit", "export", "--format", "jsonl")
    assert result.code == 0, result
    return [json.loads(line) for line in result.out.splitlines()]


async def test_discovery_then_a_client_with_a_token_from_the_issuer(
    oauth_project: Path, http_server, signing_key, parac
):
    with http_server(oauth_project) as url:
        origin = url.removesuffix("/mcp")
        bare = httpx.get(f"{origin}/.well-known/oauth-protected-resource")
        suffixed = httpx.get(f"{origin}/.well-known/oauth-protected-resource/mcp")
        anonymous = httpx.post(url, json=INITIALIZE, headers=MCP_HEADERS)
        token = token_for(url, signing_key)
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
            async with Client(streamable_http_client(url, http_client=http), mode="legacy") as session:
                written = await session.call_tool("file_write", {"path": "by-jwt.txt", "content": "hi"})
                listed = await session.call_tool("list_agents", {})
    assert bare.status_code == suffixed.status_code == 200
    assert bare.json() == suffixed.json()
    assert bare.json()["resource"] == url
    assert [server.rstrip("/") for server in bare.json()["authorization_servers"]] == [ISSUER]
    assert anonymous.status_code == 401
    challenge = anonymous.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{origin}/.well-known/oauth-protected-resource/mcp"' in challenge
    assert not written.is_error and not listed.is_error
    assert (oauth_project / "by-jwt.txt").read_text() == "hi"
    calls = [(e["actor"], e["subject"]) for e in trail(parac, oauth_project) if e["action"] == "tool.call"]
    assert ("jwt:alice", "file_write") in calls


async def test_without_a_role_claim_a_jwt_caller_is_a_viewer(oauth_project: Path, http_server, signing_key):
    with http_server(oauth_project) as url:
        token = token_for(url, signing_key, parac_role=None)
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
            async with Client(streamable_http_client(url, http_client=http), mode="legacy") as session:
                listed = await session.call_tool("list_agents", {})
                written = await session.call_tool("file_write", {"path": "viewer.txt", "content": "no"})
    assert not listed.is_error
    assert written.is_error and "needs the operator role" in written.content[0].text
    assert not (oauth_project / "viewer.txt").exists()


BAD_TOKENS: dict[str, tuple[Callable[[str, rsa.RSAPrivateKey], str], str]] = {
    "forged": (lambda url, _key: token_for(url, rsa.generate_private_key(public_exponent=65537, key_size=2048)),
               "signature does not verify"),
    "expired": (lambda url, key: token_for(url, key, exp=int(time.time()) - 3600), "has expired"),
    "other audience": (lambda url, key: token_for(url, key, aud="http://elsewhere.example/mcp"),
                       "not for this resource"),
    "other issuer": (lambda url, key: token_for(url, key, iss="https://evil.example"),
                     "not from the configured issuer"),
    "not yet valid": (lambda url, key: token_for(url, key, nbf=int(time.time()) + 3600), "not valid yet"),
    "other algorithm": (lambda url, _key: jwt.encode({"iss": ISSUER, "aud": url, "sub": "x", "exp": 2**31},
                                                     "a-shared-secret-of-32-bytes-long!", algorithm="HS256"),
                        "algorithm 'HS256' is not accepted"),
}


def test_bad_tokens_get_a_specific_401_change_nothing_and_the_server_keeps_serving(
    oauth_project: Path, http_server, signing_key
):
    write = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
             "params": {"name": "file_write", "arguments": {"path": "forged.txt", "content": "x"}}}
    with http_server(oauth_project) as url:
        refused = {}
        for case, (make, _) in BAD_TOKENS.items():
            headers = {**MCP_HEADERS, "Authorization": f"Bearer {make(url, signing_key)}"}
            refused[case] = (httpx.post(url, json=INITIALIZE, headers=headers),
                             httpx.post(url, json=write, headers=headers))
        valid = {**MCP_HEADERS, "Authorization": f"Bearer {token_for(url, signing_key)}"}
        good = httpx.post(url, json=INITIALIZE, headers=valid)
    for case, (_, reason) in BAD_TOKENS.items():
        initialize, call = refused[case]
        assert initialize.status_code == call.status_code == 401, case
        assert initialize.json()["error"] == "invalid_token" and reason in initialize.json()["detail"], case
        assert 'error="invalid_token"' in initialize.headers["www-authenticate"], case
        assert "resource_metadata=" in initialize.headers["www-authenticate"], case
    assert not (oauth_project / "forged.txt").exists()
    assert good.status_code == 200


def test_a_broken_oauth_setting_stops_the_start_and_names_the_setting(project: Path, parac):
    settings = project / ".parac/parac.yaml"
    base = settings.read_text()
    settings.write_text(base + f"settings:\n  mcp:\n    oauth:\n      issuer: {ISSUER}\n")
    neither = parac("mcp", "serve", "--transport", "http", "--port", "0", "--workspace", str(project))
    settings.write_text(base + f"settings:\n  mcp:\n    oauth:\n      issuer: {ISSUER}\n      jwks_file: nope.json\n")
    missing = parac("mcp", "serve", "--transport", "http", "--port", "0", "--workspace", str(project))
    settings.write_text(base + f"mcp:\n  oauth:\n    issuer: {ISSUER}\n    jwks_file: gone.json\n")
    moved = parac("mcp", "serve", "--transport", "http", "--port", "0", "--workspace", str(project))
    settings.write_text(base + "mcp:\n  oauth:\n    jwks_file: jwks.json\n")
    no_issuer = parac("mcp", "serve", "--transport", "http", "--port", "0", "--workspace", str(project))
    assert neither.code == missing.code == moved.code == no_issuer.code == 1
    lines = len(base.splitlines())  # each section starts on the line after the template's own
    # Each error names the key as it stands in parac.yaml, at its position (the section or the field at fault).
    assert f"{settings}:{lines + 3}:5: settings.mcp.oauth: " in neither.err
    assert "exactly one of jwks_file and jwks_url" in neither.err
    assert f"{settings}:{lines + 5}:7: settings.mcp.oauth.jwks_file: cannot read" in missing.err
    assert "nope.json" in missing.err
    assert f"{settings}:{lines + 4}:5: mcp.oauth.jwks_file: cannot read" in moved.err and "gone.json" in moved.err
    assert f"{settings}:{lines + 2}:3: mcp.oauth.issuer: Field required" in no_issuer.err


async def test_keys_fetched_from_a_jwks_url(oauth_project: Path, http_server, signing_key):
    """The key set served over HTTP by a real server the test starts (the issuer's `jwks_uri`)."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(oauth_project / ".parac"))
    keys = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=keys.serve_forever, daemon=True).start()
    settings = oauth_project / ".parac/parac.yaml"
    settings.write_text(settings.read_text().replace(
        "jwks_file: jwks.json", f"jwks_url: http://127.0.0.1:{keys.server_port}/jwks.json"))
    try:
        with http_server(oauth_project) as url:
            good = httpx.post(url, json=INITIALIZE, headers=bearer(token_for(url, signing_key)))
            forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            forged = httpx.post(url, json=INITIALIZE, headers=bearer(token_for(url, forged_key)))
    finally:
        keys.shutdown()
    assert good.status_code == 200
    assert forged.status_code == 401 and "signature does not verify" in forged.json()["detail"]
