"""The authentication middleware (`parac.server.auth`) in front of a real app on uvicorn on 127.0.0.1: who gets in,
what is refused, and that a refusal changes nothing in the workspace, is audited, and never shows a secret."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from support.auth_server import add_serve_settings, auth_server, denials, token, trail
from support.serving import stalled


def test_on_loopback_without_credentials_requests_are_the_local_caller(project: Path, tmp_path: Path):
    with auth_server(project, tmp_path / "server.log") as url:
        who = httpx.get(f"{url}/whoami")
        written = httpx.post(f"{url}/notes/hello", content=b"hi")
    assert who.status_code == 200 and who.json() == {"role": "admin", "kind": "local", "name": None, "tenant": None}
    assert written.status_code == 201 and (project / "notes/hello").read_bytes() == b"hi"


def test_once_a_token_exists_every_request_needs_one(project: Path, tmp_path: Path, parac):
    secret = token(parac, project, "ci")
    log = tmp_path / "server.log"
    with auth_server(project, log) as url:
        missing = httpx.post(f"{url}/notes/none", content=b"x")
        wrong = httpx.post(f"{url}/notes/wrong", content=b"x", headers={"Authorization": "Bearer parac_guessed"})
        basic = httpx.post(f"{url}/notes/basic", content=b"x", headers={"Authorization": f"Basic {secret}"})
        right = httpx.post(f"{url}/notes/right", content=b"ok", headers={"Authorization": f"Bearer {secret}"})
        who = httpx.get(f"{url}/whoami", headers={"Authorization": f"Bearer {secret}"})
    assert [r.status_code for r in (missing, wrong, basic)] == [401, 401, 401]
    assert not any((project / "notes" / name).exists() for name in ("none", "wrong", "basic"))
    assert (project / "notes/right").read_bytes() == b"ok"
    assert who.json() == {"role": "operator", "kind": "token", "name": "ci", "tenant": None}
    for refused in (missing, wrong, basic):
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["www-authenticate"].startswith('Bearer realm="parac"')
        assert refused.json()["status"] == 401 and refused.json()["detail"]
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
    audited = denials(parac, project)
    assert [(e["subject"], e["data"]["status"], e["actor"]) for e in audited] == [
        ("POST /notes/none", 401, "http:127.0.0.1"),
        ("POST /notes/wrong", 401, "http:127.0.0.1"),
        ("POST /notes/basic", 401, "http:127.0.0.1"),
    ]
    exported = json.dumps(trail(parac, project))
    for text in (log.read_text(), exported, missing.text, wrong.text, basic.text):
        assert secret not in text and secret.removeprefix("parac_") not in text


def test_host_origin_and_cors_allow_lists(project: Path, tmp_path: Path, parac):
    add_serve_settings(project, "  cors_origins: [https://dash.example]\n")
    with auth_server(project, tmp_path / "server.log") as url:
        port = url.rpartition(":")[2]
        foreign_host = httpx.post(f"{url}/notes/host", content=b"x", headers={"Host": f"evil.example:{port}"})
        foreign_origin = httpx.post(f"{url}/notes/origin", content=b"x", headers={"Origin": "https://evil.example"})
        same_origin = httpx.get(f"{url}/whoami", headers={"Origin": f"http://localhost:{port}"})
        cors = httpx.get(f"{url}/whoami", headers={"Origin": "https://dash.example"})
        preflight = httpx.options(f"{url}/notes/x", headers={
            "Origin": "https://dash.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization"})
        foreign_preflight = httpx.options(f"{url}/notes/x", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert foreign_host.status_code == 421 and foreign_origin.status_code == 403
    assert list((project / "notes").glob("*")) == []  # nothing of either body was written
    assert same_origin.status_code == 200 and "access-control-allow-origin" not in same_origin.headers
    assert cors.status_code == 200 and cors.headers["access-control-allow-origin"] == "https://dash.example"
    assert preflight.status_code == 204 and "authorization" in preflight.headers["access-control-allow-headers"]
    assert preflight.headers["access-control-allow-origin"] == "https://dash.example"
    assert foreign_preflight.status_code == 403 and "access-control-allow-origin" not in foreign_preflight.headers
    assert {e["data"]["status"] for e in denials(parac, project)} == {421, 403}


def test_bodies_over_the_cap_are_refused_with_or_without_a_length(project: Path, tmp_path: Path):
    add_serve_settings(project, "  max_body_bytes: 2048\n")

    def chunks():
        for _ in range(10):
            yield b"y" * 1000

    with auth_server(project, tmp_path / "server.log") as url:
        declared = httpx.post(f"{url}/notes/declared", content=b"x" * 5000)
        streamed = httpx.post(f"{url}/notes/streamed", content=chunks())
        fits = httpx.post(f"{url}/notes/fits", content=b"z" * 2000)
    assert declared.status_code == 413 and streamed.status_code == 413
    assert "2048" in declared.json()["detail"] and streamed.headers["content-type"] == "application/problem+json"
    assert sorted(p.name for p in (project / "notes").iterdir()) == ["fits"]


def test_bodies_refused_as_they_arrive_are_audited_naming_the_caller_never_the_body(
    project: Path, tmp_path: Path, parac
):
    """A body that passes the cap without a length (413) or stalls (408) is refused once the app reads it: the
    trail records it as every refusal, with the caller's name, and none of the body."""
    add_serve_settings(project, "  max_body_bytes: 2048\n  body_timeout_s: 1\n")
    secret = token(parac, project, "uploader")

    def chunks():
        for _ in range(10):
            yield b"BODY-CANARY-" + b"y" * 988

    with auth_server(project, tmp_path / "server.log") as url:
        port = int(url.rpartition(":")[2])
        streamed = httpx.post(f"{url}/notes/streamed", content=chunks(), headers={"Authorization": f"Bearer {secret}"})
        late = stalled(port, f"POST /notes/stalled HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer "
                       f"{secret}\r\nContent-Length: 40\r\n\r\n", b"BODY-CANARY")
    assert streamed.status_code == 413 and late.startswith(b"HTTP/1.1 408 ")
    refused = {(e["actor"], e["subject"], e["data"]["status"]) for e in denials(parac, project)}
    assert refused == {("token:uploader", "POST /notes/streamed", 413), ("token:uploader", "POST /notes/stalled", 408)}
    assert "BODY-CANARY" not in json.dumps(trail(parac, project))
    assert list((project / "notes").glob("*")) == []  # nothing of either body was written


