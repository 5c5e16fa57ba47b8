"""A real editor: Debian's headless Neovim, configured only by editor-clients/neovim/parac.lua, opens a workspace
file, starts `parac lsp`, shows its diagnostics, sends the edit that fixes them, and gets a hover."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from lsp_support import PARAC, SERVER_ENV
from support.paths import REPO

CONFIG = REPO / "editor-clients" / "neovim" / "parac.lua"
SESSION = Path(__file__).parent / "nvim_session.lua"
NVIM = shutil.which("nvim") or "nvim"  # installed by .ci/bootstrap, which make test runs


def test_neovim_shows_parac_diagnostics(workspace: Path, tmp_path: Path):
    coder = workspace / ".parac" / "agents" / "coder.yaml"
    coder.write_text("parent: bsae\ndescription: Writes code\n", encoding="utf-8")
    out = tmp_path / "report.json"
    env = {**SERVER_ENV, "PARAC_NVIM_OUT": str(out), "XDG_STATE_HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)}
    command = [
        NVIM, "--headless", "-i", "NONE", "-n",
        "--cmd", f"let g:parac_cmd = ['{PARAC}', 'lsp']",
        "-u", str(CONFIG),
        str(coder),
        "-c", f"luafile {SESSION}",
    ]
    proc = subprocess.run(command, cwd=workspace, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert out.exists(), f"Neovim wrote no report (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    report = json.loads(out.read_text())
    assert report["attached"] and report["diagnosed"], report
    [problem] = report["before"]
    assert (problem["lnum"], problem["col"], problem["code"]) == (0, 8, "unknown-parent")
    assert 'did you mean "base"' in problem["message"]
    assert report["cleared"], report
    assert "agent base" in report["hover"]
