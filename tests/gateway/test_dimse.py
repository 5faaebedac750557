"""The DIMSE adapter against a real Orthanc: C-FIND at the three levels, C-GET and C-MOVE
retrieval byte-identical to Orthanc's own files, dcmtk interop, and every failure raised."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import date
from io import BytesIO
from pathlib import Path

import httpx
import pytest
from pydicom import dcmread

from gateway.ae import start_scp
from gateway.core.config import GatewaySettings
from gateway.forwarding import Spool
from gateway.pacs.base import PacsError, PacsUnavailable
from gateway.pacs.dimse import DimsePacs, MoveRouter
from partage.orthanc import Orthanc, OrthancConfig
from partage.serve import free_port
from tests.gateway.studies import (
    PATIENT,
    StoredStudy,
    make_spec,
    orthanc_instance_files,
    store_rest,
)

DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}


def settings_for(orthanc: Orthanc, tmp_path: Path, **overrides: object) -> GatewaySettings:
    values: dict[str, object] = {
        "data_dir": tmp_path, "pacs_host": "127.0.0.1", "pacs_port": orthanc.config.dicom_port,
        "pacs_ae_title": orthanc.config.ae_title, "dicom_port": free_port(), "log_json": False,
    }
    values.update(overrides)
    return GatewaySettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def pacs(orthanc: Orthanc, tmp_path: Path) -> Iterator[DimsePacs]:
    adapter = DimsePacs(settings_for(orthanc, tmp_path))
    yield adapter
    adapter.close()


@pytest.fixture
def study(orthanc: Orthanc) -> StoredStudy:
    return store_rest(orthanc, make_spec(series_count=2, slices=3, accession_number="ACC42"))


def by_uid(files: Iterator[bytes] | list[bytes]) -> dict[str, bytes]:
    return {str(dcmread(BytesIO(f), stop_before_pixels=True).SOPInstanceUID): f for f in files}


def assert_same_pixels(received: dict[str, bytes], served: dict[str, bytes]) -> None:
    assert set(received) == set(served)
    for uid, data in received.items():
        ours, theirs = dcmread(BytesIO(data)), dcmread(BytesIO(served[uid]))
        assert ours.SOPInstanceUID == theirs.SOPInstanceUID == uid
        assert ours.PixelData == theirs.PixelData


# -- C-FIND ---------------------------------------------------------------------------------------

def test_find_studies_returns_the_study_attributes(pacs: DimsePacs, study: StoredStudy) -> None:
    [found] = pacs.find_studies(study_instance_uid=study.study_instance_uid)
    assert found.study_instance_uid == study.study_instance_uid
    assert found.patient_id == PATIENT.patient_id
    assert found.issuer_of_patient_id == PATIENT.issuer
    assert found.patient_name == PATIENT.name
    assert found.patient_birth_date == PATIENT.birth_date
    assert found.patient_sex == "F"
    assert found.accession_number == "ACC42"
    assert found.study_date == study.spec.study_date
    assert found.study_description == "CT THORAX"
    assert found.modalities_in_study == ("CT",)
    assert found.number_of_instances == 6


def test_find_studies_by_date_range_and_patient(
    pacs: DimsePacs, orthanc: Orthanc, study: StoredStudy
) -> None:
    old = store_rest(orthanc, make_spec(study_date="20200115", accession_number="OLD1"))
    today = date.today()
    assert {s.study_instance_uid for s in pacs.find_studies(since=today)} == {
        study.study_instance_uid}
    assert [s.accession_number for s in pacs.find_studies(
        since=date(2020, 1, 1), until=date(2020, 1, 31))] == ["OLD1"]
    both = {s.study_instance_uid for s in pacs.find_studies(patient_id=PATIENT.patient_id)}
    assert both == {study.study_instance_uid, old.study_instance_uid}
    assert pacs.find_studies(patient_id="NOBODY") == []
    with pytest.raises(ValueError):
        pacs.find_studies(patient_id="IPP*")


def test_study_lists_every_series_and_instance(pacs: DimsePacs, study: StoredStudy) -> None:
    info = pacs.study(study.study_instance_uid)
    assert info is not None
    assert info.accession_number == "ACC42"
    assert [s.series_number for s in info.series] == [1, 2]
    assert {s.series_instance_uid for s in info.series} == study.series_instance_uids
    assert all(s.modality == "CT" and s.body_part_examined == "CHEST" for s in info.series)
    listed = {i.sop_instance_uid for s in info.series for i in s.instances}
    assert listed == study.sop_instance_uids
    first = info.series[0].instances
    assert [i.instance_number for i in first] == [1, 2, 3]
    assert {i.sop_class_uid for i in first} == {"1.2.840.10008.5.1.4.1.1.2"}


def test_unknown_study_is_none(pacs: DimsePacs, study: StoredStudy) -> None:
    assert pacs.study("1.2.3.4.5.6.7") is None
    with pytest.raises(PacsError, match="no study"):
        pacs.retrieve("1.2.3.4.5.6.7")
    with pytest.raises(ValueError):
        pacs.study("1.2.3'; DROP")


# -- C-GET ----------------------------------------------------------------------------------------

def test_c_get_study_is_byte_identical_to_orthanc(
    pacs: DimsePacs, orthanc: Orthanc, study: StoredStudy
) -> None:
    received = by_uid(list(pacs.retrieve(study.study_instance_uid)))
    assert_same_pixels(received, orthanc_instance_files(orthanc, study))


def test_c_get_series_and_instances(pacs: DimsePacs, study: StoredStudy) -> None:
    info = pacs.study(study.study_instance_uid)
    assert info is not None
    series = info.series[1]
    got = by_uid(list(pacs.retrieve(study.study_instance_uid, series.series_instance_uid)))
    assert set(got) == {i.sop_instance_uid for i in series.instances}
    wanted = [info.series[0].instances[0].sop_instance_uid, series.instances[2].sop_instance_uid]
    assert set(by_uid(list(pacs.retrieve(study.study_instance_uid,
                                         sop_instance_uids=wanted)))) == set(wanted)
    with pytest.raises(PacsError, match="not in the PACS"):
        pacs.retrieve(study.study_instance_uid, sop_instance_uids=["1.2.3.4"])


# -- C-MOVE ---------------------------------------------------------------------------------------

def test_c_move_study_is_byte_identical_to_orthanc(
    orthanc: Orthanc, study: StoredStudy, tmp_path: Path
) -> None:
    settings = settings_for(orthanc, tmp_path, retrieve_method="c-move")
    router = MoveRouter(settings.ae_title)
    spool = Spool(tmp_path / "spool", settings.quiet_period_s)
    server = start_scp(settings, router, spool)
    try:
        httpx.put(f"{orthanc.url}/modalities/GATEWAY",
                  json=[settings.ae_title, "127.0.0.1", settings.dicom_port]).raise_for_status()
        received = by_uid(list(DimsePacs(settings, router).retrieve(study.study_instance_uid)))
        assert_same_pixels(received, orthanc_instance_files(orthanc, study))
        assert spool.studies() == []  # routed to the retrieve, not taken for a forwarded study
    finally:
        server.shutdown()
        httpx.delete(f"{orthanc.url}/modalities/GATEWAY")


# -- interop with dcmtk ------------------------------------------------------------------------------

def test_findscu_and_getscu_see_the_same_uids(
    pacs: DimsePacs, orthanc: Orthanc, study: StoredStudy, tmp_path: Path
) -> None:
    port = str(orthanc.config.dicom_port)
    found = subprocess.run(
        ["findscu", "-S", "-aec", "ORTHANC", "-k", "QueryRetrieveLevel=IMAGE",
         "-k", f"StudyInstanceUID={study.study_instance_uid}", "-k", "SeriesInstanceUID",
         "-k", "SOPInstanceUID", "127.0.0.1", port],
        capture_output=True, text=True, env=DCMTK_ENV, timeout=60, check=True,
    )
    # dcmtk prints each identifier on stderr; odd-length UIDs keep their NUL padding
    findscu_uids = set(re.findall(r"\(0008,0018\) UI \[([0-9.]+)\x00?\]", found.stderr))
    info = pacs.study(study.study_instance_uid)
    assert info is not None
    assert findscu_uids == {i.sop_instance_uid for s in info.series for i in s.instances}
    out = tmp_path / "getscu"
    out.mkdir()
    subprocess.run(
        ["getscu", "-S", "-aec", "ORTHANC", "-od", str(out), "-k", "QueryRetrieveLevel=STUDY",
         "-k", f"StudyInstanceUID={study.study_instance_uid}", "127.0.0.1", port],
        capture_output=True, env=DCMTK_ENV, timeout=60, check=True,
    )
    theirs = by_uid([p.read_bytes() for p in out.iterdir()])
    ours = by_uid(list(pacs.retrieve(study.study_instance_uid)))
    assert_same_pixels(ours, theirs)


# -- failures --------------------------------------------------------------------------------------

def test_pacs_down_is_unavailable_fast(orthanc: Orthanc, tmp_path: Path) -> None:
    closed = free_port()
    adapter = DimsePacs(settings_for(orthanc, tmp_path, pacs_port=closed))
    start = time.monotonic()
    with pytest.raises(PacsUnavailable):
        adapter.find_studies(since=date.today())
    with pytest.raises(PacsUnavailable):
        adapter.retrieve("1.2.3.4")
    assert time.monotonic() - start < 2.0


def test_orthanc_stopped_mid_transfer_raises_after_partial_yields(tmp_path: Path) -> None:
    config = OrthancConfig("dying", "DYING", free_port(), free_port(), tmp_path / "dying")
    server = Orthanc(config).start()
    try:
        study = store_rest(server, make_spec(slices=30, rows=256, columns=256))
        # a one-byte buffer holds the PACS back after the instance in hand: the crash (SIGKILL)
        # happens with most of the study still to come
        adapter = DimsePacs(settings_for(server, tmp_path), buffer_bytes=1)
        stream = adapter.retrieve(study.study_instance_uid)
        received = [next(stream), next(stream)]
        assert server.process is not None
        server.process.kill()
        with pytest.raises(PacsUnavailable, match="lost"):
            for data in stream:
                received.append(data)
        assert 2 <= len(received) < 30
    finally:
        server.stop()


def test_consumer_leaving_early_releases_the_transfer(
    pacs: DimsePacs, orthanc: Orthanc
) -> None:
    study = store_rest(orthanc, make_spec(slices=20, rows=256, columns=256))
    stream = pacs.retrieve(study.study_instance_uid)
    next(stream)
    start = time.monotonic()
    stream.close()  # type: ignore[attr-defined]
    assert time.monotonic() - start < 5
    # the PACS is usable at once afterwards
    assert len(list(pacs.retrieve(study.study_instance_uid))) == 20


def test_silent_peer_is_unavailable_after_the_acse_timeout(
    orthanc: Orthanc, tmp_path: Path
) -> None:
    """A port that accepts TCP but never answers the A-ASSOCIATE-RQ."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        adapter = DimsePacs(settings_for(orthanc, tmp_path, pacs_port=listener.getsockname()[1]),
                            timeout=2)
        with pytest.raises(PacsUnavailable):
            adapter.find_studies(since=date.today())
