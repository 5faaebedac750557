"""ITI-42 registration rules on a real database (SQLite and PostgreSQL), driven with the
NIST testkit submissions (ebRIM 3.0 translations)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select

import registry
from ihe.ebrim import Association, ExtrinsicObject, RegistryPackage, Scheme, Severity, Status
from ihe.ebrim import SubmitObjectsRequest
from ihe.ebrim.enum import AssociationType
from partage import xsd
from partage.db import Database, migrate
from registry import crud
from registry.codes import CodeSet
from registry.models import ObjectCode, RegistryObjectRow
from registry.submission import Policy, register
from tests.registry.submission_data import (
    OTHER_PATIENT,
    PATIENT,
    nist,
    seed_patient,
    submission_set,
)

APPROVED, DEPRECATED = Status.APPROVED, Status.DEPRECATED
KEEP = Policy()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    migrate(database.engine, Path(registry.__file__).parent / "alembic")
    seed_patient(database)
    yield database
    database.engine.dispose()


def codes(errors: list) -> list[str]:
    return [e.code for e in errors if e.severity == Severity.ERROR]


def rows(db: Database, kind: str | None = None) -> list[RegistryObjectRow]:
    with db.session() as session:
        query = select(RegistryObjectRow).order_by(RegistryObjectRow.id)
        if kind:
            query = query.where(RegistryObjectRow.kind == kind)
        return list(session.scalars(query))


def count(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(RegistryObjectRow)) or 0


def doc_row(db: Database, request: SubmitObjectsRequest, index: int = 0) -> RegistryObjectRow:
    uid = [o for o in request.objects if isinstance(o, ExtrinsicObject)][index].unique_id
    return next(r for r in rows(db, crud.DOCUMENT) if r.unique_id == uid)


def test_single_document_is_stored_with_resolved_ids(db: Database, conformance_dir: Path) -> None:
    """NIST 11990: one DocumentEntry, its SubmissionSet and HasMember, all Approved."""
    request = nist(conformance_dir, "11990/submit/single_doc.xml")
    assert register(db, request, KEEP) == []
    stored = rows(db)
    assert sorted(r.kind for r in stored) == ["assoc", "doc", "ss"]
    assert all(r.status == APPROVED and r.entry_uuid.startswith("urn:uuid:") for r in stored)
    doc, ss, assoc = (next(r for r in stored if r.kind == k) for k in ("doc", "ss", "assoc"))
    assert (assoc.source_uuid, assoc.target_uuid) == (ss.entry_uuid, doc.entry_uuid)
    assert assoc.association_type == AssociationType.HAS_MEMBER and assoc.patient_id is None
    assert doc.patient_id == ss.patient_id == PATIENT
    assert (doc.creation_time, doc.service_start_time) == ("20051224000000", "20041223080000")
    assert ss.submission_time == "20041225235050" and ss.source_id
    assert doc.hash == "e543712c0e10501972de13a5bfcbe826c49feb75" and doc.size == 4

    entry = crud.row_to_object(doc)
    assert isinstance(entry, ExtrinsicObject) and entry.status == APPROVED
    assert entry.id == doc.entry_uuid
    assert all(c.classified_object == doc.entry_uuid and c.id.startswith("urn:uuid:")
               for c in entry.classifications)
    assert all(e.registry_object == doc.entry_uuid for e in entry.external_identifiers)
    assert "status=" not in doc.xml
    package = crud.row_to_object(ss)
    assert isinstance(package, RegistryPackage) and package.is_submission_set
    valid = SubmitObjectsRequest([crud.row_to_object(r) for r in stored]).to_element()
    assert xsd.errors(valid, conformance_dir / "schemas") == []

    with db.session() as session:
        index = {(c.attribute, c.code, c.scheme) for c in session.scalars(
            select(ObjectCode).where(ObjectCode.object_id == doc.id))}
    assert ("classCode", "REPORTS", "1.3.6.1.4.1.19376.1.2.6.1") in index
    assert ("eventCode", "MPQ-eventcode-1", "1.3.6.1.4.1.21367.2017.3") in index
    assert ("authorPerson", "^Smitty^Gerald^^^", "") in index


def test_two_documents(db: Database, conformance_dir: Path) -> None:
    """NIST 11991."""
    assert register(db, nist(conformance_dir, "11991/submit/two_doc.xml"), KEEP) == []
    assert len(rows(db, crud.DOCUMENT)) == 2


@pytest.mark.parametrize("attribute", [
    "classCode", "confidentialityCode", "creationTime", "formatCode",
    "healthcareFacilityTypeCode", "languageCode", "practiceSettingCode", "sourcePatientId",
    "typeCode",
])
def test_missing_required_attribute(db: Database, conformance_dir: Path, attribute: str) -> None:
    """NIST 11998a: each section leaves one required attribute out."""
    errors = register(db, nist(conformance_dir, f"11998a/{attribute}/single_doc.xml"), KEEP)
    assert "XDSRegistryMetadataError" in codes(errors)
    assert any(attribute in e.context for e in errors)
    assert count(db) == 0


def test_unknown_patient(db: Database, conformance_dir: Path) -> None:
    """NIST 11996."""
    errors = register(db, nist(conformance_dir, "11996/submit/single_doc.xml", OTHER_PATIENT), KEEP)
    assert codes(errors) == ["XDSUnknownPatientId"]
    assert count(db) == 0


def test_patient_of_document_must_match(db: Database, conformance_dir: Path) -> None:
    """NIST 11997: SubmissionSet and DocumentEntry patients differ."""
    seed_patient(db, OTHER_PATIENT)
    request = nist(conformance_dir, "11997/submit/single_doc.xml")
    next(o for o in request.objects if isinstance(o, ExtrinsicObject)).set_external_id(
        Scheme.DE_PATIENT_ID, OTHER_PATIENT)
    assert codes(register(db, request, KEEP)) == ["XDSPatientIdDoesNotMatch"]
    assert count(db) == 0


def test_all_or_nothing(db: Database, conformance_dir: Path) -> None:
    """NIST 12084: one of two documents lacks repositoryUniqueId; nothing is stored."""
    errors = register(db, nist(conformance_dir, "12084/submit/two_doc.xml"), KEEP)
    assert codes(errors) == ["XDSRegistryMetadataError"]
    assert "repositoryUniqueId" in errors[0].context
    assert count(db) == 0


def test_every_error_is_reported(db: Database, conformance_dir: Path) -> None:
    request = nist(conformance_dir, "11990/submit/single_doc.xml", OTHER_PATIENT)
    doc = next(o for o in request.objects if isinstance(o, ExtrinsicObject))
    doc.slots = [s for s in doc.slots if s.name not in ("hash", "languageCode")]
    found = codes(register(db, request, KEEP))
    assert found.count("XDSRegistryMetadataError") == 2 and "XDSUnknownPatientId" in found


def test_resubmitted_unique_id(db: Database, conformance_dir: Path) -> None:
    """NIST 12004: same uniqueId and hash is accepted (both stay), another hash is not."""
    first = nist(conformance_dir, "12004/submit/single_doc.xml")
    assert register(db, first, KEEP) == []
    uid = doc_row(db, first).unique_id
    again = nist(conformance_dir, "12004/submit/single_doc.xml")
    next(o for o in again.objects if isinstance(o, ExtrinsicObject)).set_external_id(
        Scheme.DE_UNIQUE_ID, uid or "")
    assert register(db, again, KEEP) == []
    assert [r.unique_id for r in rows(db, crud.DOCUMENT)] == [uid, uid]

    changed = nist(conformance_dir, "12004/submit/single_doc.xml")
    doc = next(o for o in changed.objects if isinstance(o, ExtrinsicObject))
    doc.set_external_id(Scheme.DE_UNIQUE_ID, uid or "")
    doc.set_slot("hash", ["0" * 40])
    before = count(db)
    assert codes(register(db, changed, KEEP)) == ["XDSNonIdenticalHash"]
    assert count(db) == before


def test_duplicate_unique_id_in_message(db: Database, conformance_dir: Path) -> None:
    request = nist(conformance_dir, "11991/submit/two_doc.xml")
    first, second = (o for o in request.objects if isinstance(o, ExtrinsicObject))
    second.set_external_id(Scheme.DE_UNIQUE_ID, first.unique_id or "")
    assert codes(register(db, request, KEEP)) == ["XDSRegistryDuplicateUniqueIdInMessage"]


def test_reused_submission_set_unique_id(db: Database, conformance_dir: Path) -> None:
    first = nist(conformance_dir, "11990/submit/single_doc.xml")
    assert register(db, first, KEEP) == []
    again = nist(conformance_dir, "11990/submit/single_doc.xml")
    ss_uid = rows(db, crud.SUBMISSION_SET)[0].unique_id or ""
    submission_set(again).set_external_id(Scheme.SS_UNIQUE_ID, ss_uid)
    assert codes(register(db, again, KEEP)) == ["XDSDuplicateUniqueIdInRegistry"]


def _preassign(request: SubmitObjectsRequest, uuids: dict[str, str]) -> None:
    """What NIST's <AssignUuids/> does: symbolic ids become the given urn:uuid values."""
    text = etree.tostring(request.to_element(), encoding="unicode")
    for old, new in uuids.items():
        text = text.replace(f'"{old}"', f'"{new}"')
    request.objects = SubmitObjectsRequest.from_bytes(text.encode()).objects


