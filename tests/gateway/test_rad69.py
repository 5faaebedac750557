"""RAD-69 Retrieve Imaging Document Set over real HTTP, against a real Orthanc through the real
adapters and cache: the NIST requests of ids_2018-4811 (cases 00–09) and 4820 adapted to our
study, with the exact codes of error-codes.md; transfer syntaxes; tokens; a PACS that is down."""

from __future__ import annotations

import base64
import copy
import io
from pathlib import Path

import httpx
import pytest
from lxml import etree
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from ihe import mtom
from ihe.ebrim import DocumentRequest, ResponseStatus, RetrieveDocumentSetResponse
from ihe.namespaces import XOP, q
from ihe.soap import Action, Envelope
from ihe.xdsi import RetrieveImagingDocumentSetRequest, SeriesRequest, StudyRequest
from partage import xsd
from partage.orthanc import Orthanc
from partage.serve import free_port
from tests.conftest import CONFORMANCE
from tests.gateway.studies import StoredStudy, make_spec, orthanc_instance_files, store_rest
from tests.support.gateway import REPOSITORY_UID, RunningGateway, running_gateway
from tests.support.issuer import Issuer

NIST = CONFORMANCE / "nist-testkit" / "tests"
NIST_REPOSITORY = "1.3.6.1.4.1.21367.13.80.110"


@pytest.fixture
def study(orthanc: Orthanc) -> StoredStudy:
    return store_rest(orthanc, make_spec(series_count=2, slices=2, accession_number="ACC69"))


def post(gateway: RunningGateway, body: etree._Element, headers: dict[str, str] | None = None
         ) -> httpx.Response:
    envelope = Envelope(body=body, action=Action.RETRIEVE_IMAGING,
                        message_id="urn:uuid:0b7f1c44-5d1e-4a53-9a7e-3f0c2d9e6b21")
    return httpx.post(f"{gateway.url}/rad69", content=envelope.to_bytes(), timeout=60,
                      headers={"content-type": "application/soap+xml; charset=utf-8",
                               **(gateway.auth() if headers is None else headers)})


def inlined(body: etree._Element, parts: dict[str, bytes]) -> etree._Element:
    """The XOP infoset (parts back as base64), which the XSD describes."""
    body = copy.deepcopy(body)
    for include in list(body.iter(q(XOP, "Include"))):
        parent = include.getparent()
        parent.text = base64.b64encode(parts[include.get("href", "")[4:]]).decode()
        parent.remove(include)
    return body


def retrieve(gateway: RunningGateway, request: RetrieveImagingDocumentSetRequest,
             headers: dict[str, str] | None = None) -> RetrieveDocumentSetResponse:
    answer = post(gateway, request.to_element(), headers)
    assert answer.status_code == 200, answer.text
    message = mtom.decode(answer.headers["content-type"], answer.content)
    reply = Envelope.from_bytes(message.root)
    assert reply.action == Action.RETRIEVE_RESPONSE
    assert xsd.errors(inlined(reply.body, message.parts)) == []
    return RetrieveDocumentSetResponse.from_element(reply.body, message.parts)


def request_for(study: StoredStudy, *indexes: int, syntaxes: tuple[str, ...] = (
        ExplicitVRLittleEndian,), home: str | None = None) -> RetrieveImagingDocumentSetRequest:
    by_series: dict[str, list[DocumentRequest]] = {}
    for i in indexes:
        ds = study.datasets[i]
        by_series.setdefault(str(ds.SeriesInstanceUID), []).append(
            DocumentRequest(REPOSITORY_UID, str(ds.SOPInstanceUID), home))
    return RetrieveImagingDocumentSetRequest(
        [StudyRequest(study.study_instance_uid,
                      [SeriesRequest(s, docs) for s, docs in by_series.items()])],
        list(syntaxes))


def codes(response: RetrieveDocumentSetResponse) -> list[str]:
    return [e.code for e in response.response.errors]


# -- NIST ids_2018-4811 ------------------------------------------------------------------------

