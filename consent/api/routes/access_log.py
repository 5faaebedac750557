"""The patient's access log: who read which of their studies, from which site, when, why, and
whether in an emergency — the successful image reads of the audit trail."""

from __future__ import annotations

from fastapi import APIRouter

from consent.api.deps import Caller, ConsentContext, Ctx, may_read
from consent.audit.models import AuditRecord
from consent.audit.query import accesses
from consent.schemas import Access, Accessor, AccessLog

router = APIRouter(prefix="/patients/{ins}/access-log", tags=["access log"])


def _access(record: AuditRecord) -> Access:
    return Access(id=record.id, time=record.event_time,
                  user=Accessor(sub=record.user_id, name=record.user_name, rpps=record.rpps,
                                organisation=record.organisation),
                  studies=sorted(s.study_uid for s in record.studies), site=record.site,
                  purpose=record.purpose, emergency=record.emergency,
                  emergency_reason=record.emergency_reason, event=record.event_id,
                  transaction=record.event_type)


def access_log(ctx: ConsentContext, patient: str) -> AccessLog:
    with ctx.db.session() as session:
        return AccessLog(patient=patient,
                         accesses=[_access(r) for r in accesses(session, patient=patient)])


@router.get("", response_model=AccessLog, summary="Successful reads of the patient's studies, "
            "newest first (the patient, or a region administrator)")
def read(ins: str, ctx: Ctx, caller: Caller) -> AccessLog:
    patient = ctx.patient_cx(ins)
    may_read(ctx, caller, patient)
    return access_log(ctx, patient)
