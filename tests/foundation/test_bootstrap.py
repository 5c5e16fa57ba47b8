""".ci/bootstrap on machines it cannot see here: PATH holds only the programs each case allows, and stand-ins for
apt-get and id (new files, never writes through the links to the real programs)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from support.paths import REPO

BOOTSTRAP = REPO / ".ci" / "bootstrap"
PRESENT = ("bash", "mktemp", "rm", "cat", "git", "bwrap", "node", "npm", "zsh", "fish", "pg_ctlcluster", "chromium", "chromedriver")  # all but Neovim (and dpkg-query)


def machine(tmp_path: Path, *, uid: int, apt_get: str | None) -> tuple[dict[str, str], Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in PRESENT:
        found = shutil.which(program)
        assert found, f"{program} is needed to stage these cases"
        (bin_dir / program).symlink_to(found)
    (bin_dir / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    calls = tmp_path / "apt-calls"
    if apt_get is not None:
        (bin_dir / "apt-get").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n{apt_get}\n')
    for script in ("id", "apt-get"):
        if (bin_dir / script).exists():
            (bin_dir / script).chmod(0o755)
    return {"PATH": str(bin_dir)}, calls


def bootstrap(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(BOOTSTRAP)], env=env, capture_output=True, text=True, timeout=60)


def test_everything_present_is_a_silent_no_op():
    result = subprocess.run(["bash", str(BOOTSTRAP)], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_as_root_with_apt_the_missing_package_is_installed(tmp_path):
    env, calls = machine(tmp_path, uid=0, apt_get="exit 0")
    result = bootstrap(env)
    assert result.returncode == 0, result.stderr
    assert calls.read_text().splitlines() == ["update -qq", "install -y -qq neovim"]


def test_without_root_it_stops_with_the_command_to_run(tmp_path):
    env, calls = machine(tmp_path, uid=1000, apt_get="exit 0")
    result = bootstrap(env)
    assert result.returncode == 1
    assert "run: sudo sh -c 'apt-get update && apt-get install -y neovim'" in result.stderr
    assert not calls.exists()


def test_without_apt_it_stops_naming_the_packages(tmp_path):
    env, _ = machine(tmp_path, uid=0, apt_get=None)
    result = bootstrap(env)
    assert result.returncode == 1
    assert "no apt-get on this machine; missing system packages: neovim" in result.stderr


def test_a_failing_apt_get_shows_its_output_and_the_command(tmp_path):
    env, _ = machine(tmp_path, uid=0, apt_get='echo "E: Unable to locate package neovim" >&2; exit 100')
    result = bootstrap(env)
    assert result.returncode == 1
    assert "E: Unable to locate package neovim" in result.stderr
    assert "run: apt-get update && apt-get install -y neovim" in result.stderr
