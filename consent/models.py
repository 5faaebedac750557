"""Consent tables (SQLAlchemy 2).

A patient's policy is never updated in place: every change is a new ``consent_policies`` row with
the next version number, who made it and when, so the history is the table itself and a
decision can name the version it was made on. Set-valued parts of a policy (hidden studies,
blocked sites …) are JSON arrays of the version's snapshot: they are only ever read whole.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    String,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: 64-bit keys on PostgreSQL; SQLite only auto-increments INTEGER PRIMARY KEY
_BIGINT = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    pass


class UtcDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` read back aware on SQLite too, which keeps no zone: every
    time stored here is UTC, so no reader has to mend naive values."""

    impl = DateTime
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


class PolicyVersion(Base):
    """One version of one patient's sharing policy."""

    __tablename__ = "consent_policies"

    id: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=True)
    #: the regional INS in strict CX form ``id^^^&oid&ISO``
    patient_id: Mapped[str] = mapped_column(String(256), index=True)
    #: 1, 2, 3 … per patient; (patient_id, version) is unique so concurrent writers cannot both
    #: create the same version
    version: Mapped[int] = mapped_column(Integer)
    #: ``default`` (follow the region), ``share`` or ``block`` (all sharing)
    base: Mapped[str] = mapped_column(String(16))
    #: emergency access: ``None`` follows the region's default
    emergency_access: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    hidden_studies: Mapped[list[Any]] = mapped_column(JSON)
    hidden_documents: Mapped[list[Any]] = mapped_column(JSON)
    blocked_sites: Mapped[list[Any]] = mapped_column(JSON)
    blocked_professionals: Mapped[list[Any]] = mapped_column(JSON)
    allowed_professionals: Mapped[list[Any]] = mapped_column(JSON)
    #: who made this version: token subject and the role it acted in (patient, region-admin)
    author: Mapped[str] = mapped_column(String(256))
    author_role: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(timezone=True))

    __table_args__ = (UniqueConstraint("patient_id", "version", name="uq_policy_version"),)


class EmergencyGrant(Base):
    """A professional's time-limited emergency ("break the glass") access to one patient,
    granted by the decision point on their written reason; also the patient's notification
    (``read_at``: when the patient marked it read)."""

    __tablename__ = "emergency_grants"

    id: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(String(256))
    #: the professional: token subject, name, RPPS, organisation (name and OID)
    sub: Mapped[str] = mapped_column(String(256))
    name: Mapped[str] = mapped_column(String(256))
    rpps: Mapped[str] = mapped_column(String(64))
    organisation: Mapped[str] = mapped_column(String(256))
    organisation_oid: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(1000))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime(timezone=True), nullable=True)

    __table_args__ = (Index("ix_emergency_grants_patient_sub", "patient_id", "sub", "expires_at"),
                      Index("ix_emergency_grants_patient_time", "patient_id", "started_at"))
