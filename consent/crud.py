"""Reading and appending policy versions. Nothing is ever updated or deleted: a change is the
next version of the patient's policy."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent.models import PolicyVersion
from consent.policy import Base, Policy


def _policy(row: PolicyVersion) -> Policy:
    return Policy(
        patient=row.patient_id, version=row.version, base=Base(row.base),
        emergency_access=row.emergency_access,
        hidden_studies=frozenset(row.hidden_studies),
        hidden_documents=frozenset(row.hidden_documents),
        blocked_sites=frozenset(row.blocked_sites),
        blocked_professionals=frozenset(row.blocked_professionals),
        allowed_professionals=frozenset(row.allowed_professionals),
        author=row.author, author_role=row.author_role,
        created_at=row.created_at,
    )


def current(session: Session, *, patient: str) -> Policy:
    """The patient's newest version, or version 0 (every choice at the region's default)."""
    row = session.scalars(
        select(PolicyVersion).where(PolicyVersion.patient_id == patient)
        .order_by(PolicyVersion.version.desc()).limit(1)
    ).first()
    return _policy(row) if row is not None else Policy(patient=patient)


def history(session: Session, *, patient: str) -> list[Policy]:
    """Every version of the patient's policy, oldest first."""
    rows = session.scalars(
        select(PolicyVersion).where(PolicyVersion.patient_id == patient)
        .order_by(PolicyVersion.version)
    )
    return [_policy(row) for row in rows]


def append(session: Session, *, policy: Policy, author: str, author_role: str,
           now: datetime | None = None) -> Policy:
    """Store ``policy`` as the patient's next version. Two concurrent writers compute the same
    number and the unique (patient, version) constraint fails one of them at commit
    (``IntegrityError``)."""
    latest = session.scalar(select(func.max(PolicyVersion.version))
                            .where(PolicyVersion.patient_id == policy.patient)) or 0
    row = PolicyVersion(
        patient_id=policy.patient, version=latest + 1, base=policy.base.value,
        emergency_access=policy.emergency_access,
        hidden_studies=sorted(policy.hidden_studies),
        hidden_documents=sorted(policy.hidden_documents),
        blocked_sites=sorted(policy.blocked_sites),
        blocked_professionals=sorted(policy.blocked_professionals),
        allowed_professionals=sorted(policy.allowed_professionals),
        author=author, author_role=author_role, created_at=now or datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    return _policy(row)
