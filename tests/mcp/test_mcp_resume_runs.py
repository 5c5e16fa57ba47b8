"""`parac mcp serve --resume-runs`: interrupted workflow runs go on when the server starts, and only when asked."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from support.paths import PARAC
from parac.core.store import connect_workspace


def run_status(project: Path, run_id: str) -> str:
    conn = connect_workspace(project)
    try:
        return conn.execute("SELECT status FROM workflow_runs WHERE run_id = ?", (run_id,)).fetchone()[0]
    finally:
        conn.close()


def serve_until(project: Path, run_id: str, *flags: str, wait_s: float) -> str:
    """Start the server over stdio (stdin held open, as an editor would) and report the run's status after a while."""
    proc = subprocess.Popen(
        [PARAC, "mcp", "serve", "--workspace", str(project), *flags],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + wait_s
        status = run_status(project, run_id)
        while time.monotonic() < deadline and status != "completed":
            time.sleep(0.1)
            status = run_status(project, run_id)
        return status
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def test_resume_runs_only_when_asked(project: Path, parac):
    paused = parac("workflow", "run", "feature", "-i", "feature=payments (risk: high)", "--no-wait", "--json", cwd=project).json()
    assert paused["status"] == "waiting_approval"
    run_id = paused["run_id"]
    assert parac("workflow", "approve", run_id, "sign-off", "--no-resume", cwd=project).code == 0
    assert serve_until(project, run_id, wait_s=3) == "waiting_approval"  # not asked: the run stays where it was
    assert serve_until(project, run_id, "--resume-runs", wait_s=60) == "completed"
