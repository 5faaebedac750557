"""GetDocuments, GetFolders, GetAssociations, GetDocumentsAndAssociations and
GetSubmissionSets (ITI TF-2a §3.18.4.1.2.3.7.5, .7, .8, .9 and .10).

The objects are named by the request (entryUUID, uniqueId or, with Metadata Update, logicalID),
so these are index look-ups on ``entry_uuid``, ``unique_id``, ``source_uuid`` and
``target_uuid``; any availabilityStatus but Submitted is returned.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ihe.ebrim import AssociationType
from registry.crud import DOCUMENT, FOLDER, SUBMISSION_SET
from registry.models import RegistryObjectRow as R
from registry.queries.hits import (
    Hit,
    associations_to,
    associations_touching,
    by_identifier,
    hits_in,
)
from registry.queries.params import Parameters

DOCUMENT_IDENTIFIERS = (
    "$XDSDocumentEntryEntryUUID",
    "$XDSDocumentEntryUniqueId",
    "$XDSDocumentEntryLogicalID",
)
FOLDER_IDENTIFIERS = ("$XDSFolderEntryUUID", "$XDSFolderUniqueId", "$XDSFolderLogicalID")


def named_documents(session: Session, params: Parameters) -> list[Hit]:
    name, values = params.one_of(*DOCUMENT_IDENTIFIERS)
    return by_identifier(session, DOCUMENT, name, values)


def get_documents(session: Session, params: Parameters, limit: int) -> list[Hit]:
    return named_documents(session, params)


def get_folders(session: Session, params: Parameters, limit: int) -> list[Hit]:
    name, values = params.one_of(*FOLDER_IDENTIFIERS)
    return by_identifier(session, FOLDER, name, values)


def get_associations(session: Session, params: Parameters, limit: int) -> list[Hit]:
    uuids = params.strings("$uuid", required=True)
    assert uuids is not None
    return associations_touching(session, uuids)


def get_documents_and_associations(
    session: Session, params: Parameters, limit: int
) -> list[Hit]:
    documents = named_documents(session, params)
    return documents + associations_touching(session, (d.uuid for d in documents))


def get_submission_sets(session: Session, params: Parameters, limit: int) -> list[Hit]:
    """The SubmissionSets that hold the given DocumentEntries or Folders, with the HasMember
    associations linking them."""
    uuids = params.strings("$uuid", required=True)
    assert uuids is not None
    memberships = associations_to(
        session, uuids, R.association_type == AssociationType.HAS_MEMBER.value
    )
    sets = hits_in(
        session, R.entry_uuid, (a.source for a in memberships if a.source), R.kind == SUBMISSION_SET
    )
    found = {s.uuid for s in sets}
    return sets + [a for a in memberships if a.source in found]
