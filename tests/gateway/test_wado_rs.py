"""RAD-107 WADO-RS through the gateway, against a real Orthanc through the real adapters and
cache: the bytes and pixels served equal Orthanc's own, content negotiation, errors, a PACS that
is down or dies mid-stream, and the time to the first frame."""

from __future__ import annotations

import io
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from dicomweb_client import DICOMwebClient
from PIL import Image
from pydicom import dcmread

from gateway.pacs.dicomweb import MultipartReader, boundary_of
from partage.orthanc import Orthanc, OrthancConfig
from partage.serve import free_port
from tests.gateway.studies import StoredStudy, make_spec, orthanc_instance_files, store_rest
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.issuer import Issuer

DICOM_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'


@pytest.fixture
def study(orthanc: Orthanc) -> StoredStudy:
    return store_rest(orthanc, make_spec(series_count=2, slices=3, accession_number="ACC107"))


def parts(response: httpx.Response) -> list[bytes]:
    reader = MultipartReader(boundary_of(response.headers["content-type"]))
    found = reader.feed(response.content)
    reader.close()
    return found


def sop_of(data: bytes) -> str:
    return str(dcmread(io.BytesIO(data), stop_before_pixels=True).SOPInstanceUID)


def other(uid: object) -> str:
    """A well-formed UID that names nothing."""
    text = str(uid)
    return text[:-1] + ("1" if text[-1] != "1" else "2")


def assert_same_instances(served: dict[str, bytes], expected: dict[str, bytes],
                          adapter: str) -> None:
    """Byte for byte through DICOMweb; through DIMSE the instance travels as a dataset (C-GET
    re-encodes the file meta), so every element and the pixels must match."""
    assert served.keys() == expected.keys()
    if adapter == "dicomweb":
        assert served == expected
        return
    for uid, data in served.items():
        ours, theirs = dcmread(io.BytesIO(data)), dcmread(io.BytesIO(expected[uid]))
        assert ours == theirs and ours.PixelData == theirs.PixelData


def client(gateway: RunningGateway) -> DICOMwebClient:
    return DICOMwebClient(f"{gateway.url}/wado-rs", headers=gateway.auth())


# -- the same bytes as Orthanc -----------------------------------------------------------------


def test_study_is_byte_identical_to_orthanc(gateway: RunningGateway, orthanc: Orthanc,
                                            study: StoredStudy) -> None:
    expected = orthanc_instance_files(orthanc, study)
    for attempt in ("cold", "warm"):
        answer = httpx.get(f"{gateway.url}/wado-rs/studies/{study.study_instance_uid}",
                           headers={**gateway.auth(), "Accept": DICOM_ACCEPT}, timeout=60)
        assert answer.status_code == 200, (attempt, answer.text)
        assert answer.headers["content-type"].startswith('multipart/related; type="application/dicom"')
        served = {sop_of(p): p for p in parts(answer)}
        assert_same_instances(served, expected, gateway.settings.pacs_adapter)
        if attempt == "warm":  # from the cache's files alone: the length is known up front
            assert answer.headers["content-length"] == str(len(answer.content))
        else:
            assert answer.headers["transfer-encoding"] == "chunked"


def test_series_and_instance(gateway: RunningGateway, orthanc: Orthanc,
                             study: StoredStudy) -> None:
    expected = orthanc_instance_files(orthanc, study)
    ds = study.datasets[0]
    base = f"{gateway.url}/wado-rs/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
    series = httpx.get(base, headers={**gateway.auth(), "Accept": DICOM_ACCEPT}, timeout=60)
    assert {sop_of(p) for p in parts(series)} == {
        str(d.SOPInstanceUID) for d in study.datasets if d.SeriesInstanceUID == ds.SeriesInstanceUID}
    one = httpx.get(f"{base}/instances/{ds.SOPInstanceUID}", headers=gateway.auth(), timeout=60)
    uid = str(ds.SOPInstanceUID)
    assert_same_instances({uid: parts(one)[0]}, {uid: expected[uid]}, gateway.settings.pacs_adapter)


