"""The dashboard attacked from outside, judged by what changed: the run's state, the audit trail's length, the
ledger, the cookies set, what the answer holds. Every POST (approve, reject, cancel, resume, verify, policy check,
chat, logout, login) with its CSRF token missing, forged, another session's, or a pair planted by another page of
this host; a POST with a foreign Origin (another port of the same host is another origin), by curl and from a page
a real browser opens; the session cookie's flags; login CSRF and session fixation; a token in the URL, which is
neither accepted nor written anywhere."""

from __future__ import annotations

import http.server
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
from selenium.webdriver.common.by import By

from support.dashboard import TOKEN, csrf_for, run_status, sign_in, start_run, until_waiting, wait
from support.parac_serve import GATED_WORKFLOW as WORKFLOW

POSTS = {  # every state-changing form or button of the dashboard, with the fields its page would send
    "approve": ("/runs/{run}/action", {"action": "approve", "step": "gate", "comment": "forged"}),
    "reject": ("/runs/{run}/action", {"action": "reject", "step": "gate"}),
    "cancel": ("/runs/{run}/action", {"action": "cancel"}),
    "resume": ("/runs/{run}/action", {"action": "resume"}),
    "verify": ("/audit/verify", {}),
    "policy check": ("/tools/check", {"tool": "file_read"}),
    "logout": ("/logout", {}),
}


def state(project: Path, run_id: str) -> tuple:
    """What an accepted request would change: the trail (but for the refusals it records, `http.denied`), the run
    and its gate, the ledger. Read once the server's audit writer has committed what earlier requests queued (it
    commits within 50 ms: the figures must hold still for a while)."""
    seen = [_state(project, run_id)]
    while len(seen) < 3 or len(set(seen[-3:])) > 1:
        time.sleep(0.2)
        seen.append(_state(project, run_id))
    return seen[-1]


def _state(project: Path, run_id: str) -> tuple:
    conn = sqlite3.connect(project / ".parac" / "state" / "parac.db")
    try:
        trail = conn.execute("SELECT COUNT(*) FROM audit WHERE action != 'http.denied'").fetchone()[0]
        run = conn.execute("SELECT status, cancel_requested FROM workflow_runs WHERE run_id = ?", (run_id,)).fetchone()
        gate = conn.execute("SELECT status FROM workflow_approvals WHERE run_id = ?", (run_id,)).fetchone()
        calls = conn.execute("SELECT COUNT(*) FROM llm_calls").fetchone()[0]
    finally:
        conn.close()
    return trail, run, gate, calls


def post(url: str, path: str, *, cookies: dict[str, str], data: dict | None = None, headers: dict | None = None,
         json: dict | None = None) -> httpx.Response:
    # The Cookie header by hand: httpx's jar keeps Secure cookies from a plain-http URL, a browser on loopback does not.
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return httpx.post(url + path, data=data, json=json, headers={"cookie": cookie, **(headers or {})}, timeout=30)


