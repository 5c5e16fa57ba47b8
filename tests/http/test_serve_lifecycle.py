"""What outlives a request and a process: a streamed run whose client leaves (goes on, or is cancelled when asked),
and a workflow run interrupted by SIGTERM (resumable, and resumed by the next `parac serve --resume-runs`)."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import httpx

from support.openai_server import OpenAIServer, Reply
from support.parac_serve import parac_serve
from support.runtime import set_settings
from support.serving import until


def _ledger(project: Path, model: str) -> list[str]:
    conn = sqlite3.connect(project / ".parac" / "state" / "parac.db")
    try:
        return [row[0] for row in conn.execute("SELECT status FROM llm_calls WHERE model LIKE ?", (f"%{model}",))]
    except sqlite3.OperationalError:  # no table yet
        return []
    finally:
        conn.close()


def test_a_client_that_leaves_does_not_stop_the_run_unless_it_asked(project: Path, serve):
    with OpenAIServer() as llm:
        set_settings(project, providers={"local": {"api_base": llm.base_url, "timeout_s": 60, "max_retries": 0}})
        llm.script("stays", Reply.hang(2))
        llm.script("goes", Reply.hang(30))
        with serve(project) as served:
            for model, cancel in (("stays", False), ("goes", True)):
                body = {"task": "x", "model": f"local/{model}", "stream": True, "cancel_on_disconnect": cancel}
                with httpx.stream("POST", served.api + "/agents/coder/runs", json=body, timeout=60) as response:
                    assert response.status_code == 200
                    until(lambda: llm.requests_for(model))
                # the client has gone
            cancelled = until(lambda: _ledger(project, "goes"))
            stayed = until(lambda: _ledger(project, "stays"))  # written when the hang ends, 2 s later
    assert cancelled == ["cancelled"]
    assert stayed and "cancelled" not in stayed  # the run went on to the model's answer (a 504 here)


def test_sigterm_leaves_a_running_workflow_resumable(project: Path):
    (project / ".parac" / "workflows" / "one.yaml").write_text(
        "description: one step\nsteps:\n  - id: only\n    agent: coder\n    task: do it\n")
    with OpenAIServer() as llm:
        set_settings(project, providers={"local": {"api_base": llm.base_url, "timeout_s": 60, "max_retries": 0}})
        llm.script("slow", Reply.hang(60))  # the first call hangs; later ones answer
        with parac_serve(project, args=("--grace", "2")) as served:
            run_id = httpx.post(served.api + "/workflows/one/runs", json={"model": "local/slow"}, timeout=60).json()["run_id"]
            until(lambda: llm.requests_for("slow"))
            started = time.monotonic()
            served.proc.send_signal(signal.SIGTERM)
            code = served.proc.wait(timeout=30)
            stopped_in = time.monotonic() - started
            log = served.log()
        with parac_serve(project, args=("--resume-runs",)) as again:
            finished = until(lambda: (r := httpx.get(f"{again.api}/runs/{run_id}").json())["status"] == "completed" and r)
    # uvicorn shuts down gracefully, then re-raises the signal it caught, so the exit status says SIGTERM
    assert code == -signal.SIGTERM and stopped_in < 15 and "Traceback" not in log
    assert finished["steps"][0]["status"] == "completed"
