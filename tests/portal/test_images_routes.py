"""The image routes as the browser and the viewer use them, every part real: signed in through
the development IdP (Node) whose tokens the registry, the repository and the site's gateway
trust; a study the gateway published from its Orthanc; a second Orthanc as the reading PACS.

``/api/studies/{id}/series`` answers the viewer's exact shape; ``/dicomweb/{id}/…`` gives the
gateway's frames and rendered images, refuses other studies and paths; the download is a zip of
every instance; a send needs the CSRF token and lands every instance; no sign-in → 401, a
patient → 403, a stopped gateway → 502, all as problem+json.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from itsdangerous import TimestampSigner
from pydicom import dcmread

from gateway.core.config import GatewaySettings
from gateway.main import create_app as create_gateway
from gateway.models import ALEMBIC_DIR, PublishState
from gateway.pacs.dicomweb import DicomwebPacs, MultipartReader, boundary_of
from gateway.publisher import Publisher
from partage.db import Database, migrate
from partage.idp import DEV_PORTAL_SECRET, DevIdP
from partage.orthanc import Orthanc, OrthancConfig
from partage.serve import BackgroundServer, background, free_port
from partage.web.auth import CREDENTIALS
from partage.web.sessions import SALT
from portal.core.config import PortalSettings
from portal.main import create_app
from partage.regional_studies import find_studies
from registry.core.config import RegistrySettings
from registry.main import create_app as create_registry
from repository.core.config import RepositorySettings
from repository.main import create_app as create_repository
from tests.conftest import REPOSITORY_CLIENT, REPOSITORY_SECRET
from tests.gateway.studies import StoredStudy, make_spec, store_rest
from tests.gateway.test_publisher import REGIONAL, feed
from tests.portal.support import portal_sign_in
from tests.support.gateway import HOME_COMMUNITY, REPOSITORY_UID

FRAMES = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
PROBLEM = "application/problem+json"
SITE_OID = "1.2.250.1.999.1.1"


@dataclass
class World:
    portal: str
    app: FastAPI
    gateway: str
    gateway_server: BackgroundServer
    study: StoredStudy
    reading: Orthanc
    registry_base: str
    feed_token: str


@dataclass
class _Region:
    base: str
    registry: str
    repository: str
    feed_token: str


@pytest.fixture(scope="module")
def world(idp: DevIdP, portal_port: int, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:
    """The module's own site PACS (the session's Orthanc is emptied by other tests, which
    xdist may run between these)."""
    root: Path = tmp_path_factory.mktemp("portal-images")
    registry_settings = RegistrySettings(data_dir=root / "registry", issuer=idp.issuer,
                                         log_json=False)
    with background(create_registry(registry_settings)) as registry:
        repository_settings = RepositorySettings(
            data_dir=root / "repository", registry_url=f"{registry.url}/registry",
            issuer=idp.issuer, client_id=REPOSITORY_CLIENT, client_secret=REPOSITORY_SECRET,
            log_json=False)
        with background(create_repository(repository_settings)) as repository:
            region = _Region(registry.url, f"{registry.url}/registry",
                             f"{repository.url}/repository", registry_settings.feed_token)
            pacs_config = OrthancConfig("site-a", "SITE_A", free_port(), free_port(),
                                        root / "site-a")
            with Orthanc(pacs_config) as orthanc:
                yield from _with_site(idp, portal_port, orthanc, root, region)


def _with_site(idp: DevIdP, portal_port: int, orthanc: Orthanc, root: Path,
               region: _Region) -> Iterator[World]:
    gateway_port = free_port()
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    settings = GatewaySettings(
        data_dir=root / "gateway", log_json=False, issuer=idp.issuer, port=gateway_port,
        public_url=gateway_url, repository_unique_id=REPOSITORY_UID,
        home_community_id=HOME_COMMUNITY, site_oid=SITE_OID, pacs_adapter="dicomweb",
        pacs_dicomweb_url=orthanc.dicomweb, dicom_port=0, sweep_interval_s=0,
        registry_url=region.registry, repository_url=region.repository,
        identity_url=f"{region.base}/identity", client_id="gateway-a",
        client_secret=idp.client("gateway-a")["client_secret"])
    pacs = DicomwebPacs(orthanc.dicomweb)
    gateway = BackgroundServer(create_gateway(settings, pacs), port=gateway_port).start()
    reading_config = OrthancConfig("reading", "READING_PACS", free_port(), free_port(),
                                   root / "reading")
    try:
        study = store_rest(orthanc, make_spec(series_count=2, slices=3))
        feed(region, REGIONAL)  # type: ignore[arg-type]
        db = Database(settings.resolved_database_url())
        migrate(db.engine, ALEMBIC_DIR)
        publisher = Publisher(settings, db, pacs)
        try:
            assert publisher.publish(study.study_instance_uid) == PublishState.PUBLISHED
        finally:
            publisher.close()
            db.engine.dispose()
        httpx.put(f"{region.base}/identity/sites/{SITE_OID}", json={
            "name": "CHU Nord", "repository_unique_id": REPOSITORY_UID,
            "wado_rs_url": f"{gateway_url}/wado-rs", "active": True,
        }, headers={"Authorization": f"Bearer {region.feed_token}"}).raise_for_status()
        with Orthanc(reading_config) as reading:
            portal_settings = PortalSettings(
                host="127.0.0.1", port=portal_port, data_dir=root / "portal", log_json=False,
                issuer=idp.issuer, signin_client_secret=DEV_PORTAL_SECRET,
                registry_url=region.registry, repository_url=region.repository,
                identity_url=f"{region.base}/identity",
                export_pacs=f"READING_PACS@127.0.0.1:{reading_config.dicom_port}")
            app = create_app(portal_settings)
            with background(app, port=portal_port) as portal:
                yield World(portal.url, app, gateway_url, gateway, study, reading,
                            region.base, region.feed_token)
    finally:
        gateway.stop()
        pacs.close()


@contextmanager
def sign_in(world: World, login: str = "dr.martin") -> Iterator[httpx.Client]:
    """A browser signed in to the portal through the IdP's login page."""
    with httpx.Client(timeout=60) as browser:
        page = portal_sign_in(browser, world.portal, login)
        assert page.status_code in (200, 403), page.text
        yield browser


