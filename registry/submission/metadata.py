"""Checks of each object's own metadata, with no registry state (ITI TF-3 §4.2.3, the
"R" and "R2" columns of Tables 4.2.3.2-1 (DocumentEntry), 4.2.3.3-1 (SubmissionSet) and
4.2.3.4-1 (Folder); ITI TF-3 §4.1.14 for extra metadata).
"""

from __future__ import annotations

import re

from ihe.ebrim import Association, ExtrinsicObject, RegistryObject, RegistryPackage, Scheme
from ihe.ebrim.dtm import is_dtm
from ihe.ebrim.enum import DOCUMENT_RELATIONSHIPS, ObjectType
from registry.codes import CodeSet
from registry.submission.model import METADATA_ERROR, Problems, Submission

#: Coded DocumentEntry attributes: scheme → (name, required, may repeat)
DOCUMENT_CODES: dict[str, tuple[str, bool, bool]] = {
    Scheme.DE_CLASS_CODE: ("classCode", True, False),
    Scheme.DE_CONFIDENTIALITY_CODE: ("confidentialityCode", True, True),
    Scheme.DE_EVENT_CODE: ("eventCodeList", False, True),
    Scheme.DE_FORMAT_CODE: ("formatCode", True, False),
    Scheme.DE_HEALTHCARE_FACILITY_TYPE_CODE: ("healthcareFacilityTypeCode", True, False),
    Scheme.DE_PRACTICE_SETTING_CODE: ("practiceSettingCode", True, False),
    Scheme.DE_TYPE_CODE: ("typeCode", True, False),
}
SUBMISSION_SET_CODES = {Scheme.SS_CONTENT_TYPE_CODE: ("contentTypeCode", True, False)}
FOLDER_CODES = {Scheme.FOL_CODE_LIST: ("codeList", False, True)}

#: DocumentEntry slots that hold one value at most; the times among them are DTM
SINGLE_DOCUMENT_SLOTS = (
    "creationTime", "hash", "size", "languageCode", "legalAuthenticator", "repositoryUniqueId",
    "serviceStartTime", "serviceStopTime", "sourcePatientId",
)
DOCUMENT_TIMES = ("creationTime", "serviceStartTime", "serviceStopTime")
STABLE_REQUIRED_SLOTS = ("creationTime", "hash", "size", "repositoryUniqueId")

#: HL7 CX with an ISO assigning authority, as XDS patient ids are (ITI TF-3 §4.2.3.1.7)
_CX = re.compile(r"^[^\^&]+\^\^\^&[0-9]+(\.[0-9]+)*&ISO$")
_SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")
_UNIQUE_ID = re.compile(r"^\S{1,128}$")
_SUBMISSION_SET_STATUSES = ("Original", "Reference")


def is_extra_slot(name: str) -> bool:
    """Extra metadata: a slot named by a URN outside IHE's own namespace (ITI TF-3 §4.1.14)."""
    return name.startswith("urn:") and not name.startswith("urn:ihe:")


def _codes(
    obj: RegistryObject,
    table: dict[str, tuple[str, bool, bool]],
    codes: CodeSet | None,
    problems: Problems,
) -> None:
    for scheme, (name, required, repeats) in table.items():
        found = obj.classified(scheme)
        if required and not found:
            problems.error(METADATA_ERROR, f"{obj.id}: {name} is missing", obj.id)
        if len(found) > 1 and not repeats:
            problems.error(METADATA_ERROR, f"{obj.id}: {name} is given {len(found)} times", obj.id)
    check_coded(obj, codes, problems)


def check_coded(obj: RegistryObject, codes: CodeSet | None, problems: Problems) -> None:
    """Every coded classification has a code and a codingScheme, in the affinity domain's
    code set when one is configured."""
    for c in obj.classifications:
        scheme = c.classification_scheme or ""
        governed = (
            scheme in DOCUMENT_CODES or scheme in SUBMISSION_SET_CODES or scheme in FOLDER_CODES
            or scheme == Scheme.ASSOCIATION_DOCUMENTATION
        )
        if not governed:
            continue
        code, coding_scheme = c.node_representation or "", c.coding_scheme or ""
        if not code or len(c.slot_values("codingScheme")) != 1:
            problems.error(
                METADATA_ERROR,
                f"{obj.id}: classification {c.id} needs a nodeRepresentation and one codingScheme",
                obj.id,
            )
        elif codes is not None and not codes.allows(scheme, code, coding_scheme):
            problems.error(
                METADATA_ERROR,
                f"{obj.id}: {codes.name_of(scheme)} {code!r} ({coding_scheme}) is not in the "
                "affinity domain's code set",
                obj.id,
            )


def _identifiers(obj: RegistryObject, schemes: dict[str, str], problems: Problems) -> None:
    for scheme, name in schemes.items():
        values = [e.value for e in obj.external_identifiers if e.identification_scheme == scheme]
        if len(values) != 1:
            problems.error(METADATA_ERROR, f"{obj.id}: {name} is needed exactly once", obj.id)
        elif name.endswith("patientId") and not _CX.match(values[0]):
            problems.error(
                METADATA_ERROR, f"{obj.id}: {name} {values[0]!r} is not a CX id^^^&OID&ISO", obj.id
            )
        elif name.endswith("uniqueId") and not _UNIQUE_ID.match(values[0]):
            problems.error(METADATA_ERROR, f"{obj.id}: {name} {values[0]!r} is malformed", obj.id)


