"""The dashboard in a real browser (headless Chromium) against a live `parac serve` that needs a token: signing in,
every page at 1280 and 390 px without console errors, a run's graph changing colour as it goes (no reload), a gate
approved on the page, the audit trail verified before and after tampering, and refusals shown on the page."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
from selenium.webdriver.common.by import By

from support.auth_server import add_serve_settings
from support.dashboard import TOKEN, csrf_for, run_status, sign_in, start_run, until_waiting, wait
from support.parac_serve import GATED_WORKFLOW as WORKFLOW
from support.runtime import write_script
from support.tenants import two_tenants

PAGES = ("/", "/agents", "/agents/coder", "/runs", "/costs", "/audit", "/chat", "/tools")
WIDTHS = (1280, 390)


def errors(driver) -> list[dict]:
    """Console errors since the last call (failed loads, script errors, CSP violations)."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def alert(driver) -> str:
    """The refusal a page shows (waited for: a press answers with a new page)."""
    return wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".alert"))[0].text


def badge(driver) -> str | None:
    """The run's status as the page shows it (read by script: the page may be replaced while it is polled)."""
    return driver.execute_script("const b = document.querySelector('#run-status .status'); return b && b.textContent")


def fill(driver, step: str) -> str:
    return driver.execute_script(
        "const r = document.querySelector(`#graph rect[data-step='${arguments[0]}']`);"
        "return r ? r.getAttribute('class') : null;", step)


def test_sign_in_every_page_at_both_widths(project: Path, serve, browser, tmp_path: Path):
    (project / ".parac" / "workflows" / "ship.yaml").write_text(WORKFLOW)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with serve(project, env={"PARAC_MCP_TOKEN": TOKEN}) as served:
        run_id = start_run(served)
        until_waiting(served, run_id)
        sign_in(browser, served.url, "not-the-token")
        wait(browser, lambda d: "/login" in d.current_url and d.find_elements(By.CSS_SELECTOR, ".alert"))
        refused = alert(browser)
        anonymous = browser.get_cookie("parac_session")
        errors(browser)  # the refused page load itself is logged; judge the pages from here on
        sign_in(browser, served.url, TOKEN)
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "nav[aria-label=Dashboard]"))
        cookie = browser.get_cookie("parac_session")
        seen = {}
        for width in WIDTHS:
            browser.set_window_size(width, 900)
            for page in (*PAGES, f"/runs/{run_id}"):
                browser.get(served.url + page)
                wait(browser, lambda d: d.execute_script("return document.readyState") == "complete")
                time.sleep(0.3)  # a run page draws its graph from the event stream
                seen[(width, page)] = (browser.find_element(By.TAG_NAME, "h1").text, errors(browser),
                                       browser.execute_script("return document.documentElement.scrollWidth"))
                name = page.strip("/").replace("/", "-") or "overview"
                browser.save_screenshot(str(shots / f"{name}-{width}.png"))
        browser.get(served.url + "/runs/no-such-run")
        unknown = alert(browser)
        api = httpx.get(served.api + "/runs", cookies={"parac_session": TOKEN}, timeout=30)
    assert "unknown token" in refused and (anonymous is None or anonymous["value"] == "")
    assert cookie is not None and cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    for (width, page), (heading, logged, scroll_width) in seen.items():
        assert heading and heading != "Sign in", (width, page, heading)
        assert logged == [], (width, page, logged)
        assert scroll_width <= width, (width, page, scroll_width)  # nothing wider than the window
    assert "404" in unknown and "no-such-run" in unknown
    assert api.status_code == 401  # the API takes no cookie: a cross-site form can never call it
    assert len(list(shots.glob("*.png"))) == 2 * (len(PAGES) + 1)


