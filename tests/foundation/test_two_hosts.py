"""Two hosts for two workspaces in one process keep everything per workspace: policies, audit trails, ledgers,
budgets and redaction patterns, also while calls to both interleave on several threads.

Workspace A grants ``echo`` and ``fail``, masks ``ALPHA-<digits>`` and may spend 20 calls' worth; workspace B grants
only ``fail``, masks ``BRAVO-<digits>`` and may spend 30 calls' worth. Real SQLite databases on disk, the built-in
governance plugin, the real runtime and ledger; the model is an offline provider with a fixed price per call.
"""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import anyio
import pytest

from parac.core import costs
from parac.core.audit import AuditLog
from parac.core.calls import CallContext, LLMCall
from parac.core.redact import default_redactor
from parac.core.runtime import Runtime
from parac.core.store import connect_workspace
from parac.server.api import CallDenied, ToolError, hookimpl
from parac.server.host import Host
from support.spender import SlowEcho

CALL_USD = 0.01  # model "slow": 100 prompt tokens, completions free
MASK = "[REDACTED:pattern]"


class Plugin:
    """The same tools and model for both hosts (a fresh object per host, as an entry point gives)."""

    @hookimpl
    def parac_register_tools(self, register) -> None:
        def echo(text: str) -> str:
            """Return the text."""
            return text

        def fail(text: str) -> str:
            """Fail, quoting the text."""
            raise ToolError(f"cannot: {text}")

        register(echo)
        register(fail)

    @hookimpl
    def parac_register_providers(self, register) -> None:
        register(SlowEcho())


def workspace(root: Path, *, agent: str, grants: list[str], pattern: str, total_calls: int) -> Host:
    parac = root / ".parac"
    (parac / "agents").mkdir(parents=True)
    (parac / "policies").mkdir()
    (parac / "parac.yaml").write_text(
        f"name: {root.name}\ndefault_model: slow\n"
        f"prices: {{slow: {{input_per_mtok: {CALL_USD / 100 * 1e6}, output_per_mtok: 0}}}}\n"
        f"budgets: {{total_usd: {total_calls * CALL_USD}}}\n"
    )
    (parac / "policies" / "policy.yaml").write_text(
        f"allow: [{{tools: [{', '.join(grants)}]}}]\nredaction: {{patterns: ['{pattern}']}}\n"
    )
    (parac / "agents" / f"{agent}.yaml").write_text("description: spends\nmax_iterations: 1\n")
    host = Host(entry_points=False, extra_plugins=[("two", Plugin())])
    host.open_workspace(root)
    return host


@pytest.fixture
def hosts(tmp_path: Path) -> tuple[Host, Host]:
    a = workspace(tmp_path / "a", agent="alpha", grants=["echo", "fail"], pattern="ALPHA-[0-9]+", total_calls=20)
    b = workspace(tmp_path / "b", agent="bravo", grants=["fail"], pattern="BRAVO-[0-9]+", total_calls=30)
    return a, b


def trail(host: Host) -> list:
    assert host.workspace is not None
    log = AuditLog.for_workspace(host.workspace.root)
    try:
        assert log.verify().ok
        return list(log.entries())
    finally:
        log.close()


def ledger(host: Host) -> list[tuple[str, str, float]]:
    assert host.workspace is not None
    conn = costs.ensure_schema(connect_workspace(host.workspace.root))
    try:
        return [tuple(row) for row in conn.execute("SELECT agent, status, cost_usd FROM llm_calls")]
    finally:
        conn.close()