def check_document(doc: ExtrinsicObject, codes: CodeSet | None, problems: Problems) -> None:
    """A DocumentEntry of ITI-42 (ITI TF-3 Table 4.2.3.2-1; stable entries from a repository
    carry hash, size and repositoryUniqueId, ITI TF-2b §3.42.4.1.3.2)."""
    stable = doc.object_type == ObjectType.STABLE_DOCUMENT
    if doc.object_type not in (ObjectType.STABLE_DOCUMENT, ObjectType.ON_DEMAND_DOCUMENT):
        problems.error(
            METADATA_ERROR, f"{doc.id}: objectType {doc.object_type!r} is not a DocumentEntry type",
            doc.id,
        )
    if not doc.mime_type:
        problems.error(METADATA_ERROR, f"{doc.id}: mimeType is missing", doc.id)
    elif codes is not None and not codes.allows_mime_type(doc.mime_type):
        problems.error(
            METADATA_ERROR, f"{doc.id}: mimeType {doc.mime_type!r} is not allowed", doc.id
        )
    required = ("languageCode", "sourcePatientId", *(STABLE_REQUIRED_SLOTS if stable else ()))
    for name in required:
        if not doc.slot_values(name) or not doc.slot_value(name):
            problems.error(METADATA_ERROR, f"{doc.id}: slot {name} is missing", doc.id)
    for name in SINGLE_DOCUMENT_SLOTS:
        if len(doc.slot_values(name)) > 1:
            problems.error(METADATA_ERROR, f"{doc.id}: slot {name} takes one value", doc.id)
    for name in DOCUMENT_TIMES:
        value = doc.slot_value(name)
        if value is not None and not is_dtm(value.strip()):
            problems.error(METADATA_ERROR, f"{doc.id}: {name} {value!r} is not a DTM", doc.id)
    hash_ = doc.slot_value("hash")
    if hash_ and not _SHA1.match(hash_):
        problems.error(METADATA_ERROR, f"{doc.id}: hash {hash_!r} is not a SHA-1 in hex", doc.id)
    size = doc.slot_value("size")
    if size and not size.strip().isdigit():
        problems.error(METADATA_ERROR, f"{doc.id}: size {size!r} is not a number", doc.id)
    _codes(doc, DOCUMENT_CODES, codes, problems)
    _identifiers(
        doc,
        {Scheme.DE_PATIENT_ID: "XDSDocumentEntry.patientId",
         Scheme.DE_UNIQUE_ID: "XDSDocumentEntry.uniqueId"},
        problems,
    )


def check_submission_set(ss: RegistryPackage, codes: CodeSet | None, problems: Problems) -> None:
    """ITI TF-3 Table 4.2.3.3-1."""
    times = ss.slot_values("submissionTime")
    if len(times) != 1 or not is_dtm(times[0].strip()):
        problems.error(METADATA_ERROR, f"{ss.id}: submissionTime must be one DTM", ss.id)
    _codes(ss, SUBMISSION_SET_CODES, codes, problems)
    _identifiers(
        ss,
        {Scheme.SS_PATIENT_ID: "XDSSubmissionSet.patientId",
         Scheme.SS_SOURCE_ID: "XDSSubmissionSet.sourceId",
         Scheme.SS_UNIQUE_ID: "XDSSubmissionSet.uniqueId"},
        problems,
    )


def check_folder(folder: RegistryPackage, codes: CodeSet | None, problems: Problems) -> None:
    """ITI TF-3 Table 4.2.3.4-1; lastUpdateTime is the registry's to set."""
    _codes(folder, FOLDER_CODES, codes, problems)
    _identifiers(
        folder,
        {Scheme.FOL_PATIENT_ID: "XDSFolder.patientId", Scheme.FOL_UNIQUE_ID: "XDSFolder.uniqueId"},
        problems,
    )


def check_association(assoc: Association, codes: CodeSet | None, problems: Problems) -> None:
    """Association slots and classifications that do not depend on what is linked: the
    documentation classification belongs on relationship associations only (NIST 12370)."""
    documented = assoc.classified(Scheme.ASSOCIATION_DOCUMENTATION)
    if documented and assoc.association_type not in DOCUMENT_RELATIONSHIPS:
        problems.error(
            METADATA_ERROR,
            f"{assoc.id}: a documentation classification is allowed on RPLC, APND, XFRM, "
            "XFRM_RPLC and signs associations only",
            assoc.id,
        )
    if len(documented) > 1:
        problems.error(METADATA_ERROR, f"{assoc.id}: more than one documentation code", assoc.id)
    status = assoc.slot_values("SubmissionSetStatus")
    if status and (len(status) != 1 or status[0] not in _SUBMISSION_SET_STATUSES):
        problems.error(
            METADATA_ERROR, f"{assoc.id}: SubmissionSetStatus must be Original or Reference",
            assoc.id,
        )
    check_coded(assoc, codes, problems)


def drop_extra_slots(submission: Submission, problems: Problems) -> None:
    """Registries that do not keep extra metadata drop it and say so (ITI TF-3 §4.1.14)."""
    dropped = []
    for obj in submission.objects:
        extra = [s.name for s in obj.slots if is_extra_slot(s.name)]
        if extra:
            obj.slots = [s for s in obj.slots if not is_extra_slot(s.name)]
            dropped.append(f"{obj.id}: {', '.join(extra)}")
    if dropped:
        problems.warning(
            "XDSExtraMetadataNotSaved", "extra metadata not saved: " + "; ".join(dropped)
        )


def check_metadata(
    submission: Submission, codes: CodeSet | None, problems: Problems
) -> None:
    check_submission_set(submission.submission_set, codes, problems)
    for doc in submission.documents:
        check_document(doc, codes, problems)
    for folder in submission.folders:
        check_folder(folder, codes, problems)
    for assoc in submission.associations:
        check_association(assoc, codes, problems)
