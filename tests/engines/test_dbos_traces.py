"""A run on the dbos engine is one trace: enqueued by ``parac workflow run`` in one process, driven and stepped by
``parac worker`` processes, its spans reach a real OTLP/HTTP receiver with one trace id and the right parents."""

from __future__ import annotations

import json
import logging
import signal

import pytest

from support import otlp_receiver

FORK = """\
concurrency: 4
steps:
  - {id: first, tool: record, arguments: {label: first}}
  - {id: left, tool: record, arguments: {label: left, sleep_s: 0.2}, depends_on: [first]}
  - {id: right, tool: record, arguments: {label: right, sleep_s: 0.2}, depends_on: [first]}
"""


@pytest.fixture
def receiver():
    got, server = otlp_receiver.start()
    yield got
    server.shutdown()
    server.server_close()


def test_a_run_enqueued_here_and_stepped_by_workers_is_one_trace(dbos_project, receiver):
    dbos_project.extra_env = {**receiver.env(), "OTEL_SERVICE_NAME": "worker"}
    dbos_project.write_workflow("fork", FORK)
    for _ in range(2):
        dbos_project.start_worker("--concurrency", "2")
    dbos_project.wait_workers(2)
    dbos_project.extra_env["OTEL_SERVICE_NAME"] = "cli"
    result = dbos_project.cli("--log-format", "json", "workflow", "run", "fork")
    assert result.returncode == 0, result.stderr
    # under JSON logs every stderr line is an object; the enqueuing is an event naming the run
    logs = [json.loads(line) for line in result.stderr.splitlines()]
    enqueued = [line for line in logs if line.get("event") == "workflow.run.enqueued"]
    assert len(enqueued) == 1 and enqueued[0]["workflow"] == "fork"
    run_id = enqueued[0]["run_id"]
    assert f"run {run_id} (fork): completed" in result.stdout

    def complete(spans):
        names = [s.name for s in spans]
        return "enqueue_workflow fork" in names and names.count("execute_tool record") == 3 and all(
            f"step {step}" in names for step in ("first", "left", "right"))

    spans = [s for s in receiver.wait_for(complete) if s.attributes.get("parac.run_id", run_id) == run_id
             or s.name.startswith("execute_tool")]
    by_name = {s.name: s for s in spans}
    enqueue = by_name["enqueue_workflow fork"]
    assert enqueue.service == "cli" and enqueue.parent_id == ""
    run = by_name["invoke_workflow fork"]
    assert run.service == "worker" and run.parent_id == enqueue.span_id
    assert run.attributes["parac.run.resumed"] is False
    steps = {s.attributes["parac.step"]: s for s in spans if s.name.startswith("step ")}
    assert sorted(steps) == ["first", "left", "right"]
    assert all(s.service == "worker" and s.parent_id == run.span_id for s in steps.values())
    tools = [s for s in spans if s.name == "execute_tool record"]
    assert sorted(t.parent_id for t in tools) == sorted(s.span_id for s in steps.values())
    assert {s.trace_id for s in [enqueue, run, *steps.values(), *tools]} == {enqueue.trace_id}
    assert all(t.attributes["parac.policy.decision"] == "allowed" for t in tools)


SLOW = """\
steps:
  - {id: first, tool: record, arguments: {label: first}}
  - {id: second, tool: record, arguments: {label: second, sleep_s: 2}, depends_on: [first]}
"""


def test_a_run_recovered_from_a_killed_worker_says_it_resumed(dbos_project, receiver):
    """The worker driving a run is killed with SIGKILL while its second step runs (its run span dies unexported);
    another worker recovers the run, whose ``invoke_workflow`` span says ``parac.run.resumed``."""
    import yaml

    from parac.core.specs import WorkflowSpec
    from parac.core.workflows.engine import RunOptions

    dbos_project.extra_env = {**receiver.env(), "OTEL_SERVICE_NAME": "worker"}
    dbos_project.write_workflow("slow", SLOW)
    doomed = dbos_project.start_worker()
    dbos_project.wait_workers(1)
    run_id = dbos_project.runs.enqueue("recovered", "slow", WorkflowSpec.model_validate(yaml.safe_load(SLOW)), {},
                                       RunOptions())
    dbos_project.wait_for("second", "start")
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    dbos_project.start_worker()
    assert dbos_project.runs.wait(run_id, timeout=120)["status"] == "completed"

    def runs(spans):
        return [s for s in spans if s.name == "invoke_workflow slow" and s.attributes["parac.run_id"] == run_id]

    [run] = runs(receiver.wait_for(runs))
    assert run.attributes["parac.run.resumed"] is True


def test_a_failed_read_of_whether_a_run_resumes_says_no_and_does_not_fail_the_run(cluster, caplog):
    """The read behind ``parac.run.resumed`` runs inside the run's workflow when traces are on: a database that
    refuses it (here one that does not exist) costs the span its attribute, not the run."""
    from parac.core.engines import dbos, pool

    url = cluster.url("parac_absent")
    dbos.Worker.current = dbos.Worker(url, services=None)  # type: ignore[arg-type]  # only its URL is read
    try:
        with caplog.at_level(logging.DEBUG, logger="parac.core.engines.dbos"):
            assert dbos._resumes("r-unknowable") is False
    finally:
        dbos.Worker.current = None
        pool.dispose(url)
    assert any("r-unknowable" in record.getMessage() and record.levelno == logging.DEBUG for record in caplog.records)