#: case → (expected status, expected error codes) as the NIST gold standards say
CASES_4811 = {
    "case-00_Comparison_Transaction": (ResponseStatus.SUCCESS, []),
    "case-01_Invalid_RepositoryUID": (ResponseStatus.FAILURE, ["XDSUnknownRepositoryId"]),
    "case-02_Unknown_SOP_Instance_UID": (ResponseStatus.FAILURE, ["XDSDocumentUniqueIdError"]),
    "case-03_SOP_Instance_UID_not_in_requested_series": (
        ResponseStatus.FAILURE, ["XDSDocumentUniqueIdError"]),
    "case-04_SOP_Instance_UID_not_in_requested_study": (
        ResponseStatus.FAILURE, ["XDSDocumentUniqueIdError"]),
    "case-05_Empty_Study_Instance_UID": (ResponseStatus.FAILURE, ["XDSIRequestError"]),
    "case-06_Empty_Series_Instance_UID": (ResponseStatus.FAILURE, ["XDSIRequestError"]),
    "case-07_Empty_Study_and_Series_Instance_UIDs": (ResponseStatus.FAILURE, ["XDSIRequestError"]),
    "case-08_Empty_Transfer_Syntax_UID": (ResponseStatus.FAILURE, ["XDSRepositoryError"]),
    "case-09_Invalid_Transfer_Syntax_UID": (ResponseStatus.FAILURE, ["XDSRepositoryError"]),
}


def adapted(xml: bytes, study: StoredStudy) -> bytes:
    """A NIST request with its test-data UIDs replaced by ours, role for role: the known study,
    series and instance become ours; the instance of the other series becomes one of our
    second series; unknown UIDs stay unknown."""
    first, other = study.datasets[0], study.datasets[-1]
    assert first.SeriesInstanceUID != other.SeriesInstanceUID
    roles = {
        "1.3.6.1.4.1.14519.5.2.1.2857.3273.184862055846930271614754681036": study.study_instance_uid,
        "1.3.6.1.4.1.14519.5.2.1.7085.2626.192997540292073877946622133586": study.study_instance_uid,
        "1.3.6.1.4.1.21367.201599.1.201604020954059": study.study_instance_uid,
        "1.3.6.1.4.1.14519.5.2.1.2857.3273.181092492540572112241403328675": first.SeriesInstanceUID,
        "1.3.6.1.4.1.14519.5.2.1.7085.2626.831285735928731782652048570955": first.SeriesInstanceUID,
        "1.3.6.1.4.1.21367.201599.2.201604020954059": first.SeriesInstanceUID,
        "1.3.6.1.4.1.14519.5.2.1.2857.3273.393987221165344252190796851776": first.SOPInstanceUID,
        "1.3.6.1.4.1.14519.5.2.1.7085.2626.310894536700672302243471156028": first.SOPInstanceUID,
        "1.3.6.1.4.1.21367.201599.3.201604020954059.1": first.SOPInstanceUID,
        "1.3.6.1.4.1.14519.5.2.1.7085.2626.917173693042362721495240037775": other.SOPInstanceUID,
        f">{NIST_REPOSITORY}<": f">{REPOSITORY_UID}<",
    }
    text = xml.decode()
    for nist, ours in roles.items():
        text = text.replace(nist, str(ours))
    return text.encode()


@pytest.mark.parametrize("case", sorted(CASES_4811))
def test_nist_4811(gateway: RunningGateway, study: StoredStudy, case: str) -> None:
    xml = (NIST / "ids_2018-4811" / case / "rad69-request.xml").read_bytes()
    request = RetrieveImagingDocumentSetRequest.from_bytes(adapted(xml, study))
    assert xsd.errors(request.to_element()) == []
    status, expected = CASES_4811[case]
    response = retrieve(gateway, request)
    assert response.response.status == status
    assert codes(response) == expected
    if status == ResponseStatus.SUCCESS:
        [document] = response.documents
        assert document.document_unique_id == study.datasets[0].SOPInstanceUID
        assert document.mime_type == "application/dicom"


@pytest.mark.parametrize("case, home", [("case-01_With_HomeCommunityID",
                                         "urn:oid:1.3.6.1.4.1.21367.13.70.200"),
                                        ("case-02_Without_HomeCommunityID", None)])
