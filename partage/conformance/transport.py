"""Send test-plan transactions over real HTTP, byte for byte as built here.

This is a test client: it must be able to send exactly the bytes a test plan holds (the
``PnrXop`` wire captures) or deliberately broken metadata, so it builds the wire messages
with ``ihe.soap`` / ``ihe.mtom`` and posts raw bytes with httpx (no SOAP toolkit in between).
ITI-42 and ITI-18 go as SOAP 1.2; ITI-41 and ITI-43 as MTOM/XOP, like NIST's Axis2 engine.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

import httpx
from lxml import etree

from ihe import mtom, xml
from ihe.errors import RemoteProtocolError
from ihe.namespaces import XDSB, XOP, q
from ihe.soap import Action, Envelope

SOAP_TYPE = 'application/soap+xml; charset=UTF-8; action="{action}"'


@dataclass
class Exchange:
    """One request and its response, as sent and received."""

    url: str
    request_headers: dict[str, str]
    request_body: bytes
    status_code: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""
    #: the SOAP body element of the response (RegistryResponse, AdhocQueryResponse, Fault …)
    body: etree._Element | None = None
    attachments: dict[str, bytes] = field(default_factory=dict)
    error: str = ""


@dataclass
class Endpoints:
    registry: str
    repository: str
    #: the repository's repositoryUniqueId: NIST's site setting behind ``$repuid$`` where no
    #: earlier step reports it (15816 Retrieve)
    repository_unique_id: str = ""
    #: bearer token sent with every transaction (every one is refused without a token)
    token: str = ""
    #: the token a submission is sent with instead, given the endpoint and the submission's
    #: sourceId: ITI-41 is a site gateway's for its own site, ITI-42 the Document Repository's
    #: (``partage.sources``). ``None``: ``token`` (a peer's run, ``--token``)
    writer_token: Callable[[str, str], str] | None = None


def envelope_bytes(body: etree._Element, action: str, to: str) -> bytes:
    return Envelope(
        body=body, action=action, message_id=f"urn:uuid:{uuid.uuid4()}", to=to,
        reply_to="http://www.w3.org/2005/08/addressing/anonymous",
    ).to_bytes()


def soap_request(body: etree._Element, action: str, url: str) -> tuple[dict[str, str], bytes]:
    return {"Content-Type": SOAP_TYPE.format(action=action)}, envelope_bytes(body, action, url)


def mtom_request(body: etree._Element, action: str, url: str,
                 parts: dict[str, tuple[str, bytes]] | None = None) -> tuple[dict[str, str], bytes]:
    content_type, data = mtom.encode(
        envelope_bytes(body, action, url), parts or {},
        boundary=f"MIMEBoundary_{uuid.uuid4().hex}", action=action,
    )
    return {"Content-Type": content_type}, data


def provide_and_register(submission: etree._Element, documents: dict[str, tuple[str, bytes]],
                         url: str) -> tuple[dict[str, str], bytes]:
    """ITI-41: the SubmitObjectsRequest plus one ``xdsb:Document`` per entry of ``documents``
    (DocumentEntry id → (mimeType, bytes)), each an XOP attachment."""
    request = etree.Element(q(XDSB, "ProvideAndRegisterDocumentSetRequest"), nsmap={"xdsb": XDSB})
    request.append(submission)
    parts: dict[str, tuple[str, bytes]] = {}
    for n, (doc_id, (mime, data)) in enumerate(documents.items(), start=1):
        cid = f"doc{n}.{uuid.uuid4().hex}@partage-conformance"
        document = etree.SubElement(request, q(XDSB, "Document"), id=doc_id)
        etree.SubElement(document, q(XOP, "Include"), nsmap={"xop": XOP}, href=f"cid:{cid}")
        parts[cid] = (mime or "application/octet-stream", data)
    return mtom_request(request, Action.PROVIDE_AND_REGISTER, url, parts)


def resolve_xop(body: etree._Element, attachments: dict[str, bytes]) -> etree._Element:
    """The XOP infoset (XOP 1.0 §3.2): every ``xop:Include`` becomes the base64 text of its
    part, so the body can be schema-validated; an unknown part is left for the checks."""
    for include in list(body.iter(q(XOP, "Include"))):
        href = include.get("href", "")
        cid = unquote(href[4:] if href.lower().startswith("cid:") else href).strip("<>")
        parent = include.getparent()
        if cid in attachments and parent is not None:
            parent.remove(include)
            parent.text = base64.b64encode(attachments[cid]).decode("ascii")
    return body


def send(client: httpx.Client, url: str, headers: dict[str, str], body: bytes) -> Exchange:
    """POST and decode the answer (plain SOAP or MTOM) down to the SOAP body element."""
    exchange = Exchange(url=url, request_headers=headers, request_body=body)
    try:
        response = client.post(url, headers=headers, content=body)
    except httpx.HTTPError as exc:
        exchange.error = f"HTTP error: {exc}"
        return exchange
    exchange.status_code = response.status_code
    exchange.response_headers = dict(response.headers)
    exchange.response_body = response.content
    content_type = response.headers.get("content-type", "")
    try:
        root = response.content
        if mtom.is_multipart(content_type):
            message = mtom.decode(content_type, response.content)
            root, exchange.attachments = message.root, message.parts
        exchange.body = resolve_xop(Envelope.from_element(xml.parse(root)).body, exchange.attachments)
    except RemoteProtocolError as exc:
        exchange.error = f"HTTP {response.status_code}, unreadable SOAP answer: {exc}"
    return exchange
