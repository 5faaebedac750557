"""Reading and writing the gateway's publication records (``gateway.models``)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.models import PublishedStudy, PublishState, Sweep

#: states a sweep tries again (RAD TF-3 §4.68: nothing may stay unpublished silently)
RETRIED = (PublishState.PENDING, PublishState.HELD_BACK, PublishState.FAILED)


def now() -> datetime:
    return datetime.now(UTC)


def save(session: Session, record: PublishedStudy) -> PublishedStudy:
    """Insert or update ``record`` (a detached copy), stamping ``updated_at``."""
    record.updated_at = now()
    return session.merge(record)


def counts(session: Session) -> dict[str, int]:
    """Number of studies per state, every state present (zero included)."""
    rows = session.execute(
        select(PublishedStudy.state, func.count()).group_by(PublishedStudy.state)
    ).all()
    found = {state: int(n) for state, n in rows}
    return {state.value: found.get(state.value, 0) for state in PublishState}


def in_state(session: Session, state: PublishState, limit: int = 500) -> list[PublishedStudy]:
    """Studies in ``state``, most recently changed first."""
    return list(session.scalars(
        select(PublishedStudy).where(PublishedStudy.state == state)
        .order_by(PublishedStudy.updated_at.desc()).limit(limit)
    ))


def to_retry(session: Session) -> list[str]:
    return list(session.scalars(
        select(PublishedStudy.study_instance_uid).where(PublishedStudy.state.in_(RETRIED))
        .order_by(PublishedStudy.updated_at)
    ))


def published_between(session: Session, since: str, until: str) -> list[str]:
    """Published studies whose StudyDate (YYYYMMDD) is in [since, until]: a sweep checks they
    are still in the PACS."""
    return list(session.scalars(
        select(PublishedStudy.study_instance_uid).where(
            PublishedStudy.state == PublishState.PUBLISHED,
            PublishedStudy.study_date >= since, PublishedStudy.study_date <= until,
        )
    ))


def last_sweep(session: Session) -> Sweep | None:
    return session.scalars(select(Sweep).order_by(Sweep.id.desc()).limit(1)).first()
