"""The patient's notifications: every emergency access to their images (a grant), unread until
the patient marks it read."""

from __future__ import annotations

from fastapi import APIRouter

from consent import emergency
from consent.api.deps import Caller, ConsentContext, Ctx, may_read, may_write
from consent.models import EmergencyGrant
from consent.schemas import Marked, MarkRead, Notification, Notifications

router = APIRouter(prefix="/patients/{ins}/notifications", tags=["notifications"])


def _notification(row: EmergencyGrant) -> Notification:
    return Notification(id=row.id, time=row.started_at, name=row.name,
                        rpps=row.rpps, organisation=row.organisation, reason=row.reason,
                        expires_at=row.expires_at, read=row.read_at is not None)


def notifications(ctx: ConsentContext, patient: str) -> Notifications:
    with ctx.db.session() as session:
        rows = emergency.for_patient(session, patient=patient)
        return Notifications(patient=patient, unread=emergency.unread(session, patient=patient),
                             notifications=[_notification(r) for r in rows])


@router.get("", response_model=Notifications,
            summary="Emergency accesses to the patient's images, newest first, with the count "
            "not yet read (the patient, or a region administrator)")
def read(ins: str, ctx: Ctx, caller: Caller) -> Notifications:
    patient = ctx.patient_cx(ins)
    may_read(ctx, caller, patient)
    return notifications(ctx, patient)


@router.post("/read", response_model=Marked,
             summary="Mark notifications read (all, or those of ``ids``): the patient only")
def mark(ins: str, body: MarkRead, ctx: Ctx, caller: Caller) -> Marked:
    patient = ctx.patient_cx(ins)
    may_write(ctx, caller, patient)
    with ctx.db.session() as session:
        marked = emergency.mark_read(session, patient=patient, now=ctx.clock(), ids=body.ids)
        return Marked(marked=marked, unread=emergency.unread(session, patient=patient))
