"""The floor `parac serve` is compared with: a bare Starlette app on uvicorn, configured as `parac serve` configures
it, answering what a route of parac answers without any of parac's work (bench/serve_latency.py).

    python bare_starlette_server.py BODY.json [WORKSPACE]   # prints its URL once it listens

- `GET /agent`: the JSON in BODY.json (parsed at start, serialised per request, as parac's routes serialise);
- `GET /agent/audited` (with WORKSPACE, a folder holding `.parac/`): the same, after the audit entry parac's
  governance writes for each call it lets through (`tool.call`, the redacted arguments' digest), submitted to that
  workspace's `AuditLog` as parac submits it (the data made by the writer, group commit, `synchronous=FULL`): the
  floor a governed, audited read cannot go below, whatever else parac does;
- `POST /stream`: one SSE event (`content`), then `done`, through sse-starlette;
- `GET /health/live`: `{"status": "ok"}`.
"""

import json
import socket
import sys

import uvicorn
from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

BODY = json.loads(open(sys.argv[1], encoding="utf-8").read())
AUDIT = None
if len(sys.argv) > 2:
    import hashlib
    import time

    from parac.core.audit import AuditLog, canonical_json
    from parac.core.calls import new_id
    from parac.core.redact import Redactor

    AUDIT, REDACTOR = AuditLog.for_workspace(sys.argv[2]), Redactor()


async def agent(request):
    return JSONResponse(BODY)


async def agent_audited(request):
    began = time.monotonic()
    arguments, call_id = {"name": BODY["name"]}, new_id()
    duration_ms = round((time.monotonic() - began) * 1000, 3)

    def data():  # made by the audit writer, as parac's governance has it made
        redacted = REDACTOR.value(arguments)
        return {"call_id": call_id, "arguments_digest": hashlib.sha256(canonical_json(redacted).encode()).hexdigest(),
                "argument_names": sorted(arguments), "duration_ms": duration_ms}

    AUDIT.submit("tool.call", actor="http:admin", subject="get_agent", outcome="ok", data=data)
    return JSONResponse(BODY)


async def live(request):
    return JSONResponse({"status": "ok"})


async def stream(request):
    await request.body()

    async def events():
        yield {"event": "content", "data": json.dumps({"text": "hello"})}
        yield {"event": "done", "data": "{}"}

    return EventSourceResponse(events(), ping=15)


app = Starlette(routes=[Route("/agent", agent), Route("/agent/audited", agent_audited), Route("/health/live", live), Route("/stream", stream, methods=["POST"])])
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # as parac serve binds it
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", 0))
sock.listen(2048)
print(f"http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False, ws="none")).run(sockets=[sock])
