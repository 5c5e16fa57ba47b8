"""HMAC-signed requests through the authentication middleware on real uvicorn: a good signature is let in once;
stale, replayed, re-targeted or wrongly-bodied ones are refused, leave the workspace as it was and are audited."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from parac.server.auth.signatures import sign
from support.auth_server import add_serve_settings, auth_server, denials, last_place, serve_once, trail

SECRET = "hmac-secret-0123456789abcdef"


def test_signed_requests(project: Path, tmp_path: Path, parac):
    (project / ".parac/ci.key").write_text(SECRET + "\n")
    add_serve_settings(project, "  hmac_keys:\n    ci: {secret_file: ci.key, role: operator}\n")
    notes = project / "notes"
    log = tmp_path / "server.log"
    with auth_server(project, log) as url:

        def post(path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
            return httpx.post(f"{url}{path}", content=body, headers=headers)

        good_headers = sign("ci", SECRET, "POST", "/notes/good", b"signed body")
        good = post("/notes/good", b"signed body", good_headers)
        (notes / "good").unlink()
        replayed = post("/notes/good", b"signed body", good_headers)
        stale = post("/notes/stale", b"x", sign("ci", SECRET, "POST", "/notes/stale", b"x", time.time() - 301))
        future = post("/notes/future", b"x", sign("ci", SECRET, "POST", "/notes/future", b"x", time.time() + 301))
        other_body = post("/notes/body", b"tampered", sign("ci", SECRET, "POST", "/notes/body", b"original"))
        other_path = post("/notes/path", b"x", sign("ci", SECRET, "POST", "/notes/elsewhere", b"x"))
        other_key = post("/notes/key", b"x", sign("ci", "not-the-secret", "POST", "/notes/key", b"x"))
        unknown_key = post("/notes/unknown", b"x", sign("nobody", SECRET, "POST", "/notes/unknown", b"x"))
        query = sign("ci", SECRET, "GET", "/whoami?x=1")
        who = httpx.get(f"{url}/whoami?x=1", headers=query)
        requery = httpx.get(f"{url}/whoami?x=2", headers=sign("ci", SECRET, "GET", "/whoami?x=1"))
    assert good.status_code == 201 and who.status_code == 200
    assert who.json() == {"role": "operator", "kind": "hmac", "name": "ci", "tenant": None}
    refused = {"replayed": replayed, "stale": stale, "future": future, "body": other_body, "path": other_path,
               "key": other_key, "unknown": unknown_key, "query": requery}
    assert {case: r.status_code for case, r in refused.items()} == dict.fromkeys(refused, 401)
    assert list(notes.iterdir()) == []  # the replay did not write the note again; nothing else was written
    assert "already used" in replayed.json()["detail"] and "300 s" in stale.json()["detail"]
    assert "does not match" in other_body.json()["detail"]
    assert len([e for e in denials(parac, project) if e["data"]["status"] == 401]) == len(refused)
    exported = str(trail(parac, project))
    for text in (log.read_text(), exported, *(r.text for r in refused.values())):
        assert SECRET not in text and good_headers["X-Parac-Signature"] not in text


def test_an_unusable_secret_file_is_refused_at_its_place_in_parac_yaml(project: Path, parac):
    """A missing, empty or non-text `secret_file` stops the start with the error at that key in parac.yaml
    (FILE:LINE:COL: serve.hmac_keys.ID.secret_file: ...), naming the file and never what it holds."""
    add_serve_settings(project, "  hmac_keys:\n    ci: {role: operator, secret_file: ci.key}\n")
    place = last_place(project, "secret_file", "serve.hmac_keys.ci.secret_file")
    key = project / ".parac/ci.key"
    missing = serve_once(parac, project)
    key.write_text("\n")
    empty = serve_once(parac, project)
    key.write_bytes(b"\xff" + SECRET.encode())
    garbled = serve_once(parac, project)
    assert missing.code == empty.code == garbled.code == 1
    refusal = f"{place}: cannot serve HMAC-signed requests:"
    assert f"{refusal} cannot read {key}: No such file or directory" in missing.err, missing.err
    assert f"{refusal} {key} is empty" in empty.err, empty.err
    assert f"{refusal} {key} is not UTF-8 text" in garbled.err, garbled.err
    assert all(SECRET not in result.out + result.err for result in (missing, empty, garbled))
