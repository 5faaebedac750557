"""Sign-in and sign-out (OpenID Connect authorization code + PKCE, RP-initiated logout)."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from portal.api.deps import CREDENTIALS, CSRF, CsrfChecked, signed_in_user
from portal.templating import render_error
from portal.sessions import server_session
from portal.signin import Credentials, SignIn, SignInFailed

router = APIRouter(prefix="/auth", tags=["sign-in"])

#: where the callback sends the browser once signed in (kept in the server-side session)
LOGIN_NEXT = "login_next"


def safe_next(value: str | None) -> str:
    """``value`` when it is a path of this site ("/…", not "//host" nor "/\\host"), else "/":
    the login must not become an open redirect."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(c in value for c in "\r\n\t"):
        return "/"
    return value


@router.get("/login", summary="Start signing in at the region's identity provider")
async def login(request: Request,
                next: Annotated[str | None, Query(max_length=2048)] = None) -> Response:
    target = safe_next(next)
    public = urlsplit(request.app.state.settings.base_url())
    if request.url.netloc != public.netloc:
        # the IdP sends the browser back to the public address: start there, or the session
        # cookie (set for this host) would not come back with the callback
        return RedirectResponse(f"{public.scheme}://{public.netloc}/auth/login?"
                                f"{urlencode({'next': target})}", status_code=303)
    if await signed_in_user(request) is not None:
        return RedirectResponse(target, status_code=303)
    server_session(request).data[LOGIN_NEXT] = target
    signin: SignIn = request.app.state.signin
    try:
        return await signin.redirect(request)
    except SignInFailed as exc:
        return render_error(request, 503, "Connexion impossible",
                            "Le service d'identification de la région ne répond pas. "
                            "Réessayez dans un instant.", str(exc))


@router.get("/callback", summary="The identity provider's answer (authorization code)")
async def callback(request: Request) -> Response:
    signin: SignIn = request.app.state.signin
    session = server_session(request)
    try:
        credentials: Credentials = await signin.complete(request)
    except SignInFailed as exc:
        return render_error(request, 400, "Connexion refusée",
                            "La connexion n'a pas abouti. Recommencez depuis la page "
                            "d'accueil.", str(exc), retry="/auth/login")
    target = safe_next(session.data.pop(LOGIN_NEXT, "/"))
    session.rotate()  # a new id once signed in: no session fixation
    session.data[CREDENTIALS] = credentials
    session.data[CSRF] = secrets.token_urlsafe(32)
    return RedirectResponse(target, status_code=303)


@router.post("/logout", summary="Sign out here and at the identity provider")
async def logout(request: Request, _: CsrfChecked) -> Response:
    session = server_session(request)
    credentials: Credentials | None = session.data.get(CREDENTIALS)
    session.clear()
    signin: SignIn = request.app.state.signin
    url = await signin.end_session_url(credentials.id_token if credentials else None)
    return RedirectResponse(url or "/", status_code=303)
