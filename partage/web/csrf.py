"""Cross-site request forgery defence of a web app's state-changing requests: a random token
per session, carried by every form (``csrf_token`` field) or script (``X-CSRF-Token`` header),
and a same-origin ``Origin`` when the browser sends one."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from partage.web.sessions import server_session

CSRF = "csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


class CsrfRefused(Exception):
    """A forged (or stale) state-changing request; the app answers with ``csrf_refused``."""


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (pages put it in a <meta> tag and forms)."""
    data = server_session(request).data
    token = data.get(CSRF)
    if not isinstance(token, str):
        token = data[CSRF] = secrets.token_urlsafe(32)
    return token


def new_csrf_token(request: Request) -> None:
    """A fresh token (at sign-in, with the session's new id)."""
    server_session(request).data[CSRF] = secrets.token_urlsafe(32)


async def check_csrf(request: Request) -> None:
    """Refuse a state-changing request from another origin, or whose ``X-CSRF-Token`` header or
    ``csrf_token`` form field is not the session's token. The app's public origin is its
    sign-in settings' (``app.state.signin``)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    own = request.app.state.signin.settings.origin
    origin = request.headers.get("origin")
    if origin is not None and origin != own:
        raise CsrfRefused(f"origin {origin} is not {own}")
    expected = server_session(request).data.get(CSRF)
    supplied = request.headers.get(CSRF_HEADER)
    if supplied is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        field = (await request.form()).get(CSRF_FIELD)
        supplied = field if isinstance(field, str) else None
    if not isinstance(expected, str) or not supplied or not hmac.compare_digest(
            expected.encode(), supplied.encode()):
        raise CsrfRefused("the form or request does not carry this session's CSRF token; "
                          "reload the page and try again")


async def csrf_refused(request: Request, exc: Exception) -> JSONResponse:
    """The answer to ``CsrfRefused``: 403 ``application/problem+json``."""
    return JSONResponse({"type": "about:blank", "title": "CSRF check failed", "status": 403,
                         "detail": str(exc)}, status_code=403,
                        media_type="application/problem+json")


#: a route parameter (or ``dependencies=[Depends(check_csrf)]``) refusing forged POSTs
CsrfChecked = Annotated[None, Depends(check_csrf)]
