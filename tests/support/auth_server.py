"""A small Starlette app behind `parac.server.auth.Authenticate`, on uvicorn, for the auth and tenant tests.

    python auth_server.py HOME PORT [--host H] [--tenants FILE] [--cors-origin O]...

Its bearer tokens are the home workspace's `parac token` store (and `PARAC_MCP_TOKEN`); the rest (JWT, HMAC keys,
allow-lists, rate limit) comes from `serve:` in the home workspace's parac.yaml, read by `load_gate` as `parac serve`
reads it. Routes, each answering for the caller's workspace (its tenant's, else the home one):

- `GET /whoami`: the caller the middleware established;
- `POST /notes/{name}`: writes the body to `notes/NAME` in the workspace (what a refused request must not do);
- `GET /runs/{run_id}`: the workflow run from the workspace's database, 404 when it has none of that id.

Tests start it with `auth_server(...)`, which also captures its log (to grep for secrets).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from parac.server.auth.gate import AuthConfigError, load_gate
from parac.server.auth.roles import TokenAuthority
from parac.server.mcp.http import HttpOptions


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("home", type=Path)
    parser.add_argument("port", type=int)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--tenants", type=Path)
    parser.add_argument("--cors-origin", action="append", default=[])
    args = parser.parse_args()

    tokens = TokenAuthority(os.environ.get("PARAC_MCP_TOKEN") or None)
    tokens.add_store(args.home)
    options = HttpOptions(host=args.host, port=args.port)
    try:
        gate = load_gate(args.home, options, tokens, tenants_file=args.tenants, cors_origins=tuple(args.cors_origin))
    except AuthConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        for diagnostic in error.diagnostics:
            print(f"  {diagnostic.format()}", file=sys.stderr)
        sys.exit(1)

    def workspace(request: Request) -> Path:
        caller = request.state.caller
        return gate.tenants.workspace_of(caller.tenant) if caller.tenant is not None else args.home

    async def whoami(request: Request) -> JSONResponse:
        caller = request.state.caller
        return JSONResponse({"role": caller.role, "kind": caller.kind, "name": caller.name, "tenant": caller.tenant})

    async def note(request: Request) -> JSONResponse:
        folder = workspace(request) / "notes"
        folder.mkdir(exist_ok=True)
        (folder / Path(request.path_params["name"]).name).write_bytes(await request.body())
        return JSONResponse({"written": request.path_params["name"]}, 201)

    async def run(request: Request) -> JSONResponse:
        from parac.core import store as db
        from parac.core.workflows import checkpoints as cp

        conn = db.connect(db.db_path(workspace(request)))
        try:
            row = cp.get_run(conn, request.path_params["run_id"])
        except cp.RunNotFound as error:
            return JSONResponse({"status": 404, "detail": str(error)}, 404, media_type="application/problem+json")
        finally:
            conn.close()
        return JSONResponse({"run_id": row.run_id, "workflow": row.workflow, "status": row.status})

    from parac.server.auth.middleware import Authenticate

    app = Starlette(routes=[
        Route("/whoami", whoami),
        Route("/notes/{name}", note, methods=["POST"]),
        Route("/runs/{run_id}", run),
    ])
    uvicorn.run(Authenticate(app, gate), host=args.host, port=args.port, log_level="info", access_log=True)


def trail(parac, root: Path) -> list[dict]:
    result = parac("--workspace", str(root), "audit", "export", "--format", "jsonl")
    assert result.code == 0, result
    return [json.loads(line) for line in result.out.splitlines()]


def denials(parac, root: Path) -> list[dict]:
    return [entry for entry in trail(parac, root) if entry["action"] == "http.denied"]


def add_serve_settings(project: Path, text: str) -> None:
    settings = project / ".parac/parac.yaml"
    settings.write_text(settings.read_text() + "serve:\n" + text)


def last_place(project: Path, key: str, setting: str) -> str:
    """`FILE:LINE:COL: setting`, where `key` stands on the last line of parac.yaml (`add_serve_settings` put it
    there), as a start-up error places the setting."""
    settings = project / ".parac/parac.yaml"
    lines = settings.read_text().splitlines()
    return f"{settings}:{len(lines)}:{lines[-1].index(key) + 1}: {setting}"


def serve_once(parac, project: Path) -> Any:
    """`parac serve` on any free port, for a start that must be refused (its result: code, out, err)."""
    return parac("serve", "--port", "0", "--workspace", str(project))


def token(parac, project: Path, name: str, role: str = "operator") -> str:
    created = parac("--workspace", str(project), "token", "create", "--role", role, "--name", name, "--json")
    return created.json()["token"]


def run_in(parac, root: Path) -> str:
    result = parac("--workspace", str(root), "workflow", "run", "code-review", "-i", "change=x", "--dry-run", "echo",
                   "--yes", "--json")
    assert result.code == 0, result
    return result.json()["run_id"]


@contextmanager
def auth_server(home: Path, log: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """The app above serving `home` on a free loopback port; yields its base URL. Its stderr goes to `log`."""
    from support.serving import free_port, wait_until_listening

    port = free_port()
    with open(log, "ab") as stderr:
        proc = subprocess.Popen([sys.executable, __file__, str(home), str(port), *args], stdin=subprocess.DEVNULL,
                                stdout=stderr, stderr=stderr, env={**os.environ, **(env or {})})
    try:
        wait_until_listening(proc, port, why=log.read_text)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
