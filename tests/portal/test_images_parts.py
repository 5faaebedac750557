"""The image path's parts that need no network: the manifest read into shared series, the
proxy's path check, the bounded caches, the streamed zip, the PACS address and the association's
presentation contexts."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path

import pytest
from pydicom import dcmread

from ihe.kos import Device, Manifest, RetrieveLocation, Series, Study
from ihe.kos import Instance as KosInstance
from partage.studies import build_study, part10
from portal.imaging.diskcache import DiskCache
from portal.imaging.download import archive_name, zip_stream
from portal.imaging.lru import TtlLru
from portal.imaging.manifests import SharedStudy, shared_study
from portal.imaging.problems import ImagingProblem
from portal.imaging.proxy import target
from portal.imaging.retrieve import Part10
from portal.imaging.send import MAX_CONTEXTS, SYNTAXES, contexts, destination
from portal.imaging.singleflight import SingleFlight
from tests.gateway.studies import make_spec

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
GATEWAY = "1.2.250.1.999.1.1.2"


def manifest(series: dict[str, list[str]], study_uid: str = "1.2.3.4") -> Manifest:
    evidence = Study(study_uid, patient_id="IPP1", patient_name="MARTIN^Claire",
                     study_date="20240301", series=[
                         Series(uid, "CT", instances=[KosInstance(CT, sop) for sop in sops])
                         for uid, sops in series.items()])
    return Manifest([evidence], sop_instance_uid="1.2.3.9.1", series_instance_uid="1.2.3.9",
                    content_datetime=datetime(2024, 3, 1, 12, 0),
                    retrieve=RetrieveLocation(GATEWAY, "GW", "http://gw/wado-rs"),
                    device=Device("1.2.3.8", "gw", "Partage"))


@pytest.fixture
def study() -> SharedStudy:
    return shared_study("doc-1", Manifest.from_bytes(manifest(
        {"1.2.3.4.1": ["1.2.3.4.1.1", "1.2.3.4.1.2"], "1.2.3.4.2": ["1.2.3.4.2.1"]}).to_bytes()))


def test_a_manifest_is_read_into_its_series_instances_and_retrieve_location(
        study: SharedStudy) -> None:
    assert study.study_instance_uid == "1.2.3.4"
    assert [s.series_instance_uid for s in study.series] == ["1.2.3.4.1", "1.2.3.4.2"]
    assert study.series[0].instances == {"1.2.3.4.1.1": CT, "1.2.3.4.1.2": CT}
    assert {s.retrieve_location_uid for s in study.series} == {GATEWAY}
    assert study.series[1].retrieve_url == "http://gw/wado-rs/studies/1.2.3.4/series/1.2.3.4.2"
    assert (study.patient_name, study.study_date) == ("MARTIN^Claire", date(2024, 3, 1))
    assert study.number_of_instances == 3


@pytest.mark.parametrize("path", [
    "studies/1.2.3.4/series/1.2.3.4.1/metadata",
    "studies/1.2.3.4/series/1.2.3.4.1/instances/1.2.3.4.1.2",
    "studies/1.2.3.4/series/1.2.3.4.1/instances/1.2.3.4.1.2/frames/1",
    "studies/1.2.3.4/series/1.2.3.4.1/instances/1.2.3.4.1.2/frames/1,2",
    "studies/1.2.3.4/series/1.2.3.4.2/instances/1.2.3.4.2.1/rendered",
    "studies/1.2.3.4/series/1.2.3.4.2/instances/1.2.3.4.2.1/metadata",
    "studies/1.2.3.4/series/1.2.3.4.2/instances/1.2.3.4.2.1/frames/1/rendered",
])
def test_the_proxy_serves_what_the_manifest_shares(study: SharedStudy, path: str) -> None:
    assert target(study, path).path == path


@pytest.mark.parametrize(("path", "says"), [
    ("studies/9.9.9/series/1.2.3.4.1/metadata", "study 9.9.9 is not the study"),
    ("studies/1.2.3.4/series/9.9/metadata", "series 9.9 is not shared"),
    ("studies/1.2.3.4/series/1.2.3.4.1/instances/1.2.3.4.2.1", "instance 1.2.3.4.2.1 is not"),
    ("studies/1.2.3.4", "is not served"),
    ("studies/1.2.3.4/metadata", "is not served"),
    ("studies/1.2.3.4/series/1.2.3.4.1", "series metadata or instance resources only"),
    ("studies/1.2.3.4/series/1.2.3.4.1/instances/1.2.3.4.1.1/frames/../../x", "only"),
    ("series/1.2.3.4.1/metadata", "is not served"),
    ("", "is not served"),
])
def test_the_proxy_refuses_anything_else(study: SharedStudy, path: str, says: str) -> None:
    with pytest.raises(ImagingProblem) as refused:
        target(study, path)
    assert refused.value.status == 404 and says in refused.value.detail


def test_ttl_lru_forgets_by_age_and_by_count() -> None:
    now = [0.0]
    cache: TtlLru[str, int] = TtlLru(2, 30.0, clock=lambda: now[0])
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recently used
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    now[0] = 30.0
    assert cache.get("a") is None and len(cache) == 1


def test_disk_cache_is_bounded_least_recently_used_first_and_survives_a_restart(
        tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=10)
    cache.put("a", b"aaaa")
    cache.put("b", b"bbbb")
    assert cache.get("a") == b"aaaa"
    cache.put("c", b"cccc")  # 12 bytes: b, the least recently used, goes
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (b"aaaa", None, b"cccc")
    cache.put("huge", b"x" * 11)
    assert cache.get("huge") is None and cache.total_bytes == 8
    assert len(list(tmp_path.glob("*.entry"))) == 2
    again = DiskCache(tmp_path, max_bytes=10)
    assert again.get("c") == b"cccc" and again.total_bytes == 8


def run_zip(parts: list[Part10], fail_after: int | None = None) -> tuple[bytes, int]:
    """The archive's bytes and the number of chunks it came in."""

    async def instances() -> AsyncIterator[Part10]:
        for i, part in enumerate(parts):
            if fail_after is not None and i == fail_after:
                raise RuntimeError("gateway gone")
            yield part

    async def collect() -> list[bytes]:
        return [chunk async for chunk in zip_stream(instances())]

    chunks = asyncio.run(collect())
    return b"".join(chunks), len(chunks)