def test_dicomweb_client_sees_the_same_pixels_as_from_orthanc(
        gateway: RunningGateway, orthanc: Orthanc, study: StoredStudy) -> None:
    direct = DICOMwebClient(orthanc.dicomweb)
    through = client(gateway)
    uid = study.study_instance_uid
    ours = {str(d.SOPInstanceUID): d.PixelData for d in through.retrieve_study(uid)}
    theirs = {str(d.SOPInstanceUID): d.PixelData for d in direct.retrieve_study(uid)}
    assert ours == theirs and len(ours) == 6
    ds = study.datasets[1]
    args = (uid, str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID), [1])
    native = (("application/octet-stream", "1.2.840.10008.1.2.1"),)
    frames = through.retrieve_instance_frames(*args, media_types=native)
    assert frames == direct.retrieve_instance_frames(*args, media_types=native)
    assert frames == [ds.PixelData] == through.retrieve_instance_frames(*args)


def test_metadata_points_its_bulk_data_back_to_the_gateway(
        gateway: RunningGateway, study: StoredStudy) -> None:
    ds = study.datasets[2]
    metadata = client(gateway).retrieve_series_metadata(
        study.study_instance_uid, str(ds.SeriesInstanceUID))
    assert {m["00080018"]["Value"][0] for m in metadata} == {
        str(d.SOPInstanceUID) for d in study.datasets if d.SeriesInstanceUID == ds.SeriesInstanceUID}
    item = next(m for m in metadata if m["00080018"]["Value"][0] == ds.SOPInstanceUID)
    assert item["00100010"]["Value"][0]["Alphabetic"] == "MARTIN^Claire"
    assert item["00080050"]["Value"] == ["ACC107"]
    uri = item["7FE00010"]["BulkDataURI"]
    assert uri == (f"{gateway.url}/wado-rs/studies/{study.study_instance_uid}/series/"
                   f"{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}/frames/1")
    frame = httpx.get(uri, headers=gateway.auth(), timeout=30)
    assert parts(frame) == [ds.PixelData]
    whole = httpx.get(f"{gateway.url}/wado-rs/studies/{study.study_instance_uid}/metadata",
                      headers=gateway.auth(), timeout=30)
    assert whole.headers["content-type"] == "application/dicom+json"
    assert len(whole.json()) == 6


def test_dicomweb_pacs_describes_an_uncached_series_without_moving_pixels(
        gateway: RunningGateway, study: StoredStudy) -> None:
    """A DICOMweb PACS answers metadata itself: nothing of the series lands in the gateway's
    cache for it (the viewer's first frame does not wait for the whole series)."""
    ds = study.datasets[2]
    metadata = client(gateway).retrieve_series_metadata(
        study.study_instance_uid, str(ds.SeriesInstanceUID))
    assert all(item["7FE00010"]["BulkDataURI"].startswith(f"{gateway.url}/wado-rs/")
               for item in metadata)
    assert not any("BulkDataURI" in v for item in metadata for t, v in item.items()
                   if t != "7FE00010" and isinstance(v, dict))
    cache = gateway.settings.resolved_cache_dir()
    cached = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()
                 and f.suffix != ".json")
    moved = sum(len(d.PixelData) for d in study.datasets
                if d.SeriesInstanceUID == ds.SeriesInstanceUID)
    if gateway.settings.pacs_adapter == "dicomweb":
        assert cached < moved
    else:  # DIMSE has no metadata query: the instances are read (and kept) to describe them
        assert cached >= moved


def test_rendered_instance_and_frame(gateway: RunningGateway, study: StoredStudy) -> None:
    ds = study.datasets[0]
    base = (f"{gateway.url}/wado-rs/studies/{ds.StudyInstanceUID}/series/"
            f"{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}")
    jpeg = httpx.get(f"{base}/rendered", headers=gateway.auth(), timeout=30)
    assert jpeg.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(jpeg.content)).size == (ds.Columns, ds.Rows)
    narrow = httpx.get(f"{base}/frames/1/rendered", params={"window": "40,400"},
                       headers={**gateway.auth(), "Accept": "image/png"}, timeout=30)
    wide = httpx.get(f"{base}/frames/1/rendered", params={"window": "1000,4000"},
                     headers={**gateway.auth(), "Accept": "image/png"}, timeout=30)
    assert narrow.headers["content-type"] == "image/png"
    a = np.asarray(Image.open(io.BytesIO(narrow.content)))
    b = np.asarray(Image.open(io.BytesIO(wide.content)))
    assert a.shape == (ds.Rows, ds.Columns) and not np.array_equal(a, b)
    # a lung (HU ≈ -774) is black in a soft-tissue window: values at or below c - w/2
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert (a[hu < 40 - 200 - 1] == 0).all()


# -- negotiation and errors --------------------------------------------------------------------


