"""Stored audit messages: the raw XML as received, and the columns the access log and the
AuditEvent search filter on. Studies sit in their own table: one retrieve may touch several."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, LargeBinary, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consent.models import _BIGINT, Base, UtcDateTime


class AuditRecord(Base):
    """One audit message; ``digest`` (SHA-256 of the XML) makes a re-sent message a no-op."""

    __tablename__ = "audit_records"

    id: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(timezone=True))
    #: how it came: ``http``, ``udp`` or ``tls``
    transport: Mapped[str] = mapped_column(String(8))
    event_time: Mapped[datetime] = mapped_column(UtcDateTime(timezone=True), index=True)
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(1))
    outcome: Mapped[int] = mapped_column(SmallInteger)
    user_id: Mapped[str] = mapped_column(String(256), index=True)
    user_name: Mapped[str] = mapped_column(String(256))
    rpps: Mapped[str] = mapped_column(String(64), index=True)
    organisation: Mapped[str] = mapped_column(String(256))
    patient_id: Mapped[str] = mapped_column(String(256), index=True)
    #: the audit source's enterprise site (a site's OID), else its source ID
    site: Mapped[str] = mapped_column(String(256))
    purpose: Mapped[str] = mapped_column(String(64))
    emergency: Mapped[bool] = mapped_column(Boolean)
    emergency_reason: Mapped[str] = mapped_column(String(2000))
    xml: Mapped[bytes] = mapped_column(LargeBinary)

    studies: Mapped[list[AuditStudy]] = relationship(cascade="all, delete-orphan",
                                                     lazy="selectin")

    __table_args__ = (Index("ix_audit_records_patient_time", "patient_id", "event_time"),)


class AuditStudy(Base):
    __tablename__ = "audit_studies"

    record_id: Mapped[int] = mapped_column(
        _BIGINT, ForeignKey("audit_records.id", ondelete="CASCADE"), primary_key=True)
    study_uid: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
