"""Command injection and HTTP escapes against the confinement gates, with real processes and a real server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from parac.core.confine import (
    CommandPolicy,
    ConfinementError,
    HttpPolicy,
    check_command,
    check_url,
    command_env,
    http_request,
    run_command,
)
from support.serving import http_server

POLICY = CommandPolicy(allow=("echo", "printf", "git status", "sleep", "yes", "cat"), timeout_s=5, max_output_bytes=10_000)

INJECTIONS = [
    ["echo; touch pwned"],
    ["echo && touch pwned"],
    ["echo|touch pwned"],
    ["$(touch pwned)"],
    ["`touch pwned`"],
    ["sh", "-c", "touch pwned"],
    ["bash", "-c", "touch pwned"],
    ["/bin/sh", "-c", "touch pwned"],
    ["./echo"],
    ["../../bin/sh"],
    ["/usr/bin/env", "touch", "pwned"],
    ["env", "touch", "pwned"],
    ["echo ", "x"],
    [" echo"],
    ["ECHO\x00", "x"],
    ["echo\ntouch", "pwned"],
    ["git", "push"],
    ["git", "-c", "core.pager=touch pwned", "status"],
    ["gitx", "status"],
    ["-echo"],
    [],
    "echo hello; touch pwned",
    ["echo", "ok\x00; touch pwned"],
    [["echo"]],
    [b"echo"],
]


@pytest.mark.parametrize("argv", INJECTIONS, ids=[repr(a)[:40] for a in INJECTIONS])
def test_injection_is_refused(tmp_path, argv):
    with pytest.raises(ConfinementError):
        run_command(argv, POLICY, cwd=tmp_path)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("payload", ["; touch pwned", "$(touch pwned)", "`touch pwned`", "| touch pwned",
                                     "&& touch pwned", "> pwned", "*", "$HOME", "\\; touch pwned"])
def test_metacharacters_in_arguments_are_plain_text(tmp_path, payload):
    result = run_command(["echo", payload], POLICY, cwd=tmp_path)
    assert result.exit_code == 0
    assert result.stdout == payload + "\n"
    assert not (tmp_path / "pwned").exists()


def test_argument_prefix_allow_list(tmp_path):
    assert check_command(["git", "status", "--short"], POLICY)[0].endswith("/git")
    with pytest.raises(ConfinementError, match="not allowed"):
        check_command(["git", "stash"], POLICY)


def test_time_limit_kills_the_process_group(tmp_path):
    marker = tmp_path / "late"
    policy = CommandPolicy(allow=("sh",), timeout_s=0.5)
    result = run_command(["sh", "-c", f"(sleep 2; touch {marker}) & sleep 30"], policy, cwd=tmp_path)
    assert result.timed_out
    time.sleep(2.5)
    assert not marker.exists(), "a child of the timed-out command survived it"


def test_output_cap(tmp_path):
    result = run_command(["yes"], CommandPolicy(allow=("yes",), timeout_s=1, max_output_bytes=1000), cwd=tmp_path)
    assert result.truncated and len(result.stdout) == 1000


def test_environment_is_scrubbed(tmp_path):
    environ = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "OPENAI_API_KEY": "sk-" + "x" * 30, "GITHUB_TOKEN": "t" * 20,
               "DB_PASSWORD": "p" * 12, "VISIBLE": "1"}
    env = command_env(CommandPolicy(env=("VISIBLE",)), environ)
    assert env["PATH"] == "/usr/bin:/bin" and env["VISIBLE"] == "1"
    assert not {"OPENAI_API_KEY", "GITHUB_TOKEN", "DB_PASSWORD"} & set(env)
    result = run_command(["cat", "/proc/self/environ"], POLICY, cwd=tmp_path, environ=environ)
    assert "sk-xxx" not in result.stdout and "DB_PASSWORD" not in result.stdout


# --- HTTP --------------------------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        return None

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        port = self.server.server_address[1]
        routes = {
            "/ok": (200, {}, b"hello"),
            "/same": (302, {"Location": "/ok"}, b""),
            "/other-name": (302, {"Location": f"http://localhost:{port}/ok"}, b""),
            "/other-host": (302, {"Location": "http://example.com/"}, b""),
            "/ip-form": (302, {"Location": f"http://2130706433:{port}/ok"}, b""),
            "/loop": (302, {"Location": "/loop"}, b""),
            "/big": (200, {}, b"x" * 50_000),
        }
        if self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up, as it should
                pass
            return
        if self.path == "/big-undeclared":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"y" * 50_000)
            self.close_connection = True
            return
        status, headers, body = routes.get(self.path, (404, {}, b"no"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with http_server(Handler) as port:
        yield f"http://127.0.0.1:{port}"


def policy_for(base: str, **limits: object) -> HttpPolicy:
    settings: dict[str, object] = {"timeout_s": 3, "max_bytes": 10_000, **limits}
    return HttpPolicy(allow_hosts=(base.split("//")[1],), **settings)  # type: ignore[arg-type]


def test_allowed_request(server):
    result = http_request("GET", f"{server}/ok", policy_for(server))
    assert (result.status, result.body) == (200, b"hello")


def test_same_host_redirect_is_followed(server):
    result = http_request("GET", f"{server}/same", policy_for(server))
    assert result.body == b"hello" and result.redirects == [f"{server}/ok"]


@pytest.mark.parametrize("path", ["/other-name", "/other-host", "/ip-form"])
def test_redirect_to_another_host_is_refused(server, path):
    with pytest.raises(ConfinementError, match="redirect to another host|non-standard"):
        http_request("GET", f"{server}{path}", policy_for(server))


def test_redirect_loop_is_bounded(server):
    with pytest.raises(ConfinementError, match="redirects"):
        http_request("GET", f"{server}/loop", policy_for(server, max_redirects=3))


@pytest.mark.parametrize("path", ["/big", "/big-undeclared"])
def test_size_limit(server, path):
    with pytest.raises(ConfinementError, match="limit"):
        http_request("GET", f"{server}{path}", policy_for(server))


def test_total_time_limit_against_a_trickling_server(server):
    """Each byte comes well within any read timeout; only the deadline on the whole exchange stops it."""
    with pytest.raises(ConfinementError, match="longer than 0.5 s"):
        http_request("GET", f"{server}/slow", policy_for(server, timeout_s=0.5))


def test_request_body_limit(server):
    with pytest.raises(ConfinementError, match="request body"):
        http_request("POST", f"{server}/ok", policy_for(server, max_request_bytes=10), content=b"z" * 11)


def test_allowed_name_does_not_allow_its_address(server):
    port = server.rsplit(":", 1)[1]
    policy = HttpPolicy(allow_hosts=(f"localhost:{port}",))
    check_url(f"http://localhost:{port}/ok", policy)
    with pytest.raises(ConfinementError):
        http_request("GET", f"{server}/ok", policy)


HOSTILE_URLS = [
    "http://2130706433/", "http://0x7f000001/", "http://0x7f.0.0.1/", "http://0177.0.0.1/", "http://127.1/",
    "http://127.0.1/", "http://0/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://[::1]/",
    "http://127.0.0.1.nip.io/", "http://localhost/", "http://127.0.0.1@evil.example/",
    "http://user:pass@127.0.0.1/", "http://evil.example#@127.0.0.1/", "http://evil.example\\@127.0.0.1/",
    "http://127.0.0.2/", "file:///etc/passwd", "gopher://127.0.0.1/", "ftp://127.0.0.1/", "//127.0.0.1/",
    "http:///127.0.0.1/", "http://127.0.0.1:99999/", "javascript:alert(1)", "http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/",
    "http://evil.example/?u=http://127.0.0.1/",
]


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_hostile_urls_are_refused(url):
    with pytest.raises(ConfinementError):
        check_url(url, HttpPolicy(allow_hosts=("127.0.0.1",)))


def test_subdomain_glob():
    policy = HttpPolicy(allow_hosts=("*.example.org",))
    check_url("https://api.example.org/x", policy)
    for url in ["https://example.org/", "https://api.example.org.evil.net/", "https://apiexample.org/"]:
        with pytest.raises(ConfinementError):
            check_url(url, policy)


def test_workspace_of_the_test_is_untouched(tmp_path: Path):
    assert list(tmp_path.iterdir()) == []
