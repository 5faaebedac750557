"""Sign-in, sign-out and the signed-in user of a web app: ``/auth/login`` (to the issuer, with
a ``next`` path kept in the server-side session), ``/auth/callback`` (code → tokens, new session
id, new CSRF token), ``POST /auth/logout`` (here and at the issuer), and ``signed_in_user``
(the session's user with an access token valid now, refreshed when near expiry).

The app's ``create_app`` puts its ``partage.web.oidc.SignIn`` in ``app.state.signin`` and
includes ``router(...)``; pages in the app's own language come from its ``ErrorPage``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Protocol
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from partage.auth import Principal
from partage.web.csrf import CsrfChecked, new_csrf_token
from partage.web.oidc import Credentials, SignIn, SignInFailed
from partage.web.sessions import server_session

#: session key of the signed-in user's ``Credentials``
CREDENTIALS = "credentials"
#: where the callback sends the browser once signed in (kept in the server-side session)
LOGIN_NEXT = "login_next"
#: an access token this close to its expiry is refreshed before it is forwarded
REFRESH_MARGIN_S = 30


@dataclass(frozen=True)
class SignedInUser:
    """The user of this request. ``access_token`` is valid now: forward it as Bearer."""

    principal: Principal
    access_token: str
    session_id: str


class ErrorPage(Protocol):
    """The app's error page: status, title, what happened, technical detail, retry link."""

    def __call__(self, request: Request, status: int, title: str, message: str,
                 detail: str = "", retry: str | None = None) -> Response: ...


#: told of every completed callback: the user signed in (principal), or why not (failure)
SignInListener = Callable[[Request, Principal | None, str], None]


async def signed_in_user(request: Request) -> SignedInUser | None:
    """The session's user with a valid access token, or ``None``: not signed in, or the token
    expired and could not be refreshed (the session then forgets it). Also kept in
    ``request.state.user`` for the page header."""
    session = server_session(request)
    credentials: Credentials | None = session.data.get(CREDENTIALS)
    if credentials is None:
        return None
    if credentials.expires_at - REFRESH_MARGIN_S <= time.time():
        signin: SignIn = request.app.state.signin
        refreshed = await signin.refresh(session.id, credentials,
                                         lambda: session.data.get(CREDENTIALS))
        if refreshed is None:
            session.data.pop(CREDENTIALS, None)
            return None
        session.data[CREDENTIALS] = credentials = refreshed
    user = SignedInUser(credentials.principal, credentials.access_token, session.id)
    request.state.user = user
    return user


def here(request: Request) -> str:
    """This request's path (as the browser sent it, still percent-encoded) and query: the
    ``next`` of a sign-in it needs."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else request.url.path
    query = request.url.query
    return path + (f"?{query}" if query else "")


def safe_next(value: str | None) -> str:
    """``value`` when it is a path of this site ("/…", not "//host" nor "/\\host"), else "/":
    the login must not become an open redirect."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(c in value for c in "\r\n\t"):
        return "/"
    return value


def router(error_page: ErrorPage, on_sign_in: SignInListener | None = None) -> APIRouter:
    """The ``/auth`` routes; ``on_sign_in`` hears each callback's outcome (e.g. to audit it)."""
    routes = APIRouter(prefix="/auth", tags=["sign-in"])

    def told(request: Request, principal: Principal | None, failure: str = "") -> None:
        if on_sign_in is not None:
            on_sign_in(request, principal, failure)

    @routes.get("/login", summary="Start signing in at the region's identity provider")
    async def login(request: Request,
                    next: Annotated[str | None, Query(max_length=2048)] = None) -> Response:
        target = safe_next(next)
        signin: SignIn = request.app.state.signin
        public = urlsplit(signin.settings.base_url)
        if request.url.netloc != public.netloc:
            # the IdP sends the browser back to the public address: start there, or the
            # session cookie (set for this host) would not come back with the callback
            return RedirectResponse(f"{public.scheme}://{public.netloc}/auth/login?"
                                    f"{urlencode({'next': target})}", status_code=303)
        if await signed_in_user(request) is not None:
            return RedirectResponse(target, status_code=303)
        server_session(request).data[LOGIN_NEXT] = target
        try:
            return await signin.redirect(request)
        except SignInFailed as exc:
            return error_page(request, 503, "Connexion impossible",
                              "Le service d'identification de la région ne répond pas. "
                              "Réessayez dans un instant.", str(exc))

    @routes.get("/callback", summary="The identity provider's answer (authorization code)")
    async def callback(request: Request) -> Response:
        signin: SignIn = request.app.state.signin
        session = server_session(request)
        try:
            credentials = await signin.complete(request)
        except SignInFailed as exc:
            told(request, None, str(exc))
            return error_page(request, 400, "Connexion refusée",
                              "La connexion n'a pas abouti. Recommencez depuis la page "
                              "d'accueil.", str(exc), retry="/auth/login")
        target = safe_next(session.data.pop(LOGIN_NEXT, "/"))
        session.rotate()  # a new id once signed in: no session fixation
        session.data[CREDENTIALS] = credentials
        new_csrf_token(request)
        told(request, credentials.principal)
        return RedirectResponse(target, status_code=303)

    @routes.post("/logout", summary="Sign out here and at the identity provider")
    async def logout(request: Request, _: CsrfChecked) -> Response:
        session = server_session(request)
        credentials: Credentials | None = session.data.get(CREDENTIALS)
        session.clear()
        signin: SignIn = request.app.state.signin
        url = await signin.end_session_url(credentials.id_token if credentials else None)
        return RedirectResponse(url or "/", status_code=303)

    return routes
