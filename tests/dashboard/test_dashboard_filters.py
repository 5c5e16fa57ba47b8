"""Filtered listings, applied by the server: runs (status, workflow, agent, since/until) and the audit trail (actor,
action, subject, outcome, since/until), the same over REST, over MCP and in the dashboard's forms (a real browser);
the cursor keeps the filter, a bad filter is refused with what is wrong and lists nothing. Also the Overview's
"waiting for approval", the run page's tokens per step and the agent page's recent runs, and the Costs page at $0."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from urllib.parse import quote

import httpx
from mcp import Client
from selenium.webdriver.common.by import By

from support.parac_serve import GATED_WORKFLOW as WORKFLOW
from support.runtime import write_script
from support.dashboard import TOKEN, run_status, sign_in, start_run, until_waiting, wait

BEARER = {"Authorization": f"Bearer {TOKEN}"}


def rest(served, path: str, **params) -> httpx.Response:
    return httpx.get(served.api + path, params=params, headers=BEARER, timeout=30)


def until_finished(served, run_id: str) -> dict:
    deadline = time.monotonic() + 60
    while (status := run_status(served, run_id))["status"] not in ("completed", "failed", "cancelled"):
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    return status


def some_runs(served, waiting: int) -> tuple[list[str], str]:
    """`waiting` runs of the gated workflow waiting at its gate, and one run of it approved automatically, done."""
    runs = [start_run(served) for _ in range(waiting)]
    for run_id in runs:
        until_waiting(served, run_id)
    done = start_run(served, auto_approve=True)
    until_finished(served, done)
    return runs, done


def test_run_and_audit_filters_over_rest_and_mcp(project: Path, serve):
    (project / ".parac" / "workflows" / "ship.yaml").write_text(WORKFLOW)
    with serve(project, env={"PARAC_MCP_TOKEN": TOKEN}) as served:
        waiting, done = some_runs(served, 3)
        httpx.get(served.api + "/agents", headers={"Authorization": "Bearer not-the-token"}, timeout=30)  # a denial
        first = rest(served, "/runs", status="waiting_approval", limit=2).json()
        second = rest(served, "/runs", status="waiting_approval", limit=2, cursor=first["next_cursor"]).json()
        completed = rest(served, "/runs", status="completed").json()["runs"]
        other_filter = rest(served, "/runs", status="completed", limit=2, cursor=first["next_cursor"])
        unfiltered = rest(served, "/runs", limit=2, cursor=first["next_cursor"])
        named = rest(served, "/runs", workflow="ship").json()["runs"]
        unnamed = rest(served, "/runs", workflow="no-such-flow").json()["runs"]
        recent = rest(served, "/runs", since="1h").json()["runs"]
        window = rest(served, "/runs", since="1h", limit=3).json()  # "1h" ends elsewhere by the next page: it goes on
        window_rest = rest(served, "/runs", since="1h", limit=3, cursor=window["next_cursor"]).json()["runs"]
        older = rest(served, "/runs", until="1h").json()["runs"]
        bad_status = rest(served, "/runs", status="finished")
        bad_since = rest(served, "/runs", since="yesterday-ish")
        backwards = rest(served, "/runs", since="1h", until="2h")
        denied = rest(served, "/audit", outcome="denied").json()["entries"]
        http_denied = rest(served, "/audit", action="http.denied", outcome="denied").json()["entries"]
        calls = rest(served, "/audit", action="tool.call", subject="run_workflow", limit=2).json()
        more_calls = rest(served, "/audit", action="tool.call", subject="run_workflow", limit=2,
                          cursor=calls["next_cursor"]).json()
        actors = {e["actor"] for e in calls["entries"]}
        by_actor = rest(served, "/audit", actor=next(iter(actors))).json()["entries"]
        future = rest(served, "/audit", since="2999-01-01").json()["entries"]
        past = rest(served, "/audit", until="2000-01-01").json()["entries"]
        bad_until = rest(served, "/audit", until="soon")
        audit_cursor_elsewhere = rest(served, "/audit", outcome="ok", cursor=calls["next_cursor"])
        async_mcp = _over_mcp(served)
    assert [r["status"] for r in first["runs"] + second["runs"]] == ["waiting_approval"] * 3
    assert {r["run_id"] for r in first["runs"] + second["runs"]} == set(waiting) and second["next_cursor"] is None
    assert [r["run_id"] for r in completed] == [done]
    assert other_filter.status_code == 400 and unfiltered.status_code == 400  # a cursor keeps its filter
    assert len(named) == 4 and unnamed == [] and len(recent) == 4 and older == []
    assert [r["run_id"] for r in window["runs"] + window_rest] == [r["run_id"] for r in recent]
    assert bad_status.status_code == 422 and 'unknown run status "finished"' in bad_status.json()["detail"]
    assert "waiting_approval" in bad_status.json()["detail"]
    assert bad_since.status_code == 422 and bad_since.json()["detail"].startswith('since: cannot read "yesterday-ish"')
    assert backwards.status_code == 422 and "until must be later than since" in backwards.json()["detail"]
    assert denied and {e["outcome"] for e in denied} == {"denied"}
    assert [e["action"] for e in http_denied] == ["http.denied"]
    pages = calls["entries"] + more_calls["entries"]
    assert len(pages) == 4 and {(e["action"], e["subject"]) for e in pages} == {("tool.call", "run_workflow")}
    assert [e["seq"] for e in pages] == sorted((e["seq"] for e in pages), reverse=True)
    assert by_actor and {e["actor"] for e in by_actor} == actors
    assert future == [] and past == []
    assert bad_until.status_code == 422 and "until" in bad_until.json()["detail"]
    assert audit_cursor_elsewhere.status_code == 400
    assert async_mcp == (3, {"waiting_approval"}, {"denied"})


def _over_mcp(served) -> tuple[int, set[str], set[str]]:
    """The same filters through the MCP face: the runs template and the audit tool."""
    import json

    import anyio
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    async def ask() -> tuple[int, set[str], set[str]]:
        async with httpx2.AsyncClient(headers=BEARER) as http, \
                Client(streamable_http_client(served.mcp, http_client=http), mode="legacy") as session:
            read = await session.read_resource("parac://runs?status=waiting_approval&limit=10")
            runs = json.loads(read.contents[0].text)["runs"]
            entries = (await session.call_tool("list_audit_entries", {"outcome": "denied"})).structured_content
        return len(runs), {r["status"] for r in runs}, {e["outcome"] for e in entries["entries"]}

    return anyio.run(ask)


def test_filters_in_the_browser(project: Path, serve, browser, tmp_path: Path):
    (project / ".parac" / "workflows" / "ship.yaml").write_text(WORKFLOW)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with serve(project, env={"PARAC_MCP_TOKEN": TOKEN}) as served:
        waiting, done = some_runs(served, 2)
        sign_in(browser, served.url, TOKEN)
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "nav[aria-label=Dashboard]"))
        browser.get(served.url + "/runs")
        from selenium.webdriver.support.ui import Select

        Select(browser.find_element(By.ID, "f-status")).select_by_value("completed")
        browser.find_element(By.ID, "f-since").send_keys("1h")
        browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
        wait(browser, lambda d: "status=completed" in d.current_url)
        listed = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "main tbody a")]
        browser.save_screenshot(str(shots / "runs-filtered-1280.png"))
        browser.get(served.url + "/runs?status=finished&workflow=ship")
        refused = browser.find_element(By.CSS_SELECTOR, ".alert").text
        kept = browser.find_element(By.ID, "f-workflow").get_attribute("value")
        empty_rows = browser.find_element(By.CSS_SELECTOR, "main tbody").text
        browser.get(served.url + "/audit")
        browser.find_element(By.ID, "f-action").send_keys("tool.call")
        browser.find_element(By.ID, "f-subject").send_keys("run_workflow")
        browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
        wait(browser, lambda d: "subject=run_workflow" in d.current_url)
        cells = [row.find_elements(By.TAG_NAME, "td") for row in browser.find_elements(By.CSS_SELECTOR, "main tbody tr")]
        actions = {(c[2].text, c[4].text) for c in cells}
        browser.set_window_size(390, 900)
        browser.save_screenshot(str(shots / "audit-filtered-390.png"))
        browser.set_window_size(1280, 900)
        browser.get(served.url + "/")
        overview = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#waiting-runs a")]
        logged = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "status=finished" not in e["message"]]
    assert listed == [done]
    assert "422" in refused and 'unknown run status "finished"' in refused and kept == "ship"
    assert "No run matches" in empty_rows
    assert len(cells) == 3 and actions == {("tool.call", "run_workflow")}
    assert sorted(text.rpartition(" · ")[2] for text in overview) == sorted(waiting)
    assert logged == []


def test_waiting_runs_are_found_among_many(project: Path, serve, browser):
    """The Overview's list is a query over every run, not a look at the newest: 250 finished runs added after the
    waiting one leave it on the page."""
    (project / ".parac" / "workflows" / "ship.yaml").write_text(WORKFLOW)
    with serve(project, env={"PARAC_MCP_TOKEN": TOKEN}) as served:
        old = start_run(served)
        until_waiting(served, old)
        conn = sqlite3.connect(project / ".parac" / "state" / "parac.db", isolation_level=None)
        later = time.time() + 10
        conn.executemany(
            "INSERT INTO workflow_runs (run_id, workflow, definition, inputs, options, status, created_at, updated_at)"
            " VALUES (?, 'ship', '{}', '{}', '{}', 'completed', ?, ?)",
            [(f"rlater{i:04d}", later + i, later + i) for i in range(250)])
        conn.close()
        sign_in(browser, served.url, TOKEN)
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "nav[aria-label=Dashboard]"))
        shown = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#waiting-runs a")]
    assert [text.rpartition(" · ")[2] for text in shown] == [old]


def test_run_tokens_agent_runs_and_costs_at_zero(project: Path, serve, browser, tmp_path: Path):
    shots = tmp_path / "screenshots"
    shots.mkdir()
    write_script(project / "two.yaml", [{"text": "a draft", "usage": {"prompt_tokens": 120, "completion_tokens": 34}}])
    (project / ".parac" / "workflows" / "one.yaml").write_text(
        "steps:\n  - id: draft\n    agent: coder\n    task: write it\n")
    with serve(project, env={"PARAC_MCP_TOKEN": TOKEN}) as served:
        sign_in(browser, served.url, TOKEN)
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "nav[aria-label=Dashboard]"))
        zero = {}
        for width in (1280, 390):
            browser.set_window_size(width, 900)
            browser.get(served.url + "/costs")
            zero[width] = (len(browser.find_elements(By.CSS_SELECTOR, "figure.bars svg .axis")),
                           browser.find_element(By.CSS_SELECTOR, "figure.bars").text,
                           browser.find_element(By.CSS_SELECTOR, "figure.bars svg").size["height"])
            browser.save_screenshot(str(shots / f"costs-zero-{width}.png"))
        browser.set_window_size(1280, 900)
        started = httpx.post(served.api + "/workflows/one/runs", headers=BEARER, timeout=30,
                             json={"model": "scripted:two.yaml"})
        run_id = started.json()["run_id"]
        final = until_finished(served, run_id)
        browser.get(f"{served.url}/runs/{quote(run_id)}")
        summary = browser.find_element(By.CSS_SELECTOR, "#step-draft summary").text
        browser.save_screenshot(str(shots / "run-tokens-1280.png"))
        by_agent = [r["run_id"] for r in rest(served, "/runs", agent="coder").json()["runs"]]
        by_other = rest(served, "/runs", agent="documenter").json()["runs"]
        browser.get(served.url + "/agents/coder")
        recent = browser.find_element(By.ID, "agent-runs").text
        browser.save_screenshot(str(shots / "agent-runs-1280.png"))
    assert zero[1280][0] == 3 and "No model calls in this period" in zero[1280][1] and zero[1280][2] > 20
    assert zero[390][0] == 3
    assert final["status"] == "completed", final
    assert "120 tokens in, 34 out (1 model call)" in summary
    assert run_id in recent and "completed" in recent
    assert by_agent == [run_id] and by_other == []