def test_run_graph_live_then_approved_on_the_page(project: Path, serve, browser):
    (project / ".parac" / "workflows" / "ship.yaml").write_text(WORKFLOW)
    with serve(project, env={"PARAC_MCP_TOKEN": TOKEN}) as served:
        sign_in(browser, served.url, TOKEN)
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "nav[aria-label=Dashboard]"))
        watched = start_run(served)
        until_waiting(served, watched)
        browser.get(f"{served.url}/runs/{watched}")
        wait(browser, lambda d: fill(d, "gate") == "s-waiting_approval")
        before = (fill(browser, "draft"), fill(browser, "publish"))
        browser.execute_script("window.notReloaded = true")
        approved = httpx.post(f"{served.api}/runs/{watched}/steps/gate/approve", json={"comment": "elsewhere"},
                              headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        wait(browser, lambda d: fill(d, "publish") == "s-completed")
        wait(browser, lambda d: badge(d) == "completed")
        live = browser.execute_script("return window.notReloaded === true")
        bars = len(browser.find_elements(By.CSS_SELECTOR, "#gantt rect"))
        # The same run's page, loaded while it waited, answered by now: pressing Approve changes nothing.
        second = start_run(served)
        until_waiting(served, second)
        browser.get(f"{served.url}/runs/{second}")
        stale = browser.current_url
        httpx.post(f"{served.api}/runs/{second}/steps/gate/reject", json={}, headers={"Authorization": f"Bearer {TOKEN}"},
                   timeout=30)
        browser.find_element(By.CSS_SELECTOR, "button[value=approve]").click()
        answered = alert(browser)
        after_stale = run_status(served, second)
        # A forged CSRF token: refused on the page, the gate still waits.
        third = start_run(served)
        until_waiting(served, third)
        browser.get(f"{served.url}/runs/{third}")
        browser.execute_script("for (const i of document.querySelectorAll('input[name=csrf]')) i.value = 'forged-' + 'x'.repeat(40)")
        browser.find_element(By.CSS_SELECTOR, "button[value=approve]").click()
        forged = alert(browser)
        still = run_status(served, third)["status"]
        errors(browser)
        # Approve pressed on the page, with a comment: the run goes on to its end.
        browser.get(f"{served.url}/runs/{third}")
        browser.find_element(By.ID, "comment-1").send_keys("looks good")
        browser.find_element(By.CSS_SELECTOR, "button[value=approve]").click()
        wait(browser, lambda d: "done=approve" in d.current_url)
        wait(browser, lambda d: badge(d) == "completed")
        final = run_status(served, third)
        logged = errors(browser)
    assert before == ("s-completed", "s-pending") and approved.status_code == 200
    assert live and bars == 3
    assert stale.endswith(second) and "409" in answered and after_stale["status"] in ("failed", "cancelled")
    assert "CSRF" in forged and still == "waiting_approval"
    assert final["status"] == "completed" and [s["status"] for s in final["steps"]] == ["completed"] * 3
    assert [e for e in logged if "/action " not in e["message"]] == []  # the refused presses answer 409 and 403


def test_verify_before_and_after_tampering(project: Path, serve, browser):
    with serve(project, env={"PARAC_MCP_TOKEN": TOKEN}) as served:
        sign_in(browser, served.url, TOKEN)
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "nav[aria-label=Dashboard]"))
        browser.get(served.url + "/audit")
        browser.find_element(By.ID, "verify").click()
        intact = wait(browser, lambda d: d.find_elements(By.ID, "verified"))[0].text
        db = project / ".parac" / "state" / "parac.db"
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("DROP TRIGGER IF EXISTS audit_no_update")
        conn.execute("UPDATE audit SET actor = 'someone-else' WHERE seq = 2")
        conn.close()
        browser.get(served.url + "/audit")
        browser.find_element(By.ID, "verify").click()
        tampered = wait(browser, lambda d: d.find_elements(By.ID, "verified"))[0].text
    assert intact.startswith("The trail is intact")
    assert "tampered" in tampered and "#2" in tampered


def test_chat_streams_with_thinking_folded(project: Path, serve, browser, tmp_path: Path):
    write_script(project / "think.yaml", [{"thinking": "weighing the words", "text": "an answer, streamed"}])
    model = "scripted:think.yaml"  # a client's scripted:PATH is relative to the workspace
    with serve(project, env={"PARAC_MCP_TOKEN": TOKEN}) as served:
        sign_in(browser, served.url, TOKEN)
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "nav[aria-label=Dashboard]"))
        browser.get(served.url + "/chat")
        browser.find_element(By.ID, "model").send_keys(model)
        browser.find_element(By.ID, "message").send_keys("think")
        browser.find_element(By.CSS_SELECTOR, "#chat button").click()
        wait(browser, lambda d: d.execute_script(
            "const m = document.querySelector('#conversation .msg:not(.you)'); return m && !m.hasAttribute('aria-busy')"))
        panel = browser.find_element(By.CSS_SELECTOR, "#conversation details.thinking")
        folded = panel.get_attribute("open") is None and not panel.find_element(By.TAG_NAME, "pre").is_displayed()
        panel.find_element(By.TAG_NAME, "summary").click()
        thought = panel.find_element(By.TAG_NAME, "pre").text
        answer = browser.find_element(By.CSS_SELECTOR, "#conversation .msg:not(.you) > div").text
        logged = errors(browser)
    assert folded and thought == "weighing the words"
    assert answer == "an answer, streamed"
    assert logged == []


