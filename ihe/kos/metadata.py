"""XDS metadata of a manifest: the RAD-68 Provide and Register Imaging Document Set request.

The DocumentEntry follows RAD TF-3 §4.68.4.1.2.3.2 (formatCode, mimeType, eventCodeList with
modalities and anatomic regions, referenceIdList with accession number and Study Instance UID,
serviceStartTime from the study, uniqueId = the KOS SOP Instance UID) on top of ITI TF-3 §4.2.3;
the affinity-domain codes come from a per-site ``SiteProfile``. Built on ``ihe.ebrim.builders``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from pydicom.sr.codedict import codes

from ihe.ebrim.builders import (
    Author,
    Code,
    DocumentEntryMetadata,
    SubmissionSetMetadata,
    submission,
)
from ihe.ebrim.content import ExtrinsicObject
from ihe.ebrim.enum import REFERENCE_ID_SLOT, ObjectType, Scheme
from ihe.ebrim.messages import Document, ProvideAndRegisterDocumentSetRequest
from ihe.kos.content import Study
from ihe.kos.enum import BODY_PART_REGIONS, FORMAT_CODE, MIME_TYPE, CodingScheme, ReferenceIdType
from ihe.kos.messages import Manifest

#: CID 29 Acquisition Modality: code value → meaning (pydicom's PS3.16 tables).
ACQUISITION_MODALITIES: dict[str, str] = {
    getattr(codes.cid29, keyword).value: getattr(codes.cid29, keyword).meaning
    for keyword in codes.cid29.dir()
}

#: Extra metadata slot (ITI TF-3 §4.2.3.1.8) with the number of images the manifest references,
#: DICOM's Number of Study Related Instances (0020,1208): consumers show it on a timeline
#: without retrieving every manifest.
INSTANCE_COUNT_SLOT = "urn:partage:xdsi:numberOfStudyRelatedInstances"

_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_CX_ISO = re.compile(r"^[^\^&|~\\]+\^\^\^&[0-2](\.(0|[1-9][0-9]*))+&ISO$")
_HL7_SPECIAL = re.compile(r"[\^&|~\\]")


@dataclass(frozen=True)
class SiteProfile:
    """What a site publishes with, set once per gateway (affinity domain codes, identities).

    ``site_oid`` is the SubmissionSet sourceId and the author institution's XON.10;
    ``patient_id_authority`` assigns the local patient IDs (sourcePatientId);
    ``accession_authority`` assigns accession numbers (referenceIdList CXi.4);
    ``timezone`` is the IANA zone of the PACS clock, to express StudyDate/Time in UTC.
    """

    site_oid: str
    site_name: str
    patient_id_authority: str
    accession_authority: str
    class_code: Code
    type_code: Code
    practice_setting_code: Code
    healthcare_facility_type_code: Code
    confidentiality_codes: tuple[Code, ...]
    content_type_code: Code
    timezone: str = "UTC"
    language_code: str = "fr-FR"

    def __post_init__(self) -> None:
        for name in ("site_oid", "patient_id_authority", "accession_authority"):
            if not _OID.match(getattr(self, name)):
                raise ValueError(f"{name} {getattr(self, name)!r} is not an OID "
                                 "(ITI TF-3 §4.2.3.1.7, ISO assigning authorities)")
        if not self.confidentiality_codes:
            raise ValueError("confidentialityCode is required (ITI TF-3 §4.2.3.2.5)")
        if _HL7_SPECIAL.search(self.site_name):
            raise ValueError("site_name may not hold HL7 delimiters (^ & | ~ \\): it is an XON.1")
        ZoneInfo(self.timezone)  # raises ZoneInfoNotFoundError (a KeyError) when unknown

    @property
    def author_institution(self) -> str:
        """XON with the site OID in XON.10 (ITI TF-3 §4.2.3.1.7)."""
        return f"{self.site_name}^^^^^^^^^{self.site_oid}"


def study_instance_count(study: Study) -> int:
    """How many instances the manifest of ``study`` references."""
    return sum(len(series.instances) for series in study.series)


def event_codes(study: Study) -> list[Code]:
    """eventCodeList of a manifest (RAD TF-3 §4.68.4.1.2.3.2): each acquisition modality
    (CID 29, DCM) then each anatomic region (CID 4, SNOMED CT) of the study's series. Modalities
    outside CID 29 (KO, PR, SR…) and body parts without a CID 4 counterpart add nothing."""
    result = [
        Code(m, CodingScheme.DCM.value, ACQUISITION_MODALITIES[m])
        for m in study.modalities if m in ACQUISITION_MODALITIES
    ]
    regions = dict.fromkeys(
        BODY_PART_REGIONS[b] for b in study.body_parts if b in BODY_PART_REGIONS
    )
    result += [Code(code, CodingScheme.SCT.value, meaning) for code, meaning in regions]
    return result


def reference_ids(study: Study, accession_authority: str) -> list[str]:
    """referenceIdList values (CXi, ITI TF-3 §4.2.3.2.28): the accession number qualified by its
    assigning authority, then the Study Instance UID."""
    values = []
    if study.accession_number:
        if _HL7_SPECIAL.search(study.accession_number):
            raise ValueError(f"accession number {study.accession_number!r} holds an HL7 "
                             "delimiter and cannot be a CXi.1 (ITI TF-3 §4.2.3.2.28)")
        values.append(f"{study.accession_number}^^^&{accession_authority}&ISO^"
                      f"{ReferenceIdType.ACCESSION}")
    values.append(f"{study.study_instance_uid}^^^^{ReferenceIdType.STUDY_INSTANCE_UID}")
    return values


def service_start_time(study: Study, zone: str) -> str | None:
    """StudyDate + StudyTime as an HL7 DTM in UTC (RAD TF-3 §4.68.4.1.2.3.2; ITI TF-3
    §4.2.3.1.5); a date alone stays a date. ``None`` without a StudyDate."""
    date = study.study_date.replace(".", "")
    if not date:
        return None
    clock = study.study_time.replace(":", "").split(".")[0]
    if len(clock) < 4:
        return date
    local = datetime.strptime(date + clock[:6].ljust(6, "0"), "%Y%m%d%H%M%S")
    utc = local.replace(tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)
    return utc.strftime("%Y%m%d%H%M%S")[: 12 if len(clock) < 6 else 14]


def _xpn(person_name: str) -> str:
    """DICOM PN (family^given^middle^prefix^suffix) → XPN (family^given^middle^suffix^prefix)."""
    parts = (person_name.split("=")[0].split("^") + [""] * 5)[:5]
    return "^".join([parts[0], parts[1], parts[2], parts[4], parts[3]]).rstrip("^")


def _dtm(moment: datetime, name: str) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware: XDS times are UTC "
                         "(ITI TF-3 §4.2.3.1.5)")
    return moment.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S")


def manifest_submission(
    manifest: Manifest,
    study: Study,
    site: SiteProfile,
    *,
    patient_id: str,
    document_entry_id: str,
    submission_set_id: str,
    submission_set_unique_id: str,
    creation_time: datetime,
    submission_time: datetime,
) -> ProvideAndRegisterDocumentSetRequest:
    """The RAD-68 request for ``manifest`` (an ITI-41 body), ready to send.

    Parameters
    ----------
    manifest: ihe.kos.Manifest
        The KOS; its SOP Instance UID becomes the DocumentEntry uniqueId.
    study: ihe.kos.Study
        The evidence the manifest was built from (modalities, body parts, patient, study).
    site: SiteProfile
        The site's codes and identities.
    patient_id: str
        Regional patient ID in CX form ``ID^^^&OID&ISO`` (XDSDocumentEntry.patientId).
    document_entry_id, submission_set_id: str
        entryUUIDs or symbolic ids of the DocumentEntry and the SubmissionSet.
    submission_set_unique_id: str
        OID of the SubmissionSet.
    creation_time, submission_time: datetime.datetime
        Timezone-aware; written in UTC.

    Raises
    ------
    ValueError
        When the study is not the manifest's, an identifier is malformed, or a time is naive.
    """
    if study.study_instance_uid != manifest.study_instance_uid:
        raise ValueError(f"study {study.study_instance_uid} is not the one manifest "
                         f"{manifest.sop_instance_uid} references")
    if not _CX_ISO.match(patient_id):
        raise ValueError(f"patientId {patient_id!r} is not a CX 'ID^^^&OID&ISO' "
                         "(ITI TF-3 §4.2.3.2.16)")
    if not study.patient_id or _HL7_SPECIAL.search(study.patient_id):
        raise ValueError(f"local patient ID {study.patient_id!r} cannot be a CX.1 "
                         "(ITI TF-3 §4.2.3.2.19)")
    if not _OID.match(submission_set_unique_id):
        raise ValueError(f"SubmissionSet uniqueId {submission_set_unique_id!r} is not an OID "
                         "(ITI TF-3 §4.2.3.3.12)")
    source_patient_id = f"{study.patient_id}^^^&{site.patient_id_authority}&ISO"
    patient_info = [f"PID-3|{source_patient_id}"]
    if study.patient_name:
        patient_info.append(f"PID-5|{_xpn(study.patient_name)}")
    if study.patient_birth_date:
        patient_info.append(f"PID-7|{study.patient_birth_date.replace('.', '')}")
    if study.patient_sex:
        patient_info.append(f"PID-8|{study.patient_sex}")
    author = Author(institutions=(site.author_institution,))
    entry = DocumentEntryMetadata(
        entry_uuid=document_entry_id,
        unique_id=manifest.sop_instance_uid,
        patient_id=patient_id,
        source_patient_id=source_patient_id,
        class_code=site.class_code,
        type_code=site.type_code,
        format_code=Code(*FORMAT_CODE),
        confidentiality_codes=list(site.confidentiality_codes),
        healthcare_facility_type_code=site.healthcare_facility_type_code,
        practice_setting_code=site.practice_setting_code,
        creation_time=_dtm(creation_time, "creation_time"),
        mime_type=MIME_TYPE,
        language_code=site.language_code,
        title=study.study_description or None,
        event_codes=event_codes(study),
        service_start_time=service_start_time(study, site.timezone),
        reference_ids=reference_ids(study, site.accession_authority),
        authors=[author],
        source_patient_info=patient_info,
        extra_slots={INSTANCE_COUNT_SLOT: [str(study_instance_count(study))]},
    )
    submission_set = SubmissionSetMetadata(
        entry_uuid=submission_set_id,
        unique_id=submission_set_unique_id,
        source_id=site.site_oid,
        patient_id=patient_id,
        submission_time=_dtm(submission_time, "submission_time"),
        content_type_code=site.content_type_code,
        authors=[author],
    )
    return ProvideAndRegisterDocumentSetRequest(
        submission=submission(submission_set, [entry]),
        documents=[Document(document_entry_id, manifest.to_bytes())],
    )


def _accession(value: str) -> tuple[str, str] | None:
    """(accession number, assigning authority OID) of an accession referenceId, else None."""
    match = re.match(r"^([^^]+)\^\^\^&([0-9.]+)&ISO\^" + re.escape(ReferenceIdType.ACCESSION)
                     + "$", value.strip())
    return (match.group(1), match.group(2)) if match else None


def metadata_differences(
    entry: ExtrinsicObject,
    gold: ExtrinsicObject,
    *,
    patient_id: str | None = None,
    unique_id: str | None = None,
    study: Study | None = None,
) -> list[str]:
    """What differs between a manifest's DocumentEntry and a gold standard: the checks of the
    NIST ``sameKOSMetadata`` assertion (ids_2018-4801 ValidateMetadata: patientId, mimeType,
    formatCode code and codingScheme, uniqueId) and the XDS-I rules of the ids_2018-4800 readme
    (Stable objectType; eventCodeList; the accession number in referenceIdList under the gold's
    assigning authority). Empty when they agree.

    ``patient_id`` and ``unique_id`` replace the gold's values when the study under test is not
    the gold's (NIST maps the patient and takes the uniqueId from the submitted KOS). With the
    ``study`` under test, eventCodeList must hold exactly its modalities and regions ("all
    eventCode items required … and no other item not found in the image set") and the accession
    number must be its own; without it, the gold's accession number and at least one modality
    (and a region when the gold has one) are required.
    """
    found: list[str] = []

    def same(name: str, got: str | None, want: str | None) -> None:
        if (got or "").strip() != (want or "").strip():
            found.append(f"{name}: {got!r} != gold {want!r}")

    def codes_of(obj: ExtrinsicObject, scheme: Scheme) -> set[tuple[str, str]]:
        return {(c.node_representation, (c.coding_scheme or "").strip())
                for c in obj.classified(scheme)}

    same("patientId", entry.patient_id, patient_id or gold.patient_id)
    same("uniqueId", entry.unique_id, unique_id or gold.unique_id)
    same("mimeType", entry.mime_type, gold.mime_type)
    same("objectType", entry.object_type, ObjectType.STABLE_DOCUMENT)
    same("formatCode", str(sorted(codes_of(entry, Scheme.DE_FORMAT_CODE))),
         str(sorted(codes_of(gold, Scheme.DE_FORMAT_CODE))))

    events = codes_of(entry, Scheme.DE_EVENT_CODE)
    if study is not None:
        want_events = {(c.code, c.scheme) for c in event_codes(study)}
        same("eventCodeList", str(sorted(events)), str(sorted(want_events)))
    else:
        values = {code for code, _ in events}
        if not values & ACQUISITION_MODALITIES.keys():
            found.append("eventCodeList: no acquisition modality (RAD TF-3 §4.68.4.1.2.3.2)")
        gold_values = {code for code, _ in codes_of(gold, Scheme.DE_EVENT_CODE)}
        modalities = ACQUISITION_MODALITIES.keys()
        if gold_values - modalities and not values - modalities:
            found.append("eventCodeList: no anatomic region (RAD TF-3 §4.68.4.1.2.3.2)")

    accessions = [a for v in entry.slot_values(REFERENCE_ID_SLOT) if (a := _accession(v))]
    gold_accessions = [a for v in gold.slot_values(REFERENCE_ID_SLOT) if (a := _accession(v))]
    if gold_accessions:
        number = study.accession_number if study is not None else gold_accessions[0][0]
        want = (number, gold_accessions[0][1])
        if want not in accessions:
            found.append(f"referenceIdList: no accession {number}^^^&{want[1]}&ISO^"
                         f"{ReferenceIdType.ACCESSION} (got {accessions})")
    return found
