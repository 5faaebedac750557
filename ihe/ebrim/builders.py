"""Build XDS.b metadata from plain values (ITI TF-3 §4.2.3): DocumentEntries, SubmissionSets
and their HasMember associations, with every attribute a registry requires.

Pure: the caller passes every identifier (entryUUIDs, uniqueIds) and time; nothing here makes
a UUID or reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ihe.ebrim.content import (
    Association,
    Classification,
    ExternalIdentifier,
    ExtrinsicObject,
    RegistryPackage,
    Slot,
)
from ihe.ebrim.enum import (
    IDENTIFIER_NAMES,
    REFERENCE_ID_SLOT,
    AssociationType,
    Node,
    ObjectType,
    Scheme,
)
from ihe.ebrim.messages import SubmitObjectsRequest
from ihe.errors import LocalProtocolError


@dataclass(frozen=True)
class Code:
    """A coded value: code, coding scheme, display name."""

    code: str
    scheme: str
    display: str


@dataclass(frozen=True)
class Author:
    person: str = ""
    institutions: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    specialties: tuple[str, ...] = ()


@dataclass
class DocumentEntryMetadata:
    entry_uuid: str
    unique_id: str
    patient_id: str
    source_patient_id: str
    class_code: Code
    type_code: Code
    format_code: Code
    confidentiality_codes: list[Code]
    healthcare_facility_type_code: Code
    practice_setting_code: Code
    creation_time: str
    mime_type: str
    language_code: str = "fr-FR"
    title: str | None = None
    comments: str | None = None
    event_codes: list[Code] = field(default_factory=list)
    service_start_time: str | None = None
    service_stop_time: str | None = None
    reference_ids: list[str] = field(default_factory=list)
    authors: list[Author] = field(default_factory=list)
    source_patient_info: list[str] = field(default_factory=list)
    hash: str | None = None
    size: int | None = None
    repository_unique_id: str | None = None
    #: extra metadata (ITI TF-3 §4.2.3.1.8): slot name (a URN not starting with ``urn:ihe:``)
    #: → values
    extra_slots: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.extra_slots:
            if not name.startswith("urn:") or name.startswith("urn:ihe:"):
                raise LocalProtocolError(
                    f"extra metadata slot {name!r} must be a URN outside urn:ihe: "
                    "(ITI TF-3 §4.2.3.1.8)")


@dataclass
class SubmissionSetMetadata:
    entry_uuid: str
    unique_id: str
    source_id: str
    patient_id: str
    submission_time: str
    content_type_code: Code
    authors: list[Author] = field(default_factory=list)
    title: str | None = None


def _coded(scheme: str, target: str, code: Code, cid: str) -> Classification:
    return Classification(
        id=cid,
        classification_scheme=scheme,
        classified_object=target,
        node_representation=code.code,
        slots=[Slot("codingScheme", [code.scheme])],
        name=code.display,
    )


def _author(scheme: str, target: str, author: Author, cid: str) -> Classification:
    slots = [
        Slot(name, list(values))
        for name, values in (
            ("authorPerson", [author.person] if author.person else []),
            ("authorInstitution", author.institutions),
            ("authorRole", author.roles),
            ("authorSpecialty", author.specialties),
        )
        if values
    ]
    if not slots:
        raise LocalProtocolError("an author needs at least one of person or institution")
    return Classification(
        id=cid, classification_scheme=scheme, classified_object=target,
        node_representation="", slots=slots,
    )


def _identifier(scheme: Scheme, target: str, value: str, eid: str) -> ExternalIdentifier:
    return ExternalIdentifier(
        id=eid, identification_scheme=scheme, registry_object=target, value=value,
        name=IDENTIFIER_NAMES[scheme],
    )


def document_entry(m: DocumentEntryMetadata) -> ExtrinsicObject:
    """A stable DocumentEntry with the attributes ITI TF-3 Table 4.3.1-3 requires of a source."""
    if not m.confidentiality_codes:
        raise LocalProtocolError("confidentialityCode is required (ITI TF-3 §4.2.3.2.5)")
    uid = m.entry_uuid
    slots = [Slot("creationTime", [m.creation_time]), Slot("languageCode", [m.language_code])]
    for name, value in (
        ("serviceStartTime", m.service_start_time),
        ("serviceStopTime", m.service_stop_time),
        ("hash", m.hash),
        ("size", str(m.size) if m.size is not None else None),
        ("repositoryUniqueId", m.repository_unique_id),
    ):
        if value is not None:
            slots.append(Slot(name, [value]))
    slots.append(Slot("sourcePatientId", [m.source_patient_id]))
    if m.source_patient_info:
        slots.append(Slot("sourcePatientInfo", list(m.source_patient_info)))
    if m.reference_ids:
        slots.append(Slot(REFERENCE_ID_SLOT, list(m.reference_ids)))
    slots += [Slot(name, list(values)) for name, values in m.extra_slots.items()]
    n = iter(range(1, 1000))
    cls: list[Classification] = [
        _author(Scheme.DE_AUTHOR, uid, a, f"{uid}-cl{next(n)}") for a in m.authors
    ]
    cls += [
        _coded(Scheme.DE_CLASS_CODE, uid, m.class_code, f"{uid}-cl{next(n)}"),
        *(_coded(Scheme.DE_CONFIDENTIALITY_CODE, uid, c, f"{uid}-cl{next(n)}")
          for c in m.confidentiality_codes),
        *(_coded(Scheme.DE_EVENT_CODE, uid, c, f"{uid}-cl{next(n)}") for c in m.event_codes),
        _coded(Scheme.DE_FORMAT_CODE, uid, m.format_code, f"{uid}-cl{next(n)}"),
        _coded(Scheme.DE_HEALTHCARE_FACILITY_TYPE_CODE, uid, m.healthcare_facility_type_code,
               f"{uid}-cl{next(n)}"),
        _coded(Scheme.DE_PRACTICE_SETTING_CODE, uid, m.practice_setting_code, f"{uid}-cl{next(n)}"),
        _coded(Scheme.DE_TYPE_CODE, uid, m.type_code, f"{uid}-cl{next(n)}"),
    ]
    return ExtrinsicObject(
        id=uid,
        mime_type=m.mime_type,
        object_type=ObjectType.STABLE_DOCUMENT,
        slots=slots,
        name=m.title,
        description=m.comments,
        classifications=cls,
        external_identifiers=[
            _identifier(Scheme.DE_PATIENT_ID, uid, m.patient_id, f"{uid}-ei1"),
            _identifier(Scheme.DE_UNIQUE_ID, uid, m.unique_id, f"{uid}-ei2"),
        ],
    )


def submission_set(m: SubmissionSetMetadata) -> RegistryPackage:
    uid = m.entry_uuid
    cls = [_author(Scheme.SS_AUTHOR, uid, a, f"{uid}-cl{i}") for i, a in enumerate(m.authors, 1)]
    cls.append(_coded(Scheme.SS_CONTENT_TYPE_CODE, uid, m.content_type_code, f"{uid}-clct"))
    cls.append(
        Classification(id=f"{uid}-clss", classified_object=uid,
                       classification_node=Node.SUBMISSION_SET)
    )
    return RegistryPackage(
        id=uid,
        slots=[Slot("submissionTime", [m.submission_time])],
        name=m.title,
        classifications=cls,
        external_identifiers=[
            _identifier(Scheme.SS_UNIQUE_ID, uid, m.unique_id, f"{uid}-ei1"),
            _identifier(Scheme.SS_SOURCE_ID, uid, m.source_id, f"{uid}-ei2"),
            _identifier(Scheme.SS_PATIENT_ID, uid, m.patient_id, f"{uid}-ei3"),
        ],
    )


def has_member(association_id: str, source: str, target: str, status: str = "Original") -> Association:
    """SubmissionSet → member; ``status`` is the SubmissionSetStatus slot (Original/Reference)."""
    return Association(
        id=association_id,
        association_type=AssociationType.HAS_MEMBER,
        source_object=source,
        target_object=target,
        slots=[Slot("SubmissionSetStatus", [status])],
    )


def submission(
    ss: SubmissionSetMetadata, entries: list[DocumentEntryMetadata]
) -> SubmitObjectsRequest:
    """One SubmissionSet holding ``entries`` as Original members."""
    objects: list = [document_entry(e) for e in entries]
    objects.append(submission_set(ss))
    objects += [
        has_member(f"{ss.entry_uuid}-hm{i}", ss.entry_uuid, e.entry_uuid)
        for i, e in enumerate(entries, 1)
    ]
    return SubmitObjectsRequest(objects=objects)
