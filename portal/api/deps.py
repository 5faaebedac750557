"""What the portal's routes depend on: settings, the signed-in user (with an access token valid
now, refreshed when near expiry), the professional-role check and the CSRF check.

API routes use ``Professional`` (401/403 as ``application/problem+json``); pages use
``ProfessionalPage``, which sends the browser to sign in, or to the refusal page, instead.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request

from partage.auth import Principal
from portal.core.config import PortalSettings
from portal.problems import Problem
from portal.sessions import server_session
from portal.signin import Credentials, SignIn

#: roles that may use the radiologist pages and the imaging APIs (DESIGN.md, security model)
PROFESSIONAL_ROLES = frozenset({"radiologist", "physician", "site-admin", "region-admin"})
#: an access token this close to its expiry is refreshed before it is forwarded
REFRESH_MARGIN_S = 30
CREDENTIALS = "credentials"
CSRF = "csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class SignedInUser:
    """The user of this request. ``access_token`` is valid now: forward it as Bearer."""

    principal: Principal
    access_token: str
    session_id: str

    @property
    def is_professional(self) -> bool:
        return bool(self.principal.roles & PROFESSIONAL_ROLES)


class LoginRequired(Exception):
    """A page needs a signed-in user: the app redirects to /auth/login?next=…"""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class ProfessionalsOnly(Exception):
    """A page is for healthcare professionals: the app shows the refusal page (403)."""

    def __init__(self, user: SignedInUser) -> None:
        super().__init__(user.principal.subject)
        self.user = user


def get_settings(request: Request) -> PortalSettings:
    settings: PortalSettings = request.app.state.settings
    return settings


Settings = Annotated[PortalSettings, Depends(get_settings)]


async def signed_in_user(request: Request) -> SignedInUser | None:
    """The session's user with a valid access token, or ``None``: not signed in, or the token
    expired and could not be refreshed (the session then forgets it)."""
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
    request.state.user = user  # the page header shows who is signed in
    return user


def here(request: Request) -> str:
    """This request's path (as the browser sent it, still percent-encoded) and query: the
    ``next`` of a sign-in it needs."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else request.url.path
    query = request.url.query
    return path + (f"?{query}" if query else "")


async def professional(request: Request) -> SignedInUser:
    user = await signed_in_user(request)
    if user is None:
        raise Problem(401, "Not signed in",
                      "sign in to the portal again (the session ended or expired)")
    if not user.is_professional:
        raise Problem(403, "Professionals only",
                      "this portal is for healthcare professionals")
    return user


async def professional_page(request: Request) -> SignedInUser:
    user = await signed_in_user(request)
    if user is None:
        raise LoginRequired(here(request))
    if not user.is_professional:
        raise ProfessionalsOnly(user)
    return user


#: an API route's user: 401 problem when not signed in, 403 problem when not a professional
Professional = Annotated[SignedInUser, Depends(professional)]
#: a page's user: redirect to sign-in, or the professionals-only page
ProfessionalPage = Annotated[SignedInUser, Depends(professional_page)]


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (pages put it in a <meta> tag and forms)."""
    data = server_session(request).data
    token = data.get(CSRF)
    if not isinstance(token, str):
        token = data[CSRF] = secrets.token_urlsafe(32)
    return token


async def check_csrf(request: Request) -> None:
    """Refuse (403 problem) a state-changing request from another origin, or whose
    ``X-CSRF-Token`` header or ``csrf_token`` form field is not the session's token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    settings = get_settings(request)
    origin = request.headers.get("origin")
    if origin is not None and origin != _origin(settings.base_url()):
        raise Problem(403, "Cross-site request refused", f"origin {origin} is not the portal's")
    expected = server_session(request).data.get(CSRF)
    supplied = request.headers.get(CSRF_HEADER)
    if supplied is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        field = (await request.form()).get(CSRF_FIELD)
        supplied = field if isinstance(field, str) else None
    if not isinstance(expected, str) or not supplied or not hmac.compare_digest(
            expected.encode(), supplied.encode()):
        raise Problem(403, "CSRF check failed",
                      "the form or request does not carry this session's CSRF token; reload "
                      "the page and try again")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


#: a route parameter (or ``dependencies=[Depends(check_csrf)]``) refusing forged POSTs
CsrfChecked = Annotated[None, Depends(check_csrf)]
