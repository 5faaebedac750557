"""ITI-57 Update Document Set, availabilityStatus changes (ITI TF-2b §3.57.4.1.3.3.1.3)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

import registry
from ihe.ebrim import (
    Association,
    Classification,
    ExtrinsicObject,
    ObjectType,
    RegistryPackage,
    RegistryResponse,
    ResponseStatus,
    Severity,
    Slot,
    Status,
    SubmitObjectsRequest,
)
from ihe.ebrim.enum import AssociationType, Scheme
from ihe.soap import Action
from partage import xsd
from partage.db import Database, migrate
from partage.devissuer import DevIssuer
from partage.serve import background
from registry import crud
from registry.core.config import RegistrySettings
from registry.main import create_app
from registry.models import RegistryObjectRow
from registry.submission import Policy, register, update_status
from tests.conftest import gateway_token, repository_token
from tests.registry.submission_data import OTHER_PATIENT, nist, seed_patient
from tests.registry.test_iti42 import post

APPROVED, DEPRECATED = Status.APPROVED, Status.DEPRECATED


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    migrate(database.engine, Path(registry.__file__).parent / "alembic")
    seed_patient(database)
    yield database
    database.engine.dispose()


def registered(db: Database, conformance_dir: Path, site: str = "") -> str:
    """Register NIST 11990's document (authored at ``site`` when given: its institutions' OID,
    XON.10); return its entryUUID."""
    request = nist(conformance_dir, "11990/submit/single_doc.xml")
    if site:
        for author in next(o for o in request.objects
                           if isinstance(o, ExtrinsicObject)).classified(Scheme.DE_AUTHOR):
            author.set_slot("authorInstitution", [f"CHU Nord^^^^^^^^^{site}"])
    assert register(db, request, Policy()) == []
    uid = next(o for o in request.objects if isinstance(o, ExtrinsicObject)).unique_id
    with db.session() as session:
        [row] = crud.rows_by_unique_id(session, crud.DOCUMENT, [uid or ""])
        return row.entry_uuid


def status_update(conformance_dir: Path, target: str, original: str, new: str,
                  patient: str | None = None) -> SubmitObjectsRequest:
    """A SubmissionSet (NIST 11990's, fresh uniqueId) with one UpdateAvailabilityStatus."""
    source = nist(conformance_dir, "11990/submit/single_doc.xml", *([patient] if patient else []))
    ss = next(o for o in source.objects if isinstance(o, RegistryPackage))
    node = next(o for o in source.objects
                if isinstance(o, Classification) and o.classified_object == ss.id)
    update = Association(
        id="update", object_type=ObjectType.ASSOCIATION,
        association_type=AssociationType.UPDATE_AVAILABILITY_STATUS,
        source_object=ss.id, target_object=target,
        slots=[Slot("OriginalStatus", [original]), Slot("NewStatus", [new])],
    )
    return SubmitObjectsRequest([ss, node, update])


def status_of(db: Database, entry_uuid: str) -> str:
    with db.session() as session:
        return crud.rows_by_uuid(session, [entry_uuid])[entry_uuid].status


def codes(errors: list) -> list[str]:
    return [e.code for e in errors if e.severity == Severity.ERROR]


def test_deprecate_then_approve_again(db: Database, conformance_dir: Path) -> None:
    doc = registered(db, conformance_dir)
    assert update_status(db, status_update(conformance_dir, doc, APPROVED, DEPRECATED),
                         Policy()) == []
    assert status_of(db, doc) == DEPRECATED
    assert update_status(db, status_update(conformance_dir, doc, DEPRECATED, APPROVED),
                         Policy()) == []
    assert status_of(db, doc) == APPROVED
    with db.session() as session:  # both updates are on record, each from its SubmissionSet
        updates = session.scalars(select(RegistryObjectRow).where(
            RegistryObjectRow.association_type == AssociationType.UPDATE_AVAILABILITY_STATUS))
        assert [(r.target_uuid, r.status) for r in updates] == [(doc, APPROVED)] * 2
        sets = session.scalars(select(RegistryObjectRow).where(
            RegistryObjectRow.kind == crud.SUBMISSION_SET))
        assert len(list(sets)) == 3


def test_original_status_must_match(db: Database, conformance_dir: Path) -> None:
    doc = registered(db, conformance_dir)
    errors = update_status(db, status_update(conformance_dir, doc, DEPRECATED, APPROVED), Policy())
    assert codes(errors) == ["XDSMetadataUpdateError"]
    assert status_of(db, doc) == APPROVED


@pytest.mark.parametrize("new", [Status.SUBMITTED, "Deprecated"])
def test_only_approved_and_deprecated_can_be_set(db: Database, conformance_dir: Path,
                                                 new: str) -> None:
    doc = registered(db, conformance_dir)
    errors = update_status(db, status_update(conformance_dir, doc, APPROVED, new), Policy())
    assert codes(errors) == ["XDSMetadataUpdateError"]


def test_unknown_target(db: Database, conformance_dir: Path) -> None:
    registered(db, conformance_dir)
    target = f"urn:uuid:{uuid.uuid4()}"
    errors = update_status(db, status_update(conformance_dir, target, APPROVED, DEPRECATED),
                           Policy())
    assert codes(errors) == ["XDSMetadataUpdateError"]


def test_target_of_another_patient(db: Database, conformance_dir: Path) -> None:
    doc = registered(db, conformance_dir)
    seed_patient(db, OTHER_PATIENT)
    request = status_update(conformance_dir, doc, APPROVED, DEPRECATED, OTHER_PATIENT)
    assert codes(update_status(db, request, Policy())) == ["XDSPatientIdDoesNotMatch"]
    assert status_of(db, doc) == APPROVED


def test_new_documents_are_not_an_update(db: Database, conformance_dir: Path) -> None:
    """Only availabilityStatus changes are supported: a new version is refused, atomically."""
    doc = registered(db, conformance_dir)
    request = status_update(conformance_dir, doc, APPROVED, DEPRECATED)
    request.objects += [o for o in nist(conformance_dir, "11990/submit/single_doc.xml").objects
                        if isinstance(o, ExtrinsicObject)]
    assert "XDSMetadataUpdateOperationError" in codes(update_status(db, request, Policy()))
    assert status_of(db, doc) == APPROVED


def test_update_association_is_refused_by_iti42(db: Database, conformance_dir: Path) -> None:
    doc = registered(db, conformance_dir)
    errors = register(db, status_update(conformance_dir, doc, APPROVED, DEPRECATED), Policy())
    assert codes(errors) == ["XDSRegistryMetadataError"]
    assert status_of(db, doc) == APPROVED


def test_deprecate_over_http(database_url: str, tmp_path: Path, conformance_dir: Path,
                             issuer: DevIssuer) -> None:
    app = create_app(RegistrySettings(database_url=database_url, data_dir=tmp_path,
                                      issuer=issuer.url))
    db = app.state.ctx.db
    seed_patient(db)
    doc = registered(db, conformance_dir)
    with background(app) as server:
        body = post(f"{server.url}/registry",
                    status_update(conformance_dir, doc, APPROVED, DEPRECATED).to_element(),
                    repository_token(issuer), Action.UPDATE)
    assert xsd.errors(body, conformance_dir / "schemas") == []
    answer = RegistryResponse.from_element(body)
    assert (answer.status, answer.errors) == (ResponseStatus.SUCCESS, [])
    assert status_of(db, doc) == DEPRECATED


# -- a site gateway changes its own site's entries only ------------------------------------------
SITE = "1.2.250.1.999.1.1"


def _as_site(request: SubmitObjectsRequest, site: str) -> SubmitObjectsRequest:
    """``request`` with ``site`` as its SubmissionSet's sourceId (what its gateway sends)."""
    for obj in request.objects:
        if isinstance(obj, RegistryPackage):
            obj.set_external_id(Scheme.SS_SOURCE_ID, site)
    return request


@pytest.mark.parametrize("own", [True, False], ids=["own-entry", "another-site-s-entry"])
def test_a_gateway_deprecates_only_its_own_site_s_entries(
        database_url: str, tmp_path: Path, conformance_dir: Path, issuer: DevIssuer,
        own: bool) -> None:
    app = create_app(RegistrySettings(database_url=database_url, data_dir=tmp_path,
                                      issuer=issuer.url))
    db = app.state.ctx.db
    seed_patient(db)
    doc = registered(db, conformance_dir, SITE if own else "")
    request = _as_site(status_update(conformance_dir, doc, APPROVED, DEPRECATED), SITE)
    with background(app) as server:
        answer = RegistryResponse.from_element(post(
            f"{server.url}/registry", request.to_element(), gateway_token(issuer, SITE),
            Action.UPDATE))
    if own:
        assert (answer.status, answer.errors) == (ResponseStatus.SUCCESS, [])
        assert status_of(db, doc) == DEPRECATED
    else:  # NIST's institutions name 1.2.3 and CleveClin, not the site
        assert [(e.code, e.context) for e in answer.errors] == [(
            "XDSRegistryError", f"DocumentEntry {doc} is of 1.2.3, CleveClin, not of the site "
                                f"of the caller ({SITE})")]
        assert status_of(db, doc) == APPROVED
