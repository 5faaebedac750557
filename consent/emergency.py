"""Emergency ("break the glass") grants: stored, looked up for the decision path, listed as
the patient's notifications. A grant is never updated but for the patient's read mark."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from consent.decision import Grant
from consent.models import EmergencyGrant

#: the longest written reason kept (the column's size)
MAX_REASON = 1000


@dataclass(frozen=True)
class Professional:
    """Who breaks the glass, from their token."""

    sub: str
    name: str = ""
    rpps: str = ""
    organisation: str = ""
    organisation_oid: str = ""


def start(session: Session, *, patient: str, who: Professional, reason: str, duration_s: float,
          now: datetime) -> EmergencyGrant:
    """Store a grant from ``now`` for ``duration_s`` (the caller has had it permitted)."""
    row = EmergencyGrant(patient_id=patient, sub=who.sub, name=who.name, rpps=who.rpps,
                         organisation=who.organisation, organisation_oid=who.organisation_oid,
                         reason=reason, started_at=now,
                         expires_at=now + timedelta(seconds=duration_s))
    session.add(row)
    session.flush()
    return row


def active(session: Session, *, patient: str, sub: str, now: datetime) -> EmergencyGrant | None:
    """The user's grant for this patient that lasts longest, if one is still running."""
    return session.scalars(
        select(EmergencyGrant).where(EmergencyGrant.patient_id == patient,
                                     EmergencyGrant.sub == sub, EmergencyGrant.expires_at > now)
        .order_by(EmergencyGrant.expires_at.desc()).limit(1)).first()


def grant_of(row: EmergencyGrant | None, now: datetime) -> Grant | None:
    """The decision function's view of a stored grant."""
    if row is None:
        return None
    return Grant(row.reason, (row.expires_at - now).total_seconds())


def for_patient(session: Session, *, patient: str, limit: int = 500) -> list[EmergencyGrant]:
    """The patient's grants, newest first (their notifications)."""
    return list(session.scalars(
        select(EmergencyGrant).where(EmergencyGrant.patient_id == patient)
        .order_by(EmergencyGrant.started_at.desc(), EmergencyGrant.id.desc()).limit(limit)))


def unread(session: Session, *, patient: str) -> int:
    return session.scalar(select(func.count()).select_from(EmergencyGrant).where(
        EmergencyGrant.patient_id == patient, EmergencyGrant.read_at.is_(None))) or 0


def mark_read(session: Session, *, patient: str, now: datetime,
              ids: list[int] | None = None) -> int:
    """Mark the patient's unread grants (all, or those of ``ids``) read; how many were."""
    query = update(EmergencyGrant).where(EmergencyGrant.patient_id == patient,
                                         EmergencyGrant.read_at.is_(None))
    if ids is not None:
        query = query.where(EmergencyGrant.id.in_(ids))
    return session.execute(query.values(read_at=now)).rowcount or 0
