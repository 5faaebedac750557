"""The registry's fast paths give what the plain paths gave (correctness, not timing):

* LeafClass answers spliced from the stored XML are byte for byte the answers built from the
  stored objects (``crud.row_to_object`` then ``to_element``), and schema-valid;
* ITI-42 written in one statement on PostgreSQL (objects and codes; two elsewhere) keeps
  submission order, indexes every code of its own object, and is still all or nothing when a
  write fails midway;
* the copy ``read_submission`` makes is deep: the caller's request is left alone.
"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ihe.ebrim import (
    AdhocQueryResponse,
    Association,
    ExtrinsicObject,
    RegistryPackage,
    Status,
    SubmitObjectsRequest,
)
from ihe.ebrim.content import write_object_list
from ihe.ebrim.enum import AssociationType
from ihe.soap import Action, Envelope
from partage.db import Database
from partage.soap import envelope_bytes
from partage.xsd import errors as xsd_errors
from registry import crud
from registry.api.routes import iti18
from registry.models import ObjectCode, RegistryObjectRow
from registry.queries import run_answer
from registry.submission import Policy, register
from registry.submission.model import Problems, read_submission
from tests.registry.query_factory import database, query, quoted
from tests.registry.submission_data import PATIENT, nist, seed_patient

#: NIST 12346 sections in run order, as the harness loads them
LOAD_12346 = {
    "single_doc": "single_doc.xml",
    "doc_w_fol": "single_doc_w_fol.xml",
    "two_doc_w_fol": "two_doc_w_fol.xml",
    "doc_for_rplc": "single_doc_for_rplc.xml",
    "rplc": "rplc.xml",
}
APPROVED_OR_DEPRECATED = quoted(Status.APPROVED, Status.DEPRECATED)
HAS_MEMBER = AssociationType.HAS_MEMBER


def load_12346(db: Database, conformance_dir: Path) -> None:
    symbols: dict[str, str] = {}
    for section, name in LOAD_12346.items():
        request = nist(conformance_dir, f"12346/{section}/{name}", **symbols)
        assert register(db, request, Policy()) == [], section
        if section == "doc_for_rplc":
            doc = next(o for o in request.objects if isinstance(o, ExtrinsicObject))
            with db.session() as session:
                [row] = crud.rows_by_unique_id(session, crud.DOCUMENT, [doc.unique_id or ""])
            symbols["rplc_doc_uuid"] = row.entry_uuid


@pytest.fixture
def db(database_url: str) -> Database:
    db = database(database_url)
    seed_patient(db)
    yield db
    db.engine.dispose()


QUERIES = {
    "GetAll": dict(
        patientId=f"'{PATIENT}'", XDSDocumentEntryStatus=APPROVED_OR_DEPRECATED,
        XDSSubmissionSetStatus=APPROVED_OR_DEPRECATED, XDSFolderStatus=APPROVED_OR_DEPRECATED,
    ),
    "FindDocuments": dict(
        XDSDocumentEntryPatientId=f"'{PATIENT}'", XDSDocumentEntryStatus=APPROVED_OR_DEPRECATED,
    ),
    "FindFolders": dict(XDSFolderPatientId=f"'{PATIENT}'", XDSFolderStatus=quoted(Status.APPROVED)),
    "FindSubmissionSets": dict(
        XDSSubmissionSetPatientId=f"'{PATIENT}'", XDSSubmissionSetStatus=quoted(Status.APPROVED),
    ),
}


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_spliced_leaf_class_is_the_round_trip(
    db: Database, conformance_dir: Path, name: str
) -> None:
    load_12346(db, conformance_dir)
    with db.session() as session:
        found = run_answer(session, query(name, "LeafClass", **QUERIES[name]), 100)
    objects = found.objects()
    assert objects, name
    if name == "FindDocuments":  # the replaced original answers Deprecated
        assert {o.status for o in objects} == {Status.APPROVED, Status.DEPRECATED}

    # the list content alone
    listed = etree.tostring(write_object_list(objects), encoding="utf-8")
    opening = listed[: listed.index(b">") + 1]
    assert listed == opening + found.leaf_xml() + b"</rim:RegistryObjectList>"

    # the whole SOAP answer, as the endpoint writes it
    reply = iti18.reply(found)
    assert reply.splice is not None
    headers = dict(action=Action.STORED_QUERY_RESPONSE, message_id="urn:uuid:1",
                   relates_to="urn:uuid:2")
    before = Envelope(body=AdhocQueryResponse(objects=objects).to_element(), **headers).to_bytes()
    after = envelope_bytes(Envelope(body=reply.body, **headers), reply.splice)
    assert after == before
    assert xsd_errors(reply.body_element()) == []


def test_unusual_stored_xml_takes_the_round_trip() -> None:
    """Stored XML not in ``object_xml``'s form is answered through the objects."""
    doc = ExtrinsicObject(id=f"urn:uuid:{uuid.uuid4()}", mime_type="text/plain",
                          object_type="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1")
    canonical = crud.object_xml(doc)
    assert crud.answer_xml(canonical, Status.APPROVED) is not None
    other_prefix = canonical.replace("ns0", "rim")
    assert crud.answer_xml(other_prefix, Status.APPROVED) is None
    extra_namespace = canonical.replace('id="', 'xmlns:x="urn:x" id="', 1)
    assert crud.answer_xml(extra_namespace, Status.APPROVED) is None


