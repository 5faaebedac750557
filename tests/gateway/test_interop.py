"""Independent tools agree on what the gateway serves: dcmtk ``getscu`` / ``findscu`` straight
against Orthanc versus ``curl`` and dicomweb-client against the gateway (with a bearer token), and
the gateway's own DIMSE adapter; the same instances, the same pixels, the same query answers."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime
from io import BytesIO
from pathlib import Path

import pytest
from dicomweb_client import DICOMwebClient
from pydicom import dcmread
from pydicom.dataset import Dataset

from gateway.pacs.dicomweb import MultipartReader, boundary_of
from gateway.pacs.dimse import DimsePacs
from partage.orthanc import Orthanc, dcmtk_available
from tests.gateway.studies import StoredStudy, dcmtk, make_spec, store_rest
from tests.support.gateway import RunningGateway, gateway_settings, running_gateway
from tests.support.issuer import Issuer

pytestmark = pytest.mark.skipif(not dcmtk_available() or not shutil.which("curl"),
                                reason="dcmtk and curl are needed")

DICOM_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'


@pytest.fixture
def study(orthanc: Orthanc) -> StoredStudy:
    return store_rest(orthanc, make_spec(series_count=2, slices=3, accession_number="IOP0001"))


@pytest.fixture(params=["dicomweb", "dimse"])
def gateway(request: pytest.FixtureRequest, orthanc: Orthanc, issuer: Issuer,
            tmp_path: Path) -> Iterator[RunningGateway]:
    with running_gateway(orthanc, issuer, tmp_path / "gateway", pacs_adapter=request.param,
                         sweep_interval_s=0) as running:
        yield running


def run_dcmtk(tool: str, orthanc: Orthanc, *args: str) -> None:
    subprocess.run([dcmtk(tool), "-aet", "INTEROP", "-aec", orthanc.config.ae_title, *args,
                    "127.0.0.1", str(orthanc.config.dicom_port)],
                   check=True, capture_output=True, timeout=120,
                   env={**os.environ, "TCP_NODELAY": "1"})


def by_sop(datasets: list[Dataset]) -> dict[str, tuple[str, bytes]]:
    """SOP Instance UID → (SOP Class UID, PixelData)."""
    return {str(ds.SOPInstanceUID): (str(ds.SOPClassUID), bytes(ds.PixelData)) for ds in datasets}


def getscu_study(orthanc: Orthanc, uid: str, folder: Path) -> list[Dataset]:
    folder.mkdir()
    run_dcmtk("getscu", orthanc, "-S", "-k", "QueryRetrieveLevel=STUDY", "-k",
          f"StudyInstanceUID={uid}", "-od", str(folder))
    return [dcmread(p) for p in folder.iterdir()]


def curl_study(gateway: RunningGateway, uid: str, folder: Path) -> list[Dataset]:
    """WADO-RS study retrieve with curl, the multipart body split by the gateway's reader."""
    folder.mkdir()
    headers, body = folder / "headers", folder / "body"
    subprocess.run(["curl", "-sS", "--fail", "-D", str(headers), "-o", str(body),
                    "-H", f"Authorization: Bearer {gateway.issuer.token()}",
                    "-H", f"Accept: {DICOM_ACCEPT}",
                    f"{gateway.url}/wado-rs/studies/{uid}"], check=True, timeout=120)
    content_type = next(line.split(":", 1)[1].strip() for line in headers.read_text()
                        .splitlines() if line.lower().startswith("content-type:"))
    reader = MultipartReader(boundary_of(content_type))
    parts = reader.feed(body.read_bytes())
    reader.close()
    return [dcmread(BytesIO(p)) for p in parts]


def test_getscu_from_orthanc_and_curl_from_the_gateway_give_the_same_pixels(
    orthanc: Orthanc, gateway: RunningGateway, study: StoredStudy, tmp_path: Path
) -> None:
    direct = by_sop(getscu_study(orthanc, study.study_instance_uid, tmp_path / "getscu"))
    through = by_sop(curl_study(gateway, study.study_instance_uid, tmp_path / "curl"))
    assert set(direct) == study.sop_instance_uids
    assert through == direct


def test_dicomweb_client_sees_the_same_study_through_the_gateway_as_from_orthanc(
    orthanc: Orthanc, gateway: RunningGateway, study: StoredStudy
) -> None:
    through = DICOMwebClient(f"{gateway.url}/wado-rs", headers=gateway.auth()) \
        .retrieve_study(study.study_instance_uid)
    direct = DICOMwebClient(orthanc.dicomweb).retrieve_study(study.study_instance_uid)
    assert by_sop(through) == by_sop(direct)
    theirs = {str(ds.SOPInstanceUID): ds for ds in direct}
    for ds in through:  # every element, not only the pixels
        assert ds == theirs[str(ds.SOPInstanceUID)]


def multi(value: object) -> set[str]:
    """The values of a possibly multi-valued element (one value reads as a plain string)."""
    if isinstance(value, str):
        return {value}
    return {str(v) for v in value}  # type: ignore[attr-defined]


def findscu(orthanc: Orthanc, folder: Path, *keys: str) -> list[Dataset]:
    folder.mkdir()
    args = ["-S", "-X", "-od", str(folder)]
    for key in keys:
        args += ["-k", key]
    run_dcmtk("findscu", orthanc, *args)
    return [dcmread(p) for p in sorted(folder.glob("rsp*.dcm"))]


def test_findscu_and_the_gateway_dimse_adapter_give_the_same_answers(
    orthanc: Orthanc, study: StoredStudy, tmp_path: Path
) -> None:
    uid = study.study_instance_uid
    [found] = findscu(orthanc, tmp_path / "study", "QueryRetrieveLevel=STUDY",
                      f"StudyInstanceUID={uid}", "PatientID", "PatientName", "StudyDate",
                      "AccessionNumber", "ModalitiesInStudy", "NumberOfStudyRelatedInstances")
    series = findscu(orthanc, tmp_path / "series", "QueryRetrieveLevel=SERIES",
                     f"StudyInstanceUID={uid}", "SeriesInstanceUID", "Modality",
                     "NumberOfSeriesRelatedInstances")
    instances = findscu(orthanc, tmp_path / "image", "QueryRetrieveLevel=IMAGE",
                        f"StudyInstanceUID={uid}", "SeriesInstanceUID", "SOPInstanceUID",
                        "SOPClassUID")

    with Issuer.running() as issuer:
        settings = gateway_settings(orthanc, issuer, tmp_path / "gw", pacs_adapter="dimse")
    pacs = DimsePacs(settings)
    try:
        day = datetime.strptime(study.spec.study_date, "%Y%m%d").date()
        [by_date] = [s for s in pacs.find_studies(since=day, until=day)
                     if s.study_instance_uid == uid]
        info = pacs.study(uid)
    finally:
        pacs.close()
    assert info is not None
    assert (by_date.patient_id, by_date.patient_name, by_date.study_date,
            by_date.accession_number, set(by_date.modalities_in_study),
            by_date.number_of_instances) == (
        found.PatientID, str(found.PatientName), found.StudyDate, found.AccessionNumber,
        multi(found.ModalitiesInStudy), int(found.NumberOfStudyRelatedInstances))
    assert {(s.series_instance_uid, s.modality, len(s.instances)) for s in info.series} == {
        (ds.SeriesInstanceUID, ds.Modality, int(ds.NumberOfSeriesRelatedInstances))
        for ds in series}
    assert {(s.series_instance_uid, i.sop_instance_uid, i.sop_class_uid)
            for s in info.series for i in s.instances} == {
        (ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.SOPClassUID) for ds in instances}
