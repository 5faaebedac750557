"""A patient's imaging studies as the registry knows them: ITI-18 stored queries with the
user's token, each KOS DocumentEntry read into a ``StudyEntry`` (RAD TF-3 §4.68.4.1.2.3.2 says
where each attribute sits: eventCodeList = modalities (DCM) and anatomic regions,
referenceIdList = accession number and Study Instance UID, serviceStartTime = the study's date,
author institution = the site). The registry answers for professionals only with what the
patient shares; each entry it withheld is a Warning ``PartageConsentWithheld`` (location: the
reason code, codeContext: its text) that names nothing, read here as a ``Withheld``.

Blocking (zeep over HTTP): async callers run these in a thread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from ihe.ebrim import AdhocQueryRequest, AdhocQueryResponse
from ihe.ebrim.content import ExtrinsicObject, Slot
from ihe.ebrim.enum import (
    KOS_FORMAT_CODE,
    KOS_FORMAT_CODING_SCHEME,
    REFERENCE_ID_ACCESSION,
    REFERENCE_ID_SLOT,
    REFERENCE_ID_STUDY_INSTANCE_UID,
    ResponseStatus,
    Scheme,
    Severity,
    Status,
)
from ihe.kos.enum import CodingScheme
from partage import soapclient


class RegistryReader(Protocol):
    """Where the registry is and how long to wait: the portal's settings, and the privacy
    centre's (consent service), which lists a patient's own studies with these functions."""

    registry_url: str
    upstream_timeout_s: float


FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
#: the DocumentEntry slot the gateways publish with the study's instance count
INSTANCE_COUNT_SLOT = "urn:partage:xdsi:numberOfStudyRelatedInstances"
#: codingScheme values of DICOM modality codes: the OID (codes.xml style) and the short name
MODALITY_SCHEMES = frozenset({CodingScheme.DCM.value, "DCM"})
#: errorCode of the registry's warning for an entry the patient's policy withholds
CONSENT_WITHHELD = "PartageConsentWithheld"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class RegistryUnavailable(Exception):
    """The registry could not be reached or gave no usable answer (a 502/503 page)."""


class RegistryRefused(Exception):
    """The registry answered the query with an error (``code`` is the ebRS error code)."""

    def __init__(self, code: str, context: str = "") -> None:
        super().__init__(f"{code}: {context}" if context else code)
        self.code = code
        self.context = context


class TokenRefused(RegistryRefused):
    """The registry refused the user's token (HTTP 401): the user signs in again."""


@dataclass(frozen=True)
class Withheld:
    """A study not shown to this user, and why (a decision's reason code and text); never
    what the study is."""

    code: str
    text: str


class StudyWithheld(Exception):
    """The registry withheld the asked study from this user at the patient's request."""

    def __init__(self, withheld: Withheld) -> None:
        super().__init__(withheld.text)
        self.withheld = withheld


@dataclass(frozen=True)
class StudyEntry:
    """One study published by a site: a KOS manifest's DocumentEntry."""

    #: entryUUID without ``urn:uuid:``, used in the portal's URLs
    id: str
    entry_uuid: str
    #: the KOS SOP Instance UID
    unique_id: str
    repository_unique_id: str
    home_community_id: str
    #: regional patient ID, CX
    patient_id: str
    study_instance_uid: str
    accession: str
    #: serviceStartTime (UTC), ``None`` when the study had no date
    started: datetime | None
    #: author institution name (XON.1) and OID (XON.10)
    site: str
    site_oid: str
    #: acquisition modalities (eventCodeList codes of scheme DCM)
    modalities: tuple[str, ...]
    #: anatomic regions (display names of the other event codes)
    regions: tuple[str, ...]
    #: the DocumentEntry title (the Study Description)
    description: str
    number_of_instances: int | None
    status: str

    @classmethod
    def from_entry(cls, entry: ExtrinsicObject) -> StudyEntry:
        events = entry.classified(Scheme.DE_EVENT_CODE)
        modalities = tuple(dict.fromkeys(
            e.node_representation or "" for e in events
            if e.coding_scheme in MODALITY_SCHEMES and e.node_representation))
        regions = tuple(dict.fromkeys(
            e.name or e.node_representation or "" for e in events
            if e.coding_scheme not in MODALITY_SCHEMES and (e.name or e.node_representation)))
        institution = _author_institution(entry)
        count = entry.slot_value(INSTANCE_COUNT_SLOT)
        return cls(
            id=entry.id.removeprefix("urn:uuid:"),
            entry_uuid=entry.id,
            unique_id=entry.unique_id or "",
            repository_unique_id=entry.slot_value("repositoryUniqueId") or "",
            home_community_id=entry.home or "",
            patient_id=entry.patient_id or "",
            study_instance_uid=_reference(entry, REFERENCE_ID_STUDY_INSTANCE_UID),
            accession=_reference(entry, REFERENCE_ID_ACCESSION),
            started=parse_dtm(entry.slot_value("serviceStartTime") or ""),
            site=institution[0],
            site_oid=institution[1],
            modalities=modalities,
            regions=regions,
            description=entry.name or "",
            number_of_instances=int(count) if count and count.strip().isdigit() else None,
            status=entry.status or "",
        )

    @property
    def date(self) -> str:
        """YYYY-MM-DD, or empty."""
        return self.started.strftime("%Y-%m-%d") if self.started else ""


