"""The patient identity cross-reference (PIX manager role) over a SQLAlchemy session.

Regional patients are keyed by their regional ID in strict CX form; each site's local IDs point
to one of them. Every function works inside the caller's transaction and never commits, so a
feed message or a REST call is applied whole or not at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from registry.identity.cx import Cx
from registry.identity.documents import repoint_objects
from registry.identity.names import fold, like_prefix
from registry.models import Patient, PatientIdentifier

log = logging.getLogger(__name__)

#: merge chains are kept flat by ``merge``; this only guards against corrupted data
_MAX_MERGE_HOPS = 16


class IdentityError(Exception):
    """A request the cross-reference cannot apply; nothing of it has been written."""


class UnknownPatient(IdentityError):
    def __init__(self, patient_id: str) -> None:
        super().__init__(f"unknown patient {patient_id}")
        self.patient_id = patient_id


class InactivePatient(IdentityError):
    """The ID was merged into another one and may no longer be written to."""

    def __init__(self, patient_id: str, merged_into: str | None) -> None:
        super().__init__(f"patient {patient_id} was merged into {merged_into}")
        self.patient_id = patient_id
        self.merged_into = merged_into


class InvalidMerge(IdentityError):
    pass


@dataclass(frozen=True)
class Demographics:
    """What the portal searches on. ``birth_date`` is HL7 DT: ``YYYY[MM[DD]]``."""

    family_name: str | None = None
    given_name: str | None = None
    birth_date: str | None = None
    sex: str | None = None


@dataclass(frozen=True)
class MergeOutcome:
    identifiers_moved: int
    objects_updated: int


def get_patient(session: Session, patient_id: str) -> Patient | None:
    return session.get(Patient, patient_id)


def identifiers_of(session: Session, patient_id: str) -> list[PatientIdentifier]:
    return list(
        session.scalars(
            select(PatientIdentifier)
            .where(PatientIdentifier.patient_id == patient_id)
            .order_by(PatientIdentifier.authority, PatientIdentifier.local_id)
        )
    )


def upsert_patient(
    session: Session, *, patient_id: str, demographics: Demographics, now: datetime
) -> tuple[Patient, bool]:
    """Create the patient or replace its demographics; return it and whether it is new.

    Raises ``InactivePatient`` for an ID that was merged away: its survivor is the one to update.
    """
    patient = session.get(Patient, patient_id)
    created = patient is None
    if patient is None:
        patient = Patient(patient_id=patient_id, active=True)
        session.add(patient)
    elif not patient.active:
        raise InactivePatient(patient_id, patient.merged_into)
    patient.family_name = demographics.family_name
    patient.given_name = demographics.given_name
    patient.family_key = fold(demographics.family_name) if demographics.family_name else None
    patient.given_key = fold(demographics.given_name) if demographics.given_name else None
    patient.birth_date = demographics.birth_date
    patient.sex = demographics.sex
    patient.updated_at = now
    session.flush()
    return patient, created


def link_identifier(session: Session, *, patient_id: str, identifier: Cx) -> bool:
    """Point a site's local ID at ``patient_id``; return whether anything changed.

    The feed is the site's word on its own IDs: a local ID already linked to another regional
    patient is moved (and logged), since a site can only have corrected its earlier message.
    """
    row = session.scalar(
        select(PatientIdentifier).where(
            PatientIdentifier.authority == identifier.authority,
            PatientIdentifier.local_id == identifier.id,
        )
    )
    if row is None:
        session.add(
            PatientIdentifier(
                authority=identifier.authority, local_id=identifier.id, patient_id=patient_id
            )
        )
        session.flush()
        return True
    if row.patient_id == patient_id:
        return False
    log.warning(
        "local identifier relinked",
        extra={"identifier": identifier.key, "from": row.patient_id, "to": patient_id},
    )
    row.patient_id = patient_id
    session.flush()
    return True


def resolve(session: Session, identifier: Cx) -> str | None:
    """The current regional ID for a local ID, or for a regional ID (following merges)."""
    linked = session.scalar(
        select(PatientIdentifier.patient_id).where(
            PatientIdentifier.authority == identifier.authority,
            PatientIdentifier.local_id == identifier.id,
        )
    )
    if linked is not None:
        return linked
    patient = session.get(Patient, identifier.key)
    for _ in range(_MAX_MERGE_HOPS):
        if patient is None or patient.merged_into is None:
            break
        patient = session.get(Patient, patient.merged_into)
    return patient.patient_id if patient is not None and patient.active else None


def search(
    session: Session,
    *,
    family: str | None = None,
    given: str | None = None,
    birth_date: str | None = None,
    limit: int = 100,
) -> list[Patient]:
    """Active patients whose names start with ``family``/``given`` (ignoring case and accents)
    and born on ``birth_date``; at least one criterion is expected from the caller."""
    query = select(Patient).where(Patient.active.is_(True))
    if family and (folded := fold(family)):
        query = query.where(Patient.family_key.like(like_prefix(folded), escape="\\"))
    if given and (folded := fold(given)):
        query = query.where(Patient.given_key.like(like_prefix(folded), escape="\\"))
    if birth_date:
        query = query.where(Patient.birth_date == birth_date)
    query = query.order_by(Patient.family_key, Patient.given_key, Patient.patient_id).limit(limit)
    return list(session.scalars(query))


def merge(session: Session, *, surviving: str, subsumed: str, now: datetime) -> MergeOutcome:
    """Merge ``subsumed`` into ``surviving`` (ITI-8 A40; ITI TF-2a §3.8.4.2).

    The subsumed patient becomes inactive with ``merged_into`` set, its local IDs and anything
    merged into it earlier move to the survivor, and every registry object filed under the
    subsumed ID is re-filed under the survivor, XML included. Repeating a merge is a no-op.
    """
    if surviving == subsumed:
        raise InvalidMerge("a patient cannot be merged into itself")
    survivor = session.get(Patient, surviving)
    if survivor is None:
        raise UnknownPatient(surviving)
    if not survivor.active:
        raise InactivePatient(surviving, survivor.merged_into)
    old = session.get(Patient, subsumed)
    if old is None:
        raise UnknownPatient(subsumed)
    if not old.active and old.merged_into != surviving:
        raise InactivePatient(subsumed, old.merged_into)
    moved = session.execute(
        update(PatientIdentifier)
        .where(PatientIdentifier.patient_id == subsumed)
        .values(patient_id=surviving)
    ).rowcount
    session.execute(
        update(Patient)
        .where(Patient.merged_into == subsumed)
        .values(merged_into=surviving, updated_at=now)
    )
    old.active = False
    old.merged_into = surviving
    old.updated_at = now
    objects = repoint_objects(session, subsumed=subsumed, surviving=surviving)
    session.flush()
    log.info(
        "patients merged",
        extra={"surviving": surviving, "subsumed": subsumed, "objects": objects},
    )
    return MergeOutcome(identifiers_moved=moved, objects_updated=objects)

