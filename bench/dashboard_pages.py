"""The dashboard's pages at size: a workspace with 10,000 workflow runs and 100,000 audit entries, each page of
`parac serve`'s dashboard requested over HTTP, its time to the full answer measured (target: p50 < 100 ms a page;
p99 printed beside it). The filtered listings (runs by status, workflow, agent, time; the trail by actor, action,
subject, outcome, time; each also a deep page, by its cursor) are timed the same way, as pages and over REST.

A page's time is the server's time plus a loopback round trip (a raw keep-alive socket, request pre-built), so it
is an upper bound of the server's time. Beside each page, its floor, measured in this run and taking turns with
it: the REST route the page's main listing comes from (`GET /api/v1/runs`, `/api/v1/audit`, ...), which runs the
same tool. The deep pages (`cursor` of the 100th page of runs, of the 1,000th of the trail) show the listings stay
indexed. `POST /audit/verify` reads the whole trail by design; its time is printed, not held to the page target.
Misses are printed as such, with the load average; figures go to bench/.results/dashboard_pages.json.
"""

from __future__ import annotations

import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import load_average

PARAC = str(Path(sys.executable).with_name("parac"))
RUNS, ENTRIES = 10_000, 100_000
ROUNDS = 40
TARGET_MS = 100.0
TOKEN = "bench-dashboard-token-0123456789"
WORKFLOW = "steps:\n  - id: draft\n    agent: coder\n    task: draft\n"


def populate(root: Path) -> None:
    """RUNS runs and ENTRIES audit entries, written through the core's own functions (in batches). Runs take each
    status in turn (every 97th waits for approval, the Overview's query), a tenth of them have an agent run of
    `coder`; entries rotate over 13 actors, two actions and tools, and every 50th was denied; a day of model calls
    feeds the costs page."""
    from parac.core import costs, recording
    from parac.core.audit import AuditLog
    from parac.core.store import connect_workspace
    from parac.core.workflows import checkpoints as cp

    conn = connect_workspace(root)
    cp.ensure_schema(conn)
    definition = {"steps": [{"id": "draft", "type": "agent", "agent": "coder", "task": "draft", "depends_on": []}]}
    statuses = [s for s in cp.RUN_STATUSES if s != "waiting_approval"]
    for start in range(0, RUNS, 1000):
        ops, ids = [], []
        for i in range(start, start + 1000):
            run, insert = cp.new_run(run_id=cp.new_run_id(), workflow=f"flow-{i % 7}", definition=definition,
                                     inputs={}, options={}, owner=None)
            status = "waiting_approval" if i % 97 == 0 else statuses[i % len(statuses)]
            ops += [insert, cp.run_status_op(run.run_id, status)]
            ids.append(run.run_id)
        cp.write(conn, ops)
        for run_id in ids[::10]:
            recording.start(conn, lambda v: v, agent="coder", task="draft", model="echo", run_id=run_id,
                            workflow="flow", step="draft").end("completed", "ok", None, 0.001)
    costs.ensure_schema(conn)
    now = time.time()
    with cp.transaction(conn):
        costs.write_rows(conn, [costs.CostRow(call_id=f"c{i}", provider="echo", model=f"model-{i % 3}",
                                              prompt_tokens=100, completion_tokens=20, cost_usd=0.001,
                                              agent="coder", ts=now - i * 8) for i in range(10_000)])
    conn.close()
    log = AuditLog.for_workspace(root)
    for start in range(0, ENTRIES, 5000):
        with log.batch():
            for i in range(start, start + 5000):
                action, tool = ("llm.call", "model-1") if i % 5 == 0 else ("tool.call", ("file_read", "git_log")[i % 2])
                log.append(action, actor=f"token:user-{i % 13}", subject=tool, outcome="denied" if i % 50 == 0 else "ok",
                           data={"n": i})
    log.close()