@pytest.fixture(scope="module")
def radiologist(world: World) -> Iterator[httpx.Client]:
    with sign_in(world) as browser:
        yield browser


@pytest.fixture(scope="module")
def study(world: World, radiologist: httpx.Client) -> str:
    """The study's id (what the timeline links), from ITI-18 with the user's token."""
    settings = world.app.state.settings
    token = _token_of(world, radiologist)
    [entry] = find_studies(settings, token, REGIONAL).studies
    return entry.id


def _token_of(world: World, browser: httpx.Client) -> str:
    """The access token the portal holds for this browser's session (as the routes forward)."""
    state = world.app.state
    signed = browser.cookies.get(state.settings.session_cookie, domain="127.0.0.1")
    signer = TimestampSigner(state.settings.session_secret, salt=SALT)
    data = state.sessions.get(signer.unsign(signed).decode())
    return str(data[CREDENTIALS].access_token)


def multipart_parts(answer: httpx.Response) -> list[bytes]:
    reader = MultipartReader(boundary_of(answer.headers["content-type"]))
    found = reader.feed(answer.content)
    reader.close()
    return found


def test_the_viewer_gets_its_series_and_the_gateways_pixels_through_the_proxy(
        world: World, radiologist: httpx.Client, study: str) -> None:
    answer = radiologist.get(f"{world.portal}/api/studies/{study}/series")
    assert answer.status_code == 200, answer.text
    listing = answer.json()
    stored = world.study
    first = stored.datasets[0]
    assert listing["study"] == {
        "id": study, "studyInstanceUid": stored.study_instance_uid, "site": "CHU Nord",
        "date": f"{first.StudyDate[:4]}-{first.StudyDate[4:6]}-{first.StudyDate[6:]}",
        "modality": "CT", "description": listing["study"]["description"],
        "accession": first.AccessionNumber}
    assert listing["study"]["description"]
    assert listing["wadoRoot"] == f"/dicomweb/{study}"
    assert [s["seriesInstanceUid"] for s in listing["series"]] == sorted(
        stored.series_instance_uids,
        key=lambda uid: next(int(d.SeriesNumber) for d in stored.datasets
                             if d.SeriesInstanceUID == uid))
    assert all(s["modality"] == "CT" and s["numberOfInstances"] == 3
               for s in listing["series"])
    assert all(s["thumbnailSopInstanceUid"] in stored.sop_instance_uids
               for s in listing["series"])

    root = f"{world.portal}{listing['wadoRoot']}/studies/{stored.study_instance_uid}"
    series = listing["series"][0]["seriesInstanceUid"]
    metadata = radiologist.get(f"{root}/series/{series}/metadata",
                               headers={"Accept": "application/dicom+json"})
    assert metadata.status_code == 200, metadata.text
    sops = [i["00080018"]["Value"][0] for i in metadata.json()]
    assert len(sops) == 3

    token = _token_of(world, radiologist)
    for sop in sops:
        path = f"studies/{stored.study_instance_uid}/series/{series}/instances/{sop}/frames/1"
        proxied = radiologist.get(f"{world.portal}/dicomweb/{study}/{path}",
                                  headers={"Accept": FRAMES})
        direct = httpx.get(f"{world.gateway}/wado-rs/{path}", headers={
            "Accept": FRAMES, "Authorization": f"Bearer {token}"})
        assert proxied.status_code == direct.status_code == 200, proxied.text
        assert multipart_parts(proxied) == multipart_parts(direct)
    rendered = radiologist.get(f"{root}/series/{series}/instances/{sops[0]}/rendered",
                               headers={"Accept": "image/jpeg"})
    assert rendered.status_code == 200 and rendered.headers["content-type"] == "image/jpeg"
    assert rendered.content[:2] == b"\xff\xd8"
    # the query string reaches the gateway as sent: a narrow window renders other pixels
    windowed = radiologist.get(f"{root}/series/{series}/instances/{sops[0]}/rendered",
                               params={"window": "1064,10", "quality": "95"},
                               headers={"Accept": "image/png"})
    assert windowed.status_code == 200 and windowed.headers["content-type"] == "image/png"
    direct_png = httpx.get(f"{world.gateway}/wado-rs/studies/{stored.study_instance_uid}/"
                           f"series/{series}/instances/{sops[0]}/rendered",
                           params={"window": "1064,10", "quality": "95"},
                           headers={"Accept": "image/png", "Authorization": f"Bearer {token}"})
    assert windowed.content == direct_png.content
    plain = radiologist.get(f"{root}/series/{series}/instances/{sops[0]}/rendered",
                            headers={"Accept": "image/png"})
    assert plain.content != windowed.content
    bad = radiologist.get(f"{root}/series/{series}/instances/{sops[0]}/rendered",
                          params={"window": "wide"}, headers={"Accept": "image/png"})
    assert bad.status_code == 400  # the gateway's own refusal, passed on

    # what the manifest does not share is not served
    foreign = radiologist.get(f"{world.portal}/dicomweb/{study}/studies/1.2.3.4/series/"
                              f"{series}/metadata")
    assert foreign.status_code == 404 and foreign.headers["content-type"] == PROBLEM
    assert "1.2.3.4 is not the study" in foreign.json()["detail"]
    whole = radiologist.get(f"{root}", headers={"Accept": FRAMES})
    assert whole.status_code == 404 and whole.headers["content-type"] == PROBLEM
    unknown = radiologist.get(f"{world.portal}/api/studies/"
                              "0b0e0f0a-0000-4000-8000-000000000000/series")
    assert unknown.status_code == 404 and unknown.headers["content-type"] == PROBLEM


