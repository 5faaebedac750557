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
