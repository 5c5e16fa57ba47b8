"""The dashboard's routes: one handler per page, each a few tool calls (`calls.Calls`) rendered by a template.

Everything a page shows comes from the tools the REST routes run, for the caller the authentication middleware
established (a session cookie holding a token, `parac.server.auth.gate.SessionCookie`); every form posts a CSRF
token (`csrf.py`). A refusal (403, 404, 409, 422: another tenant's run, a run that does not exist, a gate already
answered) is rendered on the page with its status, and nothing is changed. The live parts (a run's events, a chat)
are the REST face's own SSE endpoints, mounted again here so the cookie reaches them.
"""

from __future__ import annotations

from pathlib import Path
from collections.abc import Awaitable, Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ..problems import Problem
from . import csrf
from .calls import Calls

if TYPE_CHECKING:
    from jinja2 import Environment

    from ..operations import Operations

HERE = Path(__file__).parent
SESSION = csrf.SESSION
LOGIN = "/login"
PAGES = (("/", "Overview"), ("/agents", "Agents"), ("/runs", "Runs"), ("/costs", "Costs"), ("/audit", "Audit"),
         ("/chat", "Chat"), ("/tools", "Tools and policies"))
RUN_ACTIONS = ("approve", "reject", "cancel", "resume")
RUN_STATUSES = ("pending", "running", "waiting_approval", "completed", "failed", "cancelled")
PAGE_SIZE = 50
RUNS = "parac://runs{?limit,cursor,status,workflow,agent,since,until}"
RUN_FILTERS = ("status", "workflow", "agent", "since", "until")
AUDIT_FILTERS = ("actor", "action", "subject", "outcome", "since", "until")


def templates() -> Environment:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["usd"] = lambda value: f"${(value or 0):,.4f}"
    env.filters["json"] = _pretty
    return env


def _pretty(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)


