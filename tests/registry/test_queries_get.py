"""The Get… stored queries and LeafClass answers, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from ihe.ebrim import (
    AdhocQueryResponse,
    Association,
    AssociationType,
    ExtrinsicObject,
    ObjectType,
    RegistryPackage,
    Status,
)
from ihe.ebrim.builders import Code
from ihe.errors import RemoteProtocolError
from partage.xsd import errors as xsd_errors
from registry import queries
from tests.registry.query_factory import OTHER, PATIENT, Registry, database, query, quoted

RPLC = AssociationType.RPLC
APPROVED = quoted(Status.APPROVED)


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    db = database(database_url)
    with db.session() as s:
        yield s
    db.engine.dispose()


def ids(session: Session, request) -> list[str]:  # type: ignore[no-untyped-def]
    return [o.id for o in queries.run(session, request, 100)]


def leaf(session: Session, request) -> AdhocQueryResponse:  # type: ignore[no-untyped-def]
    """Run as LeafClass; the response must be schema-valid."""
    request.return_type = "LeafClass"
    response = AdhocQueryResponse(objects=queries.run(session, request, 100))
    assert xsd_errors(response.to_element()) == []
    return response


def test_get_documents_by_uuid_unique_id_and_split_values(session: Session) -> None:
    reg = Registry(session)
    first = reg.document(unique_id="1.2.3.1")
    second = reg.document(status=Status.DEPRECATED, unique_id="1.2.3.2")
    reg.document(status=Status.SUBMITTED, unique_id="1.2.3.3")
    assert ids(session, query("GetDocuments", XDSDocumentEntryEntryUUID=quoted(first))) == [first]
    assert ids(session, query("GetDocuments", XDSDocumentEntryUniqueId=quoted("1.2.3.1", "1.2.3.2", "1.2.3.3"))) == [first, second]
    split = query("GetDocuments", XDSDocumentEntryEntryUUID=[quoted(first), quoted(second)])
    assert ids(session, split) == [first, second]
    response = leaf(session, query("GetDocuments", XDSDocumentEntryEntryUUID=quoted(second),
                                   homeCommunityId="'urn:oid:1.2.250.1.999.1'"))
    (doc,) = response.objects
    assert isinstance(doc, ExtrinsicObject)
    assert doc.id == second and doc.status == Status.DEPRECATED and doc.unique_id == "1.2.3.2"
    with pytest.raises(RemoteProtocolError) as err:
        ids(session, query("GetDocuments", XDSDocumentEntryEntryUUID=quoted(first),
                           XDSDocumentEntryUniqueId=quoted("1.2.3.1")))
    assert err.value.code == "XDSStoredQueryParamNumber"


def test_leaf_class_across_patients_fails_object_ref_succeeds(session: Session) -> None:
    """NIST 12368."""
    reg = Registry(session)
    mine, theirs = reg.document(), reg.document(patient=OTHER)
    request = query("GetDocuments", XDSDocumentEntryEntryUUID=quoted(mine, theirs))
    assert ids(session, request) == [mine, theirs]
    with pytest.raises(RemoteProtocolError) as err:
        leaf(session, request)
    assert err.value.code == "XDSResultNotSinglePatient"


def test_get_folders_and_folders_for_document(session: Session) -> None:
    reg = Registry(session)
    doc = reg.document(unique_id="1.2.3.9")
    folder = reg.folder([doc], unique_id="1.2.4.1")
    reg.folder([])
    assert ids(session, query("GetFolders", XDSFolderUniqueId=quoted("1.2.4.1"))) == [folder]
    (fol,) = leaf(session, query("GetFolders", XDSFolderEntryUUID=quoted(folder))).objects
    assert isinstance(fol, RegistryPackage) and fol.is_folder and fol.status == Status.APPROVED
    assert ids(session, query("GetFoldersForDocument", XDSDocumentEntryUniqueId="'1.2.3.9'")) == [folder]
    with pytest.raises(RemoteProtocolError) as err:
        ids(session, query("GetFoldersForDocument", XDSDocumentEntryEntryUUID=quoted(doc, folder)))
    assert err.value.code == "XDSStoredQueryParamNumber"


def test_get_associations_and_documents_and_associations(session: Session) -> None:
    reg = Registry(session)
    old, new, other = reg.document(status=Status.DEPRECATED), reg.document(), reg.document()
    ss = reg.submission_set([new])
    membership = ids(session, query("GetAssociations", uuid=quoted(ss)))
    replacement = reg.association(new, old, RPLC)
    assert len(membership) == 1
    assert ids(session, query("GetAssociations", uuid=quoted(new))) == membership + [replacement]
    assert ids(session, query("GetAssociations", uuid=quoted(other))) == []
    found = leaf(session, query("GetDocumentsAndAssociations", XDSDocumentEntryEntryUUID=quoted(new)))
    assert [o.id for o in found.objects] == [new, *membership, replacement]
    assert isinstance(found.objects[-1], Association)
    assert found.objects[-1].association_type == RPLC


def test_get_submission_sets(session: Session) -> None:
    reg = Registry(session)
    doc, folder_doc = reg.document(), reg.document()
    folder = reg.folder([folder_doc])
    ss = reg.submission_set([doc, folder])
    found = ids(session, query("GetSubmissionSets", uuid=quoted(doc, folder)))
    assert found[0] == ss and len(found) == 3
    links = leaf(session, query("GetSubmissionSets", uuid=quoted(doc))).objects[1:]
    assert [(a.source_object, a.target_object) for a in links] == [(ss, doc)]  # type: ignore[union-attr]


def test_get_submission_set_and_contents(session: Session) -> None:
    """NIST 11906: the set, its documents (filtered) and folders, the associations it holds."""
    reg = Registry(session)
    restricted = Code("R", "2.16.840.1.113883.5.25", "restricted")
    a, b = reg.document(), reg.document(confidentiality=[restricted])
    folder = reg.folder([])
    ss = reg.submission_set([a, b, folder], unique_id="1.2.5.1")
    in_folder = reg.association(folder, a)
    held = reg.association(ss, in_folder)
    stranger = reg.document()
    reg.association(folder, stranger)  # added later by another submission: not this set's
    everything = ids(session, query("GetSubmissionSetAndContents", XDSSubmissionSetUniqueId="'1.2.5.1'"))
    assert everything[:4] == [ss, folder, a, b]
    assert len(everything) == 4 + 3 + 2  # SS→a, SS→b, SS→folder; folder→a and SS→(folder→a)
    assert in_folder in everything and held in everything
    filtered = ids(session, query("GetSubmissionSetAndContents", XDSSubmissionSetEntryUUID=quoted(ss),
                                  XDSDocumentEntryConfidentialityCode=quoted("R^^2.16.840.1.113883.5.25")))
    assert b in filtered and a not in filtered and in_folder not in filtered and held not in filtered
    assert len(filtered) == 3 + 2  # SS, b, folder, SS→b, SS→folder
    response = leaf(session, query("GetSubmissionSetAndContents", XDSSubmissionSetEntryUUID=quoted(ss)))
    assert len(response.objects) == 9
    with pytest.raises(RemoteProtocolError) as err:
        ids(session, query("GetSubmissionSetAndContents", XDSSubmissionSetUniqueId=quoted("1", "2")))
    assert err.value.code == "XDSStoredQueryParamNumber"


def test_get_folder_and_contents(session: Session) -> None:
    """NIST 11907 ``conf_code`` / ``format_code``."""
    reg = Registry(session)
    on_demand = reg.document(object_type=ObjectType.ON_DEMAND_DOCUMENT)
    pdf = Code("urn:ihe:iti:xds-sd:pdf:2008", "1.3.6.1.4.1.19376.1.2.3", "PDF")
    kos, report = reg.document(), reg.document(format_code=pdf)
    folder = reg.folder([kos, report, on_demand], unique_id="1.2.6.1")
    all_ = ids(session, query("GetFolderAndContents", XDSFolderUniqueId="'1.2.6.1'"))
    assert all_[:3] == [folder, kos, report] and len(all_) == 5
    only_pdf = ids(session, query("GetFolderAndContents", XDSFolderEntryUUID=quoted(folder),
                                  XDSDocumentEntryFormatCode=quoted(f"{pdf.code}^^{pdf.scheme}")))
    assert only_pdf[:2] == [folder, report] and len(only_pdf) == 3
    with_on_demand = ids(session, query(
        "GetFolderAndContents", XDSFolderEntryUUID=quoted(folder),
        XDSDocumentEntryType=quoted(ObjectType.STABLE_DOCUMENT, ObjectType.ON_DEMAND_DOCUMENT)))
    assert on_demand in with_on_demand and len(with_on_demand) == 7
    assert ids(session, query("GetFolderAndContents", XDSFolderUniqueId="'no.such'")) == []


def test_get_related_documents(session: Session) -> None:
    """NIST 11909: the document, its relatives by the asked types, and their associations;
    nothing without relatives."""
    reg = Registry(session)
    original = reg.document(status=Status.DEPRECATED, unique_id="1.2.7.1")
    replacement = reg.document()
    addendum = reg.document()
    rplc = reg.association(replacement, original, RPLC)
    apnd = reg.association(addendum, original, AssociationType.APND)
    lonely = reg.document(unique_id="1.2.7.2")
    name = "GetRelatedDocuments"
    assert ids(session, query(name, XDSDocumentEntryUniqueId="'1.2.7.1'", AssociationTypes=quoted(RPLC))) == [
        original, replacement, rplc]
    assert ids(session, query(name, XDSDocumentEntryEntryUUID=quoted(replacement),
                              AssociationTypes=quoted(RPLC, AssociationType.APND))) == [replacement, original, rplc]
    both = ids(session, query(name, XDSDocumentEntryEntryUUID=quoted(original),
                              AssociationTypes=quoted(RPLC, AssociationType.APND)))
    assert both == [original, replacement, addendum, rplc, apnd]
    assert ids(session, query(name, XDSDocumentEntryEntryUUID=quoted(lonely), AssociationTypes=quoted(RPLC))) == []
    with pytest.raises(RemoteProtocolError) as err:
        ids(session, query(name, XDSDocumentEntryEntryUUID=quoted(lonely)))
    assert err.value.code == "XDSStoredQueryMissingParam"
    assert len(leaf(session, query(name, XDSDocumentEntryEntryUUID=quoted(original),
                                   AssociationTypes=quoted(RPLC))).objects) == 3


def test_get_all(session: Session) -> None:
    """NIST 15803: every object of the patient with the asked statuses and the associations
    among them."""
    reg = Registry(session)
    old, new = reg.document(status=Status.DEPRECATED), reg.document()
    folder = reg.folder([new])
    first = reg.submission_set([old])
    second = reg.submission_set([new, folder])
    rplc = reg.association(new, old, RPLC)
    reg.submission_set([reg.document(patient=OTHER)], patient=OTHER)
    base = {
        "patientId": f"'{PATIENT}'",
        "XDSSubmissionSetStatus": APPROVED,
        "XDSFolderStatus": APPROVED,
    }
    everything = ids(session, query("GetAll", XDSDocumentEntryStatus=quoted(Status.APPROVED, Status.DEPRECATED), **base))
    assert everything[:5] == [first, second, folder, old, new]
    assert len(everything) == 5 + 5 and rplc in everything  # folder→new, SS→old, SS→new, SS→folder, RPLC
    approved_only = ids(session, query("GetAll", XDSDocumentEntryStatus=APPROVED, **base))
    assert old not in approved_only and rplc not in approved_only and len(approved_only) == 4 + 3
    assert len(leaf(session, query("GetAll", XDSDocumentEntryStatus=APPROVED, **base)).objects) == 7
    with pytest.raises(RemoteProtocolError) as err:
        ids(session, query("GetAll", XDSDocumentEntryStatus=APPROVED, patientId=f"'{PATIENT}'"))
    assert err.value.code == "XDSStoredQueryMissingParam"
