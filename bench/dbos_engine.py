"""The dbos engine: per-step overhead against a bare DBOS workflow with the same steps, the throughput of a
fan-out with 1, 2 and 4 workers beside bare DBOS's own queue with as many worker processes, the embedded engine
beside them, and the Postgres connections each worker and a ``parac serve`` hold (pg_stat_activity). Run:
``.venv/bin/python bench/dbos_engine.py``.

Both chains use one worker process, the same polling intervals (queue and results, 50 ms) and the same Postgres,
taking turns; a chain of
N steps is N enqueue → dequeue → step → result hops in both, so the ratio is parac's own cost per step (template
rendering, the scheduler, spec parsing, the services' tool call with its governance hooks).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # tests/support's modules import each other as support.*

from bench.harness import load_average  # noqa: E402
from tests.engines.conftest import DbosProject  # noqa: E402
from tests.support.postgres import PostgresCluster  # noqa: E402

CHAIN = 20
FANOUT = 1000
TURNS = 3
TARGET = 1.3

BARE = '''
import sys, time
from dbos import DBOS
DBOS(config={"name": "bare", "system_database_url": sys.argv[1], "log_level": "WARNING", "executor_id": sys.argv[3],
             "application_version": "bare", "notification_listener_polling_interval_sec": 0.1})
# as a parac worker's: the same DBOS settings, the same queue settings

@DBOS.step()
async def work(i: int) -> int:
    return i

@DBOS.workflow()
async def one(i: int) -> int:
    return await work(i)

@DBOS.workflow()
async def chain(n: int) -> int:
    for i in range(n):
        handle = await STEPS.enqueue_async(one, i)
        await handle.get_result(polling_interval_sec=0.05)
    return n

@DBOS.workflow()
async def fan(n: int) -> int:
    # what a DBOS user writes for a fan-out: enqueue every child, then collect the results
    handles = [await STEPS.enqueue_async(one, i) for i in range(n)]
    for handle in handles:
        await handle.get_result(polling_interval_sec=0.05)
    return n

DBOS.launch()
DBOS.register_queue("bare", worker_concurrency=8, polling_interval_sec=0.05)
STEPS = DBOS.register_queue("bare.steps", worker_concurrency=8, polling_interval_sec=0.05)
if sys.argv[2] == "chain":
    # The protocol with main(): a chain length a line on stdin; that chain's wall time, in seconds, a line on stdout.
    for line in sys.stdin:
        start = time.perf_counter()
        DBOS.start_workflow(chain, int(line)).get_result(polling_interval_sec=0.05)  # as DbosRuns.wait polls
        print(time.perf_counter() - start, flush=True)
else:  # a fan-out worker: "ready" once launched, then serves until its stdin closes
    print("ready", flush=True)
    sys.stdin.read()
    DBOS.destroy(workflow_completion_timeout_sec=0)
'''


def bare_fanout(url: str) -> float:
    """A 1,000-child fan-out on bare DBOS worker processes, enqueued and waited for by a client as parac's CLI
    does: DBOS's own queue throughput with the same worker count and settings."""
    from dbos import DBOSClient

    client = DBOSClient(system_database_url=url, application_name="bare")
    try:
        start = time.perf_counter()
        handle = client.enqueue({"queue_name": "bare", "workflow_name": "fan", "app_version": "bare"}, FANOUT)
        while handle.get_status().status in ("ENQUEUED", "PENDING"):
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        assert handle.get_status().status == "SUCCESS", handle.get_status()
        return elapsed
    finally:
        client.destroy()


def connections(url: str) -> int:
    """Connections to the database now, not counting the one asking (pg_stat_activity)."""
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) - 1 FROM pg_stat_activity WHERE datname = current_database()").fetchone()[0]


class PeakConnections:
    """The most connections seen while the body runs, sampled every 0.2 s."""

    def __init__(self, url: str) -> None:
        self.url, self.peak, self._stop = url, 0, threading.Event()

    def __enter__(self) -> PeakConnections:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, connections(self.url))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def chain_yaml(n: int) -> str:
    steps = [f"  - {{id: s{i}, tool: probe, arguments: {{label: s{i}, sleep_s: 0}}"
             + (f", depends_on: [s{i - 1}]}}" if i else "}") for i in range(n)]
    return "steps:\n" + "\n".join(steps) + "\n"