def test_no_session_is_401_and_a_patient_is_403(world: World, study: str) -> None:
    with httpx.Client(timeout=30) as stranger:
        answer = stranger.get(f"{world.portal}/api/studies/{study}/series")
        assert answer.status_code == 401 and answer.headers["content-type"] == PROBLEM
        answer = stranger.get(f"{world.portal}/dicomweb/{study}/studies/1/series/2/metadata")
        assert answer.status_code == 401
    with sign_in(world, "claire.martin") as patient:
        for url in (f"/api/studies/{study}/series", f"/api/studies/{study}/download"):
            answer = patient.get(f"{world.portal}{url}")
            assert answer.status_code == 403 and answer.headers["content-type"] == PROBLEM


def test_the_download_is_a_zip_of_every_shared_instance(
        world: World, radiologist: httpx.Client, study: str) -> None:
    with radiologist.stream("GET", f"{world.portal}/api/studies/{study}/download") as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/zip"
        date = world.study.datasets[0].StudyDate
        assert (f'filename="MARTIN_Claire_{date[:4]}-{date[4:6]}-{date[6:]}.zip"'
                in answer.headers["content-disposition"])
        data = answer.read()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        read = {n: dcmread(io.BytesIO(archive.read(n))) for n in archive.namelist()}
    assert {str(ds.SOPInstanceUID) for ds in read.values()} == world.study.sop_instance_uids
    assert all(n == f"DICOM/{ds.SeriesInstanceUID}/{ds.SOPInstanceUID}.dcm"
               for n, ds in read.items())


