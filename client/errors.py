"""The one exception the client raises for an answer other than success: the server's RFC 9457 problem.

`parac serve` answers every refusal (404, 409, 422, 401, 429...) as `application/problem+json`, and a streamed run
that fails sends the same document as its `error` event. Either way the caller catches one type and reads the same
fields; an answer that is no problem document (a proxy's HTML page) is turned into one from its status line.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import httpx

PROBLEM_TYPE = "application/problem+json"
MAX_DETAIL = 500


class ApiError(Exception):
    """A problem the server answered: `status`, `title` and `detail` (RFC 9457), `errors` for a 422 (each with its
    `loc`ation, `msg` and `type`), `problem` the whole document, and `headers` (`Retry-After` on a 429)."""

    def __init__(self, problem: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self.problem = problem
        self.status: int = int(problem.get("status") or 0)
        self.title: str = str(problem.get("title") or "")
        self.detail: str = str(problem.get("detail") or "")
        self.type: str = str(problem.get("type") or "about:blank")
        self.instance: str | None = problem.get("instance")
        self.errors: list[dict[str, Any]] = list(problem.get("errors") or [])
        self.headers = headers or {}
        super().__init__(f"{self.status} {self.title}: {self.detail}")


def problem_of(response: httpx.Response) -> ApiError:
    """The error a (read) failed response stands for."""
    headers = dict(response.headers)
    kind = response.headers.get("content-type", "").split(";")[0].strip()
    if kind in (PROBLEM_TYPE, "application/json"):
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and "status" in body:
            return ApiError(body, headers)
    status = response.status_code
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return ApiError({"type": "about:blank", "title": title, "status": status,
                     "detail": response.text[:MAX_DETAIL] or title}, headers)
