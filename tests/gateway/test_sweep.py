"""Finding studies to publish (RAD TF-3 §4.68): the sweep by StudyDate over the last
``sweep_days``, the forwarding quiet-period hook and the periodic background thread, against a
real Orthanc and our registry and repository over HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from gateway.forwarding import ForwardWatcher, Spool
from gateway.models import PublishedStudy, PublishState
from gateway.pacs.dicomweb import DicomwebPacs
from gateway.publish import records
from gateway.publisher import Publisher
from gateway.sweep import Sweeper
from partage.orthanc import Orthanc
from partage.serve import free_port
from partage.studies import part10
from tests.gateway.studies import make_spec, store_rest
from tests.gateway.test_publisher import REGIONAL, Site, feed, find_documents, site  # noqa: F401


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def state_of(site: Site, uid: str) -> str | None:
    with site.db.session() as session:
        record = session.get(PublishedStudy, uid)
        return record.state if record else None


def last_sweep_id(site: Site) -> int:
    with site.db.session() as session:
        last = records.last_sweep(session)
        return last.id if last else 0


def test_sweep_covers_the_last_days_only(site: Site, orthanc: Orthanc) -> None:
    today = date.today()
    recent = store_rest(orthanc, make_spec(study_date=f"{today - timedelta(days=1):%Y%m%d}"))
    old = store_rest(orthanc, make_spec(
        study_date=f"{today - timedelta(days=site.settings.sweep_days + 3):%Y%m%d}",
        accession_number="ACC0002",
    ))
    feed(site.region, REGIONAL)

    report = site.sweeper.sweep()

    assert (report.studies_seen, report.outcomes, report.error) == (1, {"published": 1}, "")
    assert state_of(site, recent.study_instance_uid) == PublishState.PUBLISHED
    assert state_of(site, old.study_instance_uid) is None
    with site.db.session() as session:
        last = records.last_sweep(session)
        assert last is not None and last.finished_at is not None and last.studies_seen == 1
    # an explicit range (the backlog) reaches the older study
    assert site.sweeper.sweep(today - timedelta(days=30), today).outcomes == {"published": 2}


def test_forwarded_study_is_published_when_quiet(site: Site, orthanc: Orthanc,
                                                  tmp_path: Path) -> None:
    """The forwarding spool's quiet-period detector hands the study to the sweeper's thread."""
    study = store_rest(orthanc)
    feed(site.region, REGIONAL)
    spool = Spool(tmp_path / "spool", quiet_period_s=0.3)
    for ds in study.datasets:
        spool.store(study.study_instance_uid, str(ds.SOPInstanceUID), part10(ds))
    watcher = ForwardWatcher(spool, site.sweeper.on_study_complete, interval_s=0.05)
    site.sweeper.start()
    watcher.start()
    try:
        wait_for(lambda: state_of(site, study.study_instance_uid) == PublishState.PUBLISHED)
    finally:
        watcher.stop()
        site.sweeper.stop()
    assert spool.studies() == []
    assert len(find_documents(site.region, REGIONAL)) == 1


def test_background_sweeps_publish_without_a_forward(site: Site, orthanc: Orthanc) -> None:
    study = store_rest(orthanc)
    feed(site.region, REGIONAL)
    site.settings.sweep_interval_s = 0.2
    site.sweeper.start()
    try:
        wait_for(lambda: state_of(site, study.study_instance_uid) == PublishState.PUBLISHED)
        first = last_sweep_id(site)
        wait_for(lambda: last_sweep_id(site) > first)  # and again, every interval
    finally:
        site.sweeper.stop()


def test_unreachable_pacs_stops_the_sweep_and_says_so(site: Site) -> None:
    pacs = DicomwebPacs(f"http://127.0.0.1:{free_port()}/dicom-web", connect_timeout=1.0)
    publisher = Publisher(site.settings, site.db, pacs)
    try:
        report = Sweeper(site.settings, site.db, pacs, publisher).sweep()
    finally:
        publisher.close()
        pacs.close()
    assert report.error.startswith("PACS: ") and report.outcomes == {}
    with site.db.session() as session:
        last = records.last_sweep(session)
        assert last is not None and last.error == report.error and last.finished_at


def test_gone_study_never_published_is_forgotten(site: Site, orthanc: Orthanc) -> None:
    """A held-back study deleted from the PACS reached nobody: its record goes, nothing is sent."""
    study = store_rest(orthanc)
    assert site.publisher.publish(study.study_instance_uid) == PublishState.HELD_BACK
    orthanc.clear()
    before = site.region.count_rows()
    assert site.sweeper.sweep().outcomes == {"gone": 1}
    assert state_of(site, study.study_instance_uid) is None
    assert site.region.count_rows() == before
