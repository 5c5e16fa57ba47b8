"""`parac serve` in a real process: health probes, the agent routes, pages, and problem+json for bad requests."""

from __future__ import annotations

from pathlib import Path

import httpx

from support.serving import stalled

PROBLEM = "application/problem+json"


def test_health_and_agents(project: Path, serve):
    with serve(project) as served:
        live = httpx.get(served.url + "/health/live")
        ready = httpx.get(served.url + "/health/ready")
        health = httpx.get(served.url + "/health").json()
        listed = httpx.get(served.api + "/agents").json()
        coder = httpx.get(served.api + "/agents/coder").json()
        source = httpx.get(served.api + "/agents/coder/source")
    assert live.status_code == 200 and ready.status_code == 200
    (workspace,) = health["workspaces"].values()
    assert health["status"] == "ok" and workspace["database"] == "ok" and "echo" in workspace["providers"]
    assert "coder" in {row["name"] for row in listed["agents"]}
    assert coder["chain"] == ["coder", "base"] and coder["provenance"]
    assert source.status_code == 200 and source.text == (project / ".parac" / "agents" / "coder.yaml").read_text()
    assert served.url.startswith("http://127.0.0.1:")


def test_pages_follow_cursors(project: Path, serve):
    with serve(project) as served:
        names, cursor = [], None
        while True:
            page = httpx.get(served.api + "/agents", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
            assert page.status_code == 200, page.text
            names += [row["name"] for row in page.json()["agents"]]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
        everything = [row["name"] for row in httpx.get(served.api + "/agents").json()["agents"]]
        forged = httpx.get(served.api + "/agents", params={"limit": 2, "cursor": "eyJ4Ijoi.abc"})
    assert names == everything and len(names) > 2
    assert forged.status_code == 400 and "invalid cursor" in forged.json()["detail"]


def test_bad_requests_get_specific_problems(project: Path, serve):
    with serve(project, args=("--max-body", "2048")) as served:
        unknown_agent = httpx.get(served.api + "/agents/codr")
        unknown_route = httpx.get(served.api + "/agentz")
        wrong_method = httpx.delete(served.api + "/agents/coder")
        bad_limit = httpx.get(served.api + "/agents", params={"limit": "many"})
        extra_query = httpx.get(served.api + "/agents", params={"limt": "2"})
        malformed = httpx.post(served.api + "/policy/check", content=b'{"tool": ', headers={"content-type": "application/json"})
        wrong_type = httpx.post(served.api + "/policy/check", json={"tool": 3})
        not_object = httpx.post(served.api + "/policy/check", json=["file_read"])
        oversized = httpx.post(served.api + "/policy/check", json={"tool": "x" * 5000})
        still_fine = httpx.get(served.api + "/agents/coder")
        log = served.log()
    for response in (unknown_agent, unknown_route, wrong_method, bad_limit, extra_query, malformed, wrong_type,
                     not_object, oversized):
        assert response.headers["content-type"] == PROBLEM, response.text
        assert response.json()["status"] == response.status_code
        assert "Traceback" not in response.text
    assert unknown_agent.status_code == 404 and unknown_agent.json()["detail"] == 'unknown agent "codr" (did you mean "coder"?)'
    assert unknown_route.status_code == 404 and "/api/v1/agentz" in unknown_route.json()["detail"]
    assert wrong_method.status_code == 405 and "GET" in wrong_method.json()["detail"]
    assert bad_limit.status_code == 422 and bad_limit.json()["errors"][0]["loc"] == ["query", "limit"]
    assert extra_query.status_code == 422 and '"limt"' in extra_query.json()["detail"]
    assert malformed.status_code == 400 and "line 1, column 10" in malformed.json()["detail"]
    assert wrong_type.status_code == 422 and wrong_type.json()["errors"][0]["loc"] == ["body", "tool"]
    assert not_object.status_code == 422 and "JSON object" in not_object.json()["detail"]
    assert oversized.status_code == 413
    assert still_fine.status_code == 200
    assert "Traceback" not in log


def test_openapi_is_made_from_the_tools_schemas_and_docs_need_no_network(project: Path, serve):
    with serve(project) as served:
        document = httpx.get(served.url + "/openapi.json").json()
        docs = httpx.get(served.url + "/docs")
    get_agent = document["paths"]["/api/v1/agents/{name}"]["get"]
    assert set(get_agent["responses"]["200"]["content"]["application/json"]["schema"]["properties"]) >= {
        "chain", "provenance", "fields"}
    run = document["paths"]["/api/v1/workflows/{name}/runs"]["post"]
    assert run["x-parac-role"] == "operator"
    assert "name" not in run["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert docs.status_code == 200 and "/openapi.json" in docs.text
    assert "src=" not in docs.text and "https://" not in docs.text  # nothing fetched from elsewhere
    runs = document["paths"]["/api/v1/runs"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(runs["properties"]) == {"runs", "next_cursor"}
    models = document["paths"]["/api/v1/chat/models"]["get"]["responses"]["200"]["content"]["application/json"]
    assert set(models["schema"]["properties"]["models"]["items"]["properties"]) >= {"model", "provider", "reachable"}
    vague = [
        f"{method.upper()} {path} {status} {kind}"
        for path, methods in document["paths"].items() for method, operation in methods.items()
        for status, response in operation["responses"].items() if status.startswith("2")
        for kind, content in (response.get("content") or {"(none)": {}}).items()
        if content.get("schema") in (None, {}, {"type": "object"})  # no schema, or one that says nothing
    ]
    assert vague == []
    assert all(any(status.startswith("2") for status in operation["responses"])
               for methods in document["paths"].values() for operation in methods.values())


def test_several_workspaces_are_served_and_the_first_is_the_default(project: Path, serve, parac, tmp_path):
    other = tmp_path / "other"
    assert parac("init", str(other), "--template", "empty").code == 0
    with serve(project, other) as served:
        health = httpx.get(served.url + "/health").json()
        agents = {row["name"] for row in httpx.get(served.api + "/agents").json()["agents"]}
    assert set(health["workspaces"]) == {"project", "other"}
    assert all(entry["database"] == "ok" for entry in health["workspaces"].values())
    assert str(tmp_path) not in str(health)  # names, not paths
    assert "coder" in agents


def test_a_non_loopback_bind_without_credentials_is_refused_at_start(project: Path, parac):
    result = parac("serve", "--host", "0.0.0.0", "--port", "0", "--workspace", str(project), timeout=60)
    assert result.code == 1 and "refusing to serve" in result.err and "Traceback" not in result.err


def test_a_stalled_upload_is_answered_408_and_changes_nothing(project: Path, serve):
    from support.auth_server import add_serve_settings

    add_serve_settings(project, "  body_timeout_s: 1\n")
    with serve(project) as served:
        before = httpx.get(served.api + "/budgets").json()
        host = f"Host: 127.0.0.1:{served.port}\r\nContent-Type: application/json\r\n"
        sized = stalled(served.port, f"PUT /api/v1/budgets/daily HTTP/1.1\r\n{host}Content-Length: 40\r\n\r\n",
                         b'{"usd": 3')
        chunked = stalled(served.port, f"PUT /api/v1/budgets/daily HTTP/1.1\r\n{host}"
                           "Transfer-Encoding: chunked\r\n\r\n", b'9\r\n{"usd": 3\r\n')
        after = httpx.get(served.api + "/budgets").json()
        still = httpx.get(served.api + "/agents/coder")
        log = served.log()
    for answer in (sized, chunked):
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), answer[:300]
        assert PROBLEM.encode() in head and b"did not arrive in time" in body
    assert after == before  # the half-sent budget was never set
    assert still.status_code == 200
    assert "Traceback" not in log