def test_status_goes_where_to_element_puts_it() -> None:
    """Before ``home`` and an association's own attributes; escaped like lxml escapes."""
    doc = ExtrinsicObject(id="urn:uuid:a", mime_type="text/plain", lid="urn:uuid:l",
                          object_type="urn:uuid:t", home="urn:oid:1.2")
    for status in (Status.APPROVED, 'odd "&<>\n\t status'):
        doc.status = status
        expected = etree.tostring(write_object_list([doc]), encoding="utf-8").decode()
        spliced = crud.answer_xml(crud.object_xml(doc), status)
        assert spliced is not None and spliced in expected
        assert expected.endswith(spliced + "</rim:RegistryObjectList>")


def _counts(db: Database) -> tuple[int, int]:
    with db.session() as session:
        return (session.scalar(select(func.count()).select_from(RegistryObjectRow)) or 0,
                session.scalar(select(func.count()).select_from(ObjectCode)) or 0)


def test_rows_keep_submission_order_and_their_own_codes(
    db: Database, conformance_dir: Path
) -> None:
    request = nist(conformance_dir, "12346/two_doc_w_fol/two_doc_w_fol.xml")
    assert register(db, request, Policy()) == []
    with db.session() as session:
        rows = list(session.scalars(select(RegistryObjectRow).order_by(RegistryObjectRow.id)))
        codes = {
            row.id: sorted(
                (c.attribute, c.code, c.scheme)
                for c in session.scalars(select(ObjectCode).where(ObjectCode.object_id == row.id))
            )
            for row in rows
        }
    # submission order: the SubmissionSet, the documents, the folders, the associations
    kinds = [row.kind for row in rows]
    assert kinds == sorted(kinds, key=["ss", "doc", "fol", "assoc"].index)
    for row in rows:
        assert codes[row.id] == sorted(crud.code_index(crud.row_to_object(row))), row.kind
        assert row.xml == crud.object_xml(crud.row_to_object(row))
    assert sum(map(len, codes.values())) > len(rows)


def test_objects_without_codes_are_written_alone(db: Database) -> None:
    """A write of objects none of which has a code (an empty code list on PostgreSQL)."""
    links = [Association(id=f"urn:uuid:{uuid.uuid4()}", association_type=HAS_MEMBER,
                         source_object="urn:uuid:s", target_object=f"urn:uuid:{n}")
             for n in range(3)]
    before = _counts(db)
    with db.session() as session:
        ids = crud.add_objects(session, links, status=Status.APPROVED)
    assert ids == sorted(ids) and len(set(ids)) == 3
    with db.session() as session:
        stored = session.scalars(select(RegistryObjectRow.target_uuid)
                                 .where(RegistryObjectRow.id.in_(ids))
                                 .order_by(RegistryObjectRow.id)).all()
    assert stored == [link.target_object for link in links]
    assert _counts(db) == (before[0] + 3, before[1])


