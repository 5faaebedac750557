"""What the portal's routes depend on: settings, the signed-in user (``partage.web.auth``), the
professional-role check and the CSRF check (``partage.web.csrf``).

API routes use ``Professional`` (401/403 as ``application/problem+json``); pages use
``ProfessionalPage``, which sends the browser to sign in, or to the refusal page, instead.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from partage.web.auth import SignedInUser, here, signed_in_user
from portal.core.config import PortalSettings
from portal.problems import Problem

#: roles that may use the radiologist pages and the imaging APIs (DESIGN.md, security model)
PROFESSIONAL_ROLES = frozenset({"radiologist", "physician", "site-admin", "region-admin"})


def is_professional(user: SignedInUser) -> bool:
    return bool(user.principal.roles & PROFESSIONAL_ROLES)


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


async def professional(request: Request) -> SignedInUser:
    user = await signed_in_user(request)
    if user is None:
        raise Problem(401, "Not signed in",
                      "sign in to the portal again (the session ended or expired)")
    if not is_professional(user):
        raise Problem(403, "Professionals only",
                      "this portal is for healthcare professionals")
    return user


async def professional_page(request: Request) -> SignedInUser:
    user = await signed_in_user(request)
    if user is None:
        raise LoginRequired(here(request))
    if not is_professional(user):
        raise ProfessionalsOnly(user)
    return user


#: an API route's user: 401 problem when not signed in, 403 problem when not a professional
Professional = Annotated[SignedInUser, Depends(professional)]
#: a page's user: redirect to sign-in, or the professionals-only page
ProfessionalPage = Annotated[SignedInUser, Depends(professional_page)]
