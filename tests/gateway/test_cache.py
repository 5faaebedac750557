"""The on-disk instance cache in front of a real Orthanc (through the DICOMweb adapter): bytes
equal to Orthanc's files, LRU eviction under the size limit, one PACS transfer for concurrent
requesters, an index that survives a restart, nothing left by a failed transfer."""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread

from gateway.cache import InstanceCache
from gateway.pacs.base import PacsError
from gateway.pacs.dicomweb import DicomwebPacs
from partage.orthanc import Orthanc
from tests.gateway.studies import StoredStudy, make_spec, orthanc_instance_files, store_rest

log = logging.getLogger(__name__)


class CountingPacs:
    """The real adapter, counting the retrievals that reach Orthanc."""

    def __init__(self, orthanc: Orthanc) -> None:
        self.pacs = DicomwebPacs(orthanc.dicomweb)
        self.calls = 0
        self._lock = threading.Lock()

    def fetch(self, study: str, series: str | None = None,
              sops: list[str] | None = None) -> Iterator[bytes]:
        with self._lock:
            self.calls += 1
        yield from self.pacs.retrieve(study, series, sops)


def files_on_disk(root: Path) -> set[str]:
    return {p.name for p in root.rglob("*.dcm")}


def read(cache: InstanceCache, study: StoredStudy, pacs: CountingPacs,
         series: str | None = None) -> list[bytes]:
    uid = study.study_instance_uid
    return list(cache.read_through(uid, series, None, lambda: pacs.fetch(uid, series)))


def test_cold_then_warm_serves_orthancs_bytes(orthanc: Orthanc, tmp_path: Path) -> None:
    stored = store_rest(orthanc, make_spec(series_count=2, slices=2))
    files = orthanc_instance_files(orthanc, stored)
    pacs = CountingPacs(orthanc)
    cache = InstanceCache(tmp_path, 64 * 1024 * 1024)

    assert sorted(read(cache, stored, pacs)) == sorted(files.values())
    assert read(cache, stored, pacs) == read(cache, stored, pacs)
    assert pacs.calls == 1
    assert files_on_disk(tmp_path) == {f"{uid}.dcm" for uid in files}
    assert cache.size == sum(len(b) for b in files.values())

    series = str(stored.datasets[0].SeriesInstanceUID)  # cached whole by the study transfer
    assert sorted(read(cache, stored, pacs, series)) == sorted(
        files[str(ds.SOPInstanceUID)] for ds in stored.datasets
        if ds.SeriesInstanceUID == series)
    sop = str(stored.datasets[3].SOPInstanceUID)
    assert list(cache.read_through(stored.study_instance_uid, None, [sop],
                                   lambda: pacs.fetch(stored.study_instance_uid))) == [files[sop]]
    assert pacs.calls == 1
    handle = cache.open_instance(sop)
    assert handle is not None
    with handle:
        assert handle.read() == files[sop]


def test_instances_asked_one_by_one_are_fetched_one_by_one(orthanc: Orthanc,
                                                          tmp_path: Path) -> None:
    stored = store_rest(orthanc, make_spec(slices=3))
    files = orthanc_instance_files(orthanc, stored)
    pacs = CountingPacs(orthanc)
    cache = InstanceCache(tmp_path, 64 * 1024 * 1024)
    uid, sops = stored.study_instance_uid, sorted(files)
    for sop in sops[:2]:
        assert list(cache.read_through(uid, None, [sop], lambda s=sop: pacs.fetch(uid, None, [s]))
                    ) == [files[sop]]
    assert list(cache.read_through(uid, None, sops[:2], lambda: pacs.fetch(uid))) == [
        files[s] for s in sops[:2]]
    assert pacs.calls == 2
    # a series asked whole is not complete from single instances: it goes to the PACS once
    read(cache, stored, pacs, str(stored.datasets[0].SeriesInstanceUID))
    read(cache, stored, pacs, str(stored.datasets[0].SeriesInstanceUID))
    assert pacs.calls == 3


