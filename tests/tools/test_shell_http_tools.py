"""shell_run with real commands, and http_request against a server this test starts on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from parac.core.tools import ToolError
from parac.server.host import Host
from support.serving import http_server

from .conftest import call, write, write_policy


async def test_shell_runs_allowed_commands_as_argument_vectors(host, workspace: Path) -> None:
    result = await call(host, "shell_run", command=["echo", "hello; rm -rf /", "$(whoami)"])
    assert result["exit_code"] == 0
    assert result["stdout"] == "hello; rm -rf / $(whoami)\n"  # no shell: the characters are just arguments
    failed = await call(host, "shell_run", command=["false"])
    assert failed["exit_code"] == 1 and not failed["timed_out"]
    write(workspace / "sub/file.txt", "x")
    listed = await call(host, "shell_run", command=["ls"], cwd="sub")
    assert listed["stdout"] == "file.txt\n"
    echoed = await call(host, "shell_run", command=["python", "-c", "import sys; print(sys.stdin.read()[::-1])"],
                        stdin="abc")
    assert echoed["stdout"] == "cba\n"


async def test_shell_limits(host, workspace: Path) -> None:
    slow = await call(host, "shell_run", command=["python", "-c", "import time; time.sleep(30)"], timeout_s=0.5)
    assert slow["timed_out"] and slow["exit_code"] != 0
    loud = await call(host, "shell_run", command=["python", "-c", "print('x' * 100000)"])
    assert loud["truncated"] and len(loud["stdout"]) == 2000  # the policy's max_output_bytes
    err = await call(host, "shell_run", command=["python", "-c", "import sys; sys.stderr.write('oops'); sys.exit(4)"])
    assert (err["exit_code"], err["stderr"]) == (4, "oops")


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["rm", "-rf", "x"], "command is not allowed"),
        (["git", "push"], "command is not allowed"),
        (["/bin/echo", "x"], "bare name"),
        (["echo hi"], "bare name"),
    ],
)
async def test_shell_refuses_what_the_policy_does_not_allow(host, command: list[str], message: str) -> None:
    with pytest.raises(ToolError, match=message):
        await call(host, "shell_run", command=command)


async def test_shell_cwd_is_confined(host) -> None:
    with pytest.raises(ToolError, match="'..'"):
        await call(host, "shell_run", command=["ls"], cwd="..")
    with pytest.raises(ToolError, match="invalid arguments"):
        await call(host, "shell_run", command=[])


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json", **headers: str) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _echo(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode()
        data = {"method": self.command, "path": self.path, "body": body, "x-token": self.headers.get("x-token")}
        self._send(200, json.dumps(data).encode())

    do_POST = do_PUT = do_DELETE = _echo

    def do_GET(self) -> None:
        port = self.server.server_address[1]
        if self.path == "/json":
            self._send(200, b'{"ok": true}')
        elif self.path == "/text":
            self._send(200, b"plain words", "text/plain")
        elif self.path == "/missing":
            self._send(404, b'{"error": "not found"}')
        elif self.path == "/same-host":
            self._send(302, b"", location="/json")
        elif self.path == "/other-host":
            self._send(302, b"", location=f"http://localhost:{port}/json")
        elif self.path == "/big":
            self._send(200, b"x" * 10_000, "text/plain")
        elif self.path == "/binary":
            self._send(200, b"\x00\x01\x02", "application/octet-stream")


@pytest.fixture
def server() -> Iterator[str]:
    with http_server(Handler) as port:
        yield f"127.0.0.1:{port}"


@pytest.fixture
def web(workspace: Path, server: str) -> Host:
    write_policy(workspace, hosts=(server,))
    return Host.for_workspace(workspace)


async def test_http_methods_headers_and_json(web, server: str) -> None:
    got = await call(web, "http_request", url=f"http://{server}/json")
    assert (got["status"], got["json"], got["binary"]) == (200, {"ok": True}, False)
    posted = await call(web, "http_request", url=f"http://{server}/items", method="POST",
                        json_body={"name": "x"}, headers={"X-Token": "abc"})
    assert posted["json"] == {"method": "POST", "path": "/items", "body": '{"name": "x"}', "x-token": "abc"}
    for method in ("PUT", "DELETE"):
        answer = await call(web, "http_request", url=f"http://{server}/items/1", method=method, body="text")
        assert answer["json"]["method"] == method and answer["json"]["body"] == ("text")
    missing = await call(web, "http_request", url=f"http://{server}/missing")
    assert missing["status"] == 404  # an HTTP error is a result the model can read, not a tool failure
    text = await call(web, "http_request", url=f"http://{server}/text")
    assert (text["body"], text["json"]) == ("plain words", None)
    binary = await call(web, "http_request", url=f"http://{server}/binary")
    assert (binary["binary"], binary["body"], binary["size"]) == (True, "", 3)
    followed = await call(web, "http_request", url=f"http://{server}/same-host")
    assert followed["json"] == {"ok": True} and followed["redirects"] == [f"http://{server}/json"]


@pytest.mark.parametrize(
    ("path_or_url", "message"),
    [
        ("http://example.com/", "host is not allowed"),
        ("/other-host", "redirect to another host refused"),
        ("/big", "10000 bytes, more than the limit of 4096"),
        ("ftp://{server}/x", "only http and https"),
        ("http://user:pw@{server}/json", "credentials"),
    ],
)
async def test_http_refusals(web, server: str, path_or_url: str, message: str) -> None:
    url = f"http://{server}{path_or_url}" if path_or_url.startswith("/") else path_or_url.format(server=server)
    with pytest.raises(ToolError, match=message):
        await call(web, "http_request", url=url)


async def test_http_refuses_headers_that_redirect_the_request(web, server: str) -> None:
    with pytest.raises(ToolError, match="headers not allowed: Host"):
        await call(web, "http_request", url=f"http://{server}/json", headers={"Host": "internal"})
    with pytest.raises(ToolError, match="not both"):
        await call(web, "http_request", url=f"http://{server}/json", json_body={}, body="x")


async def test_a_cancelled_shell_run_kills_its_command(host, workspace: Path) -> None:
    """The call is cancelled once the command has started: the command (in its sandbox) is killed then, not at its
    time limit. Judged by what the command would leave in the workspace afterwards."""
    import anyio

    script = "import time; open('started', 'w').close(); time.sleep(4); open('finished', 'w').close()"
    with anyio.move_on_after(60):
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: call(host, "shell_run", command=["python", "-c", script]))
            while not (workspace / "started").exists():
                await anyio.sleep(0.05)
            group.cancel_scope.cancel()
    assert (workspace / "started").exists()
    await anyio.sleep(6)  # past the moment the command would have finished
    assert not (workspace / "finished").exists()
    lawful = await call(host, "shell_run", command=["python", "-c", script.replace("time.sleep(4); ", "")])
    assert lawful["exit_code"] == 0 and (workspace / "finished").exists()  # the same command, not cancelled
