"""The DICOM audit message (PS3.15 A.5) and the events Partage records (ITI TF-2 §3.20).

Pure: the caller passes the time and every identifier. Emergency ("break the glass") access
is flagged three ways so any reader finds it: EventTypeCode (110127, DCM, "Emergency Override
Started"), PurposeOfUse ETREAT, and the written reason as a ParticipantObjectDetail of the
patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from ihe import xml
from ihe.atna.content import ActiveParticipant, AuditSource, EventIdentification, ParticipantObject
from ihe.atna.enum import (
    CONSENT_CHANGE,
    EMERGENCY_OVERRIDE_STARTED,
    EMERGENCY_REASON_DETAIL,
    ITI_18,
    LOGIN,
    PATIENT_NUMBER,
    REPORT_NUMBER,
    STUDY_INSTANCE_UID,
    Code,
    EventActionCode,
    EventID,
    EventOutcomeIndicator,
    ObjectRole,
    ObjectType,
    purpose,
)
from ihe.errors import LocalProtocolError, RemoteProtocolError


@dataclass(frozen=True)
class AuditMessage:
    """One ``AuditMessage``: the event, its participants (at least one requestor), the
    audit source, and the objects touched."""

    event: EventIdentification
    participants: tuple[ActiveParticipant, ...]
    source: AuditSource
    objects: tuple[ParticipantObject, ...] = ()

    def __post_init__(self) -> None:
        if not self.participants:
            raise LocalProtocolError("an AuditMessage needs an ActiveParticipant (A.5.1)")

    # -- reading aids for the audit repository's index ----------------------------------------
    @property
    def requestor(self) -> ActiveParticipant:
        """The participant who asked (UserIsRequestor), else the first one."""
        return next((p for p in self.participants if p.is_requestor), self.participants[0])

    def object_ids(self, id_type: Code) -> list[str]:
        return [o.object_id for o in self.objects if o.id_type[0] == id_type[0]]

    @property
    def emergency(self) -> bool:
        return (any(c[0] == EMERGENCY_OVERRIDE_STARTED[0] for c in self.event.type_codes)
                or any(c[0] == "ETREAT" for c in self.event.purposes))

    @property
    def emergency_reason(self) -> str:
        return next((text for o in self.objects for kind, text in o.details
                     if kind == EMERGENCY_REASON_DETAIL), "")

    # -- wire ------------------------------------------------------------------------------
    def to_element(self) -> etree._Element:
        root = etree.Element("AuditMessage")
        self.event.write(root)
        for participant in self.participants:
            participant.write(root)
        self.source.write(root)
        for obj in self.objects:
            obj.write(root)
        return root

    def to_bytes(self) -> bytes:
        return etree.tostring(self.to_element(), encoding="utf-8", xml_declaration=True)

    @classmethod
    def from_bytes(cls, data: bytes) -> AuditMessage:
        """Parse untrusted bytes with the hardened parser (no DTD, no entities)."""
        return cls.from_element(xml.parse(data))

    @classmethod
    def from_element(cls, root: etree._Element) -> AuditMessage:
        """Raises ``RemoteProtocolError`` for anything A.5.1 does not allow, a missing
        required value included (what a constructor refuses is the peer's fault here)."""
        try:
            return cls._read(root)
        except LocalProtocolError as exc:
            raise RemoteProtocolError(str(exc)) from None

    @classmethod
    def _read(cls, root: etree._Element) -> AuditMessage:
        if root.tag != "AuditMessage":
            raise RemoteProtocolError(f"expected AuditMessage, got {root.tag}")
        event = root.find("EventIdentification")
        source = root.find("AuditSourceIdentification")
        if event is None or source is None:
            raise RemoteProtocolError("AuditMessage lacks EventIdentification or "
                                      "AuditSourceIdentification")
        participants = tuple(ActiveParticipant.read(p) for p in root.iterfind("ActiveParticipant"))
        if not participants:
            raise RemoteProtocolError("AuditMessage lacks an ActiveParticipant")
        return cls(event=EventIdentification.read(event), participants=participants,
                   source=AuditSource.read(source),
                   objects=tuple(ParticipantObject.read(o)
                                 for o in root.iterfind("ParticipantObjectIdentification")))


def patient(patient_id: str, emergency_reason: str = "") -> ParticipantObject:
    """The patient, by regional ID in CX form; an emergency access carries its reason."""
    details = ((EMERGENCY_REASON_DETAIL, emergency_reason),) if emergency_reason else ()
    return ParticipantObject(patient_id, PATIENT_NUMBER, ObjectType.PERSON, ObjectRole.PATIENT,
                             details=details)


def study(study_instance_uid: str) -> ParticipantObject:
    return ParticipantObject(study_instance_uid, STUDY_INSTANCE_UID, ObjectType.SYSTEM_OBJECT)


def document(unique_id: str) -> ParticipantObject:
    """An XDS document (a KOS manifest) by its uniqueId."""
    return ParticipantObject(unique_id, REPORT_NUMBER, ObjectType.SYSTEM_OBJECT, ObjectRole.REPORT)


def user_authentication(*, when: datetime, user: ActiveParticipant, source: AuditSource,
                        outcome: EventOutcomeIndicator = EventOutcomeIndicator.SUCCESS
                        ) -> AuditMessage:
    """A sign-in (110114 User Authentication, type 110122 Login)."""
    return AuditMessage(EventIdentification(EventID.USER_AUTHENTICATION.code,
                                            EventActionCode.EXECUTE, when, outcome, (LOGIN,)),
                        (user,), source)


def query(*, when: datetime, user: ActiveParticipant, source: AuditSource, patient_id: str,
          query_bytes: bytes, transaction: Code = ITI_18, purpose_of_use: str = "TREAT",
          outcome: EventOutcomeIndicator = EventOutcomeIndicator.SUCCESS) -> AuditMessage:
    """A query (110112) such as ITI-18: the query itself travels base64 (ITI TF-2 §3.18.5)."""
    query_object = ParticipantObject(transaction[0], transaction, ObjectType.SYSTEM_OBJECT,
                                     ObjectRole.QUERY, query=query_bytes)
    return AuditMessage(EventIdentification(EventID.QUERY.code, EventActionCode.EXECUTE, when,
                                            outcome, (transaction,), (purpose(purpose_of_use),)),
                        (user,), source, (patient(patient_id), query_object))


def access(*, event: EventID, transaction: Code, when: datetime, user: ActiveParticipant,
           source: AuditSource, patient_id: str, study_uids: tuple[str, ...] = (),
           document_ids: tuple[str, ...] = (), purpose_of_use: str = "TREAT",
           emergency_reason: str = "",
           outcome: EventOutcomeIndicator = EventOutcomeIndicator.SUCCESS,
           extra_participants: tuple[ActiveParticipant, ...] = ()) -> AuditMessage:
    """A retrieve, read, export, download or publish of studies of one patient.

    ``event`` follows ITI/RAD TF: RAD-69/WADO served by a source → 110106 Export, received by
    a consumer → 110107 Import; a viewer's read → 110103; a download → 110106; a publish
    (ITI-41 / RAD-68) → 110106 at the source, 110107 at the repository. An emergency access
    adds 110127 and ETREAT and needs its written reason.
    """
    if not study_uids and not document_ids:
        raise ValueError("an access names at least one study or document")
    types: tuple[Code, ...] = (transaction,)
    purposes = (purpose(purpose_of_use),)
    if emergency_reason:
        types += (EMERGENCY_OVERRIDE_STARTED,)
        purposes = (purpose("ETREAT"),)
    elif purpose_of_use == "ETREAT":
        raise ValueError("an emergency access (ETREAT) needs its written reason")
    action = {EventID.IMPORT: EventActionCode.CREATE,
              EventID.INSTANCES_ACCESSED: EventActionCode.READ}.get(event, EventActionCode.READ)
    objects = ((patient(patient_id, emergency_reason),) + tuple(map(study, study_uids))
               + tuple(map(document, document_ids)))
    return AuditMessage(EventIdentification(event.code, action, when, outcome, types, purposes),
                        (user, *extra_participants), source, objects)


def consent_change(*, when: datetime, user: ActiveParticipant, source: AuditSource,
                   patient_id: str, change: str) -> AuditMessage:
    """A change of the patient's sharing policy (110110 Patient Record, Update)."""
    obj = ParticipantObject(patient_id, PATIENT_NUMBER, ObjectType.PERSON, ObjectRole.PATIENT,
                            details=(("ConsentChange", change),))
    return AuditMessage(EventIdentification(EventID.PATIENT_RECORD.code, EventActionCode.UPDATE,
                                            when, EventOutcomeIndicator.SUCCESS,
                                            (CONSENT_CHANGE,), (purpose("PATRQT"),)),
                        (user,), source, (obj,))


def emergency_override(*, when: datetime, user: ActiveParticipant, source: AuditSource,
                       patient_id: str, reason: str) -> AuditMessage:
    """A professional granted emergency access to a patient (110113 Security Alert, type 110127
    Emergency Override Started, PS3.15 A.5.3.11; purpose ETREAT; the written reason)."""
    if not reason.strip():
        raise ValueError("an emergency access needs its written reason")
    return AuditMessage(EventIdentification(EventID.SECURITY_ALERT.code, EventActionCode.EXECUTE,
                                            when, EventOutcomeIndicator.SUCCESS,
                                            (EMERGENCY_OVERRIDE_STARTED,), (purpose("ETREAT"),)),
                        (user,), source, (patient(patient_id, reason),))