def test_reused_entry_uuid_is_refused(db: Database, conformance_dir: Path) -> None:
    """NIST 15806: resubmitting a pre-assigned urn:uuid fails; the original remains."""
    uuids = {"Document01": "urn:uuid:0b8a2e44-8b8f-4cf8-9c57-2b0b4e0c1a01",
             "SubmissionSet01": "urn:uuid:0b8a2e44-8b8f-4cf8-9c57-2b0b4e0c1a02"}
    first = nist(conformance_dir, "15806/submit/single_doc.xml")
    _preassign(first, uuids)
    assert register(db, first, KEEP) == []
    original = doc_row(db, first)
    assert original.entry_uuid == uuids["Document01"]
    again = nist(conformance_dir, "15806/submit/single_doc.xml")
    _preassign(again, uuids)
    assert "XDSDuplicateUniqueIdInRegistry" in codes(register(db, again, KEEP))
    assert [(r.entry_uuid, r.unique_id) for r in rows(db, crud.DOCUMENT)] == [
        (original.entry_uuid, original.unique_id)]


def test_unresolved_reference(db: Database, conformance_dir: Path) -> None:
    request = nist(conformance_dir, "11992/rplc/metadata.xml", rplc_doc_uuid="Document99")
    errors = register(db, request, KEEP)
    assert codes(errors) == ["XDSRegistryMetadataError"] and "Document99" in errors[0].context