class Dashboard:
    def __init__(self, operations: Operations, stream_endpoints: dict[str, Any],
                 own_origin: Callable[[str], bool]) -> None:
        self.calls = Calls(operations)
        self.csrf = csrf.Tokens(own_origin=own_origin)
        self.streams = stream_endpoints

    @cached_property
    def env(self) -> Environment:
        """The templates, made on the first page shown: Jinja2's import is not paid before the server's first
        answer."""
        return templates()

    # -- rendering -------------------------------------------------------------------------------------------------

    def render(self, request: Request, template: str, code: int = 200, /, **context: Any) -> Response:
        token, new = self.csrf.token_of(request)
        caller = getattr(request.state, "caller", None)
        html = self.env.get_template(template).render(
            request=request, csrf=token, pages=PAGES, path=request.url.path, caller=caller, **context)
        response = Response(html, code, media_type="text/html; charset=utf-8",
                            headers={"cache-control": "no-store", "x-frame-options": "DENY",
                                     "content-security-policy": "default-src 'self'; frame-ancestors 'none'"})
        if new:
            csrf.remember(response, token)
        return response

    def refused(self, request: Request, problem: Problem, title: str) -> Response:
        return self.render(request, "error.html", problem.status, title=title, problem=problem)

    def page(self, build: Any, template: str, title: str) -> Any:
        """A GET page: `build(request)` gives the template's context; a refusal is shown on the page."""
        async def endpoint(request: Request) -> Response:
            try:
                context = await build(request)
            except Problem as problem:
                return self.refused(request, problem, title)
            problem = context.get("problem")  # a listing's filter refused: the page, its form, and why
            return self.render(request, template, problem.status if problem else 200, title=title, **context)

        endpoint.__name__ = build.__name__
        return endpoint

    # -- login -----------------------------------------------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        return self.render(request, "login.html", title="Sign in", error=request.query_params.get("error"),
                           next=_local(request.query_params.get("next")))

    async def login(self, request: Request) -> Response:
        """Keep the token in the session cookie and go on; the middleware judges it on the next request (a wrong
        or expired token comes back here with the reason). A session cookie the browser had before (planted by
        another page of this host, say) is replaced, never promoted, and the CSRF token is issued anew for the
        new session (the one of the login form is bound to the old)."""
        try:
            fields = await self.csrf.check(request)
        except csrf.CsrfRefused as refusal:
            return self.render(request, "login.html", 403, title="Sign in", error=str(refusal), next="/")
        token = fields.get("token", "").strip()
        if not token:
            return self.render(request, "login.html", 422, title="Sign in", error="enter a token", next="/")
        response = RedirectResponse(_local(fields.get("next")), 303)
        response.set_cookie(SESSION, token, path="/", secure=True, httponly=True, samesite="strict")
        csrf.remember(response, self.csrf.issue(token))
        return response

    async def logout(self, request: Request) -> Response:
        try:
            await self.csrf.check(request)
        except csrf.CsrfRefused as refusal:
            return self.refused(request, Problem(403, str(refusal)), "Sign out")
        response = RedirectResponse(LOGIN, 303)
        response.delete_cookie(SESSION, path="/", secure=True, httponly=True, samesite="strict")
        return response

    # -- pages -----------------------------------------------------------------------------------------------------

    async def overview(self, request: Request) -> dict[str, Any]:
        call = self.calls.call(request)
        plugins = await self.calls.tool(request, "list_plugins", limit=200)
        budgets = await self.calls.tool(request, "budget_status")
        today = await self.calls.tool(request, "cost_report", by="day", since="1d")
        waiting = await _filtered(  # refused on an engine whose listing takes no status: said on the page
            self.calls.resource(request, RUNS, limit=str(PAGE_SIZE), status="waiting_approval"), "runs")
        providers = await self.models(request)
        return {"workspace": (await call.workspace()).root, "plugins": plugins["plugins"], "budgets": budgets,
                "today": today, "providers": providers, "waiting": waiting["runs"],
                "more_waiting": waiting["next_cursor"] is not None, "waiting_problem": waiting["problem"]}

    async def models(self, request: Request) -> list[dict[str, Any]]:
        """What `GET /chat/models` answers: each model in use, its provider, whether it is reachable."""
        import json

        answer = await self.streams["/chat/models"](request)
        return json.loads(bytes(answer.body))["models"]

    async def agents(self, request: Request) -> dict[str, Any]:
        listed = await self.calls.tool(request, "list_agents", limit=200, cursor=request.query_params.get("cursor"))
        return {"agents": listed["agents"], "next_cursor": listed["next_cursor"]}

    async def agent(self, request: Request) -> dict[str, Any]:
        name = request.path_params["name"]
        if name not in (await self.calls.call(request).workspace()).agent_names():
            raise Problem(404, f'unknown agent "{name[:200]}"')
        detail = await self.calls.tool(request, "get_agent", name=name)
        tools = detail["fields"].get("tools") or []
        grants = [await self.calls.tool(request, "policy_check", tool=str(tool), agent=name) for tool in tools]
        costs = await self.calls.tool(request, "cost_report", by="agent")
        spent = next((row for row in costs["rows"] if row["key"] == name), None)
        recent = await self.calls.resource(request, "parac://agents/{name}/runs{?limit}", name=name, limit="20")
        return {"agent": detail, "grants": grants, "spent": spent, "recent": recent["runs"]}

    async def runs(self, request: Request) -> dict[str, Any]:
        """A page of runs filtered by the server (`RunFilter`: indexed, and the cursor keeps the filter); a filter
        that cannot be applied is said above the form, which keeps what was typed."""
        asked = _asked(request, RUN_FILTERS)
        page = await _filtered(
            self.calls.resource(request, RUNS, limit=str(PAGE_SIZE), cursor=_cursor(request), **asked), "runs")
        return {**page, "asked": asked, "statuses": RUN_STATUSES, "query": _query(asked)}

    async def run(self, request: Request) -> dict[str, Any]:
        run_id = request.path_params["run_id"]
        status = await self.calls.tool(request, "workflow_status", run_id=run_id)
        detail = await self.calls.resource(request, "parac://runs/{id}", id=run_id)
        depends: dict[str, list[str]] = {}
        try:
            spec = await self.calls.tool(request, "get_workflow", name=status["workflow"])
            steps = (spec.get("spec") or {}).get("steps") or []
            depends = {step["id"]: list(step.get("depends_on") or []) for step in steps}
        except Problem:
            pass  # a workflow since removed: its steps are drawn in order, without edges
        return {"run": status, "detail": detail, "depends": depends, "actions": RUN_ACTIONS,
                "usage": detail.get("usage") or {}}

    async def run_action(self, request: Request) -> Response:
        """Approve or reject a waiting gate (with a comment), cancel or resume: the tool's refusal on the page."""
        run_id = request.path_params["run_id"]
        try:
            fields = await self.csrf.check(request)
            action = fields.get("action", "")
            if action not in RUN_ACTIONS:
                raise Problem(422, f"unknown action {action[:50]!r}; one of: {', '.join(RUN_ACTIONS)}")
            comment = fields.get("comment") or None
            if action in ("approve", "reject"):
                await self.calls.tool(request, f"{action}_step", run_id=run_id, step=fields.get("step", ""),
                                      comment=comment)
            else:
                await self.calls.tool(request, f"{action}_run", run_id=run_id)
        except csrf.CsrfRefused as refusal:
            return self.refused(request, Problem(403, str(refusal)), f"Run {run_id}")
        except Problem as problem:
            return self.refused(request, problem, f"Run {run_id}")
        return RedirectResponse(f"/runs/{quote(run_id)}?done={action}", 303)

    async def costs(self, request: Request) -> dict[str, Any]:
        since = request.query_params.get("since") or "30d"
        reports = {by: await self.calls.tool(request, "cost_report", by=by, since=since)
                   for by in ("day", "agent", "model")}
        budgets = await self.calls.tool(request, "budget_status")
        return {"reports": reports, "budgets": budgets, "since": since}

    async def audit(self, request: Request, verified: Any = None) -> dict[str, Any]:
        """A page of the trail filtered by the server (`AuditFilter`), as `runs` does."""
        asked = _asked(request, AUDIT_FILTERS)
        page = await _filtered(self.calls.tool(
            request, "list_audit_entries", limit=PAGE_SIZE, cursor=_cursor(request), **asked), "entries")
        return {**page, "asked": asked, "verified": verified, "query": _query(asked)}

    async def verify(self, request: Request) -> Response:
        try:
            await self.csrf.check(request)
            verified = await self.calls.tool(request, "audit_verify")
            context = await self.audit(request, verified)
        except csrf.CsrfRefused as refusal:
            return self.refused(request, Problem(403, str(refusal)), "Audit")
        except Problem as problem:
            return self.refused(request, problem, "Audit")
        return self.render(request, "audit.html", title="Audit", **context)

    async def chat(self, request: Request) -> dict[str, Any]:
        listed = await self.calls.tool(request, "list_agents", limit=200)
        names = [row["name"] for row in listed["agents"]]
        default = next((name for name in ("chat", "base") if name in names), names[0] if names else "")
        return {"agents": names, "default": default, "models": await self.models(request)}

    async def tools(self, request: Request, decision: Any = None, asked: Any = None) -> dict[str, Any]:
        listed = await self.calls.tool(request, "list_tools", limit=200, cursor=request.query_params.get("cursor"))
        agents = await self.calls.tool(request, "list_agents", limit=200)
        return {"tools": listed["tools"], "next_cursor": listed["next_cursor"], "decision": decision,
                "asked": asked or {}, "agents": [row["name"] for row in agents["agents"]]}

    async def policy_check(self, request: Request) -> Response:
        try:
            fields = await self.csrf.check(request)
            asked = {key: fields.get(key) or None for key in ("tool", "agent", "workflow")}
            decision = await self.calls.tool(request, "policy_check", **asked)
            context = await self.tools(request, decision, asked)
        except csrf.CsrfRefused as refusal:
            return self.refused(request, Problem(403, str(refusal)), "Tools and policies")
        except Problem as problem:
            return self.refused(request, problem, "Tools and policies")
        return self.render(request, "tools.html", title="Tools and policies", **context)

    async def chat_stream(self, request: Request) -> Response:
        """The REST face's `POST /chat/stream`, once the request passes the CSRF check (its token in the header;
        the body is its JSON, read by the stream)."""
        try:
            self.csrf.refuse(request, request.headers.get(csrf.HEADER, ""))
        except csrf.CsrfRefused as refusal:
            raise Problem(403, str(refusal)) from None
        return await self.streams["/chat/stream"](request)

    # -- routes ----------------------------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        page = self.page
        return [
            Route(LOGIN, self.login_form, methods=["GET"]),
            Route(LOGIN, self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/", page(self.overview, "overview.html", "Overview"), methods=["GET"]),
            Route("/agents", page(self.agents, "agents.html", "Agents"), methods=["GET"]),
            Route("/agents/{name}", page(self.agent, "agent.html", "Agent"), methods=["GET"]),
            Route("/runs", page(self.runs, "runs.html", "Runs"), methods=["GET"]),
            Route("/runs/{run_id}", page(self.run, "run.html", "Run"), methods=["GET"]),
            Route("/runs/{run_id}/events", self.streams["/runs/{run_id}/events"], methods=["GET"]),
            Route("/runs/{run_id}/action", self.run_action, methods=["POST"]),
            Route("/costs", page(self.costs, "costs.html", "Costs"), methods=["GET"]),
            Route("/audit", page(self.audit, "audit.html", "Audit"), methods=["GET"]),
            Route("/audit/verify", self.verify, methods=["POST"]),
            Route("/chat", page(self.chat, "chat.html", "Chat"), methods=["GET"]),
            Route("/chat/stream", self.chat_stream, methods=["POST"]),
            Route("/tools", page(self.tools, "tools.html", "Tools and policies"), methods=["GET"]),
            Route("/tools/check", self.policy_check, methods=["POST"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]


async def _filtered(read: Awaitable[Any], items: str) -> dict[str, Any]:
    """A listing's page (`items`, `next_cursor`), or an empty one and the `problem` when its filter was refused (a
    422 saying what is wrong with it, a 400 for a cursor of another filter): the page still shows its form."""
    try:
        page = await read
    except Problem as problem:
        if problem.status not in (400, 422):
            raise
        return {items: [], "next_cursor": None, "problem": problem}
    return {items: page[items], "next_cursor": page["next_cursor"], "problem": None}


def _asked(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    """The filters a listing page's form asked for (blank fields left out)."""
    return {name: request.query_params[name].strip() for name in names if request.query_params.get(name, "").strip()}


def _cursor(request: Request) -> str | None:
    return request.query_params.get("cursor") or None


def _query(asked: dict[str, str]) -> str:
    """The filters as a query string, for the pager's links: the next page keeps them (its cursor insists)."""
    from urllib.parse import urlencode

    return urlencode(asked)


def _local(target: str | None) -> str:
    """Where to go after signing in: a path of this server only (never another site: an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def routes(operations: Operations, stream_routes: list[Any], own_origin: Callable[[str], bool]) -> list[BaseRoute]:
    """`own_origin`: whether an `Origin` is one the operator listed as the server's own (`Gate.own_origin`), so
    that behind a reverse proxy that rewrites `Host` the dashboard's forms still count as its own."""
    return Dashboard(operations, {route.path: route.endpoint for route in stream_routes}, own_origin).routes()
