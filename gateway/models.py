"""The gateway's own tables (SQLAlchemy 2): what it published to the region, and its sweeps.

One ``published_studies`` row per study the gateway has seen (RAD TF-3 §4.68: one KOS
manifest per study). ``instances_hash`` is the SHA-256 of the study's instance set as last
published, so publishing an unchanged study sends nothing and a changed one is re-published as
a replacement (RPLC). ``error_code`` / ``error_context`` keep the registry's own error
(ITI TF-3 §4.2.4.1 RegistryError) of the last failure.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: the Alembic history of these tables (``partage.db.migrate``)
ALEMBIC_DIR = Path(__file__).resolve().parent / "alembic"


class Base(DeclarativeBase):
    pass


class PublishState(StrEnum):
    #: the current KOS is registered (Approved) in the region
    PUBLISHED = "published"
    #: a submission is planned or under way (identifiers reserved, answer not recorded yet)
    PENDING = "pending"
    #: the local patient ID has no regional ID yet; retried at every sweep
    HELD_BACK = "held_back"
    #: the last attempt failed (registry refusal, peer down); retried at every sweep
    FAILED = "failed"
    #: the study left the PACS and its DocumentEntry was deprecated (ITI-57)
    DEPRECATED = "deprecated"


class PublishedStudy(Base):
    __tablename__ = "published_studies"

    study_instance_uid: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    local_patient_id: Mapped[str] = mapped_column(String(128))
    #: assigning authority of ``local_patient_id`` (Issuer of Patient ID or the site's OID)
    local_authority: Mapped[str] = mapped_column(String(64))
    #: regional ID in CX form, from the registry's cross-reference
    regional_patient_id: Mapped[str | None] = mapped_column(String(256))
    study_date: Mapped[str] = mapped_column(String(8), default="")
    accession_number: Mapped[str] = mapped_column(String(64), default="")
    #: the latest KOS planned or published: its SOP Instance UID, DocumentEntry uniqueId (the
    #: same UID, RAD TF-3 §4.68.4.1.2.3) and entryUUID
    kos_sop_instance_uid: Mapped[str | None] = mapped_column(String(64))
    document_unique_id: Mapped[str | None] = mapped_column(String(64))
    entry_uuid: Mapped[str | None] = mapped_column(String(64))
    #: entryUUID of this study's DocumentEntry that is Approved in the registry, if any: the
    #: target of the next RPLC or deprecation; equals ``entry_uuid`` once ``published``
    approved_entry_uuid: Mapped[str | None] = mapped_column(String(64))
    #: SHA-256 (hex) of the instance set of the KOS planned or published
    instances_hash: Mapped[str | None] = mapped_column(String(64))
    instance_count: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(128))
    error_context: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_published_studies_state", "state"),
        Index("ix_published_studies_study_date", "study_date"),
    )


class Sweep(Base):
    """One periodic C-FIND/QIDO sweep (or backlog run) and what it did."""

    __tablename__ = "sweeps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    studies_seen: Mapped[int] = mapped_column(Integer, default=0)
    #: why the sweep stopped short (PACS unreachable …); empty when it completed
    error: Mapped[str] = mapped_column(Text, default="")