def parse_dtm(value: str) -> datetime | None:
    """An HL7 DTM (``YYYY[MM[DD[hh[mm[ss]]]]]``, UTC in XDS) as an aware datetime; ``None``
    when empty or unreadable."""
    digits = value.strip().split(".")[0].split("+")[0].split("-")[0]
    if not digits.isdigit() or len(digits) < 4 or len(digits) % 2:
        return None
    padded = digits + "0101000000"[len(digits) - 4:]
    try:
        return datetime.strptime(padded, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def _reference(entry: ExtrinsicObject, id_type: str) -> str:
    """CXi.1 of the first referenceIdList value of this type (ITI TF-3 §4.2.3.2.28)."""
    for value in entry.slot_values(REFERENCE_ID_SLOT):
        parts = value.split("^")
        if len(parts) >= 5 and parts[4] == id_type:
            return parts[0]
    return ""


def _author_institution(entry: ExtrinsicObject) -> tuple[str, str]:
    """(name XON.1, OID XON.10) of the first author institution."""
    for author in entry.classified(Scheme.DE_AUTHOR):
        for xon in author.slot_values("authorInstitution"):
            parts = xon.split("^")
            return parts[0], parts[9] if len(parts) > 9 else ""
    return "", ""


@dataclass(frozen=True)
class Found:
    """A query's manifests the user may see, and one ``Withheld`` per entry kept back."""

    studies: list[StudyEntry]
    withheld: list[Withheld]


def _query(settings: RegistryReader, token: str, request: AdhocQueryRequest
           ) -> AdhocQueryResponse:
    client = soapclient.client_for(timeout=settings.upstream_timeout_s)
    try:
        answer = client.stored_query(settings.registry_url, request, token)
    except soapclient.SoapFaultError as exc:
        if _is_token_refusal(exc):
            raise TokenRefused("Unauthorized", str(exc)) from None
        raise RegistryRefused("SOAP fault", str(exc)) from None
    except soapclient.SoapClientError as exc:
        raise RegistryUnavailable(str(exc)) from None
    if answer.status == ResponseStatus.FAILURE:
        first = answer.errors[0] if answer.errors else None
        raise RegistryRefused(first.code if first else "XDSRegistryError",
                              first.context if first and first.context else "")
    return answer


def _entries(answer: AdhocQueryResponse) -> list[ExtrinsicObject]:
    return [o for o in answer.objects if isinstance(o, ExtrinsicObject)]


def withheld(answer: AdhocQueryResponse) -> list[Withheld]:
    """The registry's consent warnings, one per entry it withheld."""
    return [Withheld(e.location, e.context) for e in answer.errors
            if e.code == CONSENT_WITHHELD and e.severity == Severity.WARNING]


def _is_token_refusal(fault: soapclient.SoapFaultError) -> bool:
    """The registry answers a refused bearer token with HTTP 401 and a Sender fault whose
    reason names the token (``partage.soap.refusal_response``)."""
    reason = str(fault).lower()
    return (fault.code or "").endswith("Sender") and ("token" in reason
                                                       or "authorization" in reason)


def _is_manifest(entry: ExtrinsicObject) -> bool:
    return any(c.node_representation == KOS_FORMAT_CODE
               for c in entry.classified(Scheme.DE_FORMAT_CODE))


def find_studies(settings: RegistryReader, token: str, patient_id: str) -> Found:
    """Every Approved manifest of the patient the registry gives this user (ITI-18
    FindDocuments, LeafClass), newest first, and what it withheld."""
    request = AdhocQueryRequest(FIND_DOCUMENTS, [
        Slot("$XDSDocumentEntryPatientId", [f"'{patient_id}'"]),
        Slot("$XDSDocumentEntryStatus", [f"('{Status.APPROVED}')"]),
        Slot("$XDSDocumentEntryFormatCode",
             [f"('{KOS_FORMAT_CODE}^^{KOS_FORMAT_CODING_SCHEME}')"]),
    ])
    answer = _query(settings, token, request)
    studies = [StudyEntry.from_entry(e) for e in _entries(answer) if _is_manifest(e)]
    floor = datetime.min.replace(tzinfo=UTC)
    return Found(sorted(studies, key=lambda s: (s.started or floor, s.id), reverse=True),
                 withheld(answer))


def get_study(settings: RegistryReader, token: str, entry_id: str) -> StudyEntry | None:
    """The manifest with this entryUUID (with or without ``urn:uuid:``), or ``None`` when the
    registry has no such manifest (ITI-18 GetDocuments); ``StudyWithheld`` when it has one the
    patient's policy keeps from this user."""
    bare = entry_id.removeprefix("urn:uuid:")
    if not _UUID.match(bare):
        return None
    request = AdhocQueryRequest(GET_DOCUMENTS, [
        Slot("$XDSDocumentEntryEntryUUID", [f"('urn:uuid:{bare}')"]),
    ])
    answer = _query(settings, token, request)
    found = [e for e in _entries(answer) if _is_manifest(e)]
    if found:
        return StudyEntry.from_entry(found[0])
    kept = withheld(answer)
    if kept:
        raise StudyWithheld(kept[0])
    return None