def _too_long_in_the_middle(request: SubmitObjectsRequest, where: str) -> None:
    """Make one value of the second document too long for its column, so that the statement
    writing objects (``mime_type``, 128) or codes (``code``, 256) fails on a row in the
    middle of the batch, after the rows before it were accepted."""
    docs = [o for o in request.objects if isinstance(o, ExtrinsicObject)]
    assert len(docs) == 2
    if where == "objects":
        docs[1].mime_type = "text/" + "x" * 300
    else:
        docs[1].classifications[-1].node_representation = "C" * 300


@pytest.mark.parametrize("where", ["objects", "codes"])
def test_a_failed_write_midway_keeps_nothing(
    db: Database, conformance_dir: Path, where: str
) -> None:
    assert register(db, nist(conformance_dir, "12346/single_doc/single_doc.xml"), Policy()) == []
    before = _counts(db)
    request = nist(conformance_dir, "12346/two_doc_w_fol/two_doc_w_fol.xml")
    _too_long_in_the_middle(request, where)
    errors = register(db, request, Policy())
    if db.engine.dialect.name == "sqlite":  # SQLite does not enforce VARCHAR lengths
        assert errors == []
        return
    assert [e.code for e in errors] == ["XDSRegistryError"]
    assert _counts(db) == before


def test_a_failure_after_the_writes_keeps_nothing(
    db: Database, conformance_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writes ran, then something fails before commit: all are rolled back (any
    backend)."""
    before = _counts(db)
    real = crud.add_objects

    def add_then_fail(*args: object, **kwargs: object) -> list[int]:
        ids = real(*args, **kwargs)  # type: ignore[arg-type]
        assert ids
        from sqlalchemy.exc import OperationalError

        raise OperationalError("after the writes", {}, Exception("injected"))

    monkeypatch.setattr(crud, "add_objects", add_then_fail)
    errors = register(db, nist(conformance_dir, "12346/two_doc_w_fol/two_doc_w_fol.xml"),
                      Policy())
    assert [e.code for e in errors] == ["XDSRegistryError"]
    assert _counts(db) == before


def test_a_duplicate_caught_by_the_database_is_reported(
    db: Database, conformance_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A concurrent submission registering the same SubmissionSet uniqueId between check and
    write: the unique index refuses the batch, reported as a duplicate (the driver's error
    surfaces as SQLAlchemy's IntegrityError on every backend)."""
    request = nist(conformance_dir, "12346/single_doc/single_doc.xml")
    assert register(db, request, Policy()) == []
    before = _counts(db)
    real = crud.existing

    def blind_to_unique_ids(session: Session, **asked: Any) -> crud.Existing:
        found = real(session, **asked)
        return dataclasses.replace(found, unique_ids={k: [] for k in found.unique_ids})

    monkeypatch.setattr(crud, "existing", blind_to_unique_ids)
    errors = register(db, request, Policy())
    assert [e.code for e in errors] == ["XDSDuplicateUniqueIdInRegistry"]
    assert _counts(db) == before


def test_read_submission_leaves_the_request_alone(conformance_dir: Path) -> None:
    request = nist(conformance_dir, "12346/two_doc_w_fol/two_doc_w_fol.xml")
    original = etree.tostring(request.to_element())
    submission = read_submission(request, Problems())
    assert submission is not None
    for obj in submission.objects:
        obj.id = "changed"
        obj.slots.clear()
        for c in obj.classifications:
            c.classified_object = "changed"
        obj.external_identifiers.clear()
    assert isinstance(submission.submission_set, RegistryPackage)
    assert etree.tostring(request.to_element()) == original
