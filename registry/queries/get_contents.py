"""Queries that follow associations: GetSubmissionSetAndContents, GetFolderAndContents,
GetFoldersForDocument, GetRelatedDocuments and GetAll (ITI TF-2a §3.18.4.1.2.3.7.6, .13,
.14, .15 and .16).

Membership is a HasMember association row (source = SubmissionSet or Folder), so contents
are index look-ups on ``source_uuid`` / ``target_uuid`` followed by ``entry_uuid``.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ihe.ebrim import AssociationType
from registry.crud import DOCUMENT, FOLDER, SUBMISSION_SET
from registry.models import RegistryObjectRow as R
from registry.queries.filters import document_filters, document_types, statuses
from registry.queries.hits import (
    Hit,
    associations_among,
    associations_from,
    associations_to,
    associations_touching,
    by_identifier,
    has_member_targets,
    hits,
    hits_in,
)
from registry.queries.params import Parameters

_HAS_MEMBER = R.association_type == AssociationType.HAS_MEMBER.value
_DOCUMENT_BY = ("$XDSDocumentEntryEntryUUID", "$XDSDocumentEntryUniqueId")


def get_submission_set_and_contents(
    session: Session, params: Parameters, limit: int
) -> list[Hit]:
    """The SubmissionSet, its DocumentEntries (filtered by formatCode, confidentialityCode and
    type) and Folders, and the associations it holds between them."""
    name, value = params.single_of("$XDSSubmissionSetEntryUUID", "$XDSSubmissionSetUniqueId")
    sets = by_identifier(session, SUBMISSION_SET, name, [value])
    if not sets:
        return []
    submission_set = sets[0]
    members = has_member_targets(session, submission_set.uuid)
    documents = hits_in(session, R.entry_uuid, members, R.kind == DOCUMENT, *document_filters(params))
    folders = hits_in(session, R.entry_uuid, members, R.kind == FOLDER)
    content = [submission_set, *folders, *documents]
    held = set(members)
    associations = [
        a
        for a in associations_among(session, (h.uuid for h in content))
        if a.source == submission_set.uuid or a.uuid in held
    ]
    return content + associations


def get_folder_and_contents(session: Session, params: Parameters, limit: int) -> list[Hit]:
    """The Folder, its DocumentEntries (filtered like GetSubmissionSetAndContents) and the
    Folder→DocumentEntry HasMember associations of those returned."""
    name, value = params.single_of("$XDSFolderEntryUUID", "$XDSFolderUniqueId")
    folders = by_identifier(session, FOLDER, name, [value])
    if not folders:
        return []
    folder = folders[0]
    documents = hits_in(
        session,
        R.entry_uuid,
        has_member_targets(session, folder.uuid),
        R.kind == DOCUMENT,
        *document_filters(params),
    )
    returned = {d.uuid for d in documents}
    links = [a for a in associations_from(session, [folder.uuid], _HAS_MEMBER) if a.target in returned]
    return [folder, *documents, *links]


def get_folders_for_document(session: Session, params: Parameters, limit: int) -> list[Hit]:
    name, value = params.single_of(*_DOCUMENT_BY)
    documents = by_identifier(session, DOCUMENT, name, [value])
    memberships = associations_to(session, (d.uuid for d in documents), _HAS_MEMBER)
    return hits_in(
        session, R.entry_uuid, (a.source for a in memberships if a.source), R.kind == FOLDER
    )


def get_related_documents(session: Session, params: Parameters, limit: int) -> list[Hit]:
    """The DocumentEntry, the DocumentEntries linked to it by one of ``$AssociationTypes``
    (RPLC, APND, XFRM, signs …) in either direction, and those associations; nothing at all
    when there is no such relative (NIST 11909 ``*_no_related``)."""
    name, value = params.single_of(*_DOCUMENT_BY)
    types = params.strings("$AssociationTypes", required=True)
    assert types is not None
    documents = by_identifier(session, DOCUMENT, name, [value])
    own = {d.uuid for d in documents}
    links = [
        a
        for a in associations_touching(session, own, R.association_type.in_(types))
        if a.target and a.source and (a.source in own) != (a.target in own)
    ]
    others = {a.target if a.source in own else a.source for a in links}
    related = hits_in(session, R.entry_uuid, others, R.kind == DOCUMENT, document_types(params))
    if not related:
        return []
    kept = {r.uuid for r in related}
    return [
        *documents,
        *related,
        *(a for a in links if a.source in kept or a.target in kept),
    ]


def get_all(session: Session, params: Parameters, limit: int) -> list[Hit]:
    """Everything of one patient: DocumentEntries, SubmissionSets and Folders with the
    requested statuses, and the associations among them."""
    patient = params.string("$patientId", required=True)
    document_status = params.strings("$XDSDocumentEntryStatus", required=True)
    set_status = params.strings("$XDSSubmissionSetStatus", required=True)
    folder_status = params.strings("$XDSFolderStatus", required=True)
    assert document_status is not None and set_status is not None and folder_status is not None
    of_patient = R.patient_id == patient
    objects = [
        *hits(session, of_patient, R.kind == SUBMISSION_SET, statuses(set_status), limit=limit),
        *hits(session, of_patient, R.kind == FOLDER, statuses(folder_status), limit=limit),
        *hits(
            session,
            of_patient,
            R.kind == DOCUMENT,
            statuses(document_status),
            *document_filters(params),
            limit=limit,
        ),
    ]
    if len(objects) > limit:
        return objects
    return objects + associations_among(session, (o.uuid for o in objects))