def fanout_yaml(n: int) -> str:
    steps = [f"  - {{id: s{i}, tool: probe, arguments: {{label: s{i}, sleep_s: 0}}}}" for i in range(n)]
    return "concurrency: 256\nsteps:\n" + "\n".join(steps) + "\n"


def timed_run(project: DbosProject, name: str) -> float:
    start = time.perf_counter()
    result = project.cli("workflow", "run", name, "--json", timeout=900)
    elapsed = time.perf_counter() - start
    assert result.returncode == 0 and json.loads(result.stdout)["status"] == "completed", result.stderr[-2000:]
    return elapsed


def timed_enqueue(runs, name: str, yaml_text: str) -> float:
    """A run's time from enqueue to its end, seen by a client that is already connected (no CLI start-up)."""
    import yaml

    from parac.core.specs import WorkflowSpec
    from parac.core.workflows import RunOptions
    from parac.core.workflows import checkpoints as cp

    spec = WorkflowSpec.model_validate(yaml.safe_load(yaml_text))
    start = time.perf_counter()
    run_id = runs.enqueue(cp.new_run_id(), name, spec, {}, RunOptions())
    result = runs.wait(run_id)
    elapsed = time.perf_counter() - start
    assert result["status"] == "completed", result
    return elapsed


AUDIT_CHILD = '''
import sys, time
from parac.core.audit.postgres import PostgresAuditLog
log = PostgresAuditLog(sys.argv[1])
start = time.perf_counter()
for i in range(int(sys.argv[2])):
    log.submit("tool.call", actor="bench", subject="probe", data={"i": i, "step": f"s{i}"})
log.flush()
print(time.perf_counter() - start)  # to the parent: this process's seconds for its appends
'''


def audit_appends(url: str, entries: int = 1500) -> None:
    """How many audit entries a second the one chain in Postgres takes from 1, 2 and 4 processes appending at
    once (each group commit under the advisory lock): against the ~3 entries a step writes, is it a bound?"""
    for count in (1, 2, 4):
        procs = [subprocess.Popen([sys.executable, "-c", AUDIT_CHILD, url, str(entries)], stdout=subprocess.PIPE,
                                  text=True) for _ in range(count)]
        slowest = max(float(proc.communicate()[0]) for proc in procs)
        print(f"audit chain in Postgres, {count} process(es) appending {entries} entries each at once: "
              f"{count * entries / slowest:.0f} entries/s")


