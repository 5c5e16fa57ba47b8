"""CSRF protection for the dashboard's forms and buttons: a signed double-submitted token, and the request's origin.

A token lives in an HttpOnly, SameSite=Strict cookie and is written into every form (and a `<meta>` the scripts
send as `X-CSRF-Token`); a state-changing request must carry the same token in its body or header. Another site
can make a browser send the cookie (SameSite aside) but cannot read it to put it in the form.

Two holes of the plain double submit are closed here. Cookies are not kept apart by port, so any other web page
served on this host (`http://127.0.0.1:8080`) is *same-site* to the dashboard: it can post to it with the cookies
attached, and it can set a `parac_csrf` cookie of its own choosing. So the token is signed for the session it
belongs to (a nonce and an HMAC of nonce and session cookie under the server's key): a cookie someone planted does
not match, and the token issued before signing in stops working once signed in. And a request a browser marks as
coming from another origin (`Origin` naming another host or port, or `Sec-Fetch-Site` other than same-origin) is
refused before its token is even looked at. The login form is protected the same way (login CSRF).

The dashboard's own origin is the one its `Host` names, or one the operator listed as the server's own
(`--allow-origin`, `serve.allowed_origins`: what a reverse proxy that rewrites `Host` serves it at). What a request
says about itself beyond that (`X-Forwarded-Host`, `Forwarded`) is never believed: any client can send it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from parac.core.errors import ParacBaseError

COOKIE = "parac_csrf"
FIELD = "csrf"
HEADER = "x-csrf-token"
SESSION = "parac_session"


class CsrfRefused(ParacBaseError):
    """The request's token is missing or not the cookie's, or another site sent it: it did not come from one of
    our pages."""

    public = True


class Tokens:
    """Issues and checks this server's tokens; `key` is the process's own (a restart asks for a reload).
    `own_origin` says whether an `Origin` is one the operator listed as the server's own (`Gate.own_origin`)."""

    def __init__(self, key: bytes | None = None, own_origin: Callable[[str], bool] = lambda origin: False) -> None:
        self.key = key or secrets.token_bytes(32)
        self.own_origin = own_origin

    def _sign(self, nonce: str, session: str) -> str:
        return hmac.new(self.key, f"{nonce}\0{session}".encode(), hashlib.sha256).hexdigest()[:32]

    def valid(self, token: str, request: Request) -> bool:
        nonce, dot, mac = token.partition(".")
        if not dot or len(nonce) < 22:
            return False
        return hmac.compare_digest(mac.encode(), self._sign(nonce, request.cookies.get(SESSION, "")).encode())

    def token_of(self, request: Request) -> tuple[str, bool]:
        """The browser's token, or a new one when it has none that is ours for its session (then `remember` must
        set the cookie on the answer)."""
        current = request.cookies.get(COOKIE, "")
        if self.valid(current, request):
            return current, False
        return self.issue(request.cookies.get(SESSION, "")), True

    def issue(self, session: str) -> str:
        nonce = secrets.token_urlsafe(24)
        return f"{nonce}.{self._sign(nonce, session)}"

    async def check(self, request: Request) -> dict[str, str]:
        """The form's fields once the request passes `refuse` (its token in the form, or in the header)."""
        self.refuse(request, None)  # the origin first: a foreign request's body is not even read
        form = await request.form()
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        self.refuse(request, request.headers.get(HEADER) or fields.pop(FIELD, ""))
        return fields

    def refuse(self, request: Request, presented: str | None) -> None:
        """`CsrfRefused` unless the request comes from this server's own pages: same origin, and (unless
        `presented` is None: the origin alone) a token that matches the cookie, compared in constant time, and
        was signed for this session."""
        foreign = cross_origin(request, self.own_origin)
        if foreign:
            raise CsrfRefused(f"refused a request {foreign}: only this dashboard's own pages may send it (nothing "
                              "was changed)")
        if presented is None:
            return
        expected = request.cookies.get(COOKIE, "")
        if not (expected and presented and hmac.compare_digest(presented.encode(), expected.encode())
                and self.valid(expected, request)):
            raise CsrfRefused("this form's CSRF token does not match this browser's: reload the page and try again "
                              "(nothing was changed)")


def cross_origin(request: Request, own_origin: Callable[[str], bool]) -> str | None:
    """Why the browser says the request came from elsewhere, or None. `Origin` is compared with the `Host` the
    request was sent to (the middleware has checked that one), so another port of the same host counts as
    foreign, unless `own_origin` says the operator listed it as the server's own (behind a proxy); a client
    that is not a browser sends neither header and is judged by its token alone."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"from another site (Sec-Fetch-Site: {site[:40]})"
    origin = request.headers.get("origin")
    if origin is not None and (origin == "null" or (
            urlsplit(origin).netloc != request.headers.get("host", "") and not own_origin(origin))):
        return f"from another origin ({origin[:100]})"
    return None


def remember(response: Response, token: str) -> None:
    response.set_cookie(COOKIE, token, path="/", secure=True, httponly=True, samesite="strict")
