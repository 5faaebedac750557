"""FindSubmissionSets, FindFolders and FindFoldersForMultiplePatients
(ITI TF-2a §3.18.4.1.2.3.7.2, .3 and .12): one indexed SELECT each, like FindDocuments."""

from __future__ import annotations

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from registry.crud import FOLDER, SUBMISSION_SET
from registry.models import RegistryObjectRow as R
from registry.queries.filters import code_filters, has_value, statuses, time_range
from registry.queries.hits import Hit, hits
from registry.queries.params import Parameters


def find_submission_sets(session: Session, params: Parameters, limit: int) -> list[Hit]:
    patient = params.string("$XDSSubmissionSetPatientId", required=True)
    status = params.strings("$XDSSubmissionSetStatus", required=True)
    assert status is not None
    where: list[ColumnElement[bool]] = [
        R.patient_id == patient,
        R.kind == SUBMISSION_SET,
        statuses(status),
    ]
    sources = params.strings("$XDSSubmissionSetSourceId")
    if sources:
        where.append(R.source_id.in_(sources))
    where += time_range(params, R.submission_time, "$XDSSubmissionSetSubmissionTime")
    author = params.string("$XDSSubmissionSetAuthorPerson")
    if author is not None:
        where.append(has_value("authorPerson", [author], like=True))
    where += code_filters(params, {"$XDSSubmissionSetContentType": "contentTypeCode"})
    return hits(session, *where, limit=limit)


def _folder_filters(params: Parameters) -> list[ColumnElement[bool]]:
    status = params.strings("$XDSFolderStatus", required=True)
    assert status is not None
    where: list[ColumnElement[bool]] = [R.kind == FOLDER, statuses(status)]
    where += time_range(params, R.last_update_time, "$XDSFolderLastUpdateTime")
    where += code_filters(params, {"$XDSFolderCodeList": "folderCode"})
    return where


def find_folders(session: Session, params: Parameters, limit: int) -> list[Hit]:
    patient = params.string("$XDSFolderPatientId", required=True)
    return hits(session, R.patient_id == patient, *_folder_filters(params), limit=limit)


def find_folders_for_multiple_patients(
    session: Session, params: Parameters, limit: int
) -> list[Hit]:
    """MPQ option: ``$XDSFolderPatientId`` optional and multi-valued."""
    where = _folder_filters(params)
    patients = params.strings("$XDSFolderPatientId")
    if patients:
        where.append(R.patient_id.in_(patients))
    return hits(session, *where, limit=limit)
