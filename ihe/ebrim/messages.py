"""ebRS 3.0 / XDS.b messages: ITI-42, ITI-18, ITI-41 and ITI-43 bodies.

Every message parses from an lxml element (``from_element``) or bytes (``from_bytes``) and
serialises with ``to_element`` / ``to_bytes``. Documents of ITI-41 / ITI-43 are carried as
``bytes`` here; how they travel (inline base64 or an XOP part) is the MTOM layer's business.
"""

from __future__ import annotations

import base64
from urllib.parse import unquote
from dataclasses import dataclass, field

from lxml import etree

from ihe import xml
from ihe.ebrim.content import Identifiable, Slot, read_object_list, write_object_list
from ihe.ebrim.enum import ResponseStatus, Severity
from ihe.errors import RemoteProtocolError
from ihe.namespaces import LCM, QUERY, RIM, RS, XDSB, XOP, q


def _expect(el: etree._Element, ns: str, local: str) -> None:
    if el.tag != q(ns, local):
        raise RemoteProtocolError(
            f"expected {local}, got {etree.QName(el).localname}", "XDSRegistryError"
        )


@dataclass
class RegistryError:
    code: str
    context: str = ""
    location: str = ""
    severity: Severity = Severity.ERROR

    def to_element(self) -> etree._Element:
        el = etree.Element(q(RS, "RegistryError"))
        el.set("errorCode", self.code)
        el.set("codeContext", self.context)
        el.set("severity", self.severity)
        if self.location:
            el.set("location", self.location)
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> RegistryError:
        return cls(
            code=el.get("errorCode") or "",
            context=el.get("codeContext") or "",
            location=el.get("location") or "",
            severity=Severity(el.get("severity") or Severity.ERROR),
        )


def _error_list(errors: list[RegistryError]) -> etree._Element:
    el = etree.Element(q(RS, "RegistryErrorList"))
    severe = any(e.severity == Severity.ERROR for e in errors)
    el.set("highestSeverity", Severity.ERROR if severe else Severity.WARNING)
    for e in errors:
        el.append(e.to_element())
    return el


def _read_errors(el: etree._Element) -> list[RegistryError]:
    return [
        RegistryError.from_element(e)
        for e in el.iterfind(f"{q(RS, 'RegistryErrorList')}/{q(RS, 'RegistryError')}")
    ]


def status_for(errors: list[RegistryError]) -> ResponseStatus:
    return (
        ResponseStatus.FAILURE
        if any(e.severity == Severity.ERROR for e in errors)
        else ResponseStatus.SUCCESS
    )


@dataclass
class RegistryResponse:
    """``rs:RegistryResponse``: the answer to ITI-41, ITI-42 and ITI-57."""

    status: str = ResponseStatus.SUCCESS
    errors: list[RegistryError] = field(default_factory=list)

    @classmethod
    def from_errors(cls, errors: list[RegistryError]) -> RegistryResponse:
        return cls(status=status_for(errors), errors=list(errors))

    def to_element(self) -> etree._Element:
        el = etree.Element(q(RS, "RegistryResponse"), nsmap={"rs": RS}, status=self.status)
        if self.errors:
            el.append(_error_list(self.errors))
        return el

    def to_bytes(self) -> bytes:
        return xml.to_bytes(self.to_element())

    @classmethod
    def from_element(cls, el: etree._Element) -> RegistryResponse:
        _expect(el, RS, "RegistryResponse")
        return cls(status=el.get("status") or "", errors=_read_errors(el))


