"""`/openapi.json`, made from the route table and the tools' own schemas, and `/docs`, a page that lists the
operations and lets a person try them.

The request and response schemas are the MCP tools' input and output schemas (pydantic models and TypedDicts of
`mcp_tools/`), so the document cannot drift from what the routes accept. `/docs` is one self-contained HTML page
(no CDN: `parac serve` must work without network) that reads `/openapi.json` and sends requests with `fetch`.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from parac.server.mcp.faces import ToolFace

    from .workspaces import Workspaces

PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["type", "title", "status", "detail"],
}


SSE = {"type": "string", "description": "Server-Sent Events: `event:` names the kind, `data:` holds a JSON object"}
ANY_RESULT = {"description": "the tool's result, any JSON value (its output schema, when it has one: GET /tools)"}


def document(workspaces: Workspaces, api: str, *, metrics: bool = False) -> dict[str, Any]:
    """``metrics``: the app serves ``GET /metrics`` (`scrape`), which the document then lists too."""
    from .operations import OPERATIONS
    from .bodies import StreamFlags
    from .streams import openapi_paths

    faces = workspaces.first.faces.tools
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        face = faces.get(op.tool) if op.plugin is None else _plugin_face(workspaces, op.plugin)
        entry: dict[str, Any] = {
            "operationId": op.tool or op.plugin or "call_tool",
            "summary": op.summary,
            "parameters": _parameters(op, face),
            "responses": {
                str(op.status): {"description": "OK", "content": {"application/json": {"schema": _output(op, face)}}},
                "default": {"description": "problem", "content": {"application/problem+json": {"schema": PROBLEM}}},
            },
        }
        if face is not None:
            entry["x-parac-role"] = face.role
        if op.body is not None:
            entry["requestBody"] = {"content": {"application/json": {"schema": _body(op, face)}}}
        if op.ignored:  # the route's own fields (POST /agents/{name}/runs: stream, cancel_on_disconnect)
            schema = entry["requestBody"]["content"]["application/json"]["schema"]
            schema.setdefault("properties", {}).update(StreamFlags.model_json_schema()["properties"])
            entry["responses"]["200"]["content"]["text/event-stream"] = {"schema": SSE}
        paths.setdefault(api + op.path, {})[op.method.lower()] = entry
    for path, method, entry in openapi_paths():
        paths.setdefault(api + path, {})[method] = entry
    if metrics:
        from . import scrape

        paths[scrape.PATH] = {"get": scrape.OPENAPI}
    return {
        "openapi": "3.1.0",
        "info": {"title": "parac", "version": "1", "description": "parac's agents, workflows and governance over HTTP"},
        "paths": paths,
    }


def _plugin_face(workspaces: Workspaces, name: str) -> ToolFace | None:
    """A plugin tool's face (its own schemas) once the default workspace is loaded, as it is before the server
    says it is ready; None before."""
    from parac.mcp_tools.registry import plugin_tool

    loaded = workspaces.first.current
    entry = loaded.host.registry.catalog.tools.get(name) if loaded is not None else None
    return plugin_tool(name, entry.value, entry.origin) if entry is not None else None


def _parameters(op: Any, face: ToolFace | None) -> list[dict[str, Any]]:
    properties = (face.input_schema if face is not None else {}).get("properties", {})
    out = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
           for name in _path_names(op.path)]
    out += [{"name": name, "in": "query", "required": False, "schema": properties.get(name, {"type": "string"})}
            for name in op.query]
    return out


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _body(op: Any, face: ToolFace | None) -> dict[str, Any]:
    if op.body == "arguments" or face is None:
        return {"type": "object", "description": "the tool's arguments (see GET /tools for its input schema)"}
    schema = copy.deepcopy(face.input_schema)
    taken = {op.rename.get(name, name) for name in _path_names(op.path)} | set(op.fixed)
    for name in taken:
        schema.get("properties", {}).pop(name, None)
    if "required" in schema:
        schema["required"] = [name for name in schema["required"] if name not in taken]
    return schema


def _output(op: Any, face: ToolFace | None) -> dict[str, Any]:
    """The tool's output schema, else the type the route names (a resource's), else, for a plugin tool called by
    name, any JSON value."""
    if face is not None and face.output_schema:
        return face.output_schema
    if op.response is not None:
        from importlib import import_module

        from parac.server.mcp.faces import output_schema

        module, _, name = op.response.partition(":")
        return output_schema(getattr(import_module(module), name)) or {}
    return ANY_RESULT


def docs_routes(api: str, workspaces: Workspaces, *, metrics: bool = False) -> list[Route]:
    async def openapi(request: Request) -> Response:
        return JSONResponse(document(workspaces, api, metrics=metrics))

    async def docs(request: Request) -> Response:
        return HTMLResponse(DOCS_PAGE)

    return [Route("/openapi.json", openapi, methods=["GET"]), Route("/docs", docs, methods=["GET"])]


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>parac API</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em;max-width:70em}
details{border:1px solid #ccc;border-radius:4px;margin:.4em 0;padding:.3em .6em}
summary{cursor:pointer}.m{display:inline-block;width:4.5em;font-weight:bold}
textarea,input{font:12px monospace;width:100%}pre{background:#f6f6f6;padding:.5em;overflow:auto;max-height:30em}
</style></head><body>
<h1>parac API</h1>
<p>Operations from <a href="/openapi.json">/openapi.json</a>. Fill the parameters, then Send. A bearer token, if
the server needs one: <input id="token" placeholder="token" style="width:20em"></p>
<div id="ops">loading...</div>
<script>
const esc = s => String(s).replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));
fetch("/openapi.json").then(r => r.json()).then(doc => {
  const ops = document.getElementById("ops"); ops.textContent = "";
  for (const [path, methods] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(methods)) {
    const d = document.createElement("details");
    const params = (op.parameters || []).map(p =>
      `<label>${esc(p.in)} <b>${esc(p.name)}</b> <input data-in="${esc(p.in)}" data-name="${esc(p.name)}"></label>`).join("");
    const body = op.requestBody ? `<label>body (JSON)<textarea rows="4">{}</textarea></label>` : "";
    d.innerHTML = `<summary><span class="m">${esc(method.toUpperCase())}</span> ${esc(path)} - ${esc(op.summary || "")}
      ${op["x-parac-role"] ? "(" + esc(op["x-parac-role"]) + ")" : ""}</summary>${params}${body}
      <button>Send</button><pre></pre>`;
    d.querySelector("button").onclick = async () => {
      let url = path; const query = new URLSearchParams();
      for (const input of d.querySelectorAll("input[data-name]")) {
        if (input.dataset.in === "path") url = url.replace("{" + input.dataset.name + "}", encodeURIComponent(input.value));
        else if (input.value) query.set(input.dataset.name, input.value);
      }
      const headers = {"Content-Type": "application/json"};
      const token = document.getElementById("token").value; if (token) headers.Authorization = "Bearer " + token;
      const text = d.querySelector("textarea");
      const out = d.querySelector("pre"); out.textContent = "...";
      const response = await fetch(url + (query.toString() ? "?" + query : ""),
        {method: method.toUpperCase(), headers, body: text ? text.value : undefined});
      out.textContent = response.status + " " + response.headers.get("content-type") + "\\n\\n";
      const reader = response.body.getReader(); const decoder = new TextDecoder();
      for (;;) { const {done, value} = await reader.read(); if (done) break; out.textContent += decoder.decode(value); }
    };
    ops.appendChild(d);
  }
});
</script></body></html>
"""
