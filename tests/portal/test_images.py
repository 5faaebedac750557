"""The portal's image path against real parts: our registry and repository, a site's gateway in
front of a real Orthanc with a study the gateway published itself (RAD-68), the development
token issuer trusted by every service, and a second Orthanc as the reading site's PACS.

Covered: the manifest resolved with the user's token to its series and gateway, the viewer's
series list, the proxy giving the frames the gateway gives, refusing a foreign study UID and
serving series metadata cut to the shared instances, the zip holding every instance, the send
landing every instance in the reading site's PACS, and a gateway that is down → 502 problem.
"""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from pydicom import dcmread
from starlette.responses import Response, StreamingResponse

from gateway.models import ALEMBIC_DIR, PublishState
from gateway.pacs.dicomweb import DicomwebPacs, MultipartReader, boundary_of
from gateway.publisher import Publisher
from partage.db import Database, migrate
from partage.devissuer import DevIssuer, signing_key
from partage.orthanc import Orthanc, OrthancConfig
from partage.auth import Principal
from partage.serve import free_port
from partage.web.auth import SignedInUser
from portal.consent import ConsentPoint
from portal.core.config import PortalSettings
from portal.imaging import ImagingContext
from portal.imaging.context import VIEWER_METADATA_ACCEPT
from portal.imaging.download import zip_stream
from portal.imaging.problems import ImagingProblem
from portal.imaging.proxy import forward, metadata_key, target
from portal.imaging.retrieve import shared_instances
from portal.imaging.send import destination, send_study
from portal.imaging.series import series_list
from partage.regional_studies import StudyEntry, find_studies
from tests.conftest import Region
from tests.gateway.studies import StoredStudy, make_spec, store_rest
from tests.gateway.test_publisher import REGIONAL, feed
from tests.support.gateway import RunningGateway, running_gateway

T = TypeVar("T")
FRAMES = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
SESSION = "session-1"


@dataclass
class Site:
    """A published study, the gateway serving it, and the portal's settings for the region."""

    region: Region
    issuer: DevIssuer
    orthanc: Orthanc
    gateway: RunningGateway
    study: StoredStudy
    portal: PortalSettings

    def token(self, **claims: Any) -> str:
        return self.issuer.token("dr-martin", ["radiologist"], **claims)

    def entry(self) -> StudyEntry:
        [entry] = find_studies(self.portal, self.token(), REGIONAL).studies
        return entry

    def put_site(self, wado_rs_url: str, active: bool = True) -> None:
        """The site in the region's directory (its gateway's repositoryUniqueId)."""
        settings = self.gateway.settings
        httpx.put(f"{self.region.base}/identity/sites/{settings.site_oid}", json={
            "name": "Site A", "repository_unique_id": settings.repository_unique_id,
            "wado_rs_url": wado_rs_url, "active": active,
        }, headers={"Authorization": f"Bearer {self.region.feed_token}"}).raise_for_status()


@pytest.fixture
def site(region: Region, issuer: DevIssuer, orthanc: Orthanc, tmp_path: Path
         ) -> Iterator[Site]:
    with running_gateway(orthanc, issuer, tmp_path / "gateway", sweep_interval_s=0,
                         registry_url=region.registry, repository_url=region.repository,
                         identity_url=f"{region.base}/identity",
                         **region.service_client()) as gateway:
        study = store_rest(orthanc, make_spec(series_count=2, slices=3))
        feed(region, REGIONAL)
        db = Database(gateway.settings.resolved_database_url())
        migrate(db.engine, ALEMBIC_DIR)
        publisher = Publisher(gateway.settings, db, DicomwebPacs(orthanc.dicomweb))
        try:
            assert publisher.publish(study.study_instance_uid) == PublishState.PUBLISHED
        finally:
            publisher.close()
            db.engine.dispose()
        portal = PortalSettings(
            data_dir=tmp_path / "portal", log_json=False, issuer=issuer.url,
            registry_url=region.registry, repository_url=region.repository,
            identity_url=f"{region.base}/identity")
        found = Site(region, issuer, orthanc, gateway, study, portal)
        found.put_site(f"{gateway.url}/wado-rs")
        yield found


def run(site: Site, scenario: Callable[[ImagingContext], Awaitable[T]],
        settings: PortalSettings | None = None) -> T:
    """``scenario`` with an ImagingContext open for the duration, as the app's lifespan has."""

    async def main() -> T:
        chosen = settings or site.portal
        async with (ConsentPoint.open(chosen, None) as consent,
                    ImagingContext.open(chosen, consent) as imaging):
            return await scenario(imaging)

    return asyncio.run(main())


def user(token: str, session: str = SESSION) -> SignedInUser:
    """The signed-in user the routes pass (no consent service here: only the token matters)."""
    return SignedInUser(Principal("dr-martin", frozenset({"radiologist"})), token, session)


async def body(response: Response) -> bytes:
    assert isinstance(response, StreamingResponse) or response.body is not None
    if isinstance(response, StreamingResponse):
        return b"".join([c if isinstance(c, bytes) else c.encode()
                         async for c in response.body_iterator])
    return bytes(response.body)


