"""Driving the dashboard of a live `parac serve` from the tests: signing in through its form (a real browser),
starting runs of the gated workflow over REST with the token the server was given, and waiting on them."""

from __future__ import annotations

import time

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

TOKEN = "dash-test-token-0123456789abcdef"


def wait(driver, predicate, timeout: float = 30):
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: predicate(d))


def sign_in(driver, url: str, token: str) -> None:
    driver.get(url + "/")
    wait(driver, lambda d: "/login" in d.current_url)
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()


def start_run(served, **extra) -> str:
    answer = httpx.post(served.api + "/workflows/ship/runs", headers={"Authorization": f"Bearer {TOKEN}"},
                        json={"inputs": {"topic": "the flag"}, "dry_run": "echo", **extra}, timeout=30)
    assert answer.status_code == 202, answer.text
    return answer.json()["run_id"]


def run_status(served, run_id: str) -> dict:
    return httpx.get(f"{served.api}/runs/{run_id}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30).json()


def until_waiting(served, run_id: str) -> None:
    deadline = time.monotonic() + 60
    while run_status(served, run_id)["status"] != "waiting_approval":
        assert time.monotonic() < deadline, run_status(served, run_id)
        time.sleep(0.1)


def csrf_for(url: str, session: str) -> str:
    """The CSRF token the dashboard issues to a browser holding the session cookie `session` (what its pages put in
    their forms): read from the cookie the first page sets."""
    page = httpx.get(url + "/tools", cookies={"parac_session": session}, timeout=30)
    assert page.status_code == 200, page.text[:300]
    return page.cookies["parac_csrf"]
