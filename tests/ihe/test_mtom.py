"""MTOM/XOP bodies: the NIST wire captures (Axis2, WCF, URL-encoded cids, LF line ends, no
``start`` parameter) decode; what we encode decodes back byte for byte."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ihe import mtom
from ihe.ebrim import ProvideAndRegisterDocumentSetRequest
from ihe.errors import RemoteProtocolError
from ihe.soap import Envelope


def _captures(conformance_dir: Path) -> list[tuple[str, Path]]:
    out = []
    for plan in sorted((conformance_dir / "nist-testkit/tests").glob("Pnr*/*/testplan.xml")):
        text = plan.read_text()
        match = re.search(r"Content-Type:\s*(.+)", text)
        body = plan.parent / "body.txt"
        if match and body.exists():
            out.append((match.group(1).strip(), body))
    return out


def test_every_nist_capture_decodes_to_a_pnr_with_its_documents(conformance_dir: Path) -> None:
    captures = _captures(conformance_dir)
    assert len(captures) >= 4
    for content_type, body in captures:
        message = mtom.decode(content_type, body.read_bytes())
        envelope = Envelope.from_bytes(message.root)
        request = ProvideAndRegisterDocumentSetRequest.from_element(envelope.body, message.parts)
        assert request.documents, body
        assert all(d.data for d in request.documents), body


def test_encode_then_decode_is_lossless() -> None:
    binary = bytes(range(256)) * 64 + b"\r\n--not-a-boundary\r\n"
    content_type, body = mtom.encode(
        b"<root/>", {"a@x": ("application/dicom", binary), "b@x": ("text/plain", b"")},
        boundary="MIMEBoundary_test", action="urn:ihe:iti:2007:RetrieveDocumentSet",
    )
    assert 'start="<root.message@partage>"' in content_type
    message = mtom.decode(content_type, body)
    assert message.root == b"<root/>"
    assert message.parts == {"a@x": binary, "b@x": b""}
    assert message.part_types["a@x"] == "application/dicom"


def test_truncated_body_is_refused() -> None:
    content_type, body = mtom.encode(b"<root/>", {"a@x": ("text/plain", b"abc")}, boundary="B")
    with pytest.raises(RemoteProtocolError, match="truncated"):
        mtom.decode(content_type, body[:-10])


@pytest.mark.parametrize(
    "content_type",
    ["multipart/related", 'multipart/related; boundary="B"; start="<missing>"', "text/xml"],
)
def test_bad_headers_are_refused(content_type: str) -> None:
    _, body = mtom.encode(b"<root/>", {}, boundary="B")
    with pytest.raises(RemoteProtocolError):
        mtom.decode(content_type, body)