def parts(content_type: str, data: bytes) -> list[bytes]:
    reader = MultipartReader(boundary_of(content_type))
    found = reader.feed(data)
    reader.close()
    return found


def test_the_manifest_resolves_to_the_shared_series_and_their_gateway(site: Site) -> None:
    entry = site.entry()
    token = site.token()

    async def scenario(imaging: ImagingContext) -> None:
        opened = await imaging.study(user(token), entry.id)
        shared = opened.shared
        assert opened.entry == entry
        assert shared.study_instance_uid == site.study.study_instance_uid
        assert {s.series_instance_uid for s in shared.series} == site.study.series_instance_uids
        assert {sop for s in shared.series for sop in s.instances} == \
            site.study.sop_instance_uids
        gateway = await imaging.site(token, shared.series[0])
        assert gateway.wado_rs_url == f"{site.gateway.url}/wado-rs" and gateway.active
        # the same user asking again within 30 s asks neither the registry nor the repository
        assert (await imaging.study(user(token), entry.id)).shared is shared

        series = await series_list(imaging.http, imaging.metadata, shared, token,
                                   imaging.site_of(token))
        by_uid = {str(ds.SeriesInstanceUID): ds for ds in site.study.datasets}
        assert [s["seriesInstanceUid"] for s in series] == sorted(
            by_uid, key=lambda uid: int(by_uid[uid].SeriesNumber))
        for item in series:
            ds = by_uid[item["seriesInstanceUid"]]
            assert item == {
                "seriesInstanceUid": str(ds.SeriesInstanceUID), "modality": ds.Modality,
                "description": str(ds.get("SeriesDescription", "")),
                "seriesNumber": int(ds.SeriesNumber), "numberOfInstances": 3,
                "thumbnailSopInstanceUid": item["thumbnailSopInstanceUid"]}
            shared_series = shared.find_series(item["seriesInstanceUid"])
            assert shared_series is not None
            assert item["thumbnailSopInstanceUid"] in shared_series.instances

        # another user is asked for on their own: the registry decides for them
        with pytest.raises(ImagingProblem) as unknown:
            await imaging.study(user(token, "session-2"), "0b0e0f0a-0000-4000-8000-000000000000")
        assert unknown.value.status == 404

    run(site, scenario)


def test_the_proxy_gives_the_gateways_frames_and_refuses_what_is_not_shared(
        site: Site) -> None:
    entry = site.entry()
    token = site.token()
    ds = site.study.datasets[1]
    path = (f"studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/"
            f"{ds.SOPInstanceUID}/frames/1")
    direct = httpx.get(f"{site.gateway.url}/wado-rs/{path}", headers={
        "Accept": FRAMES, "Authorization": f"Bearer {token}"})
    assert direct.status_code == 200, direct.text

    async def scenario(imaging: ImagingContext) -> None:
        opened = await imaging.study(user(token), entry.id)
        checked = target(opened.shared, path)
        gateway = await imaging.site(token, checked.series)
        proxied = await forward(imaging.http, gateway, checked, token, accept=FRAMES, query="")
        assert proxied.status_code == 200
        content_type = proxied.headers["content-type"]
        assert content_type.startswith('multipart/related; type="application/octet-stream"')
        assert parts(content_type, await body(proxied)) == \
            parts(direct.headers["content-type"], direct.content)

        # the gateway's own refusal stays a refusal: a patient's token
        patient = site.issuer.token("claire", ["patient"])
        refused = await forward(imaging.http, gateway, checked, patient, accept=FRAMES,
                                query="")
        assert refused.status_code == 403
        await body(refused)

        # a gateway refusing the token itself (it trusts another issuer) is the region's fault
        foreign_token = site.issuer.token("dr-martin", ["radiologist"],
                                          key=signing_key("RSA"))
        with pytest.raises(ImagingProblem) as untrusted:
            await forward(imaging.http, gateway, checked, foreign_token, accept=FRAMES,
                          query="")
        assert untrusted.value.status == 502 and "refused the region's token" in \
            untrusted.value.detail

        # series metadata: only the shared instances, bulk data pointed at the proxy
        meta_path = f"studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/metadata"
        meta = target(opened.shared, meta_path)
        answer = await imaging.series_metadata(
            token, opened.shared, meta_path, accept="application/dicom+json", query="",
            wado_root=f"/dicomweb/{entry.id}")
        items = json.loads(await body(answer))
        assert {i["00080018"]["Value"][0] for i in items} == set(meta.series.instances)
        uris = [i["7FE00010"]["BulkDataURI"] for i in items if "7FE00010" in i]
        assert uris and all(u.startswith(f"/dicomweb/{entry.id}/studies/") for u in uris)

        with pytest.raises(ImagingProblem) as foreign:
            target(opened.shared, path.replace(str(ds.StudyInstanceUID), "1.2.3.999"))
        assert foreign.value.status == 404

    run(site, scenario)


