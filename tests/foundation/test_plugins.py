"""Plugins: the example third-party package through its entry point, and plugins that fail."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import anyio
import pytest

from support.paths import REPO
from parac.core.calls import CallDenied
from parac.core.tools import ToolError
from parac.server.api import hookimpl
from parac.server.host import Host

EXAMPLE = REPO / "examples" / "parac-hello-plugin"


@pytest.fixture(scope="module")
def hello_site(tmp_path_factory) -> Path:
    """The example package pip-installed into its own folder (put on PYTHONPATH), so the test venv is untouched."""
    site = tmp_path_factory.mktemp("hello-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(site), str(EXAMPLE)],
        check=True,
    )
    return site


def test_third_party_plugin_through_entry_point(hello_site: Path, project: Path, parac):
    env = {"PARAC_LOAD_PLUGINS": "hello", "PYTHONPATH": str(hello_site)}
    plugins = {p["name"]: p for p in parac("plugins", "--json", cwd=project, env=env).json()}
    hello = plugins["hello"]
    assert hello["source"] == "entry point parac-hello-plugin 0.1.0"
    assert hello["registered"] == {"agents": ["greeter"], "tools": ["shout"], "skills": ["greeting"]}
    agent = parac("agents", "show", "greeter", "--json", cwd=project, env=env).json()
    assert agent["origin"] == "hello" and agent["tools"] == ["shout"]
    skills = {s["name"]: s for s in parac("skills", "list", "--json", cwd=project, env=env).json()}
    assert skills["greeting"]["origin"] == "hello"
    # A workspace agent may inherit from the plugin's agent.
    (project / ".parac" / "agents" / "loud.yaml").write_text("parent: greeter\ndescription: louder\n")
    assert parac("validate", cwd=project, env=env).code == 0
    loud = parac("agents", "show", "loud", "--json", cwd=project, env=env).json()
    assert loud["chain"] == ["loud", "greeter"] and loud["provenance"]["tools"] == "greeter"
    # Not allowed: the plugin does not load and the child's parent is unknown.
    not_allowed = {"PYTHONPATH": str(hello_site)}
    assert "hello" not in {p["name"] for p in parac("plugins", "--json", cwd=project, env=not_allowed).json()}
    assert parac("validate", cwd=project, env=not_allowed).code == 1


def test_plugin_that_fails_to_import_is_reported(tmp_path: Path, project: Path, parac):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "broken_plugin.py").write_text("raise RuntimeError('boom at import')\n")
    dist = tmp_path / "site" / "broken_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[parac]\nbroken = broken_plugin\n")
    env = {"PYTHONPATH": str(tmp_path / "site"), "PARAC_LOAD_PLUGINS": "broken"}
    result = parac("plugins", "--json", cwd=project, env=env)
    assert result.code == 0
    broken = {p["name"]: p for p in result.json()}["broken"]
    assert "boom at import" in broken["problems"][0]
    assert "warning: plugin broken failed in import: RuntimeError: boom at import" in result.err
    assert result.err.count("boom at import") == 1  # said once, not by the host's log and the CLI again
    assert parac("validate", cwd=project, env=env).code == 0


class RaisingPlugin:
    @hookimpl
    def parac_register_tools(self, register):
        raise ValueError("cannot register")


class ToolPlugin:
    @hookimpl
    def parac_register_tools(self, register):
        def add(a: int, b: int) -> int:
            """Add two numbers."""
            return a + b

        register(add)


class Veto:
    def __init__(self):
        self.seen = []

    @hookimpl
    def parac_before_tool_call(self, call):
        if call.arguments.get("a") == 13:
            raise CallDenied("13 is unlucky", rule="test")

    @hookimpl
    def parac_after_tool_call(self, call, result, error):
        self.seen.append((call.tool, result, type(error).__name__ if error else None))


class Crashing:
    @hookimpl
    def parac_before_tool_call(self, call):
        raise KeyError("bug in a governance plugin")


def test_hook_failure_is_isolated_and_tools_pass_through_governance_hooks():
    veto = Veto()
    # The built-in governance plugin denies every tool outside a workspace; these tests are about the hook mechanics.
    host = Host(entry_points=False, disabled=["governance"], extra_plugins=[("raising", RaisingPlugin()), ("tools", ToolPlugin()), ("veto", veto)])
    mine = [(p.plugin, p.phase) for p in host.problems if p.plugin in ("raising", "tools", "veto")]
    assert mine == [("raising", "parac_register_tools")]
    tool = host.registry.catalog.tools["add"]
    assert tool.value.input_schema["required"] == ["a", "b"] and tool.origin == "tools"

    async def scenario():
        assert await host.call_tool("add", {"a": 2, "b": 3}) == 5
        with pytest.raises(CallDenied, match="unlucky"):
            await host.call_tool("add", {"a": 13, "b": 0})
        with pytest.raises(ToolError, match="at b"):
            await host.call_tool("add", {"a": 1, "b": "x"})

    anyio.run(scenario)
    assert veto.seen == [("add", 5, None), ("add", None, "CallDenied"), ("add", None, "ToolError")]


def test_crashing_governance_hook_denies_the_call():
    host = Host(entry_points=False, disabled=["governance"], extra_plugins=[("tools", ToolPlugin()), ("crash", Crashing())])
    with pytest.raises(CallDenied, match="governance hook failed"):
        anyio.run(host.call_tool, "add", {"a": 1, "b": 2})


def test_builtin_governance_denies_tools_outside_a_workspace():
    host = Host(entry_points=False, extra_plugins=[("tools", ToolPlugin())])
    with pytest.raises(CallDenied, match="no policy grants it"):
        anyio.run(host.call_tool, "add", {"a": 1, "b": 2})


def test_a_plugin_registered_after_governance_gets_the_tool_hooks_too():
    """Governance alone is called without pluggy's dispatch; a plugin registered after it brings the dispatch back."""
    veto = Veto()
    host = Host(entry_points=False, extra_plugins=[("tools", ToolPlugin()), ("veto", veto)])
    with pytest.raises(CallDenied, match="no policy grants it"):
        anyio.run(host.call_tool, "add", {"a": 1, "b": 2})
    with pytest.raises(CallDenied, match="unlucky"):
        anyio.run(host.call_tool, "add", {"a": 13, "b": 2})
    assert veto.seen == [("add", None, "CallDenied"), ("add", None, "CallDenied")]


