"""``parac serve`` on the dbos engine (no worker of its own; ``parac worker`` processes run the steps): its requests
do not wait for each other's database reads, its run event stream shows what the workers did and resumes after the
last event id, and ``/metrics`` counts the shared audit chain's entries."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import yaml
from prometheus_client.parser import text_string_to_metric_families

from parac.core.specs import WorkflowSpec
from parac.core.workflows import RunOptions
from support import sse
from support.parac_serve import parac_serve

CHAIN = """\
steps:
  - {id: a, tool: record, arguments: {label: a}}
  - {id: b, tool: record, arguments: {label: b}, depends_on: [a]}
  - {id: c, tool: record, arguments: {label: c}, depends_on: [b]}
"""


def _lock_waits(conn: psycopg.Connection) -> int:
    """Sessions waiting on a lock now: ``conn`` must be in autocommit, since Postgres keeps one snapshot of
    pg_stat_activity per transaction (a poll inside one would never see the wait begin)."""
    return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND datname = current_database()").fetchone()[0]


def test_a_request_is_answered_while_another_waits_on_the_database(dbos_project):
    """A run's status is read while a transaction holds DBOS's workflow table locked, so that read waits in
    Postgres; a request that needs no database is answered meanwhile, and the status after the lock goes."""
    spec = WorkflowSpec.model_validate(yaml.safe_load(CHAIN))
    run_id = dbos_project.runs.enqueue("rheld", "chain", spec, {}, RunOptions())  # no worker: it stays queued
    with parac_serve(dbos_project.root, env={"PARAC_DATABASE_URL": ""}) as served, \
            httpx.Client(base_url=served.api, timeout=60) as http, \
            httpx.Client(base_url=served.api, timeout=60) as other, ThreadPoolExecutor(1) as pool:
        assert http.get(f"/runs/{run_id}").json()["status"] == "queued"  # the database checked, the pool warm
        with psycopg.connect(dbos_project.url) as locker, psycopg.connect(dbos_project.url, autocommit=True) as watcher:
            locker.execute("LOCK TABLE dbos.workflow_status IN ACCESS EXCLUSIVE MODE")
            slow = pool.submit(http.get, f"/runs/{run_id}")
            while not _lock_waits(watcher):  # the status read is in Postgres, waiting for the lock
                assert not slow.done(), slow.result().text
            agents = other.get("/agents")
            assert not slow.done(), "the status was answered while its table was locked"
            assert agents.status_code == 200 and agents.json()["agents"], agents.text
        answered = slow.result(timeout=60)  # the lock went with its transaction
    assert answered.status_code == 200 and answered.json()["status"] == "queued", answered.text


def _events(http: httpx.Client, run_id: str, last: str | None = None) -> list[sse.Event]:
    headers = {"Last-Event-ID": last} if last else {}
    with http.stream("GET", f"/runs/{run_id}/events", headers=headers) as response:
        assert response.status_code == 200, response.read()
        return list(sse.events(response))


def test_the_event_stream_shows_the_steps_a_worker_ran_and_metrics_count_the_shared_chain(dbos_project):
    """The run is enqueued here (serve's host has no test tools to plan it with) and stepped by the worker."""
    worker = dbos_project.start_worker()
    dbos_project.wait_workers(1)
    with parac_serve(dbos_project.root, env={"PARAC_DATABASE_URL": ""}) as served, \
            httpx.Client(base_url=served.api, timeout=60) as http:
        spec = WorkflowSpec.model_validate(yaml.safe_load(CHAIN))
        run_id = dbos_project.runs.enqueue("rwatched", "chain", spec, {}, RunOptions())
        events = _events(http, run_id)  # from the start, as the run goes, until done
        resumed = _events(http, run_id, last=events[1].id)
        missing = http.get("/runs/nope/events")
        scraped = http.get(served.url + "/metrics")
    assert events[-1].event == "done" and events[-1].json()["status"] == "completed", events[-1]
    steps = [(event.event, event.json()["step"]) for event in events[:-1]]
    assert steps == [(f"workflow.step.{edge}", step) for step in "abc" for edge in ("start", "end")], steps
    assert all(event.json()["run_id"] == run_id for event in events[:-1])
    assert [line["pid"] for line in dbos_project.log_lines() if line["event"] == "applied"] == [worker.pid] * 3
    assert [(e.event, e.id) for e in resumed] == [(e.event, e.id) for e in events[2:]]
    assert missing.status_code == 404

    entries = {tuple(sorted(s.labels.items())): s.value for family in text_string_to_metric_families(scraped.text)
               for s in family.samples if s.name == "parac_audit_entries"}
    with psycopg.connect(dbos_project.url) as conn:
        chain = conn.execute("SELECT max(seq) FROM parac_audit.audit").fetchone()[0]
    seen = entries[(("workspace", dbos_project.root.name),)]
    assert max(int(e.id) for e in events if e.id) <= seen <= chain, (seen, chain)


def test_the_event_stream_reads_the_runs_of_the_projects_own_queue(dbos_project):
    """A project on a queue of its own (``engine.queue``) streams its runs' events; a run of another queue on the
    same database (another project's) is not found, so its entries in the shared audit chain are not streamed."""
    from parac.core.engines.dbos import DbosRuns

    settings = dbos_project.root / ".parac" / "parac.yaml"
    settings.write_text(settings.read_text() + "  queue: team-a\n")  # the engine: section is the file's last
    spec = WorkflowSpec.model_validate(yaml.safe_load(CHAIN))
    team = DbosRuns(dbos_project.url, queue="team-a")
    try:
        team.enqueue("r-team", "chain", spec, {}, RunOptions())  # no worker: both stay queued
        dbos_project.runs.enqueue("r-default", "chain", spec, {}, RunOptions())  # the default queue's
        with parac_serve(dbos_project.root, env={"PARAC_DATABASE_URL": ""}) as served, \
                httpx.Client(base_url=served.api, timeout=60) as http:
            own, other = _opened(http, "r-team"), _opened(http, "r-default")
            listed = http.get("/runs").json()["runs"]
    finally:
        team.close()
    assert own[0] == 200 and own[1].startswith("text/event-stream"), own
    assert other[0] == 404, other
    assert [row["run_id"] for row in listed] == ["r-team"]


def _opened(http: httpx.Client, run_id: str) -> tuple[int, str]:
    """The status and content type the run's event stream opens with (closed at once: a queued run's stream would
    go on)."""
    with http.stream("GET", f"/runs/{run_id}/events") as response:
        return response.status_code, response.headers.get("content-type", "")
