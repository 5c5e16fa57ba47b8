"""Turning tracing on: what a start imports when it is off, and a wrong ``telemetry:`` refused at its place."""

from __future__ import annotations

import os
import subprocess
import sys

HEAVY = ("opentelemetry.sdk", "opentelemetry.exporter", "prometheus_client", "pydantic", "yaml")
SCRIPT = """\
import sys
from pathlib import Path
from parac.server.mcp.run import start_tracing
before = set(sys.modules)
start_tracing(Path(sys.argv[1]))
from parac.core import telemetry
print(telemetry.enabled(), sorted(m for m in set(sys.modules) - before if m.startswith({heavy!r})))
"""


def _start(project, env):
    script = SCRIPT.format(heavy=HEAVY)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run([sys.executable, "-c", script, str(project.root)], capture_output=True, text=True,
                          env={**clean, **env}, check=True)
    return done.stdout.strip()


def test_off_imports_nothing_heavy_and_on_loads_the_sdk(project, receiver):
    assert _start(project, {}) == "False []"
    on = _start(project, receiver.env())
    assert on.startswith("True") and "opentelemetry.sdk.trace" in on and "opentelemetry.exporter.otlp.proto.http" in on
    assert "'pydantic'" not in on  # the environment alone: parac.yaml has no telemetry: key, nothing is parsed
    settings = project.root / ".parac" / "parac.yaml"
    settings.write_text(settings.read_text() + f"telemetry: {{endpoint: '{receiver.url}'}}\n")
    assert _start(project, {}).startswith("True")  # parac.yaml alone turns it on


def test_environment_wins_over_parac_yaml(project, receiver):
    settings = project.root / ".parac" / "parac.yaml"
    settings.write_text(settings.read_text() + f"telemetry: {{endpoint: '{receiver.url}'}}\n")
    assert _start(project, {"OTEL_TRACES_EXPORTER": "none"}).startswith("False")
    settings.write_text(settings.read_text().replace("telemetry: {", "telemetry: {enabled: false, "))
    assert _start(project, {}).startswith("False")


def test_wrong_telemetry_setting_is_refused_at_its_place(project):
    settings = project.root / ".parac" / "parac.yaml"
    text = settings.read_text()
    settings.write_text(text + "telemetry:\n  capture_content: true\n  endpoint: ftp://collector\n")
    line = len(text.splitlines()) + 3
    served = project.cli("mcp", "serve", "-w", str(project.root))
    assert served.returncode != 0
    assert f"parac.yaml:{line}:13: telemetry.endpoint" in served.stderr, served.stderr
    checked = project.cli("validate")
    assert checked.returncode == 1
    assert f"parac.yaml:{line}:13" in checked.stdout + checked.stderr and "endpoint" in checked.stdout + checked.stderr
