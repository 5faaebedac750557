"""The consent service's app factory: the one place where its parts are wired."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles

from consent.api.deps import ConsentContext, utc_now
from consent.api.routes import (
    access_log,
    audit,
    decisions,
    emergency,
    fhir,
    notifications,
    policies,
)
from consent.audit import own
from consent.audit.syslog import start_receiver
from consent.centre import pages
from consent.centre.templating import render_error
from consent.core.config import ConsentSettings
from ihe.atna import ActiveParticipant
from partage import problems
from partage.audit import requestor
from partage.auth import Principal
from partage.db import Database, add_health_check, migrate
from partage.web import auth
from partage.web.csrf import CsrfRefused, csrf_refused
from partage.web.oidc import SignIn
from partage.web.sessions import SessionMiddleware, SessionStore
from partage.web.headers import SecurityHeaders

ALEMBIC_DIR = Path(__file__).parent / "alembic"
STATIC_DIR = Path(__file__).parent / "static"


def _sign_in_recorder(ctx: ConsentContext) -> auth.SignInListener:
    """Audit each privacy-centre sign-in (a failure names no one: the IdP did not say who)."""
    def heard(request: Request, principal: Principal | None, failure: str) -> None:
        address = request.client.host if request.client else ""
        user = (requestor(principal, address) if principal is not None
                else ActiveParticipant("unknown", True, network_access_point=address))
        with ctx.db.session() as session:
            own.signed_in(session, when=ctx.clock(), user=user, success=principal is not None)
    return heard


def create_app(settings: ConsentSettings | None = None,
               clock: Callable[[], datetime] = utc_now) -> FastAPI:
    """The service; ``clock`` (UTC) times grants and the service's own audits."""
    settings = settings or ConsentSettings()
    db = Database(settings.resolved_database_url())
    migrate(db.engine, ALEMBIC_DIR)
    ctx = ConsentContext(settings=settings, db=db, clock=clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        app.state.syslog = await start_receiver(settings, db)
        try:
            yield
        finally:
            await app.state.syslog.stop()
            db.engine.dispose()

    app = FastAPI(title="Partage consent", version="0.1.0", lifespan=lifespan)
    app.state.ctx = ctx
    problems.install(app)
    # the privacy centre: patients sign in with their own client and cookie (partage.web)
    web = settings.web()
    app.state.signin = SignIn(web, ctx.tokens)
    app.state.sessions = SessionStore(web.session_max_age_s)
    # outermost last: the security headers (CSP, no framing, pages never cached) cover all
    app.add_middleware(SessionMiddleware, store=app.state.sessions, settings=web)
    app.add_middleware(SecurityHeaders, issuer=settings.issuer)
    app.add_exception_handler(CsrfRefused, csrf_refused)
    for exception, handler in pages.HANDLERS.items():
        app.add_exception_handler(exception, handler)
    app.include_router(auth.router(render_error, on_sign_in=_sign_in_recorder(ctx)))
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(policies.router)
    app.include_router(decisions.router)
    app.include_router(fhir.router)
    app.include_router(audit.router)
    app.include_router(emergency.router)
    app.include_router(notifications.router)
    app.include_router(access_log.router)

    add_health_check(app, db)

    return app
