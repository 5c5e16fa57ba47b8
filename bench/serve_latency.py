"""`parac serve` latency beside its floor: a bare Starlette app on uvicorn (bench/floors/bare_starlette_server.py),
configured as `parac serve` configures it and answering the same bytes, measured in this run on this machine.

- `GET /api/v1/agents/coder` against the floor's `GET /agent` returning the same JSON: p50 and p99 of sequential
  requests on one keep-alive connection, the servers taking turns in batches (target: p50 <= 1.3x the floor's);
  requests per second with 16 connections in flight from a separate client process (target: >= 1,000/s, and
  printed beside the floor's, which is what uvicorn and Starlette themselves manage on this machine);
- the same beside a second floor, `GET /agent/audited`: the bare route plus the audit entry parac's governance
  writes for every call (MCP's `get_agent` writes it too; the faces stay equal), submitted to an `AuditLog` as
  parac submits it. What parac spends beyond that floor is its own (auth, routing, checks, hooks);
- time to the first SSE event of an `echo` agent run (`POST /api/v1/agents/coder/runs`, `stream: true`) against a
  bare sse-starlette stream's first event, a new connection each, taking turns;
- start to the first 200: spawn to the first `GET /health/live` answered 200 (and, for parac, to `/health/ready`:
  plugins and the workspace loaded, and to the first `GET /api/v1/agents/coder` answered, which imports the MCP
  faces the REST routes answer through), against the floor's spawn to its first 200; taking turns.

The client is raw sockets (requests pre-built, responses read by Content-Length), so the client's own cost is as
small as it can be and the same for both. Misses are printed as such, with the load average; figures go to
bench/.results/serve_latency.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import load_average

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
PARAC = str(Path(sys.executable).with_name("parac"))
BATCHES, PER_BATCH, LOAD_S, CONNECTIONS, STREAMS, STARTS = 20, 50, 5.0, 16, 30, 5
P50_TARGET, RPS_TARGET = 1.3, 1000.0


def request(port: int, method: str, path: str, body: bytes = b"") -> bytes:
    extra = f"content-type: application/json\r\ncontent-length: {len(body)}\r\n" if body or method == "POST" else ""
    return f"{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n{extra}\r\n".encode() + body


class Connection:
    """One keep-alive HTTP/1.1 connection; responses are read by their Content-Length."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def send(self, raw: bytes) -> int:
        return self.exchange(raw)[0]

    def exchange(self, raw: bytes) -> tuple[int, bytes]:
        self.sock.sendall(raw)
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
        while len(rest) < length:
            rest += self._recv()
        self.buffer = rest[length:]
        return int(head[9:12]), rest[:length]

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        return data

    def close(self) -> None:
        self.sock.close()