def serve_connections(project: DbosProject, base: int) -> None:
    """What one ``parac serve`` holds: idle, and after REST calls that read runs (a worker runs beside it)."""
    import httpx

    from tests.support.parac_serve import parac_serve

    project.start_worker("--concurrency", "8")
    project.wait_workers(1)
    with_worker = connections(project.url) - base
    result = project.cli("workflow", "run", "one", "--json")
    run_id = json.loads(result.stdout)["run_id"]
    with parac_serve(project.root, env={"PARAC_DATABASE_URL": ""}) as served:
        idle = connections(project.url) - base - with_worker
        with PeakConnections(project.url) as peak, httpx.Client(base_url=served.api, timeout=60) as http:
            for _ in range(20):
                assert http.get(f"/runs/{run_id}").status_code == 200
        after = connections(project.url) - base - with_worker
    print(f"  connections, parac serve: {idle} idle, {peak.peak - base - with_worker} at most while answering "
          f"20 GET /runs/ID one after another, {after} after them")
    project.stop_workers()


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    subprocess.run([sys.executable, "-m", "parac.server.cli", "init", str(tmp / "p")], check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "parac.server.cli", "init", str(tmp / "e")], check=True, capture_output=True)
    print(f"load average before: {load_average()}")
    with PostgresCluster(fsync=False) as pg:
        project = DbosProject(tmp / "p", pg.create_database("bench"))
        project.write_workflow("chain", chain_yaml(CHAIN))
        project.write_workflow("fanout", fanout_yaml(FANOUT))
        project.write_workflow("one", chain_yaml(1))
        project.start_worker("--concurrency", "8")
        project.wait_workers(1)
        bare_db = pg.create_database("bare")
        bare = subprocess.Popen([sys.executable, "-c", BARE, bare_db, "chain", "bare-chain"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        from parac.core.engines.dbos import DbosRuns

        runs = DbosRuns(project.url)
        ours, theirs = [], []
        for _ in range(TURNS):
            # a run's fixed cost (enqueue, the run's own workflow, the wait) is taken out: (N steps - 1 step) / (N - 1)
            one = timed_enqueue(runs, "one", chain_yaml(1))
            ours.append((timed_enqueue(runs, "chain", chain_yaml(CHAIN)) - one) / (CHAIN - 1))
            assert bare.stdin and bare.stdout
            bare.stdin.write("1\n"); bare.stdin.flush(); one = float(bare.stdout.readline())
            bare.stdin.write(f"{CHAIN}\n"); bare.stdin.flush(); many = float(bare.stdout.readline())
            theirs.append((many - one) / (CHAIN - 1))
        runs.close()
        bare.terminate(); bare.wait()
        ours_ms, theirs_ms = min(ours) * 1000, min(theirs) * 1000
        ratio = ours_ms / theirs_ms
        verdict = "meets" if ratio <= TARGET else "MISSES"
        print(f"per step in a chain: parac-on-DBOS {ours_ms:.1f} ms, bare DBOS {theirs_ms:.1f} ms, "
              f"ratio {ratio:.2f}x ({verdict} the <= {TARGET}x target)")
        project.stop_workers()
        project.workers.clear()
        fan_db = pg.create_database("barefan")
        base = connections(project.url)
        for workers in (1, 2, 4):
            # taking turns, only one side's processes alive at a time (idle workers poll their queues)
            peers = [subprocess.Popen([sys.executable, "-c", BARE, fan_db, "serve", f"bare-{workers}-{n}"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                     for n in range(workers)]
            assert all(peer.stdout and peer.stdout.readline().strip() == "ready" for peer in peers)
            bare_s = bare_fanout(fan_db)
            for peer in peers:
                peer.communicate("")
            for _ in range(workers):
                project.start_worker("--concurrency", "8")
            project.wait_workers(workers)
            time.sleep(3)  # the workers' pools settle (DBOS opens connections as it first needs them)
            idle = connections(project.url) - base
            with PeakConnections(project.url) as peak:
                elapsed = timed_run(project, "fanout")
            print(f"fan-out of {FANOUT} steps, {workers} worker(s): parac {elapsed:.1f} s, {FANOUT / elapsed:.0f} steps/s;"
                  f" bare DBOS {bare_s:.1f} s, {FANOUT / bare_s:.0f} steps/s (parac at "
                  f"{bare_s / elapsed:.2f}x bare's throughput)")
            print(f"  connections, {workers} worker(s): {idle} idle ({idle / workers:.1f} per worker), "
                  f"{peak.peak - base} at the fan-out's peak (the CLI's client included)")
            project.stop_workers()
            project.workers.clear()
        serve_connections(project, base)
        audit_appends(pg.create_database("audit"))
    embedded = tmp / "e"
    (embedded / ".parac" / "policies" / "t.yaml").write_text("description: t\nallow:\n  - tools: [probe]\n")
    (embedded / ".parac" / "workflows" / "fanout.yaml").write_text(fanout_yaml(FANOUT))
    start = time.perf_counter()
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "workflows" / "wfcli.py"), "workflow", "run", "fanout",
                          "--json"], cwd=embedded, capture_output=True, text=True, env={**project.env})
    elapsed = time.perf_counter() - start
    assert out.returncode == 0, out.stderr[-2000:]
    print(f"fan-out of {FANOUT} steps, embedded engine (one process): {elapsed:.1f} s, {FANOUT / elapsed:.0f} steps/s")
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
