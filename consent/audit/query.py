"""The AuditEvent search: by patient, agent (token subject or RPPS) and period."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from consent.audit.models import AuditRecord


def search(session: Session, *, patient: str | None = None, agent: str | None = None,
           since: datetime | None = None, until: datetime | None = None,
           since_inclusive: bool = True, until_inclusive: bool = True,
           limit: int = 1000) -> list[AuditRecord]:
    """Matching records, newest first."""
    query = select(AuditRecord)
    if patient is not None:
        query = query.where(AuditRecord.patient_id == patient)
    if agent is not None:
        query = query.where(or_(AuditRecord.user_id == agent, AuditRecord.rpps == agent))
    if since is not None:
        query = query.where(AuditRecord.event_time >= since if since_inclusive
                            else AuditRecord.event_time > since)
    if until is not None:
        query = query.where(AuditRecord.event_time <= until if until_inclusive
                            else AuditRecord.event_time < until)
    return list(session.scalars(query.order_by(AuditRecord.event_time.desc(),
                                               AuditRecord.id.desc()).limit(limit)))


#: DICOM EventIDs of someone reading images: instances accessed, export (a source serving
#: them: WADO, RAD-69, a download), import (a consumer receiving them)
ACCESS_EVENTS = ("110103", "110106", "110107")
#: transactions that publish rather than read (their 110106 / 110107 are not accesses)
PUBLISH_TRANSACTIONS = ("ITI-41", "ITI-42", "RAD-68")


def accesses(session: Session, *, patient: str, limit: int = 1000) -> list[AuditRecord]:
    """The patient's access log: successful reads of their studies, newest first."""
    query = (select(AuditRecord)
             .where(AuditRecord.patient_id == patient, AuditRecord.outcome == 0,
                    AuditRecord.event_id.in_(ACCESS_EVENTS),
                    AuditRecord.event_type.not_in(PUBLISH_TRANSACTIONS),
                    AuditRecord.studies.any())
             .order_by(AuditRecord.event_time.desc(), AuditRecord.id.desc()).limit(limit))
    return list(session.scalars(query))
