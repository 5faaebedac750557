"""Registry tables (SQLAlchemy 2).

Every ebRIM object the registry holds is one ``registry_objects`` row: its identity, the columns
stored queries filter on (indexed), and its canonical ebRIM XML for LeafClass answers. Coded and
multi-valued attributes (classCode, eventCodeList, authorPerson, referenceIdList …) live in
``object_codes`` so a query is a join on indexed columns, never a scan of XML.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


#: 64-bit keys on PostgreSQL; SQLite only auto-increments INTEGER PRIMARY KEY
_BIGINT = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    pass


class RegistryObjectRow(Base):
    """A DocumentEntry (``kind='doc'``), SubmissionSet (``ss``), Folder (``fol``) or
    Association (``assoc``)."""

    __tablename__ = "registry_objects"

    #: insertion order, so answers come back in submission order
    id: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=True)
    entry_uuid: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    unique_id: Mapped[str | None] = mapped_column(String(128))
    logical_id: Mapped[str | None] = mapped_column(String(128))
    patient_id: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(64))
    #: canonical ebRIM XML of the object, without its status attribute
    xml: Mapped[str] = mapped_column(Text)

    # DocumentEntry
    object_type: Mapped[str | None] = mapped_column(String(64))
    mime_type: Mapped[str | None] = mapped_column(String(128))
    hash: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(BigInteger)
    repository_unique_id: Mapped[str | None] = mapped_column(String(128))
    #: DTM padded to 14 digits so string order is time order
    creation_time: Mapped[str | None] = mapped_column(String(14))
    service_start_time: Mapped[str | None] = mapped_column(String(14))
    service_stop_time: Mapped[str | None] = mapped_column(String(14))

    # SubmissionSet
    submission_time: Mapped[str | None] = mapped_column(String(14))
    source_id: Mapped[str | None] = mapped_column(String(128))

    # Folder
    last_update_time: Mapped[str | None] = mapped_column(String(14))

    # Association
    association_type: Mapped[str | None] = mapped_column(String(128))
    source_uuid: Mapped[str | None] = mapped_column(String(128))
    target_uuid: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (
        Index("ix_objects_patient_kind_status", "patient_id", "kind", "status"),
        Index("ix_objects_unique_id", "unique_id"),
        # SubmissionSet and Folder uniqueIds are unique; a DocumentEntry's may repeat with the
        # same hash (CP-117), so the constraint is partial and concurrent writers cannot race it
        Index(
            "uq_objects_package_unique_id",
            "unique_id",
            unique=True,
            postgresql_where=text("kind IN ('ss', 'fol')"),
            sqlite_where=text("kind IN ('ss', 'fol')"),
        ),
        Index("ix_objects_source", "source_uuid"),
        Index("ix_objects_target", "target_uuid"),
    )


class ObjectCode(Base):
    """One coded or multi-valued attribute value of a registry object.

    ``attribute`` is the stored-query name of the attribute (``classCode``, ``typeCode``,
    ``formatCode``, ``practiceSettingCode``, ``healthcareFacilityTypeCode``, ``eventCode``,
    ``confidentialityCode``, ``authorPerson``, ``referenceId``, ``contentTypeCode``,
    ``folderCode``); ``scheme`` the codingScheme (empty for free text).
    """

    __tablename__ = "object_codes"

    id: Mapped[int] = mapped_column(_BIGINT, primary_key=True, autoincrement=True)
    object_id: Mapped[int] = mapped_column(
        _BIGINT, ForeignKey("registry_objects.id", ondelete="CASCADE")
    )
    attribute: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(256))
    scheme: Mapped[str] = mapped_column(String(256), default="")

    __table_args__ = (
        Index("ix_codes_object_attribute", "object_id", "attribute", "code"),
        Index("ix_codes_attribute_code", "attribute", "code"),
    )


class Patient(Base):
    """A regional patient (INS in CX form) with the demographics the portal searches on."""

    __tablename__ = "patients"

    patient_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    family_name: Mapped[str | None] = mapped_column(String(128), index=True)
    given_name: Mapped[str | None] = mapped_column(String(128))
    birth_date: Mapped[str | None] = mapped_column(String(8))
    sex: Mapped[str | None] = mapped_column(String(1))
    #: names folded for case- and accent-insensitive prefix search (``registry.identity.names``)
    family_key: Mapped[str | None] = mapped_column(String(128))
    given_key: Mapped[str | None] = mapped_column(String(128))
    #: set when an A40 merge made this ID obsolete: the surviving regional ID
    merged_into: Mapped[str | None] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index(
            "ix_patients_family_key",
            "family_key",
            "given_key",
            postgresql_ops={"family_key": "varchar_pattern_ops", "given_key": "varchar_pattern_ops"},
        ),
    )


class PatientIdentifier(Base):
    """Cross-reference: a site's local patient ID (in its assigning authority) → regional ID."""

    __tablename__ = "patient_identifiers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    authority: Mapped[str] = mapped_column(String(128))
    local_id: Mapped[str] = mapped_column(String(128))
    patient_id: Mapped[str] = mapped_column(
        String(256), ForeignKey("patients.patient_id", ondelete="CASCADE"), index=True
    )

    __table_args__ = (UniqueConstraint("authority", "local_id", name="uq_identifier"),)


class Site(Base):
    """The region's site directory (DESIGN.md, Identifiers)."""

    __tablename__ = "sites"

    oid: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    repository_unique_id: Mapped[str] = mapped_column(String(128), unique=True)
    rad69_url: Mapped[str | None] = mapped_column(String(512))
    wado_rs_url: Mapped[str | None] = mapped_column(String(512))
    client_id: Mapped[str | None] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
