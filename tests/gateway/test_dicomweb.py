"""The DICOMweb adapter against a real Orthanc: QIDO-RS answers equal what was stored, WADO-RS
bytes equal Orthanc's files, retrieval streams in bounded memory, and every failure (PACS down,
HTTP error, truncated body, Orthanc killed mid-transfer) is a ``PacsError``."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import date
from io import BytesIO
from pathlib import Path

import httpx
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom import dcmread
from pydicom.uid import generate_uid

from gateway.cache import InstanceCache
from gateway.pacs.base import PacsError, PacsUnavailable
from gateway.pacs.dicomweb import DicomwebPacs, MultipartReader
from partage.orthanc import Orthanc, OrthancConfig
from partage.serve import free_port
from partage.studies import Patient, StudySpec, build_study, part10
from tests.gateway.studies import make_spec, orthanc_instance_files, store_rest

log = logging.getLogger(__name__)
BIG_SLICES = 200  # 512×512×16-bit: ~105 MB


@pytest.fixture
def pacs(orthanc: Orthanc) -> Iterator[DicomwebPacs]:
    adapter = DicomwebPacs(orthanc.dicomweb)
    yield adapter
    adapter.close()


# -- QIDO-RS -------------------------------------------------------------------------------------

def test_find_studies_returns_what_was_stored(orthanc: Orthanc, pacs: DicomwebPacs) -> None:
    stored = store_rest(orthanc, make_spec(series_count=2, slices=2, study_date="20240315",
                                           accession_number="ACC42", modality="MR"))
    other = store_rest(orthanc, make_spec(
        study_date="20230101", accession_number="ACC7",
        patient=Patient("IPP9", "DURAND^Paul", "19700101", "M", issuer="1.2.3.9")))

    [study] = pacs.find_studies(study_instance_uid=stored.study_instance_uid)
    assert study.study_instance_uid == stored.study_instance_uid
    assert study.accession_number == "ACC42"
    assert study.modalities_in_study == ("MR",)
    assert (study.patient_id, study.issuer_of_patient_id) == ("IPP000123", "1.2.250.1.999.1.1.1")
    assert (study.patient_name, study.patient_birth_date, study.patient_sex) == (
        "MARTIN^Claire", "19580412", "F")
    assert (study.study_date, study.study_time) == ("20240315", "101500")
    assert study.study_description == stored.spec.description
    assert study.institution_name == "CHU Nord"
    assert study.referring_physician_name == "DUPONT^Jean"
    assert study.number_of_instances == 4

    def uids(found: list) -> set[str]:
        return {s.study_instance_uid for s in found}

    assert uids(pacs.find_studies(since=date(2024, 1, 1))) == {stored.study_instance_uid}
    assert uids(pacs.find_studies(until=date(2023, 12, 31))) == {other.study_instance_uid}
    assert uids(pacs.find_studies(since=date(2023, 1, 1), until=date(2024, 3, 15))) == {
        stored.study_instance_uid, other.study_instance_uid}
    assert uids(pacs.find_studies(patient_id="IPP9")) == {other.study_instance_uid}
    assert pacs.find_studies(since=date(2025, 1, 1), until=date(2025, 1, 2)) == []


def test_study_lists_every_series_and_instance(orthanc: Orthanc, pacs: DicomwebPacs) -> None:
    stored = store_rest(orthanc, make_spec(series_count=2, slices=3))
    study = pacs.study(stored.study_instance_uid)
    assert study is not None
    assert {s.series_instance_uid for s in study.series} == stored.series_instance_uids
    assert [s.series_number for s in study.series] == [1, 2]
    for series in study.series:
        assert series.modality == "CT" and series.body_part_examined == "CHEST"
        expected = [ds for ds in stored.datasets
                    if ds.SeriesInstanceUID == series.series_instance_uid]
        assert [i.sop_instance_uid for i in series.instances] == [
            ds.SOPInstanceUID for ds in expected]
        assert [i.instance_number for i in series.instances] == [1, 2, 3]
        assert {i.sop_class_uid for i in series.instances} == {"1.2.840.10008.5.1.4.1.1.2"}
    assert pacs.study(generate_uid()) is None


# -- WADO-RS -------------------------------------------------------------------------------------

def test_retrieved_bytes_are_orthancs_files(orthanc: Orthanc, pacs: DicomwebPacs) -> None:
    stored = store_rest(orthanc, make_spec(series_count=2, slices=2))
    files = orthanc_instance_files(orthanc, stored)
    study_uid = stored.study_instance_uid

    whole = list(pacs.retrieve(study_uid))
    assert sorted(whole) == sorted(files.values())
    for data in whole:  # the pixels are the ones the modality sent
        ds = dcmread(BytesIO(data))
        sent = next(d for d in stored.datasets if d.SOPInstanceUID == ds.SOPInstanceUID)
        assert ds.PixelData == sent.PixelData

    first = stored.datasets[0]
    series = list(pacs.retrieve(study_uid, str(first.SeriesInstanceUID)))
    assert sorted(series) == sorted(
        files[ds.SOPInstanceUID] for ds in stored.datasets
        if ds.SeriesInstanceUID == first.SeriesInstanceUID)

    chosen = [str(stored.datasets[3].SOPInstanceUID), str(first.SOPInstanceUID)]
    assert list(pacs.retrieve(study_uid, None, chosen)) == [files[uid] for uid in chosen]
    assert list(pacs.retrieve(study_uid, str(first.SeriesInstanceUID), chosen[1:])) == [
        files[chosen[1]]]


def test_frames_and_metadata(orthanc: Orthanc, pacs: DicomwebPacs) -> None:
    stored = store_rest(orthanc, make_spec(slices=2))
    ds = stored.datasets[1]
    uids = (stored.study_instance_uid, str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID))
    assert list(pacs.frames(*uids, [1])) == [ds.PixelData]

    metadata = pacs.metadata(stored.study_instance_uid)
    assert {m["00080018"]["Value"][0] for m in metadata} == stored.sop_instance_uids
    assert len(pacs.metadata(stored.study_instance_uid, uids[1])) == 2
    assert pacs.metadata(generate_uid()) == []


def test_unknown_study_is_an_error_not_an_empty_success(pacs: DicomwebPacs) -> None:
    with pytest.raises(PacsError, match="404"):
        list(pacs.retrieve(generate_uid()))


def test_pacs_down_is_unavailable() -> None:
    down = DicomwebPacs(f"http://127.0.0.1:{free_port()}/dicom-web", connect_timeout=2)
    with pytest.raises(PacsUnavailable):
        down.find_studies(since=date(2024, 1, 1))
    with pytest.raises(PacsUnavailable):
        list(down.retrieve(generate_uid()))
    with pytest.raises(PacsUnavailable):
        down.study(generate_uid())


# -- multipart reading -----------------------------------------------------------------------------

def multipart(parts: list[bytes], boundary: bytes, close: bool = True) -> bytes:
    body = b"preamble\r\n"
    for part in parts:
        body += b"--" + boundary + b"\r\nContent-Type: application/dicom\r\n\r\n" + part + b"\r\n"
    return body + (b"--" + boundary + b"--\r\n" if close else b"")


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_reader_splits_parts_at_any_chunking(chunk: int) -> None:
    boundary = b"b0und4ry"
    parts = [b"first\r\n--b0und", b"", b"x" * 10_000, b"--b0und4r"]
    body = multipart(parts, boundary)
    reader = MultipartReader(boundary)
    got = [p for i in range(0, len(body), chunk) for p in reader.feed(body[i:i + chunk])]
    reader.close()
    assert got == parts


def test_reader_refuses_a_body_without_its_closing_boundary() -> None:
    reader = MultipartReader(b"B")
    assert reader.feed(multipart([b"one", b"two"], b"B", close=False)) == [b"one"]
    with pytest.raises(PacsError, match="truncated"):
        reader.close()


class TruncatingPeer:
    """A minimal HTTP server on loopback answering every GET with a multipart/related body of
    the given instances, cut (connection closed) before the last part is finished."""

    def __init__(self, instances: list[bytes], cut: bool) -> None:
        self.instances, self.cut = instances, cut
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/dicom-web"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                while b"\r\n\r\n" not in conn.recv(65536):
                    pass
                body = multipart(self.instances, b"cut", close=not self.cut)
                if self.cut:
                    body = body[: len(body) - len(self.instances[-1]) // 2]
                conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: "
                             b'multipart/related; type="application/dicom"; boundary=cut\r\n\r\n'
                             + body)

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize("cut", [False, True])
def test_truncated_transfer_raises_after_the_complete_instances(cut: bool) -> None:
    instances = [part10(ds) for ds in build_study(make_spec(slices=3))]
    peer = TruncatingPeer(instances, cut)
    try:
        got: list[bytes] = []
        stream = DicomwebPacs(peer.url).retrieve(generate_uid())
        if cut:
            with pytest.raises(PacsError, match="truncated"):
                got.extend(stream)
            assert got == instances[:2]
        else:
            assert list(stream) == instances
    finally:
        peer.close()


# -- a large series: bounded memory, Orthanc killed mid-transfer, throughput ------------------

@pytest.fixture(scope="module")
def big_series(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Orthanc, str, str]]:
    """A dedicated Orthanc holding one ~105 MB CT series (200 slices of 512×512), stored with
    storescu; slices share the phantom pixels so building stays cheap."""
    root = tmp_path_factory.mktemp("big")
    server = Orthanc(OrthancConfig("big", "BIG", free_port(), free_port(), root / "storage"))
    spec = StudySpec(make_spec().patient, rows=512, columns=512, slices=1)
    [template] = build_study(spec)
    files = root / "files"
    files.mkdir()
    for index in range(BIG_SLICES):
        template.SOPInstanceUID = template.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        template.InstanceNumber = index + 1
        (files / f"{index}.dcm").write_bytes(part10(template))
    with server:
        subprocess.run(["storescu", "-aec", "BIG", "+sd", "127.0.0.1",
                        str(server.config.dicom_port), str(files)], check=True, timeout=300,
                       capture_output=True, env={**os.environ, "TCP_NODELAY": "1"})
        yield server, spec.study_instance_uid, str(template.SeriesInstanceUID)


def test_retrieval_streams_in_bounded_memory(big_series: tuple[Orthanc, str, str]) -> None:
    server, study, series = big_series
    pacs = DicomwebPacs(server.dicomweb)
    tracemalloc.start()
    try:
        count = total = 0
        for data in pacs.retrieve(study, series):
            count, total = count + 1, total + len(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == BIG_SLICES and total > 100_000_000
    assert peak < 16 * 1024 * 1024, f"peak Python allocation {peak} B for a {total} B series"


def test_orthanc_killed_mid_transfer(big_series: tuple[Orthanc, str, str]) -> None:
    server, study, series = big_series
    pacs = DicomwebPacs(server.dicomweb)
    got = 0
    try:
        with pytest.raises(PacsError):
            for _ in pacs.retrieve(study, series):
                got += 1
                if got == 1:
                    assert server.process is not None
                    server.process.kill()
                    server.process.wait()
        assert 1 <= got < BIG_SLICES
    finally:
        server.process = None
        server.start()
    assert sum(1 for _ in pacs.retrieve(study, series)) == BIG_SLICES


def test_throughput_report(big_series: tuple[Orthanc, str, str], tmp_path: Path,
                           record_property: pytest.RecordProperty) -> None:
    """Measured, not asserted: the adapter against dicomweb-client and raw httpx, and through
    the cache cold (a new cache folder each run) and warm."""
    server, study, series = big_series
    pacs = DicomwebPacs(server.dicomweb)
    caches = iter(range(100))
    warm = InstanceCache(tmp_path / "warm", 1024**3)

    def through(cache: InstanceCache) -> int:
        stream = cache.read_through(study, series, None, lambda: pacs.retrieve(study, series))
        return sum(len(d) for d in stream)

    def cold() -> int:
        return through(InstanceCache(tmp_path / f"cold{next(caches)}", 1024**3))

    def adapter() -> int:
        return sum(len(d) for d in pacs.retrieve(study, series))

    def dicomweb_client() -> int:  # parses each part into a Dataset (no bytes to count)
        client = DICOMwebClient(server.dicomweb)
        return sum(1 for _ in client.iter_series(study, series))

    def raw_httpx() -> int:
        with httpx.stream("GET", f"{server.dicomweb}/studies/{study}/series/{series}",
                          headers={"Accept": 'multipart/related; type="application/dicom"; '
                                             "transfer-syntax=*"}, timeout=60) as answer:
            return sum(len(c) for c in answer.iter_raw(1024 * 1024))

    total = through(warm)
    for name, run in (("adapter", adapter), ("dicomweb_client", dicomweb_client),
                      ("httpx_raw", raw_httpx), ("cache_cold", cold),
                      ("cache_warm", lambda: through(warm))):
        best = min(_timed(run) for _ in range(3))
        record_property(f"{name}_mb_per_s", round(total / best / 1e6))
        log.info("%s: %.0f MB/s", name, total / best / 1e6)


def _timed(run: Callable[[], int]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start
