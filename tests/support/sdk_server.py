"""The `parac serve` both SDKs are tested against (tests/http/test_client.py, test_sdk_typescript.py): credentials
on (a `parac token` bearer token and an HMAC key), a workflow with a gate, a scripted model that thinks, and the
Host of a port kept for a test's proxy allowed (a proxy passes its own address on as the Host)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from support.auth_server import add_serve_settings, token
from support.parac_serve import GATED_WORKFLOW, Served, parac_serve
from support.runtime import write_script
from support.serving import free_port

HMAC_KEY = "sdk-ci"
HMAC_SECRET = "sdk-hmac-secret-0123456789"


@dataclass
class SdkServer:
    served: Served
    token: str  # an operator's bearer token, `token:sdk` in the audit trail
    thinking_model: str  # a `scripted:` model whose first turn thinks, then answers
    proxy_port: int  # a free port of 127.0.0.1 the server answers to as its Host too


@contextmanager
def sdk_server(project: Path, tmp_path: Path, parac) -> Iterator[SdkServer]:
    (project / ".parac/workflows/ship.yaml").write_text(GATED_WORKFLOW)
    (project / ".parac/sdk.key").write_text(HMAC_SECRET + "\n")
    proxy_port = free_port()
    add_serve_settings(project, f"  hmac_keys:\n    {HMAC_KEY}: {{secret_file: sdk.key, role: operator}}\n"
                                f"  allowed_hosts: ['127.0.0.1:{proxy_port}']\n")
    bearer = token(parac, project, "sdk")
    write_script(project / "think.yaml", [{"thinking": "let me think", "text": "an answer"}])
    with parac_serve(project) as served:  # a client's scripted:PATH is relative to the workspace
        yield SdkServer(served, bearer, "scripted:think.yaml", proxy_port)