class Client:
    """One keep-alive connection; answers read by Content-Length."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def exchange(self, method: str, path: str, body: bytes = b"", headers: str = "") -> tuple[int, bytes]:
        extra = f"content-type: application/x-www-form-urlencoded\r\ncontent-length: {len(body)}\r\n" if method == "POST" else ""
        raw = (f"{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{self.port}\r\n{extra}{headers}\r\n").encode() + body
        self.sock.sendall(raw)
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(1 << 16)
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))
        while len(rest) < length:
            rest += self.sock.recv(1 << 16)
        self.buffer = rest[length:]
        self.head = head
        return int(head.split(b" ", 2)[1]), rest[:length]

    def csrf(self, headers: str) -> str:
        """The CSRF token a dashboard page sets for the session in `headers` (its forms post it back)."""
        self.exchange("GET", "/tools", headers=headers)
        return re.search(rb"set-cookie: parac_csrf=([^;]+)", self.head, re.I).group(1).decode()


def timed(client: Client, method: str, path: str, headers: str, body: bytes = b"") -> float:
    start = time.perf_counter()
    status, answer = client.exchange(method, path, body, headers)
    elapsed = (time.perf_counter() - start) * 1000
    assert status == 200, (path, status, answer[:300])
    return elapsed


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        subprocess.run([PARAC, "init", str(root)], check=True, capture_output=True)
        (root / ".parac" / "workflows" / "flow.yaml").write_text(WORKFLOW)
        settings = root / ".parac" / "parac.yaml"  # one client asks as fast as it can: no rate limit in the way
        settings.write_text(settings.read_text() + "serve:\n  rate_limit: {per_second: 100000, burst: 100000}\n")
        started = time.perf_counter()
        populate(root)
        print(f"populated {RUNS:,} runs and {ENTRIES:,} audit entries in {time.perf_counter() - started:.1f} s")
        env = {**os.environ, "PARAC_MCP_TOKEN": TOKEN, "PARAC_LOAD_PLUGINS": ""}
        proc = subprocess.Popen([PARAC, "serve", "--port", "0", f"--workspace={root}"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=env)
        try:
            line = proc.stdout.readline()
            port = int(line.split()[2].rpartition(":")[2])
            return measure(port)
        finally:
            proc.terminate()
            proc.wait(30)


def measure(port: int) -> int:
    bearer = f"authorization: Bearer {TOKEN}\r\n"
    client = Client(port)
    deadline = time.monotonic() + 60
    while client.exchange("GET", "/health/ready")[0] != 200:
        assert time.monotonic() < deadline, "parac serve was not ready"
        time.sleep(0.1)
    csrf = client.csrf(f"cookie: parac_session={TOKEN}\r\n")  # the token a page issues to this session
    cookie = f"cookie: parac_session={TOKEN}; parac_csrf={csrf}\r\n"
    run = json.loads(client.exchange("GET", "/api/v1/runs?limit=1", headers=bearer)[1])["runs"][0]["run_id"]
    runs_cursor = audit_cursor = None
    for _ in range(99):
        page = json.loads(client.exchange("GET", "/api/v1/runs?limit=100" + (f"&cursor={runs_cursor}" if runs_cursor else ""), headers=bearer)[1])
        runs_cursor = page["next_cursor"]
    for _ in range(3):
        page = json.loads(client.exchange("GET", "/api/v1/audit?limit=500" + (f"&cursor={audit_cursor}" if audit_cursor else ""), headers=bearer)[1])
        audit_cursor = page["next_cursor"]
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 3600))
    pages = {
        "/": "/api/v1/runs?status=waiting_approval&limit=50",
        "/agents": "/api/v1/agents",
        "/agents/coder": "/api/v1/agents/coder",
        "/runs": "/api/v1/runs",
        f"/runs?cursor={runs_cursor}": f"/api/v1/runs?cursor={runs_cursor}",
        f"/runs/{run}": f"/api/v1/runs/{run}",
        "/costs": "/api/v1/costs?by=day",
        "/audit": "/api/v1/audit",
        f"/audit?cursor={audit_cursor}": f"/api/v1/audit?cursor={audit_cursor}",
        "/chat": "/api/v1/chat/models",
        "/tools": "/api/v1/tools",
    }
    filtered = {  # each: (the page's query, REST's); a deep page of each follows by its own cursor
        "runs status=failed": ("status=failed", "status=failed"),
        "runs status=waiting_approval": ("status=waiting_approval", "status=waiting_approval"),
        "runs workflow=flow-3": ("workflow=flow-3", "workflow=flow-3"),
        "runs agent=coder": ("agent=coder", "agent=coder"),
        "runs since=1h until=30m": ("since=1h&until=30m", "since=1h&until=30m"),
        "audit actor=token:user-5": ("actor=token%3Auser-5", "actor=token%3Auser-5"),
        "audit action+subject=git_log": ("action=tool.call&subject=git_log", "action=tool.call&subject=git_log"),
        "audit outcome=denied": ("outcome=denied", "outcome=denied"),
        f"audit since {since[11:16]}": (f"since={since}", f"since={since}"),
        "audit actor+outcome, until": (f"actor=token%3Auser-7&outcome=denied&until={since}",
                                       f"actor=token%3Auser-7&outcome=denied&until={since}"),
    }
    for name, (query, rest) in filtered.items():
        listing = name.split()[0]
        pages[f"/{listing}?{query}"] = f"/api/v1/{listing}?{rest}"
        deep = None
        for _ in range(5):  # the 6th page of 50
            answer = json.loads(client.exchange("GET", f"/api/v1/{listing}?limit=50&{rest}"
                                                + (f"&cursor={deep}" if deep else ""), headers=bearer)[1])
            deep = answer["next_cursor"] or deep
        if deep:
            pages[f"/{listing}?{query}&cursor={deep}"] = f"/api/v1/{listing}?limit=50&{rest}&cursor={deep}"
    results: dict[str, dict[str, float]] = {}
    for page, floor in pages.items():
        ours, peer = [], []
        for _ in range(2):
            timed(client, "GET", page, cookie), timed(client, "GET", floor, bearer)
        for _ in range(ROUNDS):  # taking turns
            ours.append(timed(client, "GET", page, cookie))
            peer.append(timed(client, "GET", floor, bearer))
        results[page] = {"p50_ms": statistics.median(ours), "p99_ms": statistics.quantiles(ours, n=100)[98],
                         "floor": floor, "floor_p50_ms": statistics.median(peer),
                         "floor_p99_ms": statistics.quantiles(peer, n=100)[98]}
    verify = [timed(client, "POST", "/audit/verify", cookie, f"csrf={csrf}".encode()) for _ in range(3)]
    print(f"\ndashboard pages at {RUNS:,} runs and {ENTRIES:,} audit entries ({load_average()})")
    missed = 0
    for page, row in results.items():
        shown = page if len(page) < 48 else page[:45] + "..."
        ok = row["p50_ms"] < TARGET_MS
        missed += not ok
        print(f"  {shown:48} p50 {row['p50_ms']:6.1f} ms  p99 {row['p99_ms']:6.1f} ms  "
              f"(REST p50 {row['floor_p50_ms']:5.1f} p99 {row['floor_p99_ms']:5.1f} ms, "
              f"{row['p50_ms'] / row['floor_p50_ms']:.2f}x)  {'ok' if ok else f'MISS (target < {TARGET_MS:.0f} ms)'}"
              f"{'' if row['p99_ms'] < TARGET_MS else f'; p99 over {TARGET_MS:.0f} ms'}")
    print(f"  POST /audit/verify (whole trail)           median {statistics.median(verify):7.1f} ms (not a page: no target)")
    out = Path(__file__).resolve().parent / ".results"
    out.mkdir(exist_ok=True)
    (out / "dashboard_pages.json").write_text(json.dumps({"pages": results, "verify_ms": verify,
                                                          "load": load_average()}, indent=2))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
