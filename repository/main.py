"""The repository's app factory: the one place where its parts are wired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from ihe.soap import Action
from partage.db import Database, add_health_check, migrate
from partage.soap import BearerAction, soap_endpoint
from repository.api.deps import RepositoryContext
from repository.api.routes import iti41, iti43
from repository.core.config import RepositorySettings

ALEMBIC_DIR = Path(__file__).parent / "alembic"


def create_app(settings: RepositorySettings | None = None) -> FastAPI:
    settings = settings or RepositorySettings()
    db = Database(settings.resolved_database_url())
    migrate(db.engine, ALEMBIC_DIR)
    ctx = RepositoryContext.build(settings, db)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx.audit.start()
        try:
            yield
        finally:
            ctx.audit.stop()
            if ctx.own_tokens is not None:
                ctx.own_tokens.close()
            db.engine.dispose()

    app = FastAPI(title="Partage repository", version="0.1.0", lifespan=lifespan)
    app.state.ctx = ctx
    app.add_api_route(
        "/repository",
        soap_endpoint(
            {
                Action.PROVIDE_AND_REGISTER: BearerAction(iti41.make_handler(ctx), ctx.tokens),
                Action.RETRIEVE: BearerAction(iti43.make_handler(ctx), ctx.tokens),
            },
            lambda: settings.max_body_bytes,
        ),
        methods=["POST"],
        summary="XDS.b Document Repository (ITI-41, ITI-43), SOAP 1.2 with MTOM/XOP; both need "
                "a bearer token, ITI-41 a site gateway's for its own site (partage.sources)",
        tags=["xds"],
    )

    add_health_check(app, db)

    return app
