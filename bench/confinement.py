"""Benchmark of confinement's cost (not a test: it prints figures, ratios and misses).

- ``shell_run`` of ``true`` through `Host.call_tool` in the bubblewrap sandbox and with ``sandbox: none``, beside a
  bare ``subprocess.run(["true"])`` and, as the floor of what any bubblewrap sandbox costs, a bare
  ``subprocess.run`` of the same bwrap command line the tool builds (namespaces, mounts, prlimit, and as root the
  pids cgroup), and bwrap alone (one mount, no new namespace);
  target: the sandbox adds at most 10 ms at p50 (sandboxed minus unsandboxed tool call).
- ``file_read`` p50: the jail's read (what the tool does to the file) beside a plain ``open().read()`` of the same
  file, target ≤ 1.3×; and the whole tool call beside a no-op tool called through the same host, which shows what
  the call machinery (policy, audit, schema) costs on top.

All measurements take turns sample by sample, so a change of machine load hits each alike; the load average is
printed. Run: ``.venv/bin/python bench/confinement.py``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import anyio

os.environ["PARAC_LOAD_PLUGINS"] = ""

from parac.core.calls import CallContext  # noqa: E402
from parac.core.policy import Policies  # noqa: E402
from parac.core.sandbox import sandbox_for  # noqa: E402
from parac.server.api import hookimpl, tool_from_function  # noqa: E402
from parac.server.host import Host  # noqa: E402

SHELL_RUNS = 60
READ_RUNS = 2000
POLICY = """\
allow: [{tools: [shell_run, file_read, noop]}]
shell: {allow: ["true"]%s}
"""


def workspace(folder: Path, extra: str = "") -> Path:
    (folder / ".parac" / "policies").mkdir(parents=True)
    (folder / ".parac" / "parac.yaml").write_text("name: bench\n")
    (folder / ".parac" / "policies" / "bench.yaml").write_text(POLICY % extra)
    (folder / "file.txt").write_text("hello confinement\n" * 64)
    return folder


class NoOp:
    @hookimpl
    def parac_register_tools(self, register):  # type: ignore[no-untyped-def]
        def noop(path: str = "") -> str:  # blocking, as file_read is: both pay the hop to a worker thread
            return path

        register(tool_from_function(noop, name="noop"))


def p50_in_turns(measures: dict[str, Callable[[], float]], runs: int) -> dict[str, float]:
    """Median of each measure (seconds), the measures taking turns run by run after a warm-up round."""
    samples: dict[str, list[float]] = {name: [] for name in measures}
    for index in range(runs + 3):
        for name, measure in measures.items():
            elapsed = measure()
            if index >= 3:
                samples[name].append(elapsed)
    return {name: statistics.median(values) for name, values in samples.items()}


def timed(fn: Callable[[], object]) -> Callable[[], float]:
    def measure() -> float:
        started = time.perf_counter()
        fn()
        return time.perf_counter() - started

    return measure


def main() -> int:
    misses: list[str] = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        boxed_root = workspace(Path(tmp) / "boxed")
        open_root = workspace(Path(tmp) / "open", ", sandbox: none")
        boxed = Host.for_workspace(boxed_root, extra_plugins=[("noop", NoOp())])
        unboxed = Host.for_workspace(open_root, extra_plugins=[("noop", NoOp())])
        policy = Policies.for_root(boxed_root).command_policy()
        env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root")}
        sandbox = sandbox_for(policy.sandbox)
        bwrap_argv = sandbox.command(["/usr/bin/true"], root=boxed_root, cwd=boxed_root, environ=env).argv

        def bare_bwrap() -> None:
            """What the tool's sandbox costs without the tool: the same command line, and as root its cgroup."""
            with sandbox.confine(["/usr/bin/true"], root=boxed_root, cwd=boxed_root, environ=env) as confined:
                subprocess.run(confined.argv, env=env, preexec_fn=confined.preexec)

        def call(host: Host, tool: str, arguments: dict) -> object:
            return anyio.run(lambda: host.call_tool(tool, arguments, CallContext(actor="bench")))

        result = call(boxed, "shell_run", {"command": ["true"]})
        assert result["sandbox"] == "bubblewrap" and result["exit_code"] == 0, result  # type: ignore[index]
        assert call(unboxed, "shell_run", {"command": ["true"]})["sandbox"] == "none"  # type: ignore[index]
        shell = p50_in_turns({
            "sandboxed": timed(lambda: call(boxed, "shell_run", {"command": ["true"]})),
            "unsandboxed": timed(lambda: call(unboxed, "shell_run", {"command": ["true"]})),
            "bare true": timed(lambda: subprocess.run(["true"])),
            "bare bwrap": timed(bare_bwrap),
            "no cgroup": timed(lambda: subprocess.run(bwrap_argv, env=env)),
            "bwrap alone": timed(lambda: subprocess.run([bwrap_argv[0], "--ro-bind", "/", "/", "/usr/bin/true"])),
        }, SHELL_RUNS)
        added = shell["sandboxed"] - shell["unsandboxed"]
        floor = shell["bare bwrap"] - shell["bare true"]
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
        print(f"shell_run of true, p50 of {SHELL_RUNS} in turns:")
        for name, value in shell.items():
            print(f"  {name:<12} {value * 1000:8.2f} ms")
        if os.geteuid() == 0:
            print(f"  as root the sandbox joins a pids cgroup: {(shell['bare bwrap'] - shell['no cgroup']) * 1000:.2f} ms "
                  f"of bare bwrap ('no cgroup' is the same command line without it)")
        print(f"  the sandbox adds {added * 1000:.2f} ms (target <= 10 ms); bubblewrap's own floor "
              f"(bare bwrap - bare true) {floor * 1000:.2f} ms, of which starting bwrap with one mount and no new "
              f"namespaces {(shell['bwrap alone'] - shell['bare true']) * 1000:.2f} ms")
        if added > 0.010:
            misses.append(f"sandbox adds {added * 1000:.2f} ms > 10 ms (floor {floor * 1000:.2f} ms)")

        jail = Policies.for_root(boxed_root).file_jail(boxed_root)
        path = boxed_root / "file.txt"

        def plain() -> bytes:
            with open(path, "rb") as handle:
                return handle.read()

        read = p50_in_turns({
            "plain open": timed(plain),
            "jail read": timed(lambda: jail.read_bytes("file.txt", 1_000_000)),
        }, READ_RUNS)
        tool = p50_in_turns({
            "file_read tool": timed(lambda: call(boxed, "file_read", {"path": "file.txt"})),
            "no-op tool": timed(lambda: call(boxed, "noop", {"path": "file.txt"})),
        }, READ_RUNS // 10)
        ratio = read["jail read"] / read["plain open"]
        print("file_read, p50 in turns:")
        print(f"  plain open     {read['plain open'] * 1e6:8.1f} us")
        print(f"  jail read      {read['jail read'] * 1e6:8.1f} us   {ratio:.2f}x plain open (target <= 1.3x)")
        print(f"  file_read tool {tool['file_read tool'] * 1e6:8.1f} us   "
              f"{tool['file_read tool'] / read['plain open']:.1f}x plain open; a no-op tool through the same host "
              f"{tool['no-op tool'] * 1e6:.1f} us, so the file part costs "
              f"{(tool['file_read tool'] - tool['no-op tool']) * 1e6:.1f} us")
        if ratio > 1.3:
            misses.append(f"jail read is {ratio:.2f}x a plain open > 1.3x")
        file_part = (tool["file_read tool"] - tool["no-op tool"]) / read["plain open"]
        if file_part > 1.3:
            misses.append(f"file_read's own part (tool minus a no-op tool) is {file_part:.1f}x a plain open > 1.3x")
        for host in (boxed, unboxed):  # each host's governance: its entries are written before the workspace goes
            governance = host.pm.get_plugin("governance")
            if governance.audit is not None:
                governance.audit.close()
    for miss in misses:
        print(f"MISS: {miss}")
    if not misses:
        print("all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