def test_a_credential_over_its_rate_limit_gets_429_with_retry_after_and_others_do_not(
    project: Path, tmp_path: Path, parac
):
    add_serve_settings(project, "  rate_limit: {per_second: 0.2, burst: 3}\n")
    busy, quiet = token(parac, project, "busy"), token(parac, project, "quiet")
    with auth_server(project, tmp_path / "server.log") as url:
        answers = [httpx.get(f"{url}/whoami", headers={"Authorization": f"Bearer {busy}"}) for _ in range(6)]
        other = httpx.get(f"{url}/whoami", headers={"Authorization": f"Bearer {quiet}"})
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429, 429]
    assert 1 <= int(answers[3].headers["retry-after"]) <= 5
    assert answers[3].headers["content-type"] == "application/problem+json"
    assert other.status_code == 200
    limited = [e for e in denials(parac, project) if e["data"]["status"] == 429]
    assert [e["actor"] for e in limited] == ["token:busy"]  # the first refusal of the run, not each one


def test_guessing_tokens_is_rate_limited_per_client_address(project: Path, tmp_path: Path, parac):
    add_serve_settings(project, "  rate_limit: {per_second: 0.2, burst: 2}\n")
    secret = token(parac, project, "ci")
    with auth_server(project, tmp_path / "server.log") as url:
        guesses = [httpx.get(f"{url}/whoami", headers={"Authorization": f"Bearer parac_{n}"}).status_code
                   for n in range(4)]
        holder = httpx.get(f"{url}/whoami", headers={"Authorization": f"Bearer {secret}"})
    assert guesses == [401, 401, 429, 429]
    assert holder.status_code == 200  # a credential's own bucket, not the address's


def test_a_non_loopback_bind_without_credentials_is_refused_at_start(project: Path, tmp_path: Path):
    log = tmp_path / "server.log"
    with pytest.raises(AssertionError, match="the server exited"):
        with auth_server(project, log, "--host", "0.0.0.0"):
            pass
    assert "refusing to serve parac serve on 0.0.0.0 without a token" in log.read_text()


def test_a_bad_serve_section_is_refused_at_its_place_in_parac_yaml(project: Path, tmp_path: Path, parac):
    settings = project / ".parac/parac.yaml"
    lines = settings.read_text().count("\n")
    add_serve_settings(project, "  rate_limit: {per_second: 2, brust: 3}\n")
    log = tmp_path / "server.log"
    with pytest.raises(AssertionError, match="the server exited"):
        with auth_server(project, log):
            pass
    text = log.read_text()
    assert f"{settings}:{lines + 2}:" in text and 'unknown key "brust"' in text and "did you mean" in text
    validated = parac("--workspace", str(project), "validate")
    assert validated.code == 1 and f"parac.yaml:{lines + 2}:" in validated.out + validated.err
    assert 'unknown key "brust"' in validated.out + validated.err