async def test_each_host_decides_records_and_masks_with_its_own_workspace(hosts, tmp_path):
    a, b = hosts
    assert await a.call_tool("echo", {"text": "hi"}) == "hi"
    with pytest.raises(CallDenied):
        await b.call_tool("echo", {"text": "hi"})
    for host in (a, b):
        with pytest.raises(ToolError):
            await host.call_tool("fail", {"text": "ALPHA-1 BRAVO-2"})

    calls = {name: [(e.subject, e.outcome, e.data.get("error")) for e in trail(host) if e.action == "tool.call"]
             for name, host in (("a", a), ("b", b))}
    assert calls["a"] == [("echo", "ok", None), ("fail", "error", f"ToolError: cannot: {MASK} BRAVO-2")]
    assert calls["b"] == [("echo", "denied", None), ("fail", "error", f"ToolError: cannot: ALPHA-1 {MASK}")]

    for host, sent in ((a, f"{MASK} BRAVO-3"), (b, f"ALPHA-3 {MASK}")):  # prompts leave masked by their own host
        call = LLMCall(model="slow", provider="slow", messages=[{"role": "user", "content": "ALPHA-3 BRAVO-3"}])
        host.hooks.before_llm_call(call)
        assert call.messages[0]["content"] == sent

    # The process's own output (logs, stderr) has no workspace: every open workspace's patterns mask it, and a
    # host that is gone takes its patterns along.
    assert default_redactor().text("ALPHA-4 BRAVO-4 CHARLIE-4") == f"{MASK} {MASK} CHARLIE-4"
    c = workspace(tmp_path / "c", agent="charlie", grants=["echo"], pattern="CHARLIE-[0-9]+", total_calls=1)
    assert default_redactor().text("ALPHA-4 BRAVO-4 CHARLIE-4") == f"{MASK} {MASK} {MASK}"
    del c
    gc.collect()
    assert default_redactor().text("ALPHA-4 BRAVO-4 CHARLIE-4") == f"{MASK} {MASK} CHARLIE-4"


def test_interleaved_calls_on_two_threads_stay_in_their_own_workspace(hosts):
    a, b = hosts
    runs_per_host_per_thread = 25  # 50 runs per host: A's budget holds 20, B's 30
    statuses: dict[str, list[str]] = {"alpha": [], "bravo": []}
    failures: list[BaseException] = []

    async def tools(host: Host, tool: str, text: str) -> None:
        try:
            await host.call_tool(tool, {"text": text}, CallContext(actor=f"token:{tool}"))
        except (CallDenied, ToolError):
            pass

    async def workload(thread: int) -> None:
        with (Runtime(a.workspace, hooks=a.hooks) as run_a, Runtime(b.workspace, hooks=b.hooks) as run_b):

            async def run(runtime: Runtime, agent: str, i: int) -> None:
                result = await runtime.run(agent, f"task {thread}.{i}", context=CallContext(actor=f"token:{agent}"))
                statuses[agent].append(result.status)

            async with anyio.create_task_group() as group:
                for i in range(runs_per_host_per_thread):
                    group.start_soon(run, run_a, "alpha", i)
                    group.start_soon(run, run_b, "bravo", i)
                    tag = f"{thread}{i}"
                    for host in (a, b):
                        group.start_soon(tools, host, "echo", f"ALPHA-{tag} BRAVO-{tag}")
                        group.start_soon(tools, host, "fail", f"ALPHA-{tag} BRAVO-{tag}")

    def thread_main(thread: int) -> None:
        try:
            anyio.run(workload, thread)
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=thread_main, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures

    # Budgets: each workspace refused on its own limit, and its ledger holds only its own calls.
    assert statuses["alpha"].count("completed") == 20 and statuses["alpha"].count("denied") == 30
    assert statuses["bravo"].count("completed") == 30 and statuses["bravo"].count("denied") == 20
    for host, agent, calls in ((a, "alpha", 20), (b, "bravo", 30)):
        rows = [row for row in ledger(host) if row[1] == "ok"]
        assert {row[0] for row in rows} == {agent} and len(rows) == calls
        assert sum(row[2] for row in rows) == pytest.approx(calls * CALL_USD)

    # Trails: each verifies and holds only its own runs, its own decisions and its own masking.
    for host, agent, other in ((a, "alpha", "bravo"), (b, "bravo", "alpha")):
        entries = trail(host)
        assert {e.data.get("agent") for e in entries if e.action == "llm.call"} == {agent}
        assert not [e for e in entries if other in (e.actor + e.subject + str(e.data))]
        assert sum(e.action == "llm.call" and e.outcome == "ok" for e in entries) == (20 if agent == "alpha" else 30)
        tool_calls = [e for e in entries if e.action == "tool.call"]
        assert len(tool_calls) == 2 * 2 * runs_per_host_per_thread
        echo = {e.outcome for e in tool_calls if e.subject == "echo"}
        assert echo == ({"ok"} if host is a else {"denied"})
        errors = [e.data["error"].removeprefix("ToolError: cannot: ") for e in tool_calls if e.subject == "fail"]
        assert len(errors) == 2 * runs_per_host_per_thread
        for error in errors:
            first, second = error.split(" ")
            if host is a:
                assert first == MASK and second.startswith("BRAVO-")
            else:
                assert first.startswith("ALPHA-") and second == MASK