class Spawned:
    """A server process that prints its URL first."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     env={**os.environ, **(env or {})})
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        self.port = int(line.split("://", 1)[1].split()[0].rstrip("/").rsplit(":", 1)[1].split("/")[0])

    def first_ok(self, path: str) -> float:
        """Seconds from spawn until `path` answers 200."""
        while True:
            try:
                conn = Connection(self.port)
                try:
                    status = conn.send(request(self.port, "GET", path))
                    if status == 200:
                        return time.perf_counter() - self.started
                    assert status == 503, f"{path} answered {status}"  # not ready yet: ask again
                finally:
                    conn.close()
            except (ConnectionError, OSError):
                pass
            assert self.proc.poll() is None, f"{self.proc.args[:2]} exited"
            time.sleep(0.002)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def latencies(servers: list[tuple[int, bytes]]) -> list[list[float]]:
    """Sequential request times per server, in interleaved batches on one keep-alive connection each."""
    conns = [Connection(port) for port, _ in servers]
    samples: list[list[float]] = [[] for _ in servers]
    for batch in range(BATCHES + 2):  # two warm-up batches
        for conn, (_, raw), own in zip(conns, servers, samples):
            for _ in range(PER_BATCH):
                start = time.perf_counter()
                assert conn.send(raw) == 200
                if batch >= 2:
                    own.append(time.perf_counter() - start)
    for conn in conns:
        conn.close()
    return samples


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def throughput(port: int, raw: bytes) -> float:
    """Requests per second with CONNECTIONS in flight, from a client process of its own."""
    out = subprocess.run([PYTHON, __file__, "--load", str(port), raw.decode("latin-1")], capture_output=True,
                         text=True, check=True)
    return float(out.stdout)


async def _load(port: int, raw: bytes) -> float:
    done = 0
    deadline = time.perf_counter() + LOAD_S

    async def worker() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < deadline:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            done += 1
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    return done / (time.perf_counter() - start)


def first_event(port: int, raw: bytes) -> float:
    """Seconds from sending the request to the first SSE event's bytes; the stream is then read to its end."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    start = time.perf_counter()
    sock.sendall(raw)
    seen, first = b"", None
    while b"event: done" not in seen:
        data = sock.recv(65536)
        if not data:
            break
        seen += data
        if first is None and b"event:" in seen:
            first = time.perf_counter() - start
    sock.close()
    assert first is not None and b" 200 " in seen.split(b"\r\n", 1)[0], seen[:200]
    return first


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "project"
        subprocess.run([PARAC, "init", str(workspace)], check=True, capture_output=True)
        env = {"PARAC_LOAD_PLUGINS": "", "XDG_CACHE_HOME": str(Path(tmp) / "cache")}
        parac = Spawned([PARAC, "serve", "--port", "0", "--workspace", str(workspace)], env)
        parac.first_ok("/health/ready")
        agent = request(parac.port, "GET", "/api/v1/agents/coder")
        conn = Connection(parac.port)
        status, same = conn.exchange(agent)
        conn.close()
        assert status == 200, same
        (Path(tmp) / "agent.json").write_bytes(same)
        floor_workspace = Path(tmp) / "floor"
        (floor_workspace / ".parac").mkdir(parents=True)
        floor = Spawned([PYTHON, str(HERE / "floors/bare_starlette_server.py"), str(Path(tmp) / "agent.json"),
                         str(floor_workspace)])
        floor.first_ok("/health/live")
        bare, audited = request(floor.port, "GET", "/agent"), request(floor.port, "GET", "/agent/audited")

        ours, theirs, governed = latencies([(parac.port, agent), (floor.port, bare), (floor.port, audited)])
        rps = [(throughput(parac.port, agent), throughput(floor.port, bare), throughput(floor.port, audited))
               for _ in range(2)]
        rps_ours, rps_floor, rps_audited = (max(r[i] for r in rps) for i in range(3))

        run = request(parac.port, "POST", "/api/v1/agents/coder/runs",
                      json.dumps({"task": "hello", "model": "echo", "stream": True}).encode())
        sse = request(floor.port, "POST", "/stream", b"{}")
        for _ in range(3):
            first_event(parac.port, run), first_event(floor.port, sse)
        events = [(first_event(parac.port, run), first_event(floor.port, sse)) for _ in range(STREAMS)]
        parac.stop()
        floor.stop()

        starts = []
        for _ in range(STARTS):
            ours_spawn = Spawned([PARAC, "serve", "--port", "0", "--workspace", str(workspace)], env)
            live, ready = ours_spawn.first_ok("/health/live"), ours_spawn.first_ok("/health/ready")
            api = ours_spawn.first_ok("/api/v1/agents/coder")
            ours_spawn.stop()
            floor_spawn = Spawned([PYTHON, str(HERE / "floors/bare_starlette_server.py"), str(Path(tmp) / "agent.json")])
            starts.append((live, ready, floor_spawn.first_ok("/health/live"), api))
            floor_spawn.stop()

    p50, p99, f50, f99 = (percentile(ours, 0.5), percentile(ours, 0.99), percentile(theirs, 0.5),
                          percentile(theirs, 0.99))
    a50, a99 = percentile(governed, 0.5), percentile(governed, 0.99)
    sse_ours, sse_floor = statistics.median(e[0] for e in events), statistics.median(e[1] for e in events)
    live, ready, floor_start, api = (statistics.median(s[i] for s in starts) for i in range(4))
    results = {
        "agent_p50_ms": p50 * 1e3, "agent_p99_ms": p99 * 1e3, "floor_p50_ms": f50 * 1e3, "floor_p99_ms": f99 * 1e3,
        "audited_floor_p50_ms": a50 * 1e3, "audited_floor_p99_ms": a99 * 1e3,
        "agent_rps": rps_ours, "floor_rps": rps_floor, "audited_floor_rps": rps_audited, "first_event_ms": sse_ours * 1e3,
        "floor_first_event_ms": sse_floor * 1e3, "start_live_ms": live * 1e3, "start_ready_ms": ready * 1e3, "start_api_ms": api * 1e3,
        "floor_start_ms": floor_start * 1e3, "load": load_average(),
    }
    print(f"parac serve against a bare Starlette app on uvicorn ({load_average()})")
    print(f"  GET /api/v1/agents/coder   p50 {p50 * 1e3:7.3f} ms  p99 {p99 * 1e3:7.3f} ms   floor p50 "
          f"{f50 * 1e3:7.3f} ms  p99 {f99 * 1e3:7.3f} ms   ratio p50 {p50 / f50:4.2f} (target <= {P50_TARGET}) "
          f"{'ok' if p50 / f50 <= P50_TARGET else 'MISSED'}")
    print(f"  audited floor (bare + the same audit entry)        floor p50 {a50 * 1e3:7.3f} ms  p99 {a99 * 1e3:7.3f} ms"
          f"   ratio p50 {p50 / a50:4.2f}; the audit entry alone puts the floor at {a50 / f50:4.2f}x the bare one")
    print(f"  requests/s, {CONNECTIONS} in flight  {rps_ours:8.0f}   floor {rps_floor:8.0f}   ratio "
          f"{rps_ours / rps_floor:4.2f}   (target >= {RPS_TARGET:.0f}/s) {'ok' if rps_ours >= RPS_TARGET else 'MISSED'}"
          + ("" if rps_floor >= RPS_TARGET else f" (the floor itself manages {rps_floor:.0f}/s here)"))
    print(f"  requests/s, audited floor    {rps_audited:8.0f}   ratio {rps_ours / rps_audited:4.2f}")
    print(f"  first SSE event, echo run  {sse_ours * 1e3:7.3f} ms   bare sse-starlette {sse_floor * 1e3:7.3f} ms   "
          f"ratio {sse_ours / sse_floor:4.2f}")
    print(f"  start to first 200         {live * 1e3:7.1f} ms (ready: {ready * 1e3:7.1f} ms, first API answer: "
          f"{api * 1e3:7.1f} ms)   floor {floor_start * 1e3:7.1f} ms   ratio {live / floor_start:4.2f}")
    out = HERE / ".results"
    out.mkdir(exist_ok=True)
    (out / "serve_latency.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--load"]:
        print(asyncio.run(_load(int(sys.argv[2]), sys.argv[3].encode("latin-1"))))
    else:
        main()
