"""RAD-55 WADO-URI through the gateway against a real Orthanc: the DICOM bytes equal Orthanc's,
JPEG rendering, parameter errors, and the 404 cases of NIST ids_2018-4810 adapted to our study."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.uid import ImplicitVRLittleEndian

from partage.orthanc import Orthanc
from tests.gateway.studies import StoredStudy, make_spec, orthanc_instance_files, store_rest
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.issuer import Issuer


@pytest.fixture
def study(orthanc: Orthanc) -> StoredStudy:
    return store_rest(orthanc, make_spec(series_count=2, slices=2))


@pytest.fixture
def gateway(orthanc: Orthanc, issuer: Issuer, tmp_path: Path) -> Iterator[RunningGateway]:
    with running_gateway(orthanc, issuer, tmp_path) as running:
        yield running


def wado(gateway: RunningGateway, headers: dict[str, str] | None = None,
         **params: str) -> httpx.Response:
    return httpx.get(f"{gateway.url}/wado", params={"requestType": "WADO", **params},
                     headers=gateway.auth() if headers is None else headers, timeout=30)


def uids(study: StoredStudy, index: int = 0) -> dict[str, str]:
    ds = study.datasets[index]
    return {"studyUID": str(ds.StudyInstanceUID), "seriesUID": str(ds.SeriesInstanceUID),
            "objectUID": str(ds.SOPInstanceUID)}


def test_dicom_equals_orthancs_file(gateway: RunningGateway, orthanc: Orthanc,
                                    study: StoredStudy) -> None:
    answer = wado(gateway, **uids(study), contentType="application/dicom")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/dicom"
    assert answer.content == orthanc_instance_files(orthanc, study)[uids(study)["objectUID"]]


def test_dicom_in_implicit_vr(gateway: RunningGateway, study: StoredStudy) -> None:
    answer = wado(gateway, **uids(study), contentType="application/dicom",
                  transferSyntax=ImplicitVRLittleEndian)
    ds = dcmread(io.BytesIO(answer.content))
    assert ds.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    assert ds.PixelData == study.datasets[0].PixelData


def test_jpeg_is_the_default(gateway: RunningGateway, study: StoredStudy) -> None:
    answer = wado(gateway, **uids(study), windowCenter="40", windowWidth="400")
    assert answer.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(answer.content))
    assert image.format == "JPEG" and image.size == (64, 64)


#: NIST ids_2018-4810: every case answers 404
def cases_4810(study: StoredStudy) -> dict[str, dict[str, str]]:
    good, other_series = uids(study, 0), uids(study, 3)
    unknown = good["objectUID"][:-1] + ("1" if good["objectUID"][-1] != "1" else "2")
    return {
        "case-01_Unknown_SOP_Instance_UID": {**good, "objectUID": unknown},
        "case-02_UID_wrong_series": {**good, "objectUID": other_series["objectUID"]},
        "case-03_UID_wrong_study": {**good, "studyUID": "1.2.3.4.5"},
        "case-04_Study_UID_empty": {**good, "studyUID": ""},
        "case-05_Series_UID_empty": {**good, "seriesUID": ""},
        "case-06_Study_Series_UID_empty": {**good, "studyUID": "", "seriesUID": ""},
    }


def test_nist_4810_cases_are_404(gateway: RunningGateway, study: StoredStudy) -> None:
    assert wado(gateway, **uids(study), contentType="application/dicom").status_code == 200
    for case, params in cases_4810(study).items():
        answer = wado(gateway, **params, contentType="application/dicom")
        assert answer.status_code == 404, case
        assert answer.headers["content-type"] == "application/problem+json"


def test_bad_parameters(gateway: RunningGateway, study: StoredStudy) -> None:
    assert wado(gateway, **{**uids(study), "requestType": "WADO-RS"}).status_code == 400
    missing = {k: v for k, v in uids(study).items() if k != "objectUID"}
    assert wado(gateway, **missing).status_code == 400
    assert wado(gateway, **uids(study), contentType="application/pdf").status_code == 406
    assert wado(gateway, **uids(study), windowCenter="40").status_code == 400
    assert wado(gateway, **uids(study), frameNumber="2").status_code == 404


def test_token_in_the_header_only(gateway: RunningGateway, study: StoredStudy,
                                  issuer: Issuer) -> None:
    token = issuer.token()
    assert wado(gateway, {}, **uids(study), access_token=token).status_code == 401
    assert wado(gateway, gateway.auth(issuer.token(aud="x")), **uids(study)).status_code == 401
    refused = wado(gateway, gateway.auth(issuer.token("p", ["patient"])), **uids(study))
    assert refused.status_code == 403
    assert "no professional role" in refused.json()["detail"]
