"""The gateway's C-STORE/C-ECHO SCP over real associations: Orthanc forwarding a study to it, the
quiet period firing once, and the failure statuses of the store handler."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from gateway.ae import start_scp
from gateway.core.config import GatewaySettings
from gateway.forwarding import ForwardWatcher, Spool
from gateway.pacs.dimse import InstanceQueue, MoveRouter
from partage.orthanc import Orthanc
from partage.studies import build_study
from tests.gateway.studies import make_spec, store_storescu
from tests.gateway.test_dimse import settings_for


class Scp:
    def __init__(self, settings: GatewaySettings, router: MoveRouter, spool: Spool,
                 server: ThreadedAssociationServer) -> None:
        self.settings, self.router, self.spool, self.server = settings, router, spool, server


@pytest.fixture
def scp(orthanc: Orthanc, tmp_path: Path) -> Iterator[Scp]:
    settings = settings_for(orthanc, tmp_path, quiet_period_s=1.0)
    router = MoveRouter(settings.ae_title)
    spool = Spool(tmp_path / "spool", settings.quiet_period_s)
    server = start_scp(settings, router, spool)
    httpx.put(f"{orthanc.url}/modalities/GATEWAY",
              json=[settings.ae_title, "127.0.0.1", settings.dicom_port]).raise_for_status()
    yield Scp(settings, router, spool, server)
    server.shutdown()
    httpx.delete(f"{orthanc.url}/modalities/GATEWAY")


def send(scp: Scp, ds: Dataset, **store_args: object) -> int:
    """C-STORE one dataset to the gateway as a pynetdicom SCU; the response status."""
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", scp.settings.dicom_port, ae_title=scp.settings.ae_title)
    assert assoc.is_established
    try:
        return int(assoc.send_c_store(ds, **store_args).Status)  # type: ignore[arg-type]
    finally:
        assoc.release()


def test_echo_from_orthanc(orthanc: Orthanc, scp: Scp) -> None:
    assert httpx.post(f"{orthanc.url}/modalities/GATEWAY/echo", json={}).status_code == 200
    ae = AE()
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", scp.settings.dicom_port, ae_title=scp.settings.ae_title)
    assert int(assoc.send_c_echo().Status) == 0
    assoc.release()


def test_forwarded_study_lands_whole_and_completes_once(
    orthanc: Orthanc, scp: Scp, tmp_path: Path
) -> None:
    study = store_storescu(orthanc, tmp_path / "modality", make_spec(series_count=2, slices=3))
    completed: list[str] = []
    handed_files: list[set[str]] = []

    def on_complete(uid: str) -> None:
        completed.append(uid)
        handed_files.append({p.stem for p in scp.spool.instances(uid)})

    watcher = ForwardWatcher(scp.spool, on_complete, interval_s=0.1).start()
    try:
        answer = httpx.post(f"{orthanc.url}/modalities/GATEWAY/store",
                            json={"Resources": [study.orthanc_id], "Synchronous": True}, timeout=60)
        answer.raise_for_status()
        assert answer.json()["InstancesCount"] == 6
        assert {p.stem for p in scp.spool.instances(study.study_instance_uid)} == (
            study.sop_instance_uids)
        assert scp.spool.completed_studies() == []  # still within the quiet period
        deadline = time.monotonic() + 5
        while not completed and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(scp.settings.quiet_period_s + 0.3)  # a second firing would happen by now
    finally:
        watcher.stop()
    assert completed == [study.study_instance_uid]
    assert handed_files == [study.sop_instance_uids]
    assert scp.spool.studies() == []


def test_dataset_without_study_uid_is_refused(scp: Scp) -> None:
    ds = build_study(make_spec(slices=1))[0]
    del ds.StudyInstanceUID
    assert send(scp, ds) == 0xC000
    assert scp.spool.studies() == []


def test_sub_operation_of_a_move_nobody_waits_for_is_refused(scp: Scp) -> None:
    ds = build_study(make_spec(slices=1))[0]
    status = send(scp, ds, originator_aet=scp.settings.ae_title, originator_id=4242)
    assert status == 0xA700
    assert scp.spool.studies() == []


def test_sub_operation_of_a_pending_move_goes_to_its_queue(scp: Scp) -> None:
    queue = InstanceQueue(1 << 20)
    msg_id = scp.router.open(queue)
    ds = build_study(make_spec(slices=1))[0]
    try:
        assert send(scp, ds, originator_aet=scp.settings.ae_title, originator_id=msg_id) == 0
        # another SCU's move to us is a forwarded instance, not ours
        assert send(scp, ds, originator_aet="OTHER", originator_id=msg_id) == 0
    finally:
        scp.router.close(msg_id)
    queue.finish()
    assert len(list(queue)) == 1
    assert scp.spool.studies() == [str(ds.StudyInstanceUID)]


def test_spool_failure_is_a_failure_status(scp: Scp) -> None:
    ds = build_study(make_spec(slices=1))[0]
    (scp.spool.root / ds.StudyInstanceUID).write_bytes(b"")  # a file where the folder goes
    assert send(scp, ds) == 0xC211
