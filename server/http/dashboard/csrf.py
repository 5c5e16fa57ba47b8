"""CSRF protection for the dashboard's forms and buttons: a double-submitted token.

A random token lives in an HttpOnly, SameSite=Strict cookie and is written into every form (and a `<meta>` the
scripts send as `X-CSRF-Token`); a state-changing request must carry the same token in its body or header. Another
site can make a browser send the cookie (SameSite aside) but cannot read it to put it in the form, so a forged
request is refused before anything runs. The login form is protected the same way (login CSRF).
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from parac.core.errors import ParacBaseError

COOKIE = "parac_csrf"
FIELD = "csrf"
HEADER = "x-csrf-token"


class CsrfRefused(ParacBaseError):
    """The request's token is missing or not the cookie's: it did not come from one of our pages."""

    public = True


def token_of(request: Request) -> tuple[str, bool]:
    """The browser's token, and whether it is new (then `remember` must set the cookie on the answer)."""
    current = request.cookies.get(COOKIE, "")
    if len(current) >= 32:
        return current, False
    return secrets.token_urlsafe(32), True


def remember(response: Response, token: str) -> None:
    response.set_cookie(COOKIE, token, path="/", secure=True, httponly=True, samesite="strict")


async def check(request: Request) -> dict[str, str]:
    """The form's fields once its token matches the cookie's (compared in constant time); else `CsrfRefused`."""
    form = await request.form()
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    presented = request.headers.get(HEADER) or fields.pop(FIELD, "")
    expected = request.cookies.get(COOKIE, "")
    if not expected or not presented or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise CsrfRefused("this form's CSRF token does not match this browser's: reload the page and try again "
                          "(nothing was changed)")
    return fields
