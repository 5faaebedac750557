"""Rendering the privacy centre's pages (jinja2, autoescaped): each page gets the signed-in
patient, the session's CSRF token and the unread notification count for its header."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from partage.web.csrf import csrf_token

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"
#: the region's clock for the times a page shows
REGION_TIME = ZoneInfo("Europe/Paris")
PURPOSES = {"TREAT": "Soins", "ETREAT": "Urgence", "PATRQT": "À votre demande"}
#: what an access was, by DICOM EventID (consent/audit/query.py ACCESS_EVENTS)
EVENTS = {"110103": "Consultation", "110106": "Export ou téléchargement", "110107": "Import"}

templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.filters["when"] = lambda t: t.astimezone(REGION_TIME).strftime("%d/%m/%Y %H:%M")
templates.env.filters["purpose"] = lambda code: PURPOSES.get(code, code)
templates.env.filters["event"] = lambda code: EVENTS.get(code, code)


def render(request: Request, name: str, context: dict[str, Any] | None = None,
           status: int = 200) -> HTMLResponse:
    user = getattr(request.state, "user", None)
    values: dict[str, Any] = {"user": user, "csrf_token": csrf_token(request) if user else "",
                              "unread": getattr(request.state, "unread", 0),
                              "path": request.url.path}
    values.update(context or {})
    return templates.TemplateResponse(request, name, values, status_code=status)


def render_error(request: Request, status: int, title: str, message: str, detail: str = "",
                 retry: str | None = None) -> HTMLResponse:
    """A page saying what went wrong and what to do, never a stack trace."""
    return render(request, "error.html", {"status": status, "title": title, "message": message,
                                          "detail": detail, "retry": retry}, status)