def test_replace_deprecates_original(db: Database, conformance_dir: Path) -> None:
    """NIST 11992 and 11993: RPLC deprecates the original; an APND to it then fails."""
    submit = nist(conformance_dir, "11992/submit/metadata.xml")
    assert register(db, submit, KEEP) == []
    original = doc_row(db, submit).entry_uuid
    rplc = nist(conformance_dir, "11992/rplc/metadata.xml", rplc_doc_uuid=original)
    assert register(db, rplc, KEEP) == []
    assert doc_row(db, submit).status == DEPRECATED
    assert doc_row(db, rplc).status == APPROVED

    apnd = nist(conformance_dir, "11993/apnd/metadata.xml", apnd_doc_uuid=original)
    before = count(db)
    assert codes(register(db, apnd, KEEP)) == ["XDSRegistryDeprecatedDocumentError"]
    assert count(db) == before


def test_replace_with_another_patient(db: Database, conformance_dir: Path) -> None:
    """NIST 11998: RPLC with a different patient ID than the original."""
    seed_patient(db, OTHER_PATIENT)
    submit = nist(conformance_dir, "11998/submit/single_doc.xml")
    assert register(db, submit, KEEP) == []
    rplc = nist(conformance_dir, "11998/rplc/rplc.xml", OTHER_PATIENT,
                rplc_doc_uuid=doc_row(db, submit).entry_uuid)
    rplc_text = etree.tostring(rplc.to_element(), encoding="unicode")
    assert "$" not in rplc_text
    assert "XDSPatientIdDoesNotMatch" in codes(register(db, rplc, KEEP))
    assert doc_row(db, submit).status == APPROVED


