"""FindDocuments, FindDocumentsByReferenceId and FindDocumentsForMultiplePatients
(ITI TF-2a §3.18.4.1.2.3.7.1, .17 and .11).

One SELECT per query: patient, kind and status first (index ``ix_objects_patient_kind_status``),
then one ``EXISTS`` on ``object_codes`` per coded parameter, time bounds on padded columns, and
a LIMIT one above the result ceiling so an oversize answer is detected without reading it.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from registry.crud import DOCUMENT
from registry.models import RegistryObjectRow as R
from registry.queries.errors import QueryError, fail
from registry.queries.filters import (
    code_filters,
    document_types,
    has_value,
    statuses,
    time_range,
)
from registry.queries.hits import Hit, hits
from registry.queries.params import Parameters

#: coded FindDocuments parameters → ``object_codes.attribute``
DOCUMENT_CODES = {
    "$XDSDocumentEntryClassCode": "classCode",
    "$XDSDocumentEntryTypeCode": "typeCode",
    "$XDSDocumentEntryPracticeSettingCode": "practiceSettingCode",
    "$XDSDocumentEntryHealthcareFacilityTypeCode": "healthcareFacilityTypeCode",
    "$XDSDocumentEntryFormatCode": "formatCode",
    "$XDSDocumentEntryEventCodeList": "eventCode",
    "$XDSDocumentEntryConfidentialityCode": "confidentialityCode",
}
_PATIENT = "$XDSDocumentEntryPatientId"


def _filters(params: Parameters) -> list[ColumnElement[bool]]:
    """Everything of FindDocuments except the patient."""
    status = params.strings("$XDSDocumentEntryStatus", required=True)
    assert status is not None
    where: list[ColumnElement[bool]] = [R.kind == DOCUMENT, statuses(status)]
    where += time_range(params, R.creation_time, "$XDSDocumentEntryCreationTime")
    where += time_range(params, R.service_start_time, "$XDSDocumentEntryServiceStartTime")
    where += time_range(params, R.service_stop_time, "$XDSDocumentEntryServiceStopTime")
    where.append(document_types(params))
    where += code_filters(params, DOCUMENT_CODES)
    authors = params.strings("$XDSDocumentEntryAuthorPerson")
    if authors:
        where.append(has_value("authorPerson", authors, like=True))
    return where


def find_documents(session: Session, params: Parameters, limit: int) -> list[Hit]:
    patient = params.string(_PATIENT, required=True)
    return hits(session, R.patient_id == patient, *_filters(params), limit=limit)


def find_documents_by_reference_id(
    session: Session, params: Parameters, limit: int
) -> list[Hit]:
    """FindDocuments plus a required referenceIdList match: for XDS-I, the accession number
    or the Study Instance UID of a study (CXi values, compared whole)."""
    patient = params.string(_PATIENT, required=True)
    references = params.strings("$XDSDocumentEntryReferenceIdList", required=True)
    assert references is not None
    return hits(
        session,
        R.patient_id == patient,
        *_filters(params),
        has_value("referenceId", references),
        limit=limit,
    )


def find_documents_for_multiple_patients(
    session: Session, params: Parameters, limit: int
) -> list[Hit]:
    """MPQ option: the patient is optional and multi-valued, but the query must name at least
    a patient, a classCode, an eventCode or a healthcareFacilityTypeCode (NIST 12364
    ``nothing``), so that it cannot list the whole registry."""
    narrowing = (
        _PATIENT,
        "$XDSDocumentEntryClassCode",
        "$XDSDocumentEntryEventCodeList",
        "$XDSDocumentEntryHealthcareFacilityTypeCode",
    )
    if not any(params.has(n) for n in narrowing):
        fail(QueryError.MISSING_PARAM, f"one of {', '.join(narrowing)} is required", _PATIENT)
    where = _filters(params)
    patients = params.strings(_PATIENT)
    if patients:
        where.append(R.patient_id.in_(patients))
    return hits(session, *where, limit=limit)