def test_the_download_holds_every_shared_instance(site: Site) -> None:
    entry = site.entry()
    token = site.token()

    async def scenario(imaging: ImagingContext) -> bytes:
        opened = await imaging.study(user(token), entry.id)
        instances = shared_instances(imaging.http, opened.shared, token, imaging.site_of(token))
        return b"".join([chunk async for chunk in zip_stream(instances)])

    data = run(site, scenario)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        found = {}
        for name in archive.namelist():
            ds = dcmread(io.BytesIO(archive.read(name)))
            assert name == f"DICOM/{ds.SeriesInstanceUID}/{ds.SOPInstanceUID}.dcm"
            found[str(ds.SOPInstanceUID)] = ds
    assert set(found) == site.study.sop_instance_uids
    original = {str(ds.SOPInstanceUID): ds for ds in site.study.datasets}
    for sop, ds in found.items():
        assert ds.PixelData == original[sop].PixelData


def test_send_to_pacs_lands_every_instance_in_the_reading_sites_pacs(
        site: Site, tmp_path: Path) -> None:
    entry = site.entry()
    token = site.token()
    config = OrthancConfig("reading", "READING_PACS", free_port(), free_port(),
                           tmp_path / "reading")
    with Orthanc(config) as reading:
        pacs = destination(f"READING_PACS@127.0.0.1:{config.dicom_port}")

        async def scenario(imaging: ImagingContext) -> dict[str, object]:
            opened = await imaging.study(user(token), entry.id)
            shared = opened.shared
            job = imaging.jobs.new("dr-martin", shared.number_of_instances)
            await send_study(job, shared_instances(imaging.http, shared, token,
                                                   imaging.site_of(token)),
                             ae_title="PARTAGE_PORTAL", target=pacs, timeout=10,
                             sop_classes={c for s in shared.series for c in s.instances.values()})
            return imaging.jobs.get(job.id, "dr-martin").progress()

        progress = run(site, scenario)
        assert progress == {"state": "done", "done": 6, "total": 6, "failed": 0, "error": None}
        stored = httpx.post(f"{reading.url}/tools/find", json={
            "Level": "Instance", "Query": {}, "Expand": True}).json()
        assert {i["MainDicomTags"]["SOPInstanceUID"] for i in stored} == \
            site.study.sop_instance_uids

        # a PACS that is not there: the job fails and says why
        gone = destination(f"READING_PACS@127.0.0.1:{free_port()}")

        async def unreachable(imaging: ImagingContext) -> dict[str, object]:
            opened = await imaging.study(user(token), entry.id)
            job = imaging.jobs.new("dr-martin", 6)
            await send_study(job, shared_instances(imaging.http, opened.shared, token,
                                                   imaging.site_of(token)),
                             ae_title="PARTAGE_PORTAL", target=gone, timeout=5,
                             sop_classes={"1.2.840.10008.5.1.4.1.1.2"})
            return job.progress()

        failed = run(site, unreachable)
        assert failed["state"] == "failed" and "association" in str(failed["error"])


def test_a_gateway_that_is_down_is_a_502_problem_naming_the_site(site: Site) -> None:
    entry = site.entry()
    token = site.token()
    site.put_site(f"http://127.0.0.1:{free_port()}/wado-rs")

    async def scenario(imaging: ImagingContext) -> None:
        opened = await imaging.study(user(token), entry.id)
        with pytest.raises(ImagingProblem) as down:
            await series_list(imaging.http, imaging.metadata, opened.shared, token,
                              imaging.site_of(token))
        assert down.value.status == 502 and "Site A" in down.value.detail
        instances = shared_instances(imaging.http, opened.shared, token, imaging.site_of(token))
        with pytest.raises(ImagingProblem) as download:
            await anext(zip_stream(instances))
        assert download.value.status == 502

    run(site, scenario)

    site.put_site(f"{site.gateway.url}/wado-rs", active=False)

    async def suspended(imaging: ImagingContext) -> None:
        opened = await imaging.study(user(token), entry.id)
        with pytest.raises(ImagingProblem) as refused:
            await imaging.site(token, opened.shared.series[0])
        assert refused.value.status == 502 and "suspended" in refused.value.detail

    run(site, suspended)


def test_warming_a_study_reads_what_the_viewer_will_ask_for(site: Site) -> None:
    entry = site.entry()
    token = site.token()

    async def scenario(imaging: ImagingContext) -> None:
        imaging.warm(user(token), [entry.id, "0b0e0f0a-0000-4000-8000-000000000000"])
        await imaging.warmed()  # the unknown study's warming fails quietly
        opened = await imaging.study(user(token), entry.id)
        listing = await imaging.listing(token, opened.shared)
        largest = max(listing, key=lambda s: s["numberOfInstances"])
        path = (f"studies/{opened.shared.study_instance_uid}/series/"
                f"{largest['seriesInstanceUid']}/metadata")
        key = metadata_key(opened.shared, target(opened.shared, path), VIEWER_METADATA_ACCEPT)
        cached = imaging.metadata.get(key)
        assert cached is not None
        items = json.loads(cached.partition(b"\n")[2])
        assert {i["00080018"]["Value"][0] for i in items} == set(
            target(opened.shared, path).series.instances)

    run(site, scenario)
