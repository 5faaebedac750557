"""The ITI-18 SOAP handler: answers and every failure as a schema-valid AdhocQueryResponse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from ihe.ebrim import AdhocQueryResponse, ExtrinsicObject, ResponseStatus, Status
from ihe.namespaces import QUERY, q
from ihe.soap import Action, Envelope
from partage.auth import Principal
from partage.soap import SoapReply, SoapRequest
from partage.xsd import errors as xsd_errors
from registry.api.deps import RegistryContext
from registry.api.routes import iti18
from registry.core.config import RegistrySettings
from tests.registry.query_factory import PATIENT, Registry, database, query, quoted


@pytest.fixture
def ctx(database_url: str, tmp_path: Path) -> Iterator[RegistryContext]:
    db = database(database_url)
    settings = RegistrySettings(database_url=database_url, data_dir=tmp_path, max_query_results=3)
    yield RegistryContext(settings=settings, db=db, codes=None)
    db.engine.dispose()


def call(ctx: RegistryContext, body: etree._Element) -> AdhocQueryResponse:
    request = SoapRequest(Envelope(body=body, action=Action.STORED_QUERY))
    reply = iti18.make_handler(ctx)(request, Principal("dr-martin", frozenset({"radiologist"})))
    assert isinstance(reply, SoapReply)
    body = reply.body_element()
    assert xsd_errors(body) == []
    return AdhocQueryResponse.from_element(body)


def find(return_type: str = "LeafClass") -> etree._Element:
    return query(
        "FindDocuments", return_type,
        XDSDocumentEntryPatientId=f"'{PATIENT}'",
        XDSDocumentEntryStatus=quoted(Status.APPROVED),
    ).to_element()


def test_leaf_class_answer(ctx: RegistryContext) -> None:
    with ctx.db.session() as session:
        doc = Registry(session).document()
    response = call(ctx, find())
    assert response.status == ResponseStatus.SUCCESS and not response.errors
    (obj,) = response.objects
    assert isinstance(obj, ExtrinsicObject) and obj.id == doc and obj.status == Status.APPROVED


def test_too_many_results_is_a_failure_response(ctx: RegistryContext) -> None:
    with ctx.db.session() as session:
        for _ in range(4):
            Registry(session).document()
    response = call(ctx, find("ObjectRef"))
    assert response.status == ResponseStatus.FAILURE and response.objects == []
    assert [e.code for e in response.errors] == ["XDSTooManyResults"]


def test_unknown_query_and_unknown_return_type(ctx: RegistryContext) -> None:
    body = find()
    body.find(".//{*}AdhocQuery").set("id", "urn:uuid:00000000-0000-0000-0000-000000000000")
    assert [e.code for e in call(ctx, body).errors] == ["XDSUnknownStoredQuery"]
    body = find()
    body.find(q(QUERY, "ResponseOption")).set("returnType", "Everything")
    assert call(ctx, body).status == ResponseStatus.FAILURE


def test_param_number_error_names_the_parameter(ctx: RegistryContext) -> None:
    body = query("FindDocuments", XDSDocumentEntryPatientId=quoted(PATIENT, "other"),
                 XDSDocumentEntryStatus=quoted(Status.APPROVED)).to_element()
    (error,) = call(ctx, body).errors
    assert error.code == "XDSStoredQueryParamNumber"
    assert error.location == "$XDSDocumentEntryPatientId"


def test_wrong_body_is_a_failure_response_not_a_fault(ctx: RegistryContext) -> None:
    body = etree.Element(q(QUERY, "AdhocQueryRequest"))  # no AdhocQuery
    response = call(ctx, body)
    assert response.status == ResponseStatus.FAILURE and response.errors
