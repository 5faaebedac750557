"""The registry's app factory: the one place where its parts are wired."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from ihe.soap import Action
from partage.db import Database, add_health_check, migrate
from partage.soap import BearerAction, soap_endpoint
from registry.api.deps import RegistryContext
from registry.api.routes import identity, iti18, iti42, iti57
from registry.core.config import RegistrySettings

ALEMBIC_DIR = Path(__file__).parent / "alembic"


def create_app(settings: RegistrySettings | None = None) -> FastAPI:
    settings = settings or RegistrySettings()
    db = Database(settings.resolved_database_url())
    migrate(db.engine, ALEMBIC_DIR)
    ctx = RegistryContext.build(settings, db)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        listener = identity.start_mllp(ctx) if settings.mllp_port else None
        ctx.audit.start()
        try:
            yield
        finally:
            if listener is not None:
                listener.stop()
            ctx.audit.stop()
            ctx.close()
            db.engine.dispose()

    app = FastAPI(title="Partage registry", version="0.1.0", lifespan=lifespan)
    app.state.ctx = ctx
    app.add_api_route(
        "/registry",
        soap_endpoint(
            {
                Action.REGISTER: BearerAction(iti42.make_handler(ctx), ctx.tokens),
                Action.STORED_QUERY: BearerAction(iti18.make_handler(ctx), ctx.tokens),
                Action.UPDATE: BearerAction(iti57.make_handler(ctx), ctx.tokens),
            },
            lambda: settings.max_body_bytes,
        ),
        methods=["POST"],
        summary="XDS.b Document Registry (ITI-42, ITI-18, ITI-57), SOAP 1.2; every action needs "
                "a bearer token, ITI-42 and ITI-57 a writer's (partage.sources)",
        tags=["xds"],
    )
    app.include_router(identity.router)

    add_health_check(app, db)

    return app