def test_every_post_refuses_a_missing_forged_or_planted_token(project: Path, serve, parac):
    (project / ".parac" / "workflows" / "ship.yaml").write_text(WORKFLOW)
    other = parac("token", "create", "--role", "operator", "--name", "other", "--json", cwd=project).json()["token"]
    with serve(project, env={"PARAC_MCP_TOKEN": TOKEN}) as served:
        run_id = start_run(served)
        until_waiting(served, run_id)
        own = csrf_for(served.url, TOKEN)
        theirs = csrf_for(served.url, other)  # a real token, of another session
        planted = "p" * 22 + "." + "0" * 32  # a pair another page of this host could set: cookie and field agree
        session = {"parac_session": TOKEN}
        attempts = {
            "missing": (session, None, {}),
            "forged": ({**session, "parac_csrf": own}, "forged-" + "x" * 40, {}),
            "another session's": ({**session, "parac_csrf": theirs}, theirs, {}),
            "planted pair": ({**session, "parac_csrf": planted}, planted, {}),
            "foreign origin": ({**session, "parac_csrf": own}, own, {"origin": "http://127.0.0.1:1"}),
            "cross-site fetch": ({**session, "parac_csrf": own}, own, {"sec-fetch-site": "same-site"}),
        }
        before = state(project, run_id)
        answers = {}
        for kind, (cookies, token, headers) in attempts.items():
            for name, (path, fields) in POSTS.items():
                data = {**fields, **({"csrf": token} if token is not None else {})}
                answers[(kind, name)] = post(served.url, path.format(run=run_id), cookies=cookies, data=data,
                                             headers=headers)
            answers[(kind, "chat")] = post(served.url, "/chat/stream", cookies=cookies, json={"message": "hi"},
                                           headers={**headers, **({"x-csrf-token": token} if token else {})})
        after = state(project, run_id)
        accepted = post(served.url, "/tools/check", cookies={**session, "parac_csrf": own},
                        data={"tool": "file_read", "csrf": own})
        status = run_status(served, run_id)["status"]
    refused = {key: (answer.status_code, answer.headers.get("set-cookie", "")) for key, answer in answers.items()}
    assert {key: code for key, (code, _) in refused.items() if code != 403} == {}
    assert [key for key, (_, cookie) in refused.items() if "parac_session" in cookie] == []  # logout did nothing
    assert [key for key, answer in answers.items() if "Allowed" in answer.text or "intact" in answer.text] == []
    assert after == before and before[1] == ("waiting_approval", 0) and before[2] == ("waiting",)
    assert status == "waiting_approval"
    assert accepted.status_code == 200 and "file_read" in accepted.text  # the same request, from our page, works


def test_session_cookie_login_csrf_and_fixation(project: Path, serve, parac):
    with serve(project, env={"PARAC_MCP_TOKEN": TOKEN}) as served:
        planted = {"parac_session": "planted-by-someone-else"}
        form = httpx.get(served.url + "/login", headers={"cookie": "parac_session=planted-by-someone-else"}, timeout=30)
        login_token = form.cookies["parac_csrf"]
        signed_in = post(served.url, "/login", cookies={**planted, "parac_csrf": login_token},
                         data={"token": TOKEN, "csrf": login_token, "next": "/"})
        set_cookies = signed_in.headers.get_list("set-cookie")
        planted_page = httpx.get(served.url + "/", headers={"cookie": "parac_session=planted-by-someone-else"},
                                 timeout=30)
        stale = post(served.url, "/tools/check", cookies={"parac_session": TOKEN, "parac_csrf": login_token},
                     data={"tool": "file_read", "csrf": login_token})
        # Login CSRF: another page signs the browser in as the attacker (its own token), without our form's token,
        # or from its own origin with a pair it planted.
        forged_login = post(served.url, "/login", cookies={}, data={"token": TOKEN})
        foreign_login = post(served.url, "/login", cookies={"parac_csrf": login_token},
                             data={"token": TOKEN, "csrf": login_token}, headers={"origin": "http://127.0.0.1:1"})
    session = next(c for c in set_cookies if c.startswith("parac_session="))
    fresh = next(c for c in set_cookies if c.startswith("parac_csrf="))
    flags = {part.strip().lower() for part in session.split(";")[1:]}
    assert signed_in.status_code == 303 and session.startswith(f"parac_session={TOKEN};")
    assert {"httponly", "secure", "samesite=strict", "path=/"} <= flags
    assert fresh.split(";")[0] != f"parac_csrf={login_token}"  # the form's token was bound to the session before
    assert planted_page.status_code == 303 and planted_page.headers["location"].startswith("/login")
    assert stale.status_code == 403
    for refused in (forged_login, foreign_login):
        assert refused.status_code == 403 and "parac_session" not in refused.headers.get("set-cookie", "")


