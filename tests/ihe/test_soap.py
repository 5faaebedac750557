"""SOAP 1.2 envelopes: WS-Addressing headers survive a round trip; SOAP 1.1 and malformed
envelopes are refused with a remote error; faults parse back."""

from __future__ import annotations

import pytest
from lxml import etree

from ihe.errors import RemoteProtocolError
from ihe.soap import Action, Envelope, Fault


def test_envelope_round_trip(conformance_dir) -> None:  # type: ignore[no-untyped-def]
    sample = conformance_dir / "samples/ihe-iti-info/XDS.b/RegistryStoredQueryRequest_SOAP.xml"
    envelope = Envelope.from_bytes(sample.read_bytes())
    assert envelope.action == Action.STORED_QUERY
    again = Envelope.from_bytes(envelope.to_bytes())
    assert (again.action, again.message_id, again.to) == (
        envelope.action, envelope.message_id, envelope.to
    )
    assert etree.QName(again.body).localname == "AdhocQueryRequest"


def test_soap11_is_a_version_mismatch() -> None:
    soap11 = b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><x/></e:Body></e:Envelope>'
    with pytest.raises(RemoteProtocolError) as err:
        Envelope.from_bytes(soap11)
    assert err.value.code == "VersionMismatch"


@pytest.mark.parametrize(
    "body",
    [
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"/>',
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>',
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><a/><b/></s:Body></s:Envelope>',
        b"<notsoap/>",
    ],
)
def test_malformed_envelopes_are_refused(body: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        Envelope.from_bytes(body)


def test_fault_round_trip() -> None:
    fault = Fault("bad request", subcode="wsa:ActionNotSupported")
    envelope = Envelope.from_bytes(fault.envelope("urn:uuid:1").to_bytes())
    assert envelope.action == Action.SOAP_FAULT
    assert envelope.relates_to == "urn:uuid:1"
    assert Fault.from_element(envelope.body) == fault
