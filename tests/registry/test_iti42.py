"""ITI-42 over real HTTP: SOAP 1.2 envelopes posted to the registry app on loopback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree

from ihe.ebrim import (
    ExtrinsicObject,
    RegistryResponse,
    ResponseStatus,
    Scheme,
    Status,
    SubmitObjectsRequest,
)
from ihe.soap import Action, Envelope
from ihe.soap.actions import RESPONSE_OF
from partage import xsd
from partage.db import Database
from partage.serve import background
from registry import crud
from registry.core.config import RegistrySettings
from registry.main import create_app
from tests.registry.submission_data import OTHER_PATIENT, nist, seed_patient


@pytest.fixture
def registry_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    app = create_app(RegistrySettings(database_url=database_url, data_dir=tmp_path))
    seed_patient(app.state.ctx.db)
    with background(app) as server:
        yield f"{server.url}/registry"


def post(url: str, body: etree._Element, action: str = Action.REGISTER) -> etree._Element:
    envelope = Envelope(body=body, action=action, message_id=f"urn:uuid:{uuid.uuid4()}", to=url)
    reply = httpx.post(url, content=envelope.to_bytes(), timeout=30,
                       headers={"content-type": "application/soap+xml; charset=utf-8"})
    assert reply.status_code == 200, reply.text
    answer = Envelope.from_bytes(reply.content)
    assert answer.action == RESPONSE_OF[action]  # type: ignore[index]
    return answer.body


def unique_id(request: SubmitObjectsRequest) -> str:
    return next(o for o in request.objects if isinstance(o, ExtrinsicObject)).unique_id or ""


def submit(url: str, request: SubmitObjectsRequest, conformance_dir: Path) -> RegistryResponse:
    body = post(url, request.to_element())
    assert xsd.errors(body, conformance_dir / "schemas") == []
    return RegistryResponse.from_element(body)


def test_register_then_replace(registry_url: str, database_url: str,
                               conformance_dir: Path) -> None:
    """NIST 11992 over the wire: the original ends Deprecated, the replacement Approved."""
    submitted = nist(conformance_dir, "11992/submit/metadata.xml")
    first = submit(registry_url, submitted, conformance_dir)
    assert (first.status, first.errors) == (ResponseStatus.SUCCESS, [])
    db = Database(database_url)
    with db.session() as session:
        [original] = crud.rows_by_unique_id(session, crud.DOCUMENT, [unique_id(submitted)])
    replacement = nist(conformance_dir, "11992/rplc/metadata.xml",
                       rplc_doc_uuid=original.entry_uuid)
    second = submit(registry_url, replacement, conformance_dir)
    assert (second.status, second.errors) == (ResponseStatus.SUCCESS, [])
    with db.session() as session:
        [old] = crud.rows_by_unique_id(session, crud.DOCUMENT, [unique_id(submitted)])
        [new] = crud.rows_by_unique_id(session, crud.DOCUMENT, [unique_id(replacement)])
        assert (old.status, new.status) == (Status.DEPRECATED, Status.APPROVED)
    db.engine.dispose()


def test_failure_is_an_ebrs_registry_error(registry_url: str, conformance_dir: Path) -> None:
    """NIST 11996: unknown patient; the response is a schema-valid Failure."""
    answer = submit(registry_url,
                    nist(conformance_dir, "11996/submit/single_doc.xml", OTHER_PATIENT),
                    conformance_dir)
    assert answer.status == ResponseStatus.FAILURE
    assert [e.code for e in answer.errors] == ["XDSUnknownPatientId"]


def test_extra_metadata_warning_keeps_success(
    database_url: str, tmp_path: Path, conformance_dir: Path
) -> None:
    """NIST 12379 no_support: Success with the XDSExtraMetadataNotSaved warning."""
    settings = RegistrySettings(database_url=database_url, data_dir=tmp_path,
                                store_extra_metadata=False)
    app = create_app(settings)
    seed_patient(app.state.ctx.db)
    with background(app) as server:
        answer = submit(f"{server.url}/registry",
                        nist(conformance_dir, "12379/no_support/metadata.xml"), conformance_dir)
    assert answer.status == ResponseStatus.SUCCESS
    assert [e.code for e in answer.errors] == ["XDSExtraMetadataNotSaved"]


def test_malformed_metadata_is_answered_not_crashed(registry_url: str,
                                                    conformance_dir: Path) -> None:
    """A Slot without a name is refused with XDSRegistryMetadataError, not a 500."""
    request = nist(conformance_dir, "11990/submit/single_doc.xml").to_element()
    slot = request.find(".//{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}Slot")
    assert slot is not None
    del slot.attrib["name"]
    answer = RegistryResponse.from_element(post(registry_url, request))
    assert answer.status == ResponseStatus.FAILURE
    assert [e.code for e in answer.errors] == ["XDSRegistryMetadataError"]


def test_codes_file_is_enforced(database_url: str, tmp_path: Path, conformance_dir: Path) -> None:
    """With settings.codes_file the NIST codes.xml restricts coded values."""
    settings = RegistrySettings(
        database_url=database_url, data_dir=tmp_path,
        codes_file=conformance_dir / "nist-testkit/environment/default/codes.xml",
    )
    request = nist(conformance_dir, "11990/submit/single_doc.xml")
    doc = next(o for o in request.objects if isinstance(o, ExtrinsicObject))
    [type_code] = doc.classified(Scheme.DE_TYPE_CODE)
    type_code.node_representation = "no-such-type"
    app = create_app(settings)
    seed_patient(app.state.ctx.db)
    with background(app) as server:
        answer = submit(f"{server.url}/registry", request, conformance_dir)
    assert answer.status == ResponseStatus.FAILURE
    assert any(e.code == "XDSRegistryMetadataError" and "no-such-type" in e.context
               for e in answer.errors)
    with app.state.ctx.db.session() as session:
        assert crud.rows_by_unique_id(session, crud.DOCUMENT, [doc.unique_id or ""]) == []
