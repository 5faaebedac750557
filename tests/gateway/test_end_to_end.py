"""The path of one study (DESIGN.md steps 1–3 and 6), every part real: a modality stores a study
into the site's Orthanc with dcmtk ``storescu``; Orthanc's own auto-routing (a Lua
``OnStableStudy`` script) forwards it to the gateway's C-STORE SCP; the gateway publishes it
(RAD-68) to our registry and repository; ITI-18 finds it by accession number; RAD-69 and WADO-RS
give its pixels to a radiologist's token, byte for byte as Orthanc holds them, and refuse a
request without a token (401) or with a patient's (403)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian

from gateway.pacs.dicomweb import MultipartReader, boundary_of
from ihe import mtom
from ihe.ebrim import (
    AdhocQueryRequest,
    DocumentRequest,
    ExtrinsicObject,
    ResponseStatus,
    RetrieveDocumentSetRequest,
    RetrieveDocumentSetResponse,
    Scheme,
    Slot,
    Status,
)
from ihe.ebrim.enum import REFERENCE_ID_SLOT
from ihe.kos import Manifest
from ihe.soap import Action, Envelope
from ihe.xdsi import RetrieveImagingDocumentSetRequest, SeriesRequest, StudyRequest
from partage import soapclient
from partage.orthanc import Modality, Orthanc, OrthancConfig, dcmtk_available
from partage.serve import free_port
from tests.conftest import Region
from tests.gateway.studies import (
    PATIENT,
    StoredStudy,
    make_spec,
    orthanc_instance_files,
    store_storescu,
)
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.issuer import Issuer

pytestmark = pytest.mark.skipif(not dcmtk_available(), reason="dcmtk is not installed")

FIND_BY_REFERENCE_ID = "urn:uuid:12941a89-e02e-4be5-967c-ce4bfc8fe492"
REGIONAL = "2801205123456^^^&1.2.250.1.213.1.4.10&ISO"
ACCESSION = "E2E0001"
GATEWAY_AE = "PARTAGE_GW"
#: Orthanc's auto-routing: each study, once stable, goes to the gateway as a C-STORE job. (The
#: Lua ``SendToModality`` of Orthanc 1.10.1 fails here with "Unable to read attachment dicom";
#: the same store through Orthanc's own REST API from Lua works.)
FORWARD_LUA = """
function OnStableStudy(studyId, tags, metadata)
  RestApiPost('/modalities/gateway/store',
              '{"Resources": ["' .. studyId .. '"], "Asynchronous": true}')