def test_unacceptable_media_types_are_406(gateway: RunningGateway, study: StoredStudy) -> None:
    ds = study.datasets[0]
    base = (f"{gateway.url}/wado-rs/studies/{ds.StudyInstanceUID}/series/"
            f"{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}")
    for url, accept in ((base, "application/pdf"),
                        (f"{base}/rendered", "image/gif"),
                        (f"{base}/frames/1", 'multipart/related; type="image/jls"'),
                        (f"{base}/metadata", "text/html")):
        answer = httpx.get(url, headers={**gateway.auth(), "Accept": accept}, timeout=30)
        assert answer.status_code == 406, (url, accept)
        assert answer.headers["content-type"] == "application/problem+json"


def test_unknown_uids_are_404(gateway: RunningGateway, study: StoredStudy) -> None:
    a, b = study.datasets[0], study.datasets[3]  # two series
    assert a.SeriesInstanceUID != b.SeriesInstanceUID
    root = f"{gateway.url}/wado-rs/studies"
    for path in (other(a.StudyInstanceUID),
                 f"{a.StudyInstanceUID}9",  # 65 characters: not a UID
                 f"{a.StudyInstanceUID}/series/{other(a.SeriesInstanceUID)}",
                 f"{a.StudyInstanceUID}/series/{a.SeriesInstanceUID}/instances/{other(a.SOPInstanceUID)}",
                 f"{a.StudyInstanceUID}/series/{a.SeriesInstanceUID}/instances/{b.SOPInstanceUID}",
                 f"{a.StudyInstanceUID}/series/{a.SeriesInstanceUID}/instances/{a.SOPInstanceUID}/frames/2",
                 f"{other(a.StudyInstanceUID)}/metadata"):
        answer = httpx.get(f"{root}/{path}", headers=gateway.auth(), timeout=30)
        assert answer.status_code == 404, path
        assert answer.json()["status"] == 404


def test_pacs_down_is_503(orthanc: Orthanc, issuer: Issuer, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/dicom-web"
    with running_gateway(orthanc, issuer, tmp_path, pacs_dicomweb_url=dead) as gateway:
        answer = httpx.get(f"{gateway.url}/wado-rs/studies/1.2.3.4", headers=gateway.auth())
        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["retry-after"] == "30"


def test_orthanc_stopped_mid_stream_breaks_the_transfer(issuer: Issuer, tmp_path: Path) -> None:
    """The client must see a broken body, never a complete multipart missing instances."""
    config = OrthancConfig("dying", "DYING", free_port(), free_port(), tmp_path / "dying")
    server = Orthanc(config).start()
    try:
        study = store_rest(server, make_spec(slices=40, rows=512, columns=512))
        with running_gateway(server, issuer, tmp_path / "gw", pacs_adapter="dimse",
                             pacs_options={"buffer_bytes": 1}) as gateway:
            received = b""
            with pytest.raises(httpx.RemoteProtocolError):
                with httpx.stream("GET", f"{gateway.url}/wado-rs/studies/"
                                  f"{study.study_instance_uid}", timeout=60,
                                  headers={**gateway.auth(), "Accept": DICOM_ACCEPT}) as answer:
                    assert answer.status_code == 200
                    boundary = boundary_of(answer.headers["content-type"])
                    for chunk in answer.iter_raw():
                        received += chunk
                        if server.process is not None and len(received) > 1_000_000:
                            server.stop()
            assert b"--" + boundary + b"--" not in received
            assert 1_000_000 < len(received) < 40 * 512 * 512 * 2
    finally:
        server.stop()


def test_time_to_first_frame(gateway: RunningGateway, study: StoredStudy) -> None:
    ds = study.datasets[0]
    url = (f"{gateway.url}/wado-rs/studies/{ds.StudyInstanceUID}/series/"
           f"{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}/frames/1")
    timings = {}
    with httpx.Client(headers=gateway.auth(), timeout=30) as http:
        http.get(f"{gateway.url}/health")  # connection and token keys ready
        for attempt in ("cold", "warm"):
            start = time.perf_counter()
            with http.stream("GET", url) as answer:
                for _ in answer.iter_raw():
                    timings.setdefault(attempt, (time.perf_counter() - start) * 1000)
    print(f"\ntime to first frame byte ({gateway.settings.pacs_adapter}): "
          f"cold {timings['cold']:.1f} ms, warm {timings['warm']:.1f} ms")
    assert timings["warm"] < 100
