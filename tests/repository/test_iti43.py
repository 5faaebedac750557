"""ITI-43 over real HTTP: one, several, some and none of the requested documents."""

from __future__ import annotations

import base64
import copy

import httpx
from lxml import etree
import pytest

from ihe import mtom
from ihe.ebrim import (
    DocumentRequest,
    ExtrinsicObject,
    ResponseStatus,
    RetrieveDocumentSetRequest,
    RetrieveDocumentSetResponse,
)
from ihe.namespaces import XOP, q
from ihe.soap import Action, Envelope
from partage import xsd
from tests.repository.conftest import REPOSITORY_UID, Running
from tests.repository.factories import pnr


@pytest.fixture
def stored(repository: Running) -> list[str]:
    """uniqueIds of three stored documents with different mimeTypes (NIST 12360)."""
    uids = []
    for data, mime in ((b"one", "text/plain"), (b"two", "application/dicom"),
                       (b"<x/>", "text/xml")):
        request = pnr(data, mime_type=mime)
        assert repository.client.provide_and_register(
            repository.endpoint, request,
            repository.source_token()).status == ResponseStatus.SUCCESS
        entry = next(o for o in request.submission.objects if isinstance(o, ExtrinsicObject))
        uids.append(entry.unique_id or "")
    return uids


def inlined(body: etree._Element, parts: dict[str, bytes]) -> etree._Element:
    """The XOP infoset of ``body`` (parts back as base64 text), which is what the XSD describes."""
    body = copy.deepcopy(body)
    for include in list(body.iter(q(XOP, "Include"))):
        parent = include.getparent()
        parent.text = base64.b64encode(parts[include.get("href", "")[4:]]).decode()
        parent.remove(include)
    return body


def raw_retrieve(running: Running, *requests: DocumentRequest) -> RetrieveDocumentSetResponse:
    """ITI-43 posted by hand, to check the MTOM answer itself and its schema validity."""
    envelope = Envelope(body=RetrieveDocumentSetRequest(list(requests)).to_element(),
                        action=Action.RETRIEVE, message_id="urn:uuid:7d9e0c59-4d0e-4a8e-9f35-0c2f1d7e8a10")
    answer = httpx.post(running.endpoint, content=envelope.to_bytes(),
                        headers={"content-type": "application/soap+xml; charset=utf-8",
                                 **running.auth()})
    assert answer.status_code == 200
    message = mtom.decode(answer.headers["content-type"], answer.content)
    reply = Envelope.from_bytes(message.root)
    assert reply.action == Action.RETRIEVE_RESPONSE
    assert reply.relates_to == envelope.message_id
    assert xsd.errors(inlined(reply.body, message.parts)) == []
    return RetrieveDocumentSetResponse.from_element(reply.body, message.parts)


def test_single_document_with_its_mime_type(repository: Running, stored: list[str]) -> None:
    got = raw_retrieve(repository, DocumentRequest(REPOSITORY_UID, stored[1], "urn:oid:1.2.3"))
    assert got.response.status == ResponseStatus.SUCCESS
    (doc,) = got.documents
    assert (doc.data, doc.mime_type, doc.document_unique_id) == (b"two", "application/dicom",
                                                                stored[1])
    assert doc.home_community_id == "urn:oid:1.2.3"


def test_several_documents(repository: Running, stored: list[str]) -> None:
    got = repository.retrieve(RetrieveDocumentSetRequest(
        [DocumentRequest(REPOSITORY_UID, uid) for uid in stored]))
    assert got.response.status == ResponseStatus.SUCCESS
    assert [(d.data, d.mime_type) for d in got.documents] == [
        (b"one", "text/plain"), (b"two", "application/dicom"), (b"<x/>", "text/xml")]


def test_partial_success(repository: Running, stored: list[str]) -> None:
    """NIST 15816 retrieve_partial_uid."""
    got = raw_retrieve(repository, DocumentRequest(REPOSITORY_UID, stored[0]),
                       DocumentRequest(REPOSITORY_UID, "1.2.3.4.5.404"),
                       DocumentRequest("1.2.3.999", stored[2]))
    assert got.response.status == ResponseStatus.PARTIAL_SUCCESS
    assert [d.data for d in got.documents] == [b"one"]
    assert [(e.code, e.location) for e in got.response.errors] == [
        ("XDSDocumentUniqueIdError", "1.2.3.4.5.404"), ("XDSUnknownRepositoryId", "1.2.3.999")]


def test_none_found_is_a_failure(repository: Running, stored: list[str]) -> None:
    """NIST 15816 retrieve_bad_doc_uid."""
    got = raw_retrieve(repository, DocumentRequest(REPOSITORY_UID, "1.2.3.4.5.404"))
    assert got.response.status == ResponseStatus.FAILURE
    assert got.documents == []
    assert [e.code for e in got.response.errors] == ["XDSDocumentUniqueIdError"]


def test_other_repository(repository: Running, stored: list[str]) -> None:
    got = repository.retrieve(RetrieveDocumentSetRequest(
        [DocumentRequest("1.3.6.1.4.1.21367.13.80.110", stored[0])]))
    assert got.response.status == ResponseStatus.FAILURE
    assert [e.code for e in got.response.errors] == ["XDSUnknownRepositoryId"]