def test_another_tenants_run_is_not_shown(project: Path, serve, browser, parac, tmp_path: Path):
    both = two_tenants(parac, project, tmp_path)
    (both.team_a / ".parac" / "workflows" / "ship.yaml").write_text(WORKFLOW)
    tokens = both.tokens
    with serve(project, args=("--tenants", str(both.file))) as served:
        started = httpx.post(served.api + "/workflows/ship/runs", headers={"Authorization": f"Bearer {tokens['alice']}"},
                             json={"inputs": {"topic": "t"}, "dry_run": "echo"}, timeout=30)
        run_id = started.json()["run_id"]
        sign_in(browser, served.url, tokens["bob"])
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "nav[aria-label=Dashboard]"))
        browser.get(f"{served.url}/runs/{run_id}")
        refused = alert(browser)
        listed = browser.get(f"{served.url}/runs") or browser.find_element(By.TAG_NAME, "main").text
        forged = httpx.post(f"{served.url}/runs/{run_id}/action", cookies={"parac_session": tokens["bob"]},
                            data={"action": "cancel"}, timeout=30)
        same = csrf_for(served.url, tokens["bob"])  # bob's own browser's token, and still the run is not his
        cancel = httpx.post(f"{served.url}/runs/{run_id}/action", cookies={"parac_session": tokens["bob"], "parac_csrf": same},
                            data={"action": "cancel", "csrf": same}, timeout=30)
        status = httpx.get(f"{served.api}/runs/{run_id}", headers={"Authorization": f"Bearer {tokens['alice']}"},
                           timeout=30).json()["status"]
    assert started.status_code == 202
    assert "404" in refused and run_id in refused
    assert run_id not in listed
    assert forged.status_code == 403 and "CSRF" in forged.text
    assert cancel.status_code == 404 and run_id in cancel.text
    assert status == "waiting_approval"


def test_an_expired_jwt_is_refused_on_the_login_page(project: Path, serve, browser):
    import jwt

    (project / ".parac/jwt.key").write_text("k" * 48 + "\n")
    add_serve_settings(project, "  jwt:\n    issuer: https://idp.example\n    audience: parac-api\n"
                                "    key_file: jwt.key\n    role_claim: groups\n    roles: {parac-ops: operator}\n")
    now = int(time.time())

    def make(**overrides) -> str:
        claims = {"iss": "https://idp.example", "aud": "parac-api", "sub": "alice", "exp": now + 600,
                  "groups": ["parac-ops"], **overrides}
        return jwt.encode(claims, "k" * 48, algorithm="HS256")

    with serve(project) as served:
        sign_in(browser, served.url, make(exp=now - 3600))
        refused = alert(browser)
        shown = browser.current_url
        sign_in(browser, served.url, make())
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "nav[aria-label=Dashboard]"))
        who = browser.find_element(By.CSS_SELECTOR, ".who").text
    assert "/login" in shown and "expired" in refused
    assert who == "jwt:alice · operator"


def test_keyboard_and_colour_schemes(project: Path, serve, browser, tmp_path: Path):
    from selenium.webdriver.common.keys import Keys

    with serve(project, env={"PARAC_MCP_TOKEN": TOKEN}) as served:
        sign_in(browser, served.url, TOKEN)
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "nav[aria-label=Dashboard]"))
        browser.get(served.url + "/tools")
        body = browser.find_element(By.TAG_NAME, "body")
        body.send_keys(Keys.TAB)
        first = browser.switch_to.active_element.text
        browser.switch_to.active_element.send_keys(Keys.ENTER)
        skipped_to = browser.switch_to.active_element.get_attribute("id")
        for _ in range(20):  # on through the page to the policy check's tool field; type, and submit by Enter
            browser.switch_to.active_element.send_keys(Keys.TAB)
            if browser.switch_to.active_element.get_attribute("id") == "c-tool":
                break
        browser.switch_to.active_element.send_keys("file_read", Keys.ENTER)
        decided = wait(browser, lambda d: d.find_elements(By.ID, "decision"))[0].text
        unlabelled = browser.execute_script(
            "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]"
            ".filter(e => !(e.labels && e.labels.length)).map(e => e.name)")
        backgrounds = {}
        for scheme in ("light", "dark"):
            browser.execute_cdp_cmd("Emulation.setEmulatedMedia",
                                    {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
            browser.get(served.url + "/")
            backgrounds[scheme] = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
            browser.save_screenshot(str(tmp_path / f"overview-{scheme}.png"))
    assert first == "Skip to content" and skipped_to == "main"
    assert "file_read" in decided and ("Allowed" in decided or "Denied" in decided)
    assert unlabelled == []
    assert backgrounds["light"] == "rgb(255, 255, 255)" and backgrounds["dark"] == "rgb(13, 17, 23)"