@dataclass
class SubmitObjectsRequest:
    """``lcm:SubmitObjectsRequest``: ITI-42 (and ITI-57) body; ``slots`` are the request's
    ``rs:RequestSlotList`` (ebRS 3.0 §6.1)."""

    objects: list[Identifiable] = field(default_factory=list)
    slots: list[Slot] = field(default_factory=list)

    @classmethod
    def from_element(cls, el: etree._Element) -> SubmitObjectsRequest:
        _expect(el, LCM, "SubmitObjectsRequest")
        return cls(
            objects=read_object_list(el.find(q(RIM, "RegistryObjectList"))),
            slots=[
                Slot.from_element(s)
                for s in el.iterfind(f"{q(RS, 'RequestSlotList')}/{q(RIM, 'Slot')}")
            ],
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> SubmitObjectsRequest:
        return cls.from_element(xml.parse(data))

    def to_element(self) -> etree._Element:
        el = etree.Element(q(LCM, "SubmitObjectsRequest"), nsmap={"lcm": LCM, "rim": RIM})
        if self.slots:
            slot_list = etree.SubElement(el, q(RS, "RequestSlotList"), nsmap={"rs": RS})
            for s in self.slots:
                slot_list.append(s.to_element())
        el.append(write_object_list(self.objects))
        return el

    def to_bytes(self) -> bytes:
        return xml.to_bytes(self.to_element())


@dataclass
class Document:
    """One ``xdsb:Document``: the bytes of the DocumentEntry whose id is ``id``."""

    id: str
    data: bytes


@dataclass
class ProvideAndRegisterDocumentSetRequest:
    """ITI-41 body. ``documents`` hold decoded bytes; the MTOM layer resolves XOP includes
    before this parser sees the element (see ``ihe.mtom``)."""

    submission: SubmitObjectsRequest
    documents: list[Document] = field(default_factory=list)

    @classmethod
    def from_element(
        cls, el: etree._Element, attachments: dict[str, bytes] | None = None
    ) -> ProvideAndRegisterDocumentSetRequest:
        _expect(el, XDSB, "ProvideAndRegisterDocumentSetRequest")
        sor = el.find(q(LCM, "SubmitObjectsRequest"))
        if sor is None:
            raise RemoteProtocolError("missing SubmitObjectsRequest", "XDSRepositoryMetadataError")
        docs = [
            Document(d.get("id") or "", document_bytes(d, attachments or {}))
            for d in el.iterfind(q(XDSB, "Document"))
        ]
        return cls(submission=SubmitObjectsRequest.from_element(sor), documents=docs)

    def to_element(self, xop_cid: dict[str, str] | None = None) -> etree._Element:
        """Serialise; with ``xop_cid`` (document id → Content-ID) the bytes become XOP
        includes instead of inline base64."""
        el = etree.Element(
            q(XDSB, "ProvideAndRegisterDocumentSetRequest"),
            nsmap={"xdsb": XDSB, "lcm": LCM, "rim": RIM},
        )
        el.append(self.submission.to_element())
        for doc in self.documents:
            d = etree.SubElement(el, q(XDSB, "Document"), id=doc.id)
            _write_document_bytes(d, doc.data, (xop_cid or {}).get(doc.id))
        return el


def document_bytes(el: etree._Element, attachments: dict[str, bytes]) -> bytes:
    """The content of a base64Binary element that is either inline or an ``xop:Include``."""
    include = el.find(q(XOP, "Include"))
    if include is not None:
        href = include.get("href") or ""
        cid = _cid(href)
        if cid not in attachments:
            raise RemoteProtocolError(f"XOP part {href!r} not found", "XDSMissingDocument")
        return attachments[cid]
    text = "".join(el.itertext()).strip()
    try:
        return base64.b64decode(text, validate=False)
    except ValueError:
        raise RemoteProtocolError("document is not valid base64", "XDSRepositoryError") from None


def _cid(href: str) -> str:
    """Normalise ``cid:`` URLs (RFC 2392: may be URL-encoded) to bare Content-IDs."""
    value = href[4:] if href.lower().startswith("cid:") else href
    return unquote(value).strip("<>")


def _write_document_bytes(el: etree._Element, data: bytes, cid: str | None) -> None:
    if cid is None:
        el.text = base64.b64encode(data).decode("ascii")
    else:
        etree.SubElement(el, q(XOP, "Include"), nsmap={"xop": XOP}, href=f"cid:{cid}")


@dataclass
class AdhocQueryRequest:
    """ITI-18 body: a stored query id and its parameter slots (repeated names are AND-ed)."""

    query_id: str
    parameters: list[Slot] = field(default_factory=list)
    return_type: str = "LeafClass"
    return_composed_objects: bool = True
    home: str | None = None

    @classmethod
    def from_element(cls, el: etree._Element) -> AdhocQueryRequest:
        _expect(el, QUERY, "AdhocQueryRequest")
        option = el.find(q(QUERY, "ResponseOption"))
        query = el.find(q(RIM, "AdhocQuery"))
        if query is None:
            raise RemoteProtocolError("missing AdhocQuery", "XDSRegistryError")
        return cls(
            query_id=(query.get("id") or "").strip(),
            parameters=[Slot.from_element(s) for s in query.iterfind(q(RIM, "Slot"))],
            return_type=(option.get("returnType") if option is not None else None) or "LeafClass",
            return_composed_objects=(
                option is not None and option.get("returnComposedObjects", "false") == "true"
            ),
            home=query.get("home"),
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> AdhocQueryRequest:
        return cls.from_element(xml.parse(data))

    def to_element(self) -> etree._Element:
        el = etree.Element(q(QUERY, "AdhocQueryRequest"), nsmap={"query": QUERY, "rim": RIM})
        etree.SubElement(
            el,
            q(QUERY, "ResponseOption"),
            returnType=self.return_type,
            returnComposedObjects="true" if self.return_composed_objects else "false",
        )
        query = etree.SubElement(el, q(RIM, "AdhocQuery"), id=self.query_id)
        if self.home:
            query.set("home", self.home)
        for s in self.parameters:
            query.append(s.to_element())
        return el

    def to_bytes(self) -> bytes:
        return xml.to_bytes(self.to_element())


@dataclass
class AdhocQueryResponse:
    status: str = ResponseStatus.SUCCESS
    objects: list[Identifiable] = field(default_factory=list)
    errors: list[RegistryError] = field(default_factory=list)

    def to_element(self) -> etree._Element:
        el = etree.Element(
            q(QUERY, "AdhocQueryResponse"),
            nsmap={"query": QUERY, "rim": RIM, "rs": RS},
            status=self.status,
        )
        if self.errors:
            el.append(_error_list(self.errors))
        el.append(write_object_list(self.objects))
        return el

    def to_bytes(self) -> bytes:
        return xml.to_bytes(self.to_element())

    @classmethod
    def from_element(cls, el: etree._Element) -> AdhocQueryResponse:
        _expect(el, QUERY, "AdhocQueryResponse")
        return cls(
            status=el.get("status") or "",
            objects=read_object_list(el.find(q(RIM, "RegistryObjectList"))),
            errors=_read_errors(el),
        )


@dataclass
class DocumentRequest:
    repository_unique_id: str
    document_unique_id: str
    home_community_id: str | None = None

    def to_element(self) -> etree._Element:
        el = etree.Element(q(XDSB, "DocumentRequest"))
        if self.home_community_id:
            etree.SubElement(el, q(XDSB, "HomeCommunityId")).text = self.home_community_id
        etree.SubElement(el, q(XDSB, "RepositoryUniqueId")).text = self.repository_unique_id
        etree.SubElement(el, q(XDSB, "DocumentUniqueId")).text = self.document_unique_id
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> DocumentRequest:
        def text(local: str) -> str | None:
            child = el.find(q(XDSB, local))
            return (child.text or "").strip() if child is not None else None

        return cls(
            repository_unique_id=text("RepositoryUniqueId") or "",
            document_unique_id=text("DocumentUniqueId") or "",
            home_community_id=text("HomeCommunityId"),
        )


@dataclass
class RetrieveDocumentSetRequest:
    """ITI-43 body."""

    requests: list[DocumentRequest] = field(default_factory=list)

    @classmethod
    def from_element(cls, el: etree._Element) -> RetrieveDocumentSetRequest:
        _expect(el, XDSB, "RetrieveDocumentSetRequest")
        return cls([DocumentRequest.from_element(d) for d in el.iterfind(q(XDSB, "DocumentRequest"))])

    def to_element(self) -> etree._Element:
        el = etree.Element(q(XDSB, "RetrieveDocumentSetRequest"), nsmap={"xdsb": XDSB})
        for r in self.requests:
            el.append(r.to_element())
        return el


@dataclass
class DocumentResponse:
    repository_unique_id: str
    document_unique_id: str
    mime_type: str
    data: bytes
    home_community_id: str | None = None


@dataclass
class RetrieveDocumentSetResponse:
    """ITI-43 (and RAD-69) response: a RegistryResponse plus the documents found."""

    response: RegistryResponse = field(default_factory=RegistryResponse)
    documents: list[DocumentResponse] = field(default_factory=list)

    def to_element(self, xop_cid: list[str] | None = None) -> etree._Element:
        """With ``xop_cid`` (one Content-ID per document, in order) bytes become XOP includes."""
        el = etree.Element(
            q(XDSB, "RetrieveDocumentSetResponse"), nsmap={"xdsb": XDSB, "rs": RS}
        )
        el.append(self.response.to_element())
        for i, doc in enumerate(self.documents):
            d = etree.SubElement(el, q(XDSB, "DocumentResponse"))
            if doc.home_community_id:
                etree.SubElement(d, q(XDSB, "HomeCommunityId")).text = doc.home_community_id
            etree.SubElement(d, q(XDSB, "RepositoryUniqueId")).text = doc.repository_unique_id
            etree.SubElement(d, q(XDSB, "DocumentUniqueId")).text = doc.document_unique_id
            etree.SubElement(d, q(XDSB, "mimeType")).text = doc.mime_type
            _write_document_bytes(
                etree.SubElement(d, q(XDSB, "Document")), doc.data, xop_cid[i] if xop_cid else None
            )
        return el

    @classmethod
    def from_element(
        cls, el: etree._Element, attachments: dict[str, bytes] | None = None
    ) -> RetrieveDocumentSetResponse:
        _expect(el, XDSB, "RetrieveDocumentSetResponse")
        rr = el.find(q(RS, "RegistryResponse"))
        if rr is None:
            raise RemoteProtocolError("missing RegistryResponse", "XDSRepositoryError")
        docs = []
        for d in el.iterfind(q(XDSB, "DocumentResponse")):
            def text(local: str, d: etree._Element = d) -> str | None:
                child = d.find(q(XDSB, local))
                return (child.text or "").strip() if child is not None else None

            doc_el = d.find(q(XDSB, "Document"))
            docs.append(
                DocumentResponse(
                    repository_unique_id=text("RepositoryUniqueId") or "",
                    document_unique_id=text("DocumentUniqueId") or "",
                    mime_type=text("mimeType") or "",
                    data=document_bytes(doc_el, attachments or {}) if doc_el is not None else b"",
                    home_community_id=text("HomeCommunityId"),
                )
            )
        return cls(response=RegistryResponse.from_element(rr), documents=docs)
