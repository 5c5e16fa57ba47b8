"""The wheel holds every module and data file: built, installed into a fresh venv, imported from there."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

from support.paths import REPO


def test_wheel_installs_and_every_module_imports(tmp_path: Path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(dist), str(REPO)],
        check=True,
    )
    (wheel,) = dist.glob("parac-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    modules = sorted(
        n[:-3].replace("/", ".").removesuffix(".__init__")
        for n in names
        if n.endswith(".py") and not n.endswith("__main__.py")  # importing a __main__ runs the program
    )
    for package in ("core", "server", "mcp_tools", "resources", "prompts", "lsp", "plugins"):
        assert f"parac.{package}" in modules, f"parac.{package} is missing from the wheel"
    # Every .py file in the source tree's packages made it into the wheel.
    for folder in ("core", "server", "mcp_tools", "resources", "prompts", "lsp", "plugins"):
        for source in (REPO / folder).rglob("*.py"):
            if "templates" in source.parts:
                continue
            assert f"parac/{folder}/{source.relative_to(REPO / folder).as_posix()}" in names, source
    assert "parac/core/templates/default/.parac/agents/coder.yaml" in names
    assert "parac/core/templates/default/.parac/.gitignore" in names
    icons = {f"parac/server/mcp/icons/{svg.name}" for svg in (REPO / "server/mcp/icons").glob("*.svg")}
    assert icons and icons <= set(names)  # the MCP icons are package data, served from the installed package

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    # Dependencies come from the test venv's site-packages, but parac itself only from the fresh venv.
    deps = next(p for p in sys.path if p.endswith("site-packages"))
    script = (
        "import importlib, sys, parac.core\n"
        f"assert parac.core.__file__.startswith({str(site)!r}), parac.core.__file__\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(len(sys.modules))\n"
    )
    result = subprocess.run([str(python), "-c", script], env={"PYTHONPATH": deps}, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
