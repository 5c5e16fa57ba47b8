"""Errors as RFC 9457 `application/problem+json`: one mapping from parac's error classes to HTTP statuses.

Each face maps parac's errors once (see `core/errors.py`); this is the HTTP face's. A public error's message is the
problem's `detail`; any other error is logged with its traceback and answered with a generic 500 that names only
its type, so nothing from the inside (paths, secrets, stack frames) reaches a client.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from parac.core.errors import ParacBaseError

log = logging.getLogger("parac.http")

PROBLEM_TYPE = "application/problem+json"
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    421: "Misdirected Request",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class Problem(ParacBaseError):
    """An answer other than success, raised anywhere below a route and rendered once by `problem_response`. Its
    detail is written for the caller, so it is public."""

    public = True

    def __init__(self, status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


def problem_body(status: int, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status, "detail": detail, **extra}


def problem_response(problem: Problem, instance: str | None = None) -> Response:
    body = problem_body(problem.status, problem.detail, **problem.extra)
    if instance is not None:
        body["instance"] = instance
    return Response(json.dumps(body), problem.status, problem.headers, media_type=PROBLEM_TYPE)


def status_of(error: BaseException) -> int | None:
    """The HTTP status of a parac error whose message may be shown (None: not public, a 500).

    Not found: a run or a human task, cursor-less lookups that name something unknown. Conflict: the run's state
    refuses the request (busy, finished, not waiting, still in flight for a replay or fork, a task answered
    already) or a plan breaks a budget. Forbidden: a governance hook refused the call.
    """
    from parac.core.calls import CallDenied
    from parac.core.errors import NotFound, ParacBaseError
    from parac.core.pages import CursorError
    from parac.core.replay import RunInFlight
    from parac.core.workflows import checkpoints as cp
    from parac.core.workflows.human import TaskAnswered
    from parac.core.workflows.runs import BudgetRefused

    if not isinstance(error, ParacBaseError) or not error.public:
        return None
    if isinstance(error, CallDenied):
        return 403
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, (cp.RunBusy, cp.RunFinished, cp.NotWaiting, BudgetRefused, RunInFlight, TaskAnswered)):
        return 409
    if isinstance(error, CursorError):
        return 400
    return 422


def from_error(error: BaseException, what: str) -> Problem:
    """The problem to answer for an exception raised while serving `what` (a route's operation)."""
    from parac.core.errors import public_message
    from parac.core.workflows.human import AnswerInvalid

    status = status_of(error)
    if status is None:
        log.error("%s failed", what, exc_info=error)
        return Problem(500, f"{what} failed unexpectedly ({type(error).__name__}); see the server log")
    if isinstance(error, AnswerInvalid):  # each of the form's errors at its place in the body, as a 422 lists them
        errors = [{"loc": ["body", "data", *e["loc"]], "msg": e["msg"], "type": "form"} for e in error.errors]
        return Problem(status, public_message(error) or str(error), errors=errors)
    return Problem(status, public_message(error) or str(error))


async def on_problem(request: Request, problem: Exception) -> Response:
    assert isinstance(problem, Problem)
    return problem_response(problem, request.url.path)


async def on_http_exception(request: Request, error: Exception) -> Response:
    """Starlette's own refusals (unknown route, wrong method) in problem form, each saying what was asked."""
    status = getattr(error, "status_code", 500)
    headers = dict(getattr(error, "headers", None) or {})
    if status == 404:
        detail = f"no route {request.url.path}; the API is under /api/v1 (see /openapi.json or /docs)"
    elif status == 405:
        allowed = next((value for name, value in headers.items() if name.lower() == "allow"), "none")
        detail = f"{request.method} is not allowed on {request.url.path}; allowed: {allowed}"
    else:
        detail = str(getattr(error, "detail", "")) or TITLES.get(status, "error")
    return problem_response(Problem(status, detail, headers=headers), request.url.path)


async def on_disconnect(request: Request, error: Exception) -> Response:
    """The body stopped coming: refused on the way (too big, too slow: the client has its 413 or 408, and this
    answer is dropped) or the client left. Nothing ran; nothing to log."""
    return problem_response(Problem(400, "the request's body did not arrive whole"), request.url.path)


async def on_unexpected(request: Request, error: Exception) -> Response:
    return problem_response(from_error(error, f"{request.method} {request.url.path}"), request.url.path)