def test_nist_4820_home_community_echo(gateway: RunningGateway, study: StoredStudy,
                                       case: str, home: str | None) -> None:
    xml = (NIST / "ids_2018-4820" / case / "rad69-request.xml").read_bytes()
    response = retrieve(gateway, RetrieveImagingDocumentSetRequest.from_bytes(adapted(xml, study)))
    assert response.response.status == ResponseStatus.SUCCESS
    assert [d.home_community_id for d in response.documents] == [home]


# -- what comes back ---------------------------------------------------------------------------


def test_documents_equal_orthancs_files(gateway: RunningGateway, orthanc: Orthanc,
                                        study: StoredStudy) -> None:
    expected = orthanc_instance_files(orthanc, study)
    response = retrieve(gateway, request_for(study, 0, 1, 2, 3))
    assert response.response.status == ResponseStatus.SUCCESS
    served = {d.document_unique_id: d.data for d in response.documents}
    assert served.keys() == expected.keys()
    for uid, data in served.items():
        if gateway.settings.pacs_adapter == "dicomweb":
            assert data == expected[uid]
        else:  # C-GET carries datasets: same elements and pixels
            assert dcmread(io.BytesIO(data)) == dcmread(io.BytesIO(expected[uid]))
    assert all(d.repository_unique_id == REPOSITORY_UID for d in response.documents)


def test_implicit_vr_is_transcoded_and_unknown_syntaxes_skipped(
        gateway: RunningGateway, study: StoredStudy) -> None:
    response = retrieve(gateway, request_for(
        study, 0, syntaxes=("1.2.840.10008.1.2.4.90", ImplicitVRLittleEndian)))
    [document] = response.documents
    ds = dcmread(io.BytesIO(document.data))
    assert ds.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    assert ds.PixelData == study.datasets[0].PixelData


def test_some_found_is_partial_success(gateway: RunningGateway, study: StoredStudy) -> None:
    request = request_for(study, 0, 1)
    request.studies[0].series[0].documents.append(
        DocumentRequest(REPOSITORY_UID, "1.2.3.4.5.6.7"))
    response = retrieve(gateway, request)
    assert response.response.status == ResponseStatus.PARTIAL_SUCCESS
    assert len(response.documents) == 2
    assert codes(response) == ["XDSDocumentUniqueIdError"]
    assert response.response.errors[0].location == "1.2.3.4.5.6.7"


def test_not_a_rad69_body_is_a_failure(gateway: RunningGateway) -> None:
    answer = post(gateway, etree.Element("{urn:ihe:rad:xdsi-b:2009}SomethingElse"))
    reply = Envelope.from_bytes(mtom.decode(answer.headers["content-type"], answer.content).root)
    response = RetrieveDocumentSetResponse.from_element(reply.body)
    assert response.response.status == ResponseStatus.FAILURE
    assert codes(response) == ["XDSIRequestError"]


# -- who may ask -------------------------------------------------------------------------------


def test_tokens_are_required(gateway: RunningGateway, study: StoredStudy,
                             issuer: Issuer) -> None:
    body = request_for(study, 0).to_element()
    with Issuer.running() as stranger:
        for headers in ({}, gateway.auth(stranger.token(iss=issuer.url)),
                        gateway.auth(issuer.token(exp=1)),
                        gateway.auth(issuer.token(aud="portal"))):
            answer = post(gateway, body, headers)
            assert answer.status_code == 401
            assert answer.headers["www-authenticate"].startswith("Bearer")


def test_a_patient_gets_no_pixels(gateway: RunningGateway, study: StoredStudy,
                                  issuer: Issuer) -> None:
    response = retrieve(gateway, request_for(study, 0, 1),
                        gateway.auth(issuer.token("patient-1", ["patient"])))
    assert response.response.status == ResponseStatus.FAILURE
    assert response.documents == []
    assert codes(response) == ["XDSRepositoryError"] * 2
    assert "access refused" in response.response.errors[0].context


def test_pacs_down_is_a_repository_error(orthanc: Orthanc, issuer: Issuer, tmp_path: Path,
                                         study: StoredStudy) -> None:
    with running_gateway(orthanc, issuer, tmp_path, pacs_adapter="dimse",
                         pacs_port=free_port()) as gateway:
        response = retrieve(gateway, request_for(study, 0))
    assert response.response.status == ResponseStatus.FAILURE
    assert codes(response) == ["XDSRepositoryError"]
    assert "PACS" in response.response.errors[0].context