def test_replacing_deprecates_addenda_and_transforms(db: Database, conformance_dir: Path) -> None:
    """NIST 12022 (CP-117): replacing doc01 deprecates its APND and XFRM documents too."""
    submit = nist(conformance_dir, "12022/submit/two_doc_w_fol.xml")
    assert register(db, submit, KEEP) == []
    doc01 = doc_row(db, submit).entry_uuid
    apnd = nist(conformance_dir, "12022/apnd/two_doc.xml", doc1=doc01)
    assert register(db, apnd, KEEP) == []
    rplc = nist(conformance_dir, "12022/rplc/rplc.xml", rplc_doc_uuid=doc01)
    assert register(db, rplc, KEEP) == []
    assert doc_row(db, submit, 0).status == DEPRECATED
    assert doc_row(db, submit, 1).status == APPROVED
    assert {doc_row(db, apnd, i).status for i in (0, 1)} == {DEPRECATED}
    assert doc_row(db, rplc).status == APPROVED


def as_from_repository(request: SubmitObjectsRequest) -> None:
    """What a repository adds to a PnR's DocumentEntries before ITI-42 (ITI TF-2b §3.41)."""
    for doc in (o for o in request.objects if isinstance(o, ExtrinsicObject)):
        doc.set_slot("hash", ["da39a3ee5e6b4b0d3255bfef95601890afd80709"])
        doc.set_slot("size", ["0"])
        doc.set_slot("repositoryUniqueId", ["1.19.6.24.109.42.1"])


def _folder_members(db: Database, folder_uuid: str) -> set[str]:
    return {r.target_uuid or "" for r in rows(db, crud.ASSOCIATION)
            if r.source_uuid == folder_uuid and r.association_type == AssociationType.HAS_MEMBER}


def test_replacement_joins_the_folders_of_the_original(db: Database, conformance_dir: Path) -> None:
    """NIST 12327 and 12323 (rplc): the replacement is added to the original's Folder, whose
    lastUpdateTime moves."""
    submit = nist(conformance_dir, "12327/submit_doc_w_fol/single_doc_w_fol.xml")
    assert register(db, submit, KEEP, now="20200101000000") == []
    folder = rows(db, crud.FOLDER)[0]
    original = doc_row(db, submit).entry_uuid
    assert _folder_members(db, folder.entry_uuid) == {original}
    assert folder.last_update_time == "20200101000000"
    rplc = nist(conformance_dir, "12327/rplc/rplc.xml", rplc_doc_uuid=original)
    assert register(db, rplc, KEEP, now="20210101000000") == []
    replacement = doc_row(db, rplc).entry_uuid
    assert _folder_members(db, folder.entry_uuid) == {original, replacement}
    folder = rows(db, crud.FOLDER)[0]
    assert folder.last_update_time == "20210101000000"
    stored = crud.row_to_object(folder)
    assert stored.slot_values("lastUpdateTime") == ["20210101000000"]


def test_folder_last_update_time_is_the_registrys(db: Database, conformance_dir: Path) -> None:
    """NIST 12323: a submitted lastUpdateTime is overwritten; add-to-folder updates it."""
    has_time = nist(conformance_dir, "12323/has_time/metadata.xml")
    assert register(db, has_time, KEEP, now="20240102030405") == []
    folder = rows(db, crud.FOLDER)[0]
    assert folder.last_update_time == "20240102030405"
    assert crud.row_to_object(folder).slot_values("lastUpdateTime") == ["20240102030405"]
    add = nist(conformance_dir, "12323/add_to_folder/metadata.xml", folid=folder.entry_uuid)
    assert register(db, add, KEEP, now="20240102030410") == []
    assert rows(db, crud.FOLDER)[0].last_update_time == "20240102030410"


