"""The consent service's app factory: the one place where its parts are wired."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI

from consent.api.deps import ConsentContext, utc_now
from consent.api.routes import access_log, audit, decisions, emergency, fhir, notifications, policies
from consent.audit.syslog import start_receiver
from consent.core.config import ConsentSettings
from partage import problems
from partage.db import Database, add_health_check, migrate

ALEMBIC_DIR = Path(__file__).parent / "alembic"


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
    app.include_router(policies.router)
    app.include_router(decisions.router)
    app.include_router(fhir.router)
    app.include_router(audit.router)
    app.include_router(emergency.router)
    app.include_router(notifications.router)
    app.include_router(access_log.router)

    add_health_check(app, db)

    return app
