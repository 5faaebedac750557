"""Hostile and broken input against the running registry and repository: every one gets the
protocol's own error (a SOAP fault or an ebRS failure) and leaves no trace behind."""

from __future__ import annotations

import httpx
import pytest

from ihe import mtom
from ihe.soap import Action, Envelope, Fault
from tests.conftest import Region

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&x;</s:Body></s:Envelope>"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE e [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><x>&d;</x></s:Body></s:Envelope>"""

SOAP11 = b"""<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>"""


def _fault(answer: httpx.Response) -> Fault:
    assert answer.headers["content-type"].startswith("application/soap+xml")
    envelope = Envelope.from_bytes(answer.content)
    assert envelope.action == Action.SOAP_FAULT
    return Fault.from_element(envelope.body)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (XXE, 400, "Sender"),
        (LAUGHS, 400, "Sender"),
        (b"\x00\xff garbage", 400, "Sender"),
        (b"<unclosed", 400, "Sender"),
        (SOAP11, 400, "VersionMismatch"),
        (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"/>', 400, "Sender"),
    ],
    ids=["xxe", "entity-expansion", "binary", "truncated-xml", "soap11", "no-body"],
)
@pytest.mark.parametrize("service", ["registry", "repository"])
def test_bad_xml_gets_a_soap_fault_and_changes_nothing(
    region: Region, service: str, body: bytes, status: int, code: str
) -> None:
    url = getattr(region, service)
    answer = httpx.post(url, content=body, headers={"content-type": "application/soap+xml"})
    assert answer.status_code == status
    fault = _fault(answer)
    assert fault.code == code
    assert "passwd" not in fault.reason and "root:" not in answer.text
    assert region.count_rows() == (0, 0)


@pytest.mark.parametrize("service", ["registry", "repository"])
def test_oversized_body_is_refused_before_parsing(region: Region, service: str) -> None:
    body = b"<x>" + b"a" * (2 * 1024 * 1024) + b"</x>"  # the region fixture allows 1 MiB
    answer = httpx.post(
        getattr(region, service), content=body, headers={"content-type": "application/soap+xml"}
    )
    assert answer.status_code == 400
    assert "exceeds" in _fault(answer).reason
    assert region.count_rows() == (0, 0)


def test_unknown_action_is_an_addressing_fault(region: Region) -> None:
    envelope = Envelope(body=Fault("x").to_element(), action="urn:example:Nothing", message_id="urn:uuid:9")
    answer = httpx.post(region.registry, content=envelope.to_bytes(),
                        headers={"content-type": "application/soap+xml"})
    fault = _fault(answer)
    assert fault.subcode == "wsa:ActionNotSupported"
    assert Envelope.from_bytes(answer.content).relates_to == "urn:uuid:9"


def test_truncated_mtom_upload_stores_nothing(region: Region, conformance_dir) -> None:  # type: ignore[no-untyped-def]
    plan = (conformance_dir / "nist-testkit/tests/PnrXop/Xop/testplan.xml").read_text()
    content_type = plan.split("Content-Type:")[1].splitlines()[0].strip()
    body = (conformance_dir / "nist-testkit/tests/PnrXop/Xop/body.txt").read_bytes()
    truncated = body[: len(body) * 2 // 3]  # a client that died mid-upload
    assert mtom.is_multipart(content_type)
    answer = httpx.post(region.repository, content=truncated, headers={"content-type": content_type})
    assert answer.status_code == 400
    assert "truncated" in _fault(answer).reason
    assert region.count_rows() == (0, 0)
    data_dir = region.repository_app.state.ctx.settings.data_dir
    leftovers = [p for p in data_dir.rglob("*") if p.is_file() and "sqlite" not in p.name]
    assert leftovers == []