end
"""
DICOM_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'


@dataclass
class Site:
    orthanc: Orthanc
    gateway: RunningGateway


@pytest.fixture
def site(region: Region, issuer: Issuer, tmp_path: Path) -> Iterator[Site]:
    """Orthanc forwarding its stable studies to a gateway that publishes to ``region``."""
    scp_port = free_port()
    config = OrthancConfig("site-a", "SITE_A", free_port(), free_port(), tmp_path / "pacs",
                           modalities={"gateway": Modality(GATEWAY_AE, "127.0.0.1", scp_port)},
                           lua_script=FORWARD_LUA)
    with Orthanc(config) as orthanc, running_gateway(
        orthanc, issuer, tmp_path / "gateway", dicom_port=scp_port, ae_title=GATEWAY_AE,
        quiet_period_s=1.0, sweep_interval_s=0, registry_url=region.registry,
        repository_url=region.repository, identity_url=f"{region.base}/identity",
        **region.service_client(),
    ) as gateway:
        yield Site(orthanc, gateway)


def link_patient(region: Region) -> None:
    """The registry's cross-reference: the site's IPP → the regional INS."""
    httpx.put(f"{region.base}/identity/patients/{quote(REGIONAL, safe='')}",
              json={"family_name": "MARTIN", "given_name": "Claire",
                    "identifiers": [{"authority": PATIENT.issuer, "local_id": PATIENT.patient_id}]},
              headers={"Authorization": f"Bearer {region.feed_token}"}).raise_for_status()


def find_by_accession(region: Region, accession: str) -> list[ExtrinsicObject]:
    answer = soapclient.stored_query(region.registry, AdhocQueryRequest(FIND_BY_REFERENCE_ID, [
        Slot("$XDSDocumentEntryPatientId", [f"'{REGIONAL}'"]),
        Slot("$XDSDocumentEntryStatus", [f"('{Status.APPROVED}')"]),
        Slot("$XDSDocumentEntryReferenceIdList", [f"('{accession}')"]),
    ]), token=region.token())
    return [o for o in answer.objects if isinstance(o, ExtrinsicObject)]


def wait_published(region: Region, accession: str, timeout: float = 90.0) -> ExtrinsicObject:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = find_by_accession(region, accession)
        if found:
            assert len(found) == 1
            return found[0]
        time.sleep(0.5)
    raise AssertionError(f"nothing published for {accession} within {timeout:.0f} s")


def rad69(gateway: RunningGateway, study: StoredStudy, headers: dict[str, str]
          ) -> httpx.Response:
    series: dict[str, SeriesRequest] = {}
    for ds in study.datasets:
        series.setdefault(str(ds.SeriesInstanceUID), SeriesRequest(str(ds.SeriesInstanceUID))
                          ).documents.append(DocumentRequest(
                              gateway.settings.repository_unique_id, str(ds.SOPInstanceUID)))
    request = RetrieveImagingDocumentSetRequest(
        [StudyRequest(study.study_instance_uid, list(series.values()))], [ExplicitVRLittleEndian])
    envelope = Envelope(body=request.to_element(), action=Action.RETRIEVE_IMAGING,
                        message_id="urn:uuid:5b0c07b5-6f3a-4d55-8d3c-0f2f4a8f1e10")
    return httpx.post(f"{gateway.url}/rad69", content=envelope.to_bytes(), timeout=60,
                      headers={"content-type": "application/soap+xml; charset=utf-8", **headers})


def rad69_documents(answer: httpx.Response) -> RetrieveDocumentSetResponse:
    assert answer.status_code == 200, answer.text
    message = mtom.decode(answer.headers["content-type"], answer.content)
    return RetrieveDocumentSetResponse.from_element(Envelope.from_bytes(message.root).body,
                                                    message.parts)


def wado_rs(gateway: RunningGateway, study: StoredStudy, headers: dict[str, str]
            ) -> httpx.Response:
    return httpx.get(f"{gateway.url}/wado-rs/studies/{study.study_instance_uid}", timeout=60,
                     headers={"Accept": DICOM_ACCEPT, **headers})


def sop_of(data: bytes) -> str:
    return str(dcmread(io.BytesIO(data), stop_before_pixels=True).SOPInstanceUID)


def test_a_study_stored_into_the_pacs_is_published_and_served(
    site: Site, region: Region, tmp_path: Path
) -> None:
    link_patient(region)
    study = store_storescu(site.orthanc, tmp_path / "modality",
                           make_spec(accession_number=ACCESSION, series_count=2, slices=3))

    # published by the gateway on its own, found by accession number (ITI-18)
    authority = site.gateway.settings.site_oid  # the site issues its accession numbers
    accession = f"{ACCESSION}^^^&{authority}&ISO^urn:ihe:iti:xds:2013:accession"
    entry = wait_published(region, accession)
    assert entry.patient_id == REGIONAL
    assert f"{study.study_instance_uid}^^^^urn:ihe:iti:xds:2016:studyInstanceUID" in \
        entry.slot_values(REFERENCE_ID_SLOT)
    assert {c.node_representation for c in entry.classified(Scheme.DE_FORMAT_CODE)} == {
        "1.2.840.10008.5.1.4.1.1.88.59"}
    assert "CT" in {c.node_representation for c in entry.classified(Scheme.DE_EVENT_CODE)}
    [kos] = soapclient.retrieve(region.repository, RetrieveDocumentSetRequest([
        DocumentRequest(region.repository_unique_id, entry.unique_id or "")]),
        token=region.token()).documents
    manifest = Manifest.from_bytes(kos.data)
    assert {r.sop_instance_uid for r in manifest.references} == study.sop_instance_uids
    assert manifest.retrieve_location_uids == {site.gateway.settings.repository_unique_id}

    # the pixels, as Orthanc holds them, for a radiologist
    expected = orthanc_instance_files(site.orthanc, study)
    radiologist = site.gateway.auth()
    answer = rad69_documents(rad69(site.gateway, study, radiologist))
    assert answer.response.status == ResponseStatus.SUCCESS
    assert {d.document_unique_id: d.data for d in answer.documents} == expected
    served = wado_rs(site.gateway, study, radiologist)
    assert served.status_code == 200, served.text
    reader = MultipartReader(boundary_of(served.headers["content-type"]))
    parts = reader.feed(served.content)
    reader.close()
    assert {sop_of(p): p for p in parts} == expected

    # refused: no token, a patient's token
    assert wado_rs(site.gateway, study, {}).status_code == 401
    assert rad69(site.gateway, study, {}).status_code == 401
    patient = site.gateway.auth(sub="patient-claire", roles=["patient"])
    assert wado_rs(site.gateway, study, patient).status_code == 403
    refused = rad69_documents(rad69(site.gateway, study, patient))
    assert refused.response.status == ResponseStatus.FAILURE and not refused.documents
    assert {e.code for e in refused.response.errors} == {"XDSRepositoryError"}
