"""ITI-42 over real HTTP: SOAP 1.2 envelopes posted to the registry app on loopback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from lxml import etree

from ihe.ebrim import (
    ExtrinsicObject,
    RegistryPackage,
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
from partage.devissuer import DevIssuer
from partage.serve import background
from registry import crud
from registry.core.config import RegistrySettings
from registry.identity.sites import SiteEntry, put_site
from registry.main import create_app
from tests.conftest import gateway_token, repository_token
from tests.registry.submission_data import OTHER_PATIENT, nist, seed_patient


@pytest.fixture
def registry_app(database_url: str, tmp_path: Path, issuer: DevIssuer) -> Iterator[FastAPI]:
    app = create_app(RegistrySettings(database_url=database_url, data_dir=tmp_path,
                                      issuer=issuer.url))
    seed_patient(app.state.ctx.db)
    yield app


@pytest.fixture
def registry_url(registry_app: FastAPI) -> Iterator[str]:
    with background(registry_app) as server:
        yield f"{server.url}/registry"


def post(url: str, body: etree._Element, token: str, action: str = Action.REGISTER
         ) -> etree._Element:
    """The registry's answer to ``body``, sent with ``token`` (a writer's: the repository's
    forwarding ITI-42, unless a test says otherwise)."""
    envelope = Envelope(body=body, action=action, message_id=f"urn:uuid:{uuid.uuid4()}", to=url)
    reply = httpx.post(url, content=envelope.to_bytes(), timeout=30,
                       headers={"content-type": "application/soap+xml; charset=utf-8",
                                "authorization": f"Bearer {token}"})
    assert reply.status_code == 200, reply.text
    answer = Envelope.from_bytes(reply.content)
    assert answer.action == RESPONSE_OF[action]  # type: ignore[index]
    return answer.body


def unique_id(request: SubmitObjectsRequest) -> str:
    return next(o for o in request.objects if isinstance(o, ExtrinsicObject)).unique_id or ""


@pytest.fixture
def writer(issuer: DevIssuer) -> str:
    return repository_token(issuer)


def submit(url: str, request: SubmitObjectsRequest, conformance_dir: Path, token: str
           ) -> RegistryResponse:
    body = post(url, request.to_element(), token)
    assert xsd.errors(body, conformance_dir / "schemas") == []
    return RegistryResponse.from_element(body)


def test_register_then_replace(registry_url: str, database_url: str,
                               conformance_dir: Path, writer: str) -> None:
    """NIST 11992 over the wire: the original ends Deprecated, the replacement Approved."""
    submitted = nist(conformance_dir, "11992/submit/metadata.xml")
    first = submit(registry_url, submitted, conformance_dir, writer)
    assert (first.status, first.errors) == (ResponseStatus.SUCCESS, [])
    db = Database(database_url)
    with db.session() as session:
        [original] = crud.rows_by_unique_id(session, crud.DOCUMENT, [unique_id(submitted)])
    replacement = nist(conformance_dir, "11992/rplc/metadata.xml",
                       rplc_doc_uuid=original.entry_uuid)
    second = submit(registry_url, replacement, conformance_dir, writer)
    assert (second.status, second.errors) == (ResponseStatus.SUCCESS, [])
    with db.session() as session:
        [old] = crud.rows_by_unique_id(session, crud.DOCUMENT, [unique_id(submitted)])
        [new] = crud.rows_by_unique_id(session, crud.DOCUMENT, [unique_id(replacement)])
        assert (old.status, new.status) == (Status.DEPRECATED, Status.APPROVED)
    db.engine.dispose()


def test_failure_is_an_ebrs_registry_error(registry_url: str, conformance_dir: Path,
                                           writer: str) -> None:
    """NIST 11996: unknown patient; the response is a schema-valid Failure."""
    answer = submit(registry_url,
                    nist(conformance_dir, "11996/submit/single_doc.xml", OTHER_PATIENT),
                    conformance_dir, writer)
    assert answer.status == ResponseStatus.FAILURE
    assert [e.code for e in answer.errors] == ["XDSUnknownPatientId"]


def test_extra_metadata_warning_keeps_success(
    database_url: str, tmp_path: Path, conformance_dir: Path, issuer: DevIssuer, writer: str
) -> None:
    """NIST 12379 no_support: Success with the XDSExtraMetadataNotSaved warning."""
    settings = RegistrySettings(database_url=database_url, data_dir=tmp_path,
                                store_extra_metadata=False, issuer=issuer.url)
    app = create_app(settings)
    seed_patient(app.state.ctx.db)
    with background(app) as server:
        answer = submit(f"{server.url}/registry",
                        nist(conformance_dir, "12379/no_support/metadata.xml"), conformance_dir,
                        writer)
    assert answer.status == ResponseStatus.SUCCESS
    assert [e.code for e in answer.errors] == ["XDSExtraMetadataNotSaved"]


def test_malformed_metadata_is_answered_not_crashed(registry_url: str,
                                                    conformance_dir: Path, writer: str) -> None:
    """A Slot without a name is refused with XDSRegistryMetadataError, not a 500."""
    request = nist(conformance_dir, "11990/submit/single_doc.xml").to_element()
    slot = request.find(".//{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}Slot")
    assert slot is not None
    del slot.attrib["name"]
    answer = RegistryResponse.from_element(post(registry_url, request, writer))
    assert answer.status == ResponseStatus.FAILURE
    assert [e.code for e in answer.errors] == ["XDSRegistryMetadataError"]


def test_codes_file_is_enforced(database_url: str, tmp_path: Path, conformance_dir: Path,
                                issuer: DevIssuer, writer: str) -> None:
    """With settings.codes_file the NIST codes.xml restricts coded values."""
    settings = RegistrySettings(
        database_url=database_url, data_dir=tmp_path, issuer=issuer.url,
        codes_file=conformance_dir / "nist-testkit/environment/default/codes.xml",
    )
    request = nist(conformance_dir, "11990/submit/single_doc.xml")
    doc = next(o for o in request.objects if isinstance(o, ExtrinsicObject))
    [type_code] = doc.classified(Scheme.DE_TYPE_CODE)
    type_code.node_representation = "no-such-type"
    app = create_app(settings)
    seed_patient(app.state.ctx.db)
    with background(app) as server:
        answer = submit(f"{server.url}/registry", request, conformance_dir, writer)
    assert answer.status == ResponseStatus.FAILURE
    assert any(e.code == "XDSRegistryMetadataError" and "no-such-type" in e.context
               for e in answer.errors)
    with app.state.ctx.db.session() as session:
        assert crud.rows_by_unique_id(session, crud.DOCUMENT, [doc.unique_id or ""]) == []


# -- who may register (partage.sources): the repository, or a site gateway for its own site -------
SITE = "1.2.250.1.999.1.1"


def site_submission(conformance_dir: Path, site: str = SITE) -> SubmitObjectsRequest:
    """NIST 11990 as ``site``'s gateway sends it: its sourceId, its institution's OID."""
    request = nist(conformance_dir, "11990/submit/single_doc.xml")
    for obj in request.objects:
        if isinstance(obj, RegistryPackage) and obj.external_id(Scheme.SS_SOURCE_ID):
            obj.set_external_id(Scheme.SS_SOURCE_ID, site)
        if isinstance(obj, ExtrinsicObject):
            for author in obj.classified(Scheme.DE_AUTHOR):
                author.set_slot("authorInstitution", [f"CHU Nord^^^^^^^^^{site}"])
    return request


def stored(app: FastAPI, request: SubmitObjectsRequest) -> bool:
    with app.state.ctx.db.session() as session:
        return bool(crud.rows_by_unique_id(session, crud.DOCUMENT, [unique_id(request)]))


def test_a_site_gateway_registers_for_its_own_site(
        registry_app: FastAPI, registry_url: str, conformance_dir: Path,
        issuer: DevIssuer) -> None:
    request = site_submission(conformance_dir)
    answer = submit(registry_url, request, conformance_dir, gateway_token(issuer, SITE))
    assert (answer.status, answer.errors) == (ResponseStatus.SUCCESS, [])
    assert stored(registry_app, request)


def test_without_a_token_registering_is_a_401_fault(
        registry_app: FastAPI, registry_url: str, conformance_dir: Path) -> None:
    request = site_submission(conformance_dir)
    envelope = Envelope(body=request.to_element(), action=Action.REGISTER)
    reply = httpx.post(registry_url, content=envelope.to_bytes(),
                       headers={"content-type": "application/soap+xml; charset=utf-8"})
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"] == 'Bearer realm="partage"'
    assert not stored(registry_app, request)


@pytest.mark.parametrize(("caller", "reason"), [
    (("claire", ["patient"], {"site": SITE}),
     "submitting requires the site-gateway role; the caller 'claire' has ['patient']"),
    (("dr-martin", ["radiologist"], {"organisation_oid": SITE}),
     "submitting requires the site-gateway role; the caller 'dr-martin' has ['radiologist']"),
    (("gateway-b", ["site-gateway"], {"site": "1.2.250.1.999.1.2"}),
     f"sourceId '{SITE}' is not the site of the caller (1.2.250.1.999.1.2)"),
])
def test_only_the_site_s_own_gateway_may_register(
        registry_app: FastAPI, registry_url: str, conformance_dir: Path, issuer: DevIssuer,
        caller: tuple[str, list[str], dict[str, str]], reason: str) -> None:
    sub, roles, claims = caller
    request = site_submission(conformance_dir)
    answer = submit(registry_url, request, conformance_dir, issuer.token(sub, roles, **claims))
    assert [(e.code, e.context) for e in answer.errors] == [("XDSRegistryError", reason)]
    assert not stored(registry_app, request)


def test_a_suspended_site_may_not_register(
        registry_app: FastAPI, registry_url: str, conformance_dir: Path,
        issuer: DevIssuer) -> None:
    with registry_app.state.ctx.db.session() as session:
        put_site(session, oid=SITE, entry=SiteEntry("CHU Nord", "1.2.250.1.999.1.1.2",
                                                    active=False))
    for token in (gateway_token(issuer, SITE), repository_token(issuer)):
        request = site_submission(conformance_dir)
        answer = submit(registry_url, request, conformance_dir, token)
        assert [(e.code, e.context) for e in answer.errors] == [
            ("XDSRegistryError", f"site {SITE} is suspended in the site directory")]
        assert not stored(registry_app, request)
