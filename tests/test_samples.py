"""The official IHE ITI-INFO XDS.b samples and IPF's ebRS 3.0 samples against our services:
accepted where they are valid, refused with the IHE code where the profile says they must be."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from ihe import mtom, xml
from ihe.ebrim import AdhocQueryResponse, RegistryResponse, RetrieveDocumentSetResponse
from ihe.soap import Action, Envelope, Fault
from partage import xsd
from tests.conftest import Region, repository_token

SAMPLE_PATIENT = "SELF-5^^^&1.3.6.1.4.1.21367.2005.3.7&ISO"
#: the IHE samples' XDSSubmissionSet.sourceId: the site whose gateway may send their ITI-41
SAMPLE_SOURCE = "3670984664"


def _source(region: Region) -> dict[str, str]:
    """The samples' source gateway's bearer header (ITI-41 is a site gateway's)."""
    return {"Authorization": f"Bearer {region.source_token(SAMPLE_SOURCE)}"}


def _forwarder(region: Region) -> dict[str, str]:
    """The repository's bearer header (the registry's ITI-42 writer)."""
    return {"Authorization": f"Bearer {repository_token(region.issuer)}"}


def _post(url: str, body: bytes, content_type: str = "application/soap+xml",
          auth: dict[str, str] | None = None) -> Envelope:
    """POST a SOAP message; ``auth`` is the bearer header every transaction requires."""
    answer = httpx.post(url, content=body, headers={"content-type": content_type, **(auth or {})},
                        timeout=30)
    ctype = answer.headers["content-type"]
    root = mtom.decode(ctype, answer.content).root if mtom.is_multipart(ctype) else answer.content
    envelope = Envelope.from_bytes(root)
    if envelope.body.tag.endswith("Fault"):
        return envelope
    checked = envelope.body
    if checked.tag.endswith("RetrieveDocumentSetResponse"):
        checked = checked.find("{urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0}RegistryResponse")
    assert xsd.errors(checked) == []
    return envelope


def _soap(samples: Path, name: str) -> bytes:
    return (samples / "ihe-iti-info/XDS.b" / name).read_bytes()


def _wrap(body: bytes, action: str) -> bytes:
    return Envelope(body=xml.parse(body), action=action, message_id="urn:uuid:1").to_bytes()


@pytest.fixture
def samples(conformance_dir: Path, region: Region) -> Path:
    region.feed(SAMPLE_PATIENT)
    return conformance_dir / "samples"


def test_provide_and_register_sample_is_stored_and_found(samples: Path, region: Region) -> None:
    answer = _post(region.repository,
                   _soap(samples, "ProvideAndRegisterDocumentSet-bRequest_SOAP.xml"),
                   auth=_source(region))
    assert RegistryResponse.from_element(answer.body).status.endswith("Success")
    assert answer.action == Action.PROVIDE_AND_REGISTER_RESPONSE
    assert region.count_rows()[1] == 1
    query = (samples / "ipf/iti18request.xml").read_bytes().replace(
        b"593603^^^&amp;2.16.756.5.33.2.5.1.5.1&amp;ISO''%20and%20611%3d611--%20",
        b"SELF-5^^^&amp;1.3.6.1.4.1.21367.2005.3.7&amp;ISO'",
    ).replace(b"'20221015151515'", b"20051224").replace(b"20221016161616", b"20051225")
    answer = _post(region.registry, _wrap(query, Action.STORED_QUERY), auth=region.auth())
    found = AdhocQueryResponse.from_element(answer.body)
    assert found.status.endswith("Success")
    assert len(found.objects) == 1


def test_register_sample_without_repository_attributes_is_a_metadata_error(
    samples: Path, region: Region
) -> None:
    # ITI-42 from a repository must carry hash, size and repositoryUniqueId (ITI TF-3 Table
    # 4.3.1-3); the ITI-INFO sample shows the source's view and leaves them out
    answer = RegistryResponse.from_element(
        _post(region.registry, _soap(samples, "RegisterDocumentSet-bRequest_SOAP.xml"),
              auth=_forwarder(region)).body
    )
    assert answer.status.endswith("Failure")
    assert {e.code for e in answer.errors} == {"XDSRegistryMetadataError"}
    assert {"hash", "size", "repositoryUniqueId"} <= {
        word for e in answer.errors for word in e.context.split()
    }
    assert region.count_rows() == (0, 0)


@pytest.mark.parametrize(
    "name",
    [
        "SubmitObjectsRequest_ebrs30.xml",
        "SubmitObjectsRequest_ebrs30_2.xml",
        "SubmitObjectsRequest_ebrs3_extra_metadata.xml",
    ],
)
def test_ipf_register_samples_with_broken_scheme_uuids_are_refused(
    samples: Path, region: Region, name: str
) -> None:
    # IPF's samples carry scheme UUIDs with a space inside ("…-92fd- a8ffeff98427"): the
    # patientId, uniqueId and contentTypeCode they mean are therefore missing
    body = (samples / "ipf" / name).read_bytes()
    answer = RegistryResponse.from_element(
        _post(region.registry, _wrap(body, Action.REGISTER), auth=_forwarder(region)).body)
    assert answer.status.endswith("Failure")
    assert {e.code for e in answer.errors} == {"XDSRegistryMetadataError"}
    assert any("patientId" in e.context for e in answer.errors)
    assert region.count_rows() == (0, 0)


def test_stored_query_sample_with_word_quotes_is_refused(samples: Path, region: Region) -> None:
    # the ITI-INFO sample was typed in a word processor: (‘Emergency Department’) is neither
    # quoted per ITI TF-2a §3.18.4.1.2.3.7.1 nor a code^^scheme value
    answer = AdhocQueryResponse.from_element(
        _post(region.registry, _soap(samples, "RegistryStoredQueryRequest_SOAP.xml"),
              auth=region.auth()).body
    )
    assert answer.status.endswith("Failure")
    assert [e.code for e in answer.errors] == ["XDSStoredQueryParamNumber"]


def test_retrieve_sample_names_another_repository(samples: Path, region: Region) -> None:
    answer = RetrieveDocumentSetResponse.from_element(
        _post(region.repository, _soap(samples, "RetrieveDocumentSetRequest_SOAP.xml"),
              auth=region.auth()).body
    )
    assert answer.response.status.endswith("Failure")
    assert {e.code for e in answer.response.errors} == {"XDSUnknownRepositoryId"}


def test_on_demand_registration_is_an_unsupported_action(samples: Path, region: Region) -> None:
    # the On-Demand Documents option is not offered: the WS-Addressing fault says so
    answer = _post(region.registry, _soap(samples, "RegisterOnDemandDocumentEntryRequest_SOAP.xml"))
    fault = Fault.from_element(answer.body)
    assert fault.subcode == "wsa:ActionNotSupported"


def test_ipf_injection_query_is_refused_as_malformed(samples: Path, region: Region) -> None:
    # IPF's sample smuggles "'' and 611=611-- " after the patient ID, leaving the quoted
    # string unterminated: refused as a malformed parameter, never read as SQL
    _post(region.repository, _soap(samples, "ProvideAndRegisterDocumentSet-bRequest_SOAP.xml"),
          auth=_source(region))
    query = (samples / "ipf/iti18request.xml").read_bytes()
    answer = _post(region.registry, _wrap(query, Action.STORED_QUERY), auth=region.auth())
    found = AdhocQueryResponse.from_element(answer.body)
    assert found.status.endswith("Failure") and found.objects == []
    assert [(e.code, e.location) for e in found.errors] == [
        ("XDSRegistryError", "$XDSDocumentEntryPatientId")
    ]
    assert region.count_rows()[0] > 0  # the registered entry is still there