def test_duplicate_registration_keeps_the_first():
    host = Host(entry_points=False, extra_plugins=[("one", ToolPlugin()), ("two", ToolPlugin())])
    assert host.registry.catalog.tools["add"].origin == "one"
    assert any('"add" from plugin "two" ignored' in c for c in host.registry.conflicts)


def test_registering_the_built_in_tools_builds_none_of_their_schemas(project: Path):
    """Their schemas are built when a face first lists or calls a tool, not when a host starts (`parac doctor`,
    every CLI verb and each cold start open one): a check at registration must not build them all."""
    host = Host.for_workspace(project)
    built = [name for name, tool in host.registry.table("tools").items() if "input_schema" in vars(tool.value)]
    assert built == []
    assert host.registry.table("tools")["file_read"].value.input_schema["required"] == ["path"]  # built on demand


def test_a_blocking_tool_cancelled_before_a_thread_takes_it_up_never_starts_and_the_call_ends(project: Path):
    """Every worker thread taken (the thread limiter full): a blocking tool's call cancelled while it waits for
    one ends at once, and the tool never runs, even once a thread is free."""
    (project / ".parac" / "policies" / "record.yaml").write_text("allow: [{tools: [record]}]\n")
    ran: list[int] = []
    release = threading.Event()

    class Blocking:
        @hookimpl
        def parac_register_tools(self, register) -> None:
            def record(n: int) -> int:
                """Record n."""
                ran.append(n)
                return n

            register(record)

    host = Host(entry_points=False, extra_plugins=[("blocking", Blocking())])
    host.open_workspace(project)

    async def scenario() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 1
        async with anyio.create_task_group() as holder:
            holder.start_soon(anyio.to_thread.run_sync, release.wait)  # the one thread, taken
            await anyio.sleep(0.05)
            try:
                with anyio.move_on_after(0.2) as waited:
                    await host.call_tool("record", {"n": 1})
                assert waited.cancelled_caught  # the call ended when cancelled, rather than hanging
            finally:
                release.set()
        assert await host.call_tool("record", {"n": 2}) == 2

    failures: list[BaseException] = []

    def run() -> None:
        try:
            anyio.run(scenario)
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)

    runner = threading.Thread(target=run, daemon=True)  # a hang fails the test instead of stalling the suite
    runner.start()
    runner.join(30)
    assert not runner.is_alive(), "the cancelled call hung, waiting for a tool that never started"
    assert not failures, failures
    assert ran == [2]
