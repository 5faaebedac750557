"""The site's publishing status, for the hospital IT team and the region: counts per state,
studies held back (no regional patient ID yet), failures with the registry's own error
(ITI TF-3 §4.2.4.1), the last sweep. An HTML page readable at a glance and the same as JSON.
Site or region administrators only."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel
from sqlalchemy.orm import Session

from gateway.api.deps import GatewayContext
from gateway.core.config import GatewaySettings
from gateway.models import PublishedStudy, PublishState
from gateway.publish import records
from partage.auth import Principal
from partage.db import Database

ADMIN_ROLES = frozenset({"site-admin", "region-admin"})

templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")


class StudyOut(BaseModel):
    study_instance_uid: str
    local_patient_id: str
    local_authority: str
    regional_patient_id: str | None
    study_date: str
    accession_number: str
    document_unique_id: str | None
    entry_uuid: str | None
    error_code: str | None
    error_context: str | None
    attempts: int
    updated_at: datetime

    @classmethod
    def of(cls, row: PublishedStudy) -> StudyOut:
        return cls.model_validate(row, from_attributes=True)


class SweepOut(BaseModel):
    started_at: datetime
    finished_at: datetime | None
    studies_seen: int
    error: str


class StatusOut(BaseModel):
    site_oid: str
    site_name: str
    repository_unique_id: str
    counts: dict[str, int]
    held_back: list[StudyOut]
    failed: list[StudyOut]
    pending: list[StudyOut]
    last_sweep: SweepOut | None


def site_status(session: Session, settings: GatewaySettings) -> StatusOut:
    sweep = records.last_sweep(session)
    return StatusOut(
        site_oid=settings.site_oid,
        site_name=settings.site_name,
        repository_unique_id=settings.repository_unique_id,
        counts=records.counts(session),
        held_back=[StudyOut.of(r) for r in records.in_state(session, PublishState.HELD_BACK)],
        failed=[StudyOut.of(r) for r in records.in_state(session, PublishState.FAILED)],
        pending=[StudyOut.of(r) for r in records.in_state(session, PublishState.PENDING)],
        last_sweep=SweepOut.model_validate(sweep, from_attributes=True) if sweep else None,
    )


def _require_admin(principal: Principal) -> None:
    if not principal.roles & ADMIN_ROLES:
        raise HTTPException(403, f"{principal.subject}: the status needs the site-admin or "
                                 "region-admin role")


def make_router(ctx: GatewayContext, db: Database) -> APIRouter:
    router = APIRouter(tags=["status"])
    authenticated = ctx.principal()

    def current() -> StatusOut:
        with db.session() as session:
            return site_status(session, ctx.settings)

    @router.get("/status.json", response_model=StatusOut,
                summary="Publishing status of the site: counts, held back, failures, last sweep")
    def status_json(principal: Principal = authenticated) -> StatusOut:
        _require_admin(principal)
        return current()

    @router.get("/status", response_class=HTMLResponse,
                summary="The same status as a page for the site's IT team")
    def status_page(request: Request, principal: Principal = authenticated) -> HTMLResponse:
        _require_admin(principal)
        return templates.TemplateResponse(request, "status.html", {"status": current()})

    return router
