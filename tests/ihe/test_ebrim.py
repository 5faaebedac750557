"""ebRIM objects and XDS.b messages: parse → serialise → parse round trips on material written
by others (IHE samples, NIST metadata in its ebRIM 3.0 form), and XSD validity of what we emit."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from ihe import xml
from ihe.ebrim import (
    AdhocQueryRequest,
    AdhocQueryResponse,
    Classification,
    Document,
    DocumentRequest,
    DocumentResponse,
    ExtrinsicObject,
    ProvideAndRegisterDocumentSetRequest,
    RegistryError,
    RegistryPackage,
    RegistryResponse,
    ResponseStatus,
    RetrieveDocumentSetRequest,
    RetrieveDocumentSetResponse,
    Node,
    Scheme,
    Severity,
    Slot,
    SubmitObjectsRequest,
)
from ihe.ebrim.dtm import pad
from ihe.errors import RemoteProtocolError
from partage import xsd

LCM = "{urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0}SubmitObjectsRequest"


def _submissions(conformance_dir: Path) -> list[Path]:
    files = sorted((conformance_dir / "nist-testkit-v3").rglob("*.xml"))
    return [f for f in files if etree.parse(str(f)).getroot().tag == LCM]


def test_every_nist_v3_submission_round_trips_and_stays_schema_valid(conformance_dir: Path) -> None:
    files = _submissions(conformance_dir)
    assert len(files) > 50
    for path in files:
        request = SubmitObjectsRequest.from_bytes(path.read_bytes())
        again = SubmitObjectsRequest.from_bytes(request.to_bytes())
        assert again == request, path
        assert xsd.errors(request.to_element(), conformance_dir / "schemas") == [], path


def test_ihe_register_sample_reads_xds_attributes(conformance_dir: Path) -> None:
    sample = conformance_dir / "samples/ihe-iti-info/XDS.b/RegisterDocumentSet-bRequest.xml"
    request = SubmitObjectsRequest.from_bytes(sample.read_bytes())
    entry = next(o for o in request.objects if isinstance(o, ExtrinsicObject))
    package = next(o for o in request.objects if isinstance(o, RegistryPackage))
    assert entry.unique_id == "1.3.6.1.4.1.21367.2005.3.9999.32"
    assert entry.patient_id == "SELF-5^^^&1.3.6.1.4.1.21367.2005.3.7&ISO"
    assert entry.slot_value("creationTime") == "20051224"
    assert [c.node_representation for c in entry.classified(Scheme.DE_CLASS_CODE)] == [
        "History and Physical"
    ]
    # ebRIM 3.0 lets the SubmissionSet node sit in a top-level Classification
    top = [o for o in request.objects if isinstance(o, Classification)]
    assert [(c.classified_object, c.classification_node) for c in top] == [
        ("SubmissionSet01", Node.SUBMISSION_SET)
    ]
    assert not package.is_folder


def test_stored_query_request_sample_round_trips(conformance_dir: Path) -> None:
    sample = conformance_dir / "samples/ihe-iti-info/XDS.b/RegistryStoredQueryRequest.xml"
    request = AdhocQueryRequest.from_bytes(sample.read_bytes())
    assert request.query_id.startswith("urn:uuid:")
    assert request.parameters
    assert AdhocQueryRequest.from_element(request.to_element()) == request
    assert xsd.errors(request.to_element(), conformance_dir / "schemas") == []


def test_stored_query_response_sample_parses(conformance_dir: Path) -> None:
    sample = conformance_dir / "samples/ihe-iti-info/XDS.b/RegistryStoredQueryResponse.xml"
    response = AdhocQueryResponse.from_element(xml.parse(sample.read_bytes()))
    assert response.status.endswith("Success")  # the sample predates the URN form
    assert response.objects
    assert xsd.errors(response.to_element(), conformance_dir / "schemas") == []


def test_registry_response_with_errors_is_schema_valid(conformance_dir: Path) -> None:
    response = RegistryResponse.from_errors(
        [
            RegistryError("XDSUnknownPatientId", "unknown patient", "Document01"),
            RegistryError("XDSExtraMetadataNotSaved", "dropped", severity=Severity.WARNING),
        ]
    )
    assert response.status == ResponseStatus.FAILURE
    el = response.to_element()
    assert xsd.errors(el, conformance_dir / "schemas") == []
    assert RegistryResponse.from_element(el) == response


def test_warnings_alone_keep_success() -> None:
    response = RegistryResponse.from_errors(
        [RegistryError("XDSExtraMetadataNotSaved", "", severity=Severity.WARNING)]
    )
    assert response.status == ResponseStatus.SUCCESS


def test_provide_and_register_inline_and_xop_forms(conformance_dir: Path) -> None:
    sample = conformance_dir / "samples/ihe-iti-info/XDS.b/RegisterDocumentSet-bRequest.xml"
    submission = SubmitObjectsRequest.from_bytes(sample.read_bytes())
    request = ProvideAndRegisterDocumentSetRequest(submission, [Document("Document01", b"\x00\xffreport")])
    inline = request.to_element()
    assert xsd.errors(inline, conformance_dir / "schemas") == []
    assert ProvideAndRegisterDocumentSetRequest.from_element(inline) == request
    xop = request.to_element(xop_cid={"Document01": "doc1@partage"})
    parsed = ProvideAndRegisterDocumentSetRequest.from_element(xop, {"doc1@partage": b"\x00\xffreport"})
    assert parsed == request
    with pytest.raises(RemoteProtocolError) as err:
        ProvideAndRegisterDocumentSetRequest.from_element(xop, {})
    assert err.value.code == "XDSMissingDocument"


def test_url_encoded_cid_href_resolves() -> None:
    submission = SubmitObjectsRequest()
    request = ProvideAndRegisterDocumentSetRequest(submission, [Document("d", b"x")])
    el = request.to_element(xop_cid={"d": "a%40b"})
    assert ProvideAndRegisterDocumentSetRequest.from_element(el, {"a@b": b"x"}).documents[0].data == b"x"


def test_retrieve_request_and_response(conformance_dir: Path) -> None:
    request = RetrieveDocumentSetRequest([DocumentRequest("1.2.3", "1.2.3.4", "urn:oid:1.2")])
    assert xsd.errors(request.to_element(), conformance_dir / "schemas") == []
    assert RetrieveDocumentSetRequest.from_element(request.to_element()) == request
    response = RetrieveDocumentSetResponse(
        RegistryResponse(), [DocumentResponse("1.2.3", "1.2.3.4", "application/dicom", b"DICM")]
    )
    assert xsd.errors(response.to_element(), conformance_dir / "schemas") == []
    assert RetrieveDocumentSetResponse.from_element(response.to_element()) == response
    as_xop = response.to_element(xop_cid=["part1"])
    assert RetrieveDocumentSetResponse.from_element(as_xop, {"part1": b"DICM"}) == response


def test_wrong_root_element_is_a_remote_error() -> None:
    with pytest.raises(RemoteProtocolError):
        SubmitObjectsRequest.from_bytes(b"<a/>")


@pytest.mark.parametrize(
    ("value", "padded"),
    [("2004", "20040101000000"), ("20041224", "20041224000000"), ("200412231530", "20041223153000"),
     ("20041223153010.123", "20041223153010"), ("20041223153010+0100", "20041223153010")],
)
def test_dtm_padding_orders_like_time(value: str, padded: str) -> None:
    assert pad(value) == padded


@pytest.mark.parametrize("bad", ["", "20", "2004-12-24", "yesterday", "2004122"])
def test_dtm_refuses_non_dtm(bad: str) -> None:
    with pytest.raises(RemoteProtocolError):
        pad(bad)


def test_request_slots_travel_in_a_request_slot_list(conformance_dir: Path) -> None:
    request = SubmitObjectsRequest(slots=[Slot("homeCommunityId", ["urn:oid:1.2.3"])])
    el = request.to_element()
    assert xsd.errors(el, conformance_dir / "schemas") == []
    assert SubmitObjectsRequest.from_element(el) == request


def test_children_are_read_as_the_schema_reads_them() -> None:
    """Comments and other namespaces' elements are skipped, the first Name, Description and
    VersionInfo count, an object's parts are read wherever they sit among its children, and
    a Classification's own Classification children are not read (rim.xsd has none)."""
    rim = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
    request = SubmitObjectsRequest.from_bytes(f"""
    <lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
        xmlns:rim="{rim}" xmlns:x="urn:other">
      <rim:RegistryObjectList>
        <rim:ExtrinsicObject id="d" mimeType="text/plain"><!-- a comment -->
          <rim:Classification id="c1" classificationScheme="s" classifiedObject="d"
              nodeRepresentation="n">
            <rim:Classification id="nested"><rim:Slot/></rim:Classification>
            <rim:Name><rim:LocalizedString value="code"/></rim:Name>
          </rim:Classification>
          <x:Slot name="foreign"><rim:ValueList><rim:Value>no</rim:Value></rim:ValueList></x:Slot>
          <rim:Slot name="a"><rim:ValueList><rim:Value>1</rim:Value><!-- c -->
            <rim:Value/></rim:ValueList><rim:ValueList><rim:Value>2</rim:Value></rim:ValueList>
          </rim:Slot>
          <rim:Name><rim:LocalizedString value="first"/></rim:Name>
          <rim:Name><rim:LocalizedString value="second"/></rim:Name>
          <rim:Description/>
          <rim:VersionInfo versionName="1.1"/><rim:VersionInfo versionName="2"/>
          <rim:ExternalIdentifier id="e" identificationScheme="i" value="v"/>
          <rim:Slot name="b"/>
        </rim:ExtrinsicObject>
      </rim:RegistryObjectList>
    </lcm:SubmitObjectsRequest>""".encode())
    [doc] = request.objects
    assert isinstance(doc, ExtrinsicObject)
    assert [(s.name, s.values) for s in doc.slots] == [("a", ["1", "", "2"]), ("b", [])]
    assert (doc.name, doc.description, doc.version_name) == ("first", None, "1.1")
    [code] = doc.classifications
    assert (code.id, code.name, code.node_representation) == ("c1", "code", "n")
    assert [(e.id, e.value) for e in doc.external_identifiers] == [("e", "v")]
    nameless = request.to_bytes().replace(b'name="b"', b"")
    with pytest.raises(RemoteProtocolError, match="Slot without a name"):
        SubmitObjectsRequest.from_bytes(nameless)
