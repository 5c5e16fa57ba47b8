"""``http_request``: GET, POST, PUT or DELETE to an allow-listed host, with headers and a JSON or text body.

The request itself is governance's :func:`parac.core.confine.http_request`: only hosts the policies' ``http.
allow_hosts`` name, no credentials in URLs, redirects only to the same host, a body cap and a total time limit.
HTTP error statuses are results (the model should see a 404), not tool errors.
"""

import json
from typing import Annotated, Any, Literal

from pydantic import Field
from typing_extensions import TypedDict

from parac.server.api import ToolContext, ToolError, hookimpl
from parac.server.api import http_request as confined_request

from ._tooling import TypedTool, policies, refusals

# Headers that would change where the request goes or how its body is framed; the URL and the body decide those.
FORBIDDEN_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}


class HttpResponse(TypedDict):
    status: int
    url: str
    headers: dict[str, str]
    body: str
    json: Any
    binary: bool
    size: int
    redirects: list[str]


def http_request(
    url: Annotated[str, Field(min_length=1, description="An http or https URL on an allowed host.")],
    ctx: ToolContext,
    method: Literal["GET", "POST", "PUT", "DELETE"] = "GET",
    headers: Annotated[dict[str, str], Field(description="Request headers.")] = {},
    json_body: Annotated[Any, Field(description="A JSON body (sets content-type: application/json).")] = None,
    body: Annotated[str | None, Field(description="A text body, when the body is not JSON.")] = None,
) -> HttpResponse:
    """Send an HTTP request to an allow-listed host and return the status, headers and body (parsed when JSON)."""
    if json_body is not None and body is not None:
        raise ToolError("give json_body or body, not both")
    refused = sorted(name for name in headers if name.lower() in FORBIDDEN_HEADERS)
    if refused:
        raise ToolError(f"headers not allowed: {', '.join(refused)} (the URL and the body decide them)")
    content = body.encode("utf-8") if body is not None else None
    with refusals():
        result = confined_request(
            method, url, policies(ctx).http_policy(), headers=headers, content=content, json=json_body
        )
    binary = b"\0" in result.body[:8192]
    text = "" if binary else result.text()
    parsed = None
    if not binary and "json" in result.headers.get("content-type", ""):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
    return HttpResponse(
        status=result.status, url=result.url, headers=result.headers, body=text, json=parsed, binary=binary,
        size=len(result.body), redirects=result.redirects,
    )


@hookimpl
def parac_register_tools(register) -> None:
    # Any method, so it may change or delete what a server holds, and repeating a POST is not harmless.
    register(TypedTool(http_request, "HTTP request", destructive=True, idempotent=False, open_world=True))