def test_the_zip_is_written_instance_by_instance_and_reads_back() -> None:
    datasets = build_study(make_spec(series_count=2, slices=3))
    parts = [Part10(str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID), part10(ds))
             for ds in datasets]
    data, chunks = run_zip(parts)
    assert chunks == len(parts) + 1  # one per instance, then the central directory
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert names == [f"DICOM/{p.series_instance_uid}/{p.sop_instance_uid}.dcm"
                         for p in parts]
        for part in parts:
            read = dcmread(io.BytesIO(archive.read(
                f"DICOM/{part.series_instance_uid}/{part.sop_instance_uid}.dcm")))
            assert read.SOPInstanceUID == part.sop_instance_uid


def test_a_broken_retrieve_leaves_no_readable_archive() -> None:
    datasets = build_study(make_spec(slices=3))
    parts = [Part10(str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID), part10(ds))
             for ds in datasets]
    with pytest.raises(RuntimeError, match="gateway gone"):
        run_zip(parts, fail_after=2)


@pytest.mark.parametrize(("name", "patient_id", "day", "expected"), [
    ("MARTIN^Claire", "IPP1", date(2024, 3, 1), "MARTIN_Claire_2024-03-01.zip"),
    ("LÉVÊQUE^Zoé^^^", "IPP1", None, "LEVEQUE_Zoe.zip"),
    ("", "IPP/../1", date(2024, 3, 1), "IPP_1_2024-03-01.zip"),
    ("", "", None, "study.zip"),
])
def test_archive_names_are_plain_file_names(name: str, patient_id: str, day: date | None,
                                            expected: str) -> None:
    assert archive_name(name, patient_id, day) == expected


def test_the_export_pacs_is_ae_at_host_port() -> None:
    found = destination("READING_PACS@127.0.0.1:11112")
    assert (found.ae_title, found.host, found.port) == ("READING_PACS", "127.0.0.1", 11112)
    for wrong in ("127.0.0.1:104", "AE@host", "AE@host:0", "A_VERY_LONG_AE_TITLE@h:104"):
        with pytest.raises(ValueError, match="AE@host:port"):
            destination(wrong)


def test_contexts_are_one_per_class_and_syntax_within_the_limit() -> None:
    proposed = contexts({CT, MR})
    assert len(proposed) == 2 * len(SYNTAXES)
    assert {(c.abstract_syntax, tuple(c.transfer_syntax)) for c in proposed} == {
        (k, (s,)) for k in (CT, MR) for s in SYNTAXES}
    many = {f"1.2.840.10008.5.1.4.1.1.{n}" for n in range(40)}
    capped = contexts(many)
    assert len(capped) == MAX_CONTEXTS
    # every class can still be sent uncompressed
    assert {c.abstract_syntax for c in capped if c.transfer_syntax == [SYNTAXES[0]]} == many


def test_concurrent_lookups_share_one_and_survive_the_first_callers_cancellation() -> None:
    calls: list[int] = []

    async def scenario() -> tuple[list[object], list[object]]:
        flights = SingleFlight()
        gate = asyncio.Event()

        async def lookup() -> str:
            calls.append(1)
            await gate.wait()
            return f"answer {len(calls)}"

        shared = [asyncio.create_task(flights.run("k", lookup)) for _ in range(5)]
        await asyncio.sleep(0.01)
        gate.set()
        first = await asyncio.gather(*shared)

        gate.clear()
        owner = asyncio.create_task(flights.run("k", lookup))
        await asyncio.sleep(0.01)
        waiter = asyncio.create_task(flights.run("k", lookup))
        await asyncio.sleep(0.01)
        owner.cancel()  # the browser that asked first went away
        await asyncio.sleep(0.01)
        gate.set()
        second = await asyncio.gather(owner, waiter, return_exceptions=True)
        assert len(flights) == 0
        return list(first), list(second)

    first, second = asyncio.run(scenario())
    assert first == ["answer 1"] * 5
    assert isinstance(second[0], asyncio.CancelledError)
    assert second[1] == "answer 3"  # the waiter ran the lookup again
    assert len(calls) == 3
