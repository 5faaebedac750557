"""Rendering the portal's pages (jinja2, autoescaped): every page gets the signed-in user for
its header, the session's CSRF token for its forms and <meta> tag, and French labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from partage.web.csrf import csrf_token
from portal.api.deps import PROFESSIONAL_ROLES

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
ROLE_LABELS = {
    "radiologist": "Radiologue",
    "physician": "Médecin",
    "site-admin": "Administrateur de site",
    "region-admin": "Administrateur régional",
    "patient": "Patient",
}

templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.filters["urlpart"] = lambda value: quote(str(value), safe="")


def role_label(roles: frozenset[str]) -> str:
    """The user's most telling role, in French (a professional role before any other)."""
    ordered = sorted(roles, key=lambda r: (r not in PROFESSIONAL_ROLES, r))
    return ", ".join(ROLE_LABELS.get(r, r) for r in ordered[:2])


templates.env.globals["role_label"] = role_label
#: the region's clock for the times a page shows
REGION_TIME = ZoneInfo("Europe/Paris")
templates.env.filters["hhmm"] = lambda when: when.astimezone(REGION_TIME).strftime("%H:%M")


def render(request: Request, name: str, context: dict[str, Any] | None = None,
           status: int = 200) -> HTMLResponse:
    user = getattr(request.state, "user", None)
    # only a signed-in user has forms to protect; anonymous visits store no session
    values = {"user": user, "csrf_token": csrf_token(request) if user else ""}
    values.update(context or {})
    response = templates.TemplateResponse(request, name, values, status_code=status)
    return response


def render_error(request: Request, status: int, title: str, message: str, detail: str = "",
                 retry: str | None = None) -> HTMLResponse:
    """A page saying what went wrong and what to do, never a stack trace."""
    return render(request, "error.html", {"status": status, "title": title, "message": message,
                                          "detail": detail, "retry": retry}, status)