def csrf(world: World, browser: httpx.Client) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"',
                      browser.get(f"{world.portal}/").text)
    assert match
    return match.group(1)


def test_send_to_the_reading_pacs_runs_as_a_job_and_lands_every_instance(
        world: World, radiologist: httpx.Client, study: str) -> None:
    url = f"{world.portal}/api/studies/{study}/send"
    forged = radiologist.post(url)
    assert forged.status_code == 403 and forged.headers["content-type"] == PROBLEM

    started = radiologist.post(url, headers={"X-CSRF-Token": csrf(world, radiologist)})
    assert started.status_code == 202, started.text
    job = started.json()
    assert job["href"] == f"/api/jobs/{job['id']}" and job["total"] == 6
    deadline = time.monotonic() + 60
    while True:
        progress = radiologist.get(f"{world.portal}{job['href']}").json()
        if progress["state"] in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert progress == {"state": "done", "done": 6, "total": 6, "failed": 0, "error": None}
    stored = httpx.post(f"{world.reading.url}/tools/find", json={
        "Level": "Instance", "Query": {}, "Expand": True}).json()
    assert {i["MainDicomTags"]["SOPInstanceUID"] for i in stored} == \
        world.study.sop_instance_uids

    # someone else's job is not theirs to see
    with sign_in(world, "dr.lefevre") as colleague:
        assert colleague.get(f"{world.portal}{job['href']}").status_code == 404

    # without a reading PACS configured the action is not offered
    imaging = world.app.state.imaging
    configured = imaging.settings
    imaging.settings = configured.model_copy(update={"export_pacs": ""})
    try:
        refused = radiologist.post(url, headers={"X-CSRF-Token": csrf(world, radiologist)})
    finally:
        imaging.settings = configured
    assert refused.status_code == 409 and refused.headers["content-type"] == PROBLEM


def test_a_stopped_gateway_is_a_502_problem(world: World, radiologist: httpx.Client,
                                            study: str) -> None:
    """Last: it stops the module's gateway."""
    ds = world.study.datasets[0]
    path = (f"studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/"
            f"{ds.SOPInstanceUID}/frames/1")
    metadata_url = (f"{world.portal}/dicomweb/{study}/studies/{ds.StudyInstanceUID}/series/"
                    f"{ds.SeriesInstanceUID}/metadata")
    before = radiologist.get(metadata_url, headers={"Accept": "application/dicom+json"})
    world.gateway_server.stop()
    # metadata already read comes from the portal's bounded disk cache, as it was
    after = radiologist.get(metadata_url, headers={"Accept": "application/dicom+json"})
    assert (after.status_code, after.headers["content-type"], after.content) == (
        200, before.headers["content-type"], before.content)
    answer = radiologist.get(f"{world.portal}/dicomweb/{study}/{path}",
                             headers={"Accept": FRAMES})
    assert answer.status_code == 502 and answer.headers["content-type"] == PROBLEM
    assert "CHU Nord" in answer.json()["detail"]
    download = radiologist.get(f"{world.portal}/api/studies/{study}/download")
    assert download.status_code == 502 and download.headers["content-type"] == PROBLEM
