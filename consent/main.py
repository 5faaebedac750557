"""The consent service's app factory: the one place where its parts are wired."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from consent.api.deps import ConsentContext
from consent.api.routes import audit, decisions, fhir, policies
from consent.audit.syslog import start_receiver
from consent.core.config import ConsentSettings
from partage import problems
from partage.db import Database, add_health_check, migrate

ALEMBIC_DIR = Path(__file__).parent / "alembic"


def create_app(settings: ConsentSettings | None = None) -> FastAPI:
    settings = settings or ConsentSettings()
    db = Database(settings.resolved_database_url())
    migrate(db.engine, ALEMBIC_DIR)
    ctx = ConsentContext(settings=settings, db=db)

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

    add_health_check(app, db)

    return app
