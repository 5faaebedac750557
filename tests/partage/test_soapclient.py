"""The SOAP client against real HTTP peers: what it puts on the wire (zeep envelope,
WS-Addressing, MTOM/XOP) and how it reads answers, faults and unreachable peers."""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi import FastAPI, Request, Response
from lxml import etree

from ihe import mtom, xml
from ihe.ebrim import (
    AdhocQueryRequest,
    AdhocQueryResponse,
    DocumentRequest,
    DocumentResponse,
    ExtrinsicObject,
    ProvideAndRegisterDocumentSetRequest,
    RegistryResponse,
    ResponseStatus,
    RetrieveDocumentSetRequest,
    RetrieveDocumentSetResponse,
    SubmitObjectsRequest,
)
from ihe.namespaces import XOP, q
from ihe.soap import Action, Envelope, Fault
from partage import xsd
from partage.serve import background, free_port
from partage.soap import render
from partage.soapclient import (
    DEFAULT_WSDL_DIR,
    XML_XSD_URL,
    PeerUnavailable,
    SoapFaultError,
    XdsClient,
    XdsTransport,
)
from tests.repository.factories import pnr

#: a document ending in whitespace: zeep's own MTOM reader would strip it
AWKWARD = b"\r\n  report\x00\xff\n\n"


@dataclass
class Peer:
    """Records raw requests and answers with ``reply(envelope) -> Response``."""

    seen: list[tuple[str, bytes]] = field(default_factory=list)

    def app(self, reply) -> FastAPI:  # type: ignore[no-untyped-def]
        app = FastAPI()

        @app.post("/soap")
        async def soap(request: Request) -> Response:
            body = await request.body()
            content_type = request.headers.get("content-type", "")
            self.seen.append((content_type, body))
            root = mtom.decode(content_type, body).root if mtom.is_multipart(content_type) else body
            return reply(Envelope.from_bytes(root))

        return app


def answering(body: etree._Element, parts: dict[str, tuple[str, bytes]] | None = None):  # type: ignore[no-untyped-def]
    def reply(request: Envelope) -> Response:
        envelope = Envelope(body=copy.deepcopy(body), action="urn:answer",
                            relates_to=request.message_id)
        return render(envelope, parts or {}, bool(parts))

    return reply


@pytest.fixture(scope="module")
def client() -> XdsClient:
    return XdsClient(timeout=5)


def serve(peer: Peer, reply) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with background(peer.app(reply)) as server:
        yield f"{server.url}/soap"


def test_wsdl_imports_are_served_locally() -> None:
    transport = XdsTransport(DEFAULT_WSDL_DIR.parent, timeout=1)
    assert transport.load(XML_XSD_URL) == (DEFAULT_WSDL_DIR.parent / "schema" / "xml.xsd").read_bytes()


def test_provide_and_register_is_sent_as_mtom(client: XdsClient) -> None:
    peer = Peer()
    request = pnr(AWKWARD, b"second")
    for url in serve(peer, answering(RegistryResponse().to_element())):
        response = client.provide_and_register(url, request)
    assert response.status == ResponseStatus.SUCCESS

    ((content_type, body),) = peer.seen
    assert content_type.startswith("multipart/related")
    assert 'type="application/xop+xml"' in content_type
    assert f'action="{Action.PROVIDE_AND_REGISTER}"' in content_type
    message = mtom.decode(content_type, body)
    envelope = Envelope.from_bytes(message.root)
    assert envelope.action == Action.PROVIDE_AND_REGISTER
    assert envelope.message_id and envelope.message_id.startswith("urn:uuid:")
    assert envelope.to == url
    includes = list(envelope.body.iter(q(XOP, "Include")))
    assert len(includes) == 2 and sorted(message.parts.values()) == sorted([AWKWARD, b"second"])
    sent = ProvideAndRegisterDocumentSetRequest.from_element(envelope.body, message.parts)
    assert [d.data for d in sent.documents] == [AWKWARD, b"second"]
    assert xml.to_bytes(sent.submission.to_element()) == xml.to_bytes(
        request.submission.to_element())
    for include in includes:  # the XOP infoset is schema-valid
        parent = include.getparent()
        parent.remove(include)
        parent.text = base64.b64encode(message.parts[include.get("href")[4:]]).decode()
    assert xsd.errors(envelope.body) == []


def test_register_is_plain_soap_and_relays_errors(client: XdsClient) -> None:
    peer = Peer()
    refused = etree.fromstring(
        b'<rs:RegistryResponse xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0" '
        b'status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"><rs:RegistryErrorList '
        b'highestSeverity="urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error">'
        b'<rs:RegistryError errorCode="XDSUnknownPatientId" codeContext="who?" location="here" '
        b'severity="urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"/>'
        b"</rs:RegistryErrorList></rs:RegistryResponse>")
    for url in serve(peer, answering(refused)):
        response = client.register(url, pnr(b"x").submission)
    assert response.status == ResponseStatus.FAILURE
    assert [(e.code, e.context, e.location) for e in response.errors] == [
        ("XDSUnknownPatientId", "who?", "here")]
    ((content_type, body),) = peer.seen
    assert content_type.startswith("application/soap+xml")
    envelope = Envelope.from_bytes(body)
    assert envelope.action == Action.REGISTER
    assert xsd.errors(envelope.body) == []
    assert SubmitObjectsRequest.from_element(envelope.body).objects


def test_stored_query_reads_ebrim_objects(client: XdsClient) -> None:
    entry = next(o for o in pnr(b"x").submission.objects if isinstance(o, ExtrinsicObject))
    found = AdhocQueryResponse(objects=[entry]).to_element()
    peer = Peer()
    query = AdhocQueryRequest("urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d")
    for url in serve(peer, answering(found)):
        response = client.stored_query(url, query)
    assert response.status == ResponseStatus.SUCCESS
    (got,) = response.objects
    assert isinstance(got, ExtrinsicObject) and got.unique_id == entry.unique_id
    sent = Envelope.from_bytes(peer.seen[0][1])
    assert sent.action == Action.STORED_QUERY and xsd.errors(sent.body) == []


def test_retrieve_reads_xop_parts_byte_for_byte(client: XdsClient) -> None:
    answer = RetrieveDocumentSetResponse(documents=[
        DocumentResponse("1.2.3", "1.2.3.4", "application/dicom", AWKWARD)])
    peer = Peer()
    for url in serve(peer, answering(answer.to_element(xop_cid=["p1@test"]),
                                     {"p1@test": ("application/dicom", AWKWARD)})):
        response = client.retrieve(url, RetrieveDocumentSetRequest([DocumentRequest("1.2.3", "1.2.3.4")]))
    assert [(d.document_unique_id, d.mime_type, d.data) for d in response.documents] == [
        ("1.2.3.4", "application/dicom", AWKWARD)]
    assert peer.seen[0][0].startswith("multipart/related")


def test_fault_and_unreachable_peer(client: XdsClient) -> None:
    def fault(request: Envelope) -> Response:
        return render(Fault("no such thing", code="Sender").envelope(request.message_id), {}, False, 400)

    for url in serve(Peer(), fault):
        with pytest.raises(SoapFaultError, match="no such thing"):
            client.register(url, pnr(b"x").submission)
    with pytest.raises(PeerUnavailable):
        client.register(f"http://127.0.0.1:{free_port()}/soap", pnr(b"x").submission)
