"""The gateway's app factory: the one place where its parts are wired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pynetdicom.transport import ThreadedAssociationServer

from gateway.ae import start_scp
from gateway.api.deps import GatewayContext
from gateway.api.routes import rad69, status, wado_rs, wado_uri
from gateway.core.config import GatewaySettings
from gateway.forwarding import ForwardWatcher, Spool
from gateway.malloc import limit_arenas
from gateway.models import ALEMBIC_DIR
from gateway.pacs import Pacs
from gateway.pacs.dimse import DimsePacs, MoveRouter
from gateway.publisher import Publisher
from gateway.sweep import Sweeper
from partage import problems
from partage.db import Database, migrate


def create_app(settings: GatewaySettings | None = None, pacs: Pacs | None = None) -> FastAPI:
    """The gateway for ``settings``; ``pacs`` overrides the adapter the settings choose (its
    owner closes it)."""
    settings = settings or GatewaySettings()
    limit_arenas()  # before the serving threads allocate (gateway.malloc says why)
    db = Database(settings.resolved_database_url())
    migrate(db.engine, ALEMBIC_DIR)
    ctx = GatewayContext.build(settings, db, pacs)
    publisher = Publisher(settings, db, ctx.pacs, ctx.audit)
    sweeper = Sweeper(settings, db, ctx.pacs, publisher)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx.audit.start()
        sweeper.start()  # periodic sweeps, and studies the forwarding reports complete
        forwarding = _start_forwarding(settings, ctx.pacs, sweeper) if settings.dicom_port else None
        try:
            yield
        finally:
            if forwarding is not None:
                forwarding[0].stop()
                forwarding[1].shutdown()
            sweeper.stop()
            publisher.close()
            ctx.audit.stop()
            ctx.close()
            db.engine.dispose()
            ctx.cache.close()  # pending fsyncs of the instance cache
            if pacs is None:
                ctx.pacs.close()

    app = FastAPI(title="Partage site gateway", version="0.1.0", lifespan=lifespan)
    app.state.ctx = ctx
    #: ``sweeper.on_study_complete`` is the forwarding quiet-period detector's callback
    app.state.sweeper = sweeper
    problems.install(app)

    # -- serving (RAD-69, RAD-107, RAD-55) --------------------------------------------------
    app.add_api_route(
        "/rad69", rad69.make_endpoint(ctx), methods=["POST"], tags=["xds-i"],
        summary="RAD-69 Retrieve Imaging Document Set, SOAP 1.2 answered with MTOM/XOP",
    )
    app.include_router(wado_rs.make_router(ctx))
    app.include_router(wado_uri.make_router(ctx))

    # -- publishing (RAD-68) status ---------------------------------------------------------
    app.include_router(status.make_router(ctx, db))

    @app.get("/health", tags=["ops"], summary="Liveness")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _start_forwarding(settings: GatewaySettings, pacs: Pacs, sweeper: Sweeper
                      ) -> tuple[ForwardWatcher, ThreadedAssociationServer]:
    """The C-STORE SCP the PACS forwards to (and our C-MOVEs land on, through the DIMSE
    adapter's router), and the quiet-period watcher handing completed studies to the sweeper."""
    router = pacs.router if isinstance(pacs, DimsePacs) and pacs.router else None
    spool = Spool(settings.data_dir / "spool", settings.quiet_period_s)
    server = start_scp(settings, router or MoveRouter(settings.ae_title), spool, settings.host)
    return ForwardWatcher(spool, sweeper.on_study_complete).start(), server