def test_a_token_in_the_url_is_refused_and_never_written(project: Path, serve):
    secret = TOKEN
    with serve(project, env={"PARAC_MCP_TOKEN": secret}) as served:
        answers = [httpx.get(served.url + path, timeout=30) for path in (
            f"/?token={secret}", f"/runs?access_token={secret}", f"/login?token={secret}&next=/audit",
            f"/api/v1/runs?token={secret}", f"/api/v1/audit?access_token={secret}")]
        output = served.log()
    written = b"".join(path.read_bytes() for path in (project / ".parac" / "state").iterdir() if path.is_file())
    assert [a.status_code for a in answers] == [303, 303, 200, 401, 401]
    assert all(secret not in a.text for a in answers)
    assert secret not in output
    assert secret.encode() not in written


@contextmanager
def attacker_page(target: str, run_id: str):
    """A page on another port of this host (same site, another origin) whose form posts to the dashboard as soon
    as it loads: the token it sends is a guess, and a browser adds the dashboard's cookies."""
    html = (f'<!doctype html><form id="f" method="post" action="{target}/runs/{run_id}/action">'
            '<input name="action" value="cancel"><input name="csrf" value="guessed"></form>'
            '<script>document.getElementById("f").submit()</script>').encode()

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_page_on_another_port_cannot_post_in_a_signed_in_browser(project: Path, serve, browser):
    (project / ".parac" / "workflows" / "ship.yaml").write_text(WORKFLOW)
    with serve(project, env={"PARAC_MCP_TOKEN": TOKEN}) as served:
        run_id = start_run(served)
        until_waiting(served, run_id)
        sign_in(browser, served.url, TOKEN)
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "nav[aria-label=Dashboard]"))
        before = state(project, run_id)
        with attacker_page(served.url, run_id) as page:
            browser.get(page)
            wait(browser, lambda d: d.current_url.startswith(served.url))
            shown = wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").text)
        after = state(project, run_id)
    assert "403" in shown and "is not allowed" in shown
    assert after == before  # nothing changed: the run still waits at its gate
    assert after[1] == ("waiting_approval", 0)


def test_behind_a_proxy_that_rewrites_host_its_listed_origin_may_post_and_forwarded_headers_are_not_believed(
    project: Path, serve
):
    """A reverse proxy serves the dashboard at https://parac.example and forwards to the loopback address with
    `Host` rewritten (nginx's default): the browser's `Origin` is the public one. Listed with `--allow-origin`, it
    counts as the dashboard's own; a CORS origin (another site, allowed to read answers) does not, whatever
    `X-Forwarded-Host` or `Forwarded` claim."""
    (project / ".parac" / "workflows" / "ship.yaml").write_text(WORKFLOW)
    public, reader = "https://parac.example", "https://reader.example"
    with serve(project, args=("--allow-origin", public, "--cors-origin", reader),
               env={"PARAC_MCP_TOKEN": TOKEN}) as served:
        run_id = start_run(served)
        until_waiting(served, run_id)
        own = csrf_for(served.url, TOKEN)
        cookies = {"parac_session": TOKEN, "parac_csrf": own}
        before = state(project, run_id)
        claimed = post(served.url, f"/runs/{run_id}/action", cookies=cookies, data={"action": "cancel", "csrf": own},
                       headers={"origin": reader, "x-forwarded-host": "reader.example", "x-forwarded-proto": "https",
                                "forwarded": "host=reader.example;proto=https"})
        after_claimed = state(project, run_id)
        proxied = post(served.url, f"/runs/{run_id}/action", cookies=cookies,
                       data={"action": "approve", "step": "gate", "csrf": own},
                       headers={"origin": public, "sec-fetch-site": "same-origin"})
        deadline = time.monotonic() + 60
        while (status := run_status(served, run_id)["status"]) == "waiting_approval" and time.monotonic() < deadline:
            time.sleep(0.1)
    assert claimed.status_code == 403 and after_claimed == before and before[1] == ("waiting_approval", 0)
    assert proxied.status_code == 303 and proxied.headers["location"] == f"/runs/{run_id}?done=approve"
    assert status in ("running", "completed")  # the gate was passed: the run went on
