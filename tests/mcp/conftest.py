"""Fixtures for the MCP tests: the server assembled in-process over a fresh workspace, and an extra face package.

In-process tests use the SDK's own client in both protocol eras: `legacy` (the initialize handshake, what hosts
use today) and `auto` (which, in-process, speaks 2026-07-28 directly).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from support.serving import free_port, wait_until_listening

os.environ.pop("PARAC_MCP_TOKEN", None)  # a developer's token must not change what the HTTP tests see

@pytest.fixture
def serve_command() -> list[str]:
    """`parac mcp serve` as installed (the same console script a user runs)."""
    return [str(Path(sys.executable).with_name("parac")), "mcp", "serve"]


@pytest.fixture(params=["legacy", "auto"])
def era(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def extra_faces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A package with one face module, as another area of parac would add one (see docs/architecture.md)."""
    package = tmp_path / "faces_pkg" / "parac_test_faces"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "slow.py").write_text(
        textwrap.dedent(
            '''
            import anyio
            from typing_extensions import TypedDict

            from parac.server.mcp.call import Call
            from parac.core.ledger import LedgerError
            from parac.server.mcp.faces import FaceError, Faces

            STATE = {"finished": 0, "cancelled": 0}


            class Counted(TypedDict):
                steps: int


            def register(faces: Faces) -> None:
                @faces.tool(long_running=True, output=Counted)
                async def count(call: Call, steps: int, delay: float = 0.0) -> Counted:
                    """Count to `steps`, reporting progress after each."""
                    await call.log("info", f"counting to {steps}")
                    try:
                        for done in range(1, steps + 1):
                            await anyio.sleep(delay)
                            await call.progress(done, steps, f"step {done}")
                    except anyio.get_cancelled_exc_class():
                        STATE["cancelled"] += 1
                        raise
                    STATE["finished"] += 1
                    return Counted(steps=steps)

                @faces.tool(role="admin", read_only=False, destructive=True, idempotent=True)
                async def wipe(call: Call) -> str:
                    """An admin-only tool."""
                    return "wiped"

                @faces.tool()
                async def broken(call: Call) -> str:
                    """Fails like a bug would."""
                    raise KeyError("internal detail")

                @faces.tool()
                async def refuses(call: Call) -> str:
                    """Fails like a tool that explains itself."""
                    raise FaceError("the widget is not plugged in")

                @faces.tool()
                async def ledger_down(call: Call) -> str:
                    """Fails with a parac error meant for the server's log, not the caller."""
                    raise LedgerError("disk full under /srv/private/ledger.db")
            '''
        )
    )
    monkeypatch.syspath_prepend(str(package.parent))
    yield "parac_test_faces"
    for name in [m for m in sys.modules if m.startswith("parac_test_faces")]:
        del sys.modules[name]


@pytest.fixture
def http_server(serve_command: list[str]) -> Callable[..., AbstractContextManager[str]]:
    """Start `parac mcp serve --transport http` on a free port of 127.0.0.1; the context gives the endpoint URL."""

    @contextmanager
    def start(project: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
        port = free_port()
        proc = subprocess.Popen(
            [*serve_command, "--transport", "http", "--port", str(port), "--workspace", str(project), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PARAC_LOAD_PLUGINS": "", **(env or {})},
        )
        try:
            wait_until_listening(proc, port, why=lambda: proc.stderr.read().decode() if proc.stderr else "")
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    return start
