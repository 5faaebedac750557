"""The portal application: the one place where its parts are wired (sessions, sign-in, pages,
imaging routes, the viewer's files, security headers, how errors are answered)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from partage.web import auth
from partage.web.auth import CREDENTIALS, here
from partage.web.csrf import CsrfRefused, csrf_refused
from partage.web.oidc import SignIn
from partage.web.sessions import SessionMiddleware, SessionStore, server_session
from partage.audit import AuditTrail
from partage.consent import ConsentUnavailable
from portal.api.deps import LoginRequired, ProfessionalsOnly
from portal.api.routes import images, pages
from portal.audit import sign_in_auditor
from portal.consent import ConsentPoint
from portal.core.config import PortalSettings
from partage.web.headers import SecurityHeaders
from portal.imaging.context import ImagingContext
from portal.problems import Problem, problem_handler
from partage.regional_studies import RegistryRefused, RegistryUnavailable, TokenRefused
from portal.templating import render, render_error

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: paths answered as JSON problems rather than pages
API_PREFIXES = ("/api/", "/dicomweb/")


def is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIXES)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/auth/login?next={quote(exc.next_url, safe='')}", status_code=303)


async def _professionals_only(request: Request, exc: Exception) -> Response:
    privacy_url = request.app.state.settings.privacy_url
    return render(request, "refused.html", {"privacy_url": privacy_url}, status=403)


async def _token_refused(request: Request, exc: Exception) -> Response:
    """The registry refused the session's token: forget it and sign in again."""
    server_session(request).data.pop(CREDENTIALS, None)
    if is_api(request):
        return Problem(401, "Not signed in", "the region refused the session's token; sign "
                       "in again").response()
    return RedirectResponse(f"/auth/login?next={quote(here(request), safe='')}",
                            status_code=303)


async def _registry_unavailable(request: Request, exc: Exception) -> Response:
    if is_api(request):
        return Problem(502, "Registry unavailable", str(exc)).response()
    return render_error(request, 502, "Registre régional indisponible",
                        "Le registre de la région ne répond pas. Les examens ne peuvent pas "
                        "être listés pour l'instant ; réessayez dans un instant.", str(exc),
                        retry=here(request))


async def _registry_refused(request: Request, exc: Exception) -> Response:
    if is_api(request):
        return Problem(502, "Registry refused the query", str(exc)).response()
    return render_error(request, 502, "Requête refusée par le registre",
                        "Le registre de la région a refusé la recherche.", str(exc))


async def _consent_unavailable(request: Request, exc: Exception) -> Response:
    """The decision point cannot answer: show nothing (fail closed)."""
    if is_api(request):
        return Problem(503, "Consent service unavailable", str(exc)).response()
    return render_error(request, 503, "Service de consentement indisponible",
                        "Les choix de partage des patients ne peuvent pas être vérifiés pour "
                        "l'instant : aucun examen n'est affiché. Réessayez dans un instant.",
                        str(exc), retry=here(request))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if is_api(request):
        return Problem(exc.status_code, _reason(exc.status_code), str(exc.detail),
                       headers=dict(exc.headers or {})).response()
    titles = {404: "Introuvable", 400: "Demande incorrecte", 405: "Méthode non permise"}
    return render_error(request, exc.status_code, titles.get(exc.status_code, "Erreur"),
                        str(exc.detail) if exc.status_code != 404 or exc.detail != "Not Found"
                        else "Cette page n'existe pas.")


async def _invalid_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                       for e in exc.errors())
    if is_api(request):
        return Problem(422, "Invalid request", fields).response()
    return render_error(request, 400, "Demande incorrecte",
                        "Un des paramètres de la page n'est pas valable.", fields)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def create_app(settings: PortalSettings | None = None) -> FastAPI:
    settings = settings or PortalSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (ConsentPoint.open(settings, service_tokens) as consent,
                    ImagingContext.open(settings, consent) as imaging):
            app.state.consent = consent
            app.state.imaging = imaging
            audit.start()
            try:
                yield
            finally:
                audit.stop()
                if service_tokens is not None:
                    service_tokens.close()

    app = FastAPI(title="Partage portal", summary="The region's imaging portal for "
                  "healthcare professionals (XDS-I.b Imaging Document Consumer)",
                  lifespan=lifespan)
    app.state.settings = settings
    web = settings.web()
    app.state.signin = SignIn(web, settings.token_validator())
    app.state.sessions = SessionStore(web.session_max_age_s)
    service_tokens = settings.token_source()
    app.state.audit = audit = AuditTrail.from_settings(
        settings, "portal", token=service_tokens.token if service_tokens else None)

    # outermost last: security headers also cover the session middleware's answers
    app.add_middleware(SessionMiddleware, store=app.state.sessions, settings=web)
    app.add_middleware(SecurityHeaders, issuer=settings.issuer)

    app.add_exception_handler(Problem, problem_handler)
    app.add_exception_handler(CsrfRefused, csrf_refused)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(ProfessionalsOnly, _professionals_only)
    app.add_exception_handler(TokenRefused, _token_refused)
    app.add_exception_handler(RegistryUnavailable, _registry_unavailable)
    app.add_exception_handler(RegistryRefused, _registry_refused)
    app.add_exception_handler(ConsentUnavailable, _consent_unavailable)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)

    app.include_router(auth.router(render_error, on_sign_in=sign_in_auditor(audit)))
    app.include_router(pages.router)
    app.include_router(images.router)

    @app.get("/health", tags=["health"], summary="Liveness")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/viewer", StaticFiles(directory=settings.viewer_dist, check_dir=False),
              name="viewer")
    return app
