"""The dbos engine: per-step overhead against a bare DBOS workflow with the same steps, and the throughput of a
fan-out with 1, 2 and 4 workers, the embedded engine beside them. Run: ``.venv/bin/python bench/dbos_engine.py``.

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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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
DBOS(config={"name": "bare", "system_database_url": sys.argv[1], "log_level": "WARNING",
             "notification_listener_polling_interval_sec": 0.1})  # as a parac worker's: the same DBOS settings

@DBOS.step()
async def work(i: int) -> int:
    return i

@DBOS.workflow()
async def one(i: int) -> int:
    return await work(i)

@DBOS.workflow()
async def chain(n: int) -> int:
    for i in range(n):
        handle = await QUEUE.enqueue_async(one, i)
        await handle.get_result(polling_interval_sec=0.05)
    return n

DBOS.launch()
QUEUE = DBOS.register_queue("bare.steps", worker_concurrency=8, polling_interval_sec=0.05)
# The protocol with main(): a chain length a line on stdin; that chain's wall time, in seconds, a line on stdout.
for line in sys.stdin:
    start = time.perf_counter()
    DBOS.start_workflow(chain, int(line)).get_result(polling_interval_sec=0.05)  # as DbosRuns.wait polls
    chain_seconds = time.perf_counter() - start
    print(chain_seconds, flush=True)
'''


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


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    subprocess.run([sys.executable, "-m", "parac.server.cli", "init", str(tmp / "p")], check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "parac.server.cli", "init", str(tmp / "e")], check=True, capture_output=True)
    print(f"load average before: {load_average()}")
    with PostgresCluster(fsync=False) as pg:
        project = DbosProject(tmp / "p", pg.create_database("bench"))
        project.write_workflow("chain", chain_yaml(CHAIN))
        project.write_workflow("fanout", fanout_yaml(FANOUT))
        project.start_worker("--concurrency", "8")
        project.wait_workers(1)
        bare_db = pg.create_database("bare")
        bare = subprocess.Popen([sys.executable, "-c", BARE, bare_db],
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
        for workers in (1, 2, 4):
            while len([w for w in project.workers if w.poll() is None]) < workers:
                project.start_worker("--concurrency", "8")
            project.wait_workers(workers)
            elapsed = timed_run(project, "fanout")
            print(f"fan-out of {FANOUT} steps, {workers} worker(s): {elapsed:.1f} s, {FANOUT / elapsed:.0f} steps/s")
        project.stop_workers()
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
