"""The TypeScript SDK (sdk/typescript) against a live `parac serve`: its node:test suite, compiled from the
current sources, run with `node --test` and the server's URL and credentials in its environment; and its
generated types, checked to be what its generator makes from that server's /openapi.json."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx

from support.paths import REPO
from support.sdk_server import HMAC_KEY, HMAC_SECRET, sdk_server

SDK = REPO / "sdk" / "typescript"
TSC = SDK / "node_modules" / ".bin" / "tsc"


def _compiled(out: Path) -> Path:
    """The SDK and its tests compiled into `out` (so the tests run what the sources say, not a stale build)."""
    assert TSC.exists(), f"{TSC} is missing: `make test-setup` installs the SDK's npm packages"
    built = subprocess.run([str(TSC), "-p", str(SDK), "--outDir", str(out)], capture_output=True, text=True,
                           timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    return out


def test_sdk_against_a_live_server(project: Path, tmp_path: Path, parac):
    out = _compiled(tmp_path / "dist")
    with sdk_server(project, tmp_path, parac) as server:
        env = {**os.environ, "PARAC_URL": server.served.url, "PARAC_TOKEN": server.token,
               "PARAC_HMAC_KEY": HMAC_KEY, "PARAC_HMAC_SECRET": HMAC_SECRET,
               "PARAC_THINKING_MODEL": server.thinking_model, "PARAC_PROXY_PORT": str(server.proxy_port)}
        ran = subprocess.run(["node", "--test", "--test-reporter=spec", str(out / "test")], capture_output=True,
                             text=True, env=env, timeout=300)
    report = ran.stdout + ran.stderr
    assert ran.returncode == 0, report
    assert "ℹ pass 7" in report and "ℹ fail 0" in report, report


def test_committed_types_are_generated_from_the_servers_openapi(project: Path, serve, tmp_path: Path):
    with serve(project) as served:
        document = tmp_path / "openapi.json"
        document.write_bytes(httpx.get(served.url + "/openapi.json", timeout=30).content)
    generated = subprocess.run(["node", str(SDK / "scripts" / "generate-types.mjs"), str(document)],
                               capture_output=True, text=True, timeout=60)
    assert generated.returncode == 0, generated.stderr
    assert generated.stdout == (SDK / "src" / "types.ts").read_text(), (
        "sdk/typescript/src/types.ts is out of date: run `npm run generate -- URL/openapi.json` in sdk/typescript")
