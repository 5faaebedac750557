"""XDS-I.b RAD-69 Retrieve Imaging Document Set request (RAD TF-3 §4.69.4.1.2).

``iherad:RetrieveImagingDocumentSetRequest`` holds StudyRequest@studyInstanceUID /
SeriesRequest@seriesInstanceUID / ``xdsb:DocumentRequest`` (DocumentUniqueId = SOP Instance UID)
and the TransferSyntaxUIDList the consumer accepts. The answer is an ITI-43
``RetrieveDocumentSetResponse`` (``ihe.ebrim.RetrieveDocumentSetResponse``).

The schema lets the UIDs be empty (``rim:LongName``); this module keeps them as sent, and the
Imaging Document Source checks them (NIST ids_2018-4811 cases 05–08). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from ihe import xml
from ihe.ebrim import DocumentRequest
from ihe.errors import RemoteProtocolError
from ihe.namespaces import XDSB, XDSI, q

#: NIST's code for a malformed RAD-69 request (not an IHE code; see error-codes.md)
REQUEST_ERROR = "XDSIRequestError"


@dataclass
class SeriesRequest:
    series_instance_uid: str
    documents: list[DocumentRequest] = field(default_factory=list)


@dataclass
class StudyRequest:
    study_instance_uid: str
    series: list[SeriesRequest] = field(default_factory=list)


@dataclass
class RetrieveImagingDocumentSetRequest:
    """RAD-69 body; ``transfer_syntaxes`` keeps the list's entries in order, blanks included."""

    studies: list[StudyRequest] = field(default_factory=list)
    transfer_syntaxes: list[str] = field(default_factory=list)

    @classmethod
    def from_element(cls, el: etree._Element) -> RetrieveImagingDocumentSetRequest:
        if el.tag != q(XDSI, "RetrieveImagingDocumentSetRequest"):
            raise RemoteProtocolError(
                f"expected RetrieveImagingDocumentSetRequest, got {etree.QName(el).localname}",
                REQUEST_ERROR)
        studies = [
            StudyRequest(
                (study.get("studyInstanceUID") or "").strip(),
                [
                    SeriesRequest(
                        (series.get("seriesInstanceUID") or "").strip(),
                        [DocumentRequest.from_element(d)
                         for d in series.iterfind(q(XDSB, "DocumentRequest"))],
                    )
                    for series in study.iterfind(q(XDSI, "SeriesRequest"))
                ],
            )
            for study in el.iterfind(q(XDSI, "StudyRequest"))
        ]
        syntaxes = el.find(q(XDSI, "TransferSyntaxUIDList"))
        if syntaxes is None:
            raise RemoteProtocolError("missing TransferSyntaxUIDList", REQUEST_ERROR)
        return cls(studies, [(ts.text or "").strip()
                             for ts in syntaxes.iterfind(q(XDSI, "TransferSyntaxUID"))])

    @classmethod
    def from_bytes(cls, data: bytes) -> RetrieveImagingDocumentSetRequest:
        return cls.from_element(xml.parse(data))

    def to_element(self) -> etree._Element:
        el = etree.Element(q(XDSI, "RetrieveImagingDocumentSetRequest"),
                           nsmap={"iherad": XDSI, "xdsb": XDSB})
        for study in self.studies:
            s = etree.SubElement(el, q(XDSI, "StudyRequest"),
                                 studyInstanceUID=study.study_instance_uid)
            for series in study.series:
                r = etree.SubElement(s, q(XDSI, "SeriesRequest"),
                                     seriesInstanceUID=series.series_instance_uid)
                for document in series.documents:
                    r.append(document.to_element())
        syntaxes = etree.SubElement(el, q(XDSI, "TransferSyntaxUIDList"))
        for uid in self.transfer_syntaxes:
            etree.SubElement(syntaxes, q(XDSI, "TransferSyntaxUID")).text = uid
        return el

    def to_bytes(self) -> bytes:
        return xml.to_bytes(self.to_element())
