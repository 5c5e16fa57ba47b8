"""Tenants (`--tenants FILE`): credentials mapped to workspaces, kept apart, behind the authentication middleware on
real uvicorn with two real workspaces; and a tenants file that cannot be used, refused at its place."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import jwt
import pytest

from parac.server.auth.signatures import sign
from support.auth_server import add_serve_settings, auth_server, denials, run_in, token

TENANTS = """\
tenants:
  team-a:
    workspace: a
    tokens: [alice]
    hmac_keys: [a-signer]
  team-b:
    workspace: b
    tokens: [bob]
    jwt_claims: {org: b-corp}
"""


@pytest.fixture
def teams(tmp_path: Path, parac) -> tuple[Path, Path, Path]:
    """The home workspace (where the server's credentials are configured) and the two tenants' workspaces."""
    roots = []
    for name in ("home", "a", "b"):
        assert parac("init", str(tmp_path / name)).code == 0
        roots.append(tmp_path / name)
    return roots[0], roots[1], roots[2]


def test_tenants_are_kept_apart(teams, tmp_path: Path, parac):
    home, a, b = teams
    (home / ".parac/a.key").write_text("a-signing-secret\n")
    (home / ".parac/jwt.key").write_text("j" * 48 + "\n")
    add_serve_settings(home, "  hmac_keys:\n    a-signer: {secret_file: a.key, role: operator}\n"
                             "  jwt:\n    issuer: https://idp.example\n    audience: parac\n    key_file: jwt.key\n"
                             "  rate_limit: {per_second: 0.2, burst: 3}\n")
    alice, bob, carol = (token(parac, home, name) for name in ("alice", "bob", "carol"))
    (tmp_path / "tenants.yaml").write_text(TENANTS)
    run_a, run_b = run_in(parac, a), run_in(parac, b)
    claims = {"iss": "https://idp.example", "aud": "parac", "sub": "dave", "org": "b-corp",
              "exp": int(time.time()) + 600}
    dave = jwt.encode(claims, "j" * 48, algorithm="HS256")

    def auth(secret: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"}

    with auth_server(home, tmp_path / "server.log", "--tenants", str(tmp_path / "tenants.yaml")) as url:
        own_a = httpx.get(f"{url}/runs/{run_a}", headers=auth(alice))
        other_a = httpx.get(f"{url}/runs/{run_b}", headers=auth(alice))
        own_b = httpx.get(f"{url}/runs/{run_b}", headers=auth(bob))
        other_b = httpx.get(f"{url}/runs/{run_a}", headers=auth(bob))
        by_claim = httpx.get(f"{url}/whoami", headers=auth(dave))
        signed = httpx.post(f"{url}/notes/signed", content=b"s", headers=sign("a-signer", "a-signing-secret", "POST",
                                                                                "/notes/signed", b"s"))
        nobody = httpx.post(f"{url}/notes/carol", content=b"c", headers=auth(carol))
        burst = [httpx.get(f"{url}/whoami", headers=auth(alice)).status_code for _ in range(3)]
        after_burst = httpx.get(f"{url}/whoami", headers=auth(bob))
    assert own_a.status_code == own_b.status_code == 200 and own_a.json()["run_id"] == run_a
    assert other_a.status_code == other_b.status_code == 404
    assert by_claim.json() == {"role": "viewer", "kind": "jwt", "name": "dave", "tenant": "team-b"}
    assert signed.status_code == 201 and (a / "notes/signed").read_bytes() == b"s"
    assert not (b / "notes").exists() and not (home / "notes").exists()
    assert nobody.status_code == 403 and "no tenant" in nobody.json()["detail"]
    assert burst[-1] == 429 and after_burst.status_code == 200  # alice's burst is hers alone
    assert [(e["actor"], e["data"]["status"]) for e in denials(parac, a)] == [("token:alice", 429)]
    assert [(e["actor"], e["data"]["status"]) for e in denials(parac, home)] == [("token:carol", 403)]
    assert denials(parac, b) == []


def test_a_tenants_file_that_cannot_be_used_is_refused_with_each_place(teams, tmp_path: Path, parac):
    home, a, _ = teams
    token(parac, home, "alice")
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(
        "tenants:\n"
        "  team-a:\n"
        "    workspace: a\n"
        "    tokens: [alice]\n"
        "  team-c:\n"
        "    workspace: c\n"
        "    tokens: [alice]\n"
    )
    log = tmp_path / "server.log"
    with pytest.raises(AssertionError, match="the server exited"):
        with auth_server(home, log, "--tenants", str(tenants)):
            pass
    text = log.read_text()
    assert f"{tenants}:6:16: error missing-workspace" in text
    assert f"{tenants}:7:14: error duplicate-credential" in text and 'tenant "team-a"' in text
    tenants.write_text("tenants:\n  team-a:\n    workspace: a\n    token: [alice]\n")
    with pytest.raises(AssertionError, match="the server exited"):
        with auth_server(home, log, "--tenants", str(tenants)):
            pass
    assert f'{tenants}:4:5: error unknown-key: unknown key "token"' in log.read_text()
    assert not (a / ".parac/state").exists()  # no database, no audit trail: nothing was written there