def test_least_recently_used_series_are_evicted_first(orthanc: Orthanc, tmp_path: Path) -> None:
    studies = [store_rest(orthanc, make_spec(slices=2, accession_number=f"A{i}"))
               for i in range(3)]
    size = sum(len(b) for b in orthanc_instance_files(orthanc, studies[0]).values())
    pacs = CountingPacs(orthanc)
    cache = InstanceCache(tmp_path, 2 * size + size // 2)  # room for two studies
    read(cache, studies[0], pacs)
    read(cache, studies[1], pacs)
    time.sleep(0.01)
    read(cache, studies[0], pacs)  # study 1 is now the least recently used
    cache.close()  # both sealed: no study is pinned by its sealing any more
    read(cache, studies[2], pacs)
    assert pacs.calls == 3
    assert cache.size <= cache.max_bytes

    def cached(study: StoredStudy) -> bool:
        return all(cache.open_instance(uid) is not None for uid in study.sop_instance_uids)

    assert [cached(s) for s in studies] == [True, False, True]
    assert not any(f"{uid}.dcm" in files_on_disk(tmp_path) for uid in studies[1].sop_instance_uids)
    read(cache, studies[0], pacs)
    assert pacs.calls == 3


def test_concurrent_requests_share_one_transfer(orthanc: Orthanc, tmp_path: Path) -> None:
    stored = store_rest(orthanc, make_spec(series_count=2, slices=4))
    files = orthanc_instance_files(orthanc, stored)
    pacs = CountingPacs(orthanc)
    cache = InstanceCache(tmp_path, 64 * 1024 * 1024)
    start = threading.Barrier(6)
    results: list[list[bytes]] = []

    def requester() -> None:
        start.wait()
        results.append(read(cache, stored, pacs))

    threads = [threading.Thread(target=requester) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 6
    assert pacs.calls == 1
    for result in results:
        assert sorted(result) == sorted(files.values())


def test_restart_keeps_the_index_and_the_lru_order(orthanc: Orthanc, tmp_path: Path) -> None:
    studies = [store_rest(orthanc, make_spec(slices=2, accession_number=f"R{i}"))
               for i in range(3)]
    pacs = CountingPacs(orthanc)
    cache = InstanceCache(tmp_path, 64 * 1024 * 1024)
    served: dict[str, list[bytes]] = {}
    for study in studies:
        served[study.study_instance_uid] = read(cache, study, pacs)
        time.sleep(0.02)
    read(cache, studies[0], pacs)  # least recently used: study 1, then study 2, then study 0
    cache.close()
    [series] = studies[2].series_instance_uids
    series_dir = tmp_path / studies[2].study_instance_uid / series
    (series_dir / "1.2.3.4.5.6.tmp").write_bytes(b"half written before a crash")
    (series_dir / "1.2.3.4.5.7.dcm").write_bytes(b"renamed, never fsynced nor indexed")

    reopened = InstanceCache(tmp_path, 64 * 1024 * 1024)
    assert reopened.size == cache.size
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob("1.2.3.4.5.7.dcm"))

    sizes = [sum(len(b) for b in served[s.study_instance_uid]) for s in studies]
    # a smaller limit at start evicts exactly one study: the least recently used before restart
    shrunk = InstanceCache(tmp_path, cache.size - min(sizes) // 2)
    assert shrunk.size == cache.size - sizes[1]
    assert all(shrunk.open_instance(uid) is None for uid in studies[1].sop_instance_uids)
    for study in (studies[0], studies[2]):
        assert read(shrunk, study, pacs) == served[study.study_instance_uid]
    assert pacs.calls == 3


def test_failed_transfer_leaves_nothing(orthanc: Orthanc, tmp_path: Path) -> None:
    stored = store_rest(orthanc, make_spec(slices=4))
    pacs = CountingPacs(orthanc)
    cache = InstanceCache(tmp_path, 64 * 1024 * 1024)
    uid = stored.study_instance_uid

    def cut_after_two() -> Iterator[bytes]:  # what the adapter does on a truncated body
        for count, data in enumerate(pacs.fetch(uid), 1):
            yield data
            if count == 2:
                raise PacsError("multipart body ended before its closing boundary")

    got: list[bytes] = []
    with pytest.raises(PacsError):
        got.extend(cache.read_through(uid, None, None, cut_after_two))
    assert len(got) == 2
    cache.close()
    assert cache.size == 0
    assert not list(tmp_path.rglob("*.dcm")) and not list(tmp_path.rglob("*.json"))
    assert all(cache.open_instance(sop) is None for sop in stored.sop_instance_uids)
    assert len(read(cache, stored, pacs)) == 4  # the next request goes to the PACS again


def test_requester_leaving_early_does_not_mark_the_study_complete(orthanc: Orthanc,
                                                                  tmp_path: Path) -> None:
    stored = store_rest(orthanc, make_spec(slices=4))
    pacs = CountingPacs(orthanc)
    cache = InstanceCache(tmp_path, 64 * 1024 * 1024)
    stream = iter(read_lazily(cache, stored, pacs))
    next(stream)
    stream.close()  # type: ignore[attr-defined]
    assert len(read(cache, stored, pacs)) == 4
    assert pacs.calls == 2


def read_lazily(cache: InstanceCache, study: StoredStudy, pacs: CountingPacs) -> Iterator[bytes]:
    uid = study.study_instance_uid
    return cache.read_through(uid, None, None, lambda: pacs.fetch(uid))


def test_a_held_study_is_read_from_its_files_and_never_evicted(orthanc: Orthanc,
                                                               tmp_path: Path) -> None:
    studies = [store_rest(orthanc, make_spec(slices=2, accession_number=f"H{i}"))
               for i in range(2)]
    files = orthanc_instance_files(orthanc, studies[0])
    size = sum(len(b) for b in files.values())
    pacs = CountingPacs(orthanc)
    cache = InstanceCache(tmp_path, size + size // 2)  # room for one study and a half
    uid, other = studies[0].study_instance_uid, studies[1].study_instance_uid
    assert cache.hold(uid, None) is None  # nothing cached yet
    read(cache, studies[0], pacs)
    cache.close()
    held = cache.hold(uid, None)
    assert held is not None
    assert {i.sop_instance_uid: i.size for i in held.instances} == {
        sop: len(data) for sop, data in files.items()}
    assert {i.sop_instance_uid: i.transfer_syntax_uid for i in held.instances} == {
        sop: str(dcmread(io.BytesIO(data)).file_meta.TransferSyntaxUID)
        for sop, data in files.items()}

    assert len(read(cache, studies[1], pacs)) == 2  # served, but cannot all be cached
    cache.close()
    assert cache.hold(other, None) is None
    assert [data for _, data in held.files()] == [files[i.sop_instance_uid]
                                                  for i in held.instances]
    held.release()
    read(cache, studies[1], pacs)  # study 0, released, is evicted for it
    cache.close()
    assert cache.hold(uid, None) is None
    second = cache.hold(other, None)
    assert second is not None and len(second.instances) == 2
    second.release()
    assert pacs.calls == 3