def test_empty_folder_and_add_existing_document(db: Database, conformance_dir: Path) -> None:
    """NIST 11999 (empty Folder) and 12326 (existing document into existing Folder)."""
    assert register(db, nist(conformance_dir, "11999/submit/metadata.xml"), KEEP) == []
    create = nist(conformance_dir, "12326/create_folder/metadata.xml")
    assert register(db, create, KEEP) == []
    folder = next(r for r in rows(db, crud.FOLDER) if r.entry_uuid in {
        a.target_uuid for a in rows(db, crud.ASSOCIATION)})
    document = doc_row(db, create).entry_uuid
    add = nist(conformance_dir, "12326/add_to_folder/metadata.xml",
               Folder=folder.entry_uuid, Document=document)
    assert register(db, add, KEEP) == []
    assert _folder_members(db, folder.entry_uuid) == {document}


def test_add_to_folder_of_another_patient(db: Database, conformance_dir: Path) -> None:
    """NIST 12002."""
    seed_patient(db, OTHER_PATIENT)
    assert register(db, nist(conformance_dir, "12002/create_folder/fol.xml"), KEEP) == []
    folder = rows(db, crud.FOLDER)[0].entry_uuid
    add = nist(conformance_dir, "12002/add_to_folder/single_doc.xml", OTHER_PATIENT,
               Folder=folder, altpatientid=OTHER_PATIENT)
    assert codes(register(db, add, KEEP)) == ["XDSPatientIdDoesNotMatch"]


def test_documentation_classification(db: Database, conformance_dir: Path) -> None:
    """NIST 12370: refused on HasMember, kept on RPLC."""
    refused = nist(conformance_dir, "12370/not_configured/single_doc.xml")
    as_from_repository(refused)
    assert codes(register(db, refused, KEEP)) == ["XDSRegistryMetadataError"]
    submit = nist(conformance_dir, "12370/submit/single_doc.xml")
    assert register(db, submit, KEEP) == []
    rplc = nist(conformance_dir, "12370/rplc/rplc.xml",
                rplc_doc_uuid=doc_row(db, submit).entry_uuid)
    assert register(db, rplc, KEEP) == []
    stored = next(r for r in rows(db, crud.ASSOCIATION)
                  if r.association_type == AssociationType.RPLC)
    assoc = crud.row_to_object(stored)
    assert isinstance(assoc, Association)
    [doc] = assoc.classified(Scheme.ASSOCIATION_DOCUMENTATION)
    assert doc.node_representation == "Additional_Information"


@pytest.mark.parametrize("keep", [True, False])
def test_extra_metadata(db: Database, conformance_dir: Path, keep: bool) -> None:
    """NIST 12379: extra slots kept, or dropped with the XDSExtraMetadataNotSaved warning."""
    request = nist(conformance_dir, "12379/support/metadata.xml")
    errors = register(db, request, Policy(store_extra_metadata=keep))
    assert codes(errors) == []
    assert [e.code for e in errors] == ([] if keep else ["XDSExtraMetadataNotSaved"])
    stored = "".join(r.xml for r in rows(db))
    assert ("urn:nist:extraDESlot" in stored) is keep
    assert ("urn:nist:extraAssocSlot" in stored) is keep


def test_affinity_domain_codes(db: Database, conformance_dir: Path) -> None:
    """Codes are checked against codes.xml only when a code set is configured."""
    code_set = CodeSet.from_file(
        conformance_dir / "nist-testkit/environment/default/codes.xml")
    request = nist(conformance_dir, "11990/submit/single_doc.xml")
    doc = next(o for o in request.objects if isinstance(o, ExtrinsicObject))
    [klass] = doc.classified(Scheme.DE_CLASS_CODE)
    klass.node_representation = "NOT-A-CLASS"
    errors = register(db, request, Policy(codes=code_set))
    assert "XDSRegistryMetadataError" in codes(errors)
    assert any("NOT-A-CLASS" in e.context for e in errors)
    assert count(db) == 0
    assert register(db, request, KEEP) == []
