"""The gateway refuses pixels the patient refused, asking the real consent service, and audits
each access once per window in the real audit record repository.

A real Orthanc holds Alice's and Bob's studies; the gateway's ``published_studies`` says they
are published in the region under their regional IDs (what the publisher records, written here
so the test needs no registry). Alice shares; Bob blocked Dr Lefèvre and hid one study."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.models import PublishedStudy, PublishState
from gateway.publish import records
from ihe.ebrim import ResponseStatus
from partage.db import Database
from partage.orthanc import Orthanc
from partage.serve import free_port
from tests.consent.conftest import ConsentService
from tests.gateway.studies import StoredStudy, make_spec, store_rest
from tests.gateway.test_rad69 import request_for, retrieve
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.issuer import Issuer
from tests.security.consent_region import (
    ALICE,
    BOB,
    LEFEVRE,
    MARTIN,
    consent_service,
    cx,
    event_code,
    events,
    service_client,
    transaction,
)

SITE = "1.2.250.1.999.1.1"


@dataclass
class Site:
    gateway: RunningGateway
    consent: ConsentService
    alice: StoredStudy
    bob: StoredStudy
    bob_hidden: StoredStudy
    unpublished: StoredStudy

    def headers(self, who: dict[str, str], roles: tuple[str, ...] = ("radiologist",),
                **claims: object) -> dict[str, str]:
        token = self.gateway.issuer.token(who["sub"], list(roles), rpps=who["rpps"],
                                          organisation_oid=who["organisation_oid"], **claims)
        return {"Authorization": f"Bearer {token}"}

    def get(self, path: str, headers: dict[str, str]) -> httpx.Response:
        return httpx.get(f"{self.gateway.url}{path}", headers=headers, timeout=60)


def published(db: Database, study: StoredStudy, patient: str) -> None:
    entry = f"urn:uuid:{uuid.uuid4()}"
    with db.session() as session:
        records.save(session, PublishedStudy(
            study_instance_uid=study.study_instance_uid, state=PublishState.PUBLISHED,
            local_patient_id="IPP000123", local_authority="1.2.250.1.999.1.1.1",
            regional_patient_id=cx(patient), kos_sop_instance_uid=f"2.25.{uuid.uuid4().int}",
            document_unique_id=f"2.25.{uuid.uuid4().int}", entry_uuid=entry,
            approved_entry_uuid=entry, instances_hash="0" * 64, instance_count=1, attempts=1,
            created_at=records.now(), published_at=records.now()))


def wado_routes(study: StoredStudy) -> list[str]:
    ds = study.datasets[0]
    instance = (f"/wado-rs/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
                f"/instances/{ds.SOPInstanceUID}")
    return [f"/wado-rs/studies/{ds.StudyInstanceUID}", f"{instance}/metadata",
            f"{instance}/frames/1", f"{instance}/rendered",
            f"/wado?requestType=WADO&studyUID={ds.StudyInstanceUID}&seriesUID="
            f"{ds.SeriesInstanceUID}&objectUID={ds.SOPInstanceUID}"]


@pytest.fixture
def site(orthanc: Orthanc, issuer: Issuer, tmp_path: Path) -> Iterator[Site]:
    studies = [store_rest(orthanc, make_spec(slices=2)) for _ in range(4)]
    with consent_service(issuer, tmp_path) as consent:
        assert consent.put_policy(ALICE, base="share").status_code in (200, 201)
        assert consent.put_policy(BOB, blocked_professionals=[LEFEVRE["rpps"]],
                                  hidden_studies=[studies[2].study_instance_uid]
                                  ).status_code in (200, 201)
        with running_gateway(orthanc, issuer, tmp_path / "gateway", consent_url=consent.url,
                             audit_url=f"{consent.url}/audit", site_oid=SITE,
                             **service_client(issuer, ["site-gateway"], site=SITE)) as gateway:
            db = Database(gateway.settings.resolved_database_url())
            for study, patient in zip(studies[:3], (ALICE, BOB, BOB)):
                published(db, study, patient)
            db.engine.dispose()
            yield Site(gateway, consent, *studies)


def test_permitted_on_every_route_and_audited_once_per_window(site: Site) -> None:
    martin = site.headers(MARTIN)
    for route in wado_routes(site.alice):
        assert site.get(route, martin).status_code == 200, route
    frame = wado_routes(site.alice)[2]
    with ThreadPoolExecutor(8) as pool:  # the viewer's burst of frames, on many threads
        codes = list(pool.map(lambda _: site.get(frame, martin).status_code, range(40)))
    assert codes == [200] * 40
    response = retrieve(site.gateway, request_for(site.alice, 0), martin)
    assert response.response.status == ResponseStatus.SUCCESS
    found = events(site.consent, expect=1, patient=ALICE, agent=MARTIN["sub"])
    accesses = [e for e in found if event_code(e) == "110103"]
    assert len(accesses) == 1, [transaction(e) for e in found]
    (access,) = accesses
    assert access["outcome"] == "0"
    studies = [e["what"]["identifier"]["value"] for e in access["entity"]]
    assert site.alice.study_instance_uid in studies and cx(ALICE) in studies


def test_a_blocked_professional_and_a_hidden_study_are_refused_everywhere(site: Site) -> None:
    lefevre, martin = site.headers(LEFEVRE), site.headers(MARTIN)
    for route in wado_routes(site.bob):
        answer = site.get(route, lefevre)
        assert answer.status_code == 403, route
        assert "patient" in answer.json()["detail"], answer.text
    for route in wado_routes(site.bob_hidden):
        answer = site.get(route, martin)
        assert answer.status_code == 403, route
        assert site.bob_hidden.study_instance_uid not in answer.json()["detail"].split(": ", 1)[1]
    for study, headers in ((site.bob, lefevre), (site.bob_hidden, martin)):
        response = retrieve(site.gateway, request_for(study, 0), headers)
        assert response.response.status == ResponseStatus.FAILURE and not response.documents
        assert [e.code for e in response.response.errors] == ["XDSRepositoryError"]
        assert "access refused" in response.response.errors[0].context
    assert site.get(wado_routes(site.bob)[0], martin).status_code == 200
    refused = [e for e in events(site.consent, expect=1, patient=BOB, agent=LEFEVRE["sub"])
               if event_code(e) == "110103"]
    assert len(refused) == 1 and refused[0]["outcome"] == "4"
    martin_events = [e for e in events(site.consent, expect=2, patient=BOB, agent=MARTIN["sub"])
                     if event_code(e) == "110103"]
    assert sorted(e["outcome"] for e in martin_events) == ["0", "4"]


def test_studies_not_published_in_the_region_are_refused(site: Site) -> None:
    answer = site.get(wado_routes(site.unpublished)[0], site.headers(MARTIN))
    assert answer.status_code == 403 and "not published in the region" in answer.text


def test_the_sites_own_administrator_reads_without_a_decision(site: Site) -> None:
    own = site.headers(MARTIN, ("site-admin",), site=SITE)
    other = site.headers(LEFEVRE, ("site-admin",), site="1.2.250.1.999.1.2")
    assert site.get(wado_routes(site.bob_hidden)[0], own).status_code == 200
    assert site.get(wado_routes(site.alice)[0], other).status_code == 403
    patient = site.gateway.auth(site.gateway.issuer.token("alice", ["patient"], ins=ALICE))
    assert site.get(wado_routes(site.alice)[0], patient).status_code == 403


def test_no_consent_service_means_no_pixels(orthanc: Orthanc, issuer: Issuer,
                                            tmp_path: Path) -> None:
    study = store_rest(orthanc, make_spec(slices=1))
    with running_gateway(orthanc, issuer, tmp_path / "gateway",
                         consent_url=f"http://127.0.0.1:{free_port()}", site_oid=SITE,
                         **service_client(issuer, ["site-gateway"], site=SITE)) as gateway:
        db = Database(gateway.settings.resolved_database_url())
        published(db, study, ALICE)
        db.engine.dispose()
        token = issuer.token(MARTIN["sub"], ["radiologist"], rpps=MARTIN["rpps"])
        headers = {"Authorization": f"Bearer {token}"}
        for route in wado_routes(study):
            answer = httpx.get(f"{gateway.url}{route}", headers=headers, timeout=30)
            assert answer.status_code == 503, route
        response = retrieve(gateway, request_for(study, 0), headers)
        assert [(e.code, e.context) for e in response.response.errors] == [
            ("XDSRepositoryError", "consent service unavailable")]


def test_an_emergency_grant_opens_the_study_and_is_flagged_in_the_audit(site: Site) -> None:
    """Alice opts out; Dr Martin is refused, breaks the glass with a written reason at the
    consent service, and is served at once (a denial a grant could lift is never cached); the
    access audit carries the emergency flag (110127, ETREAT)."""
    assert site.consent.put_policy(ALICE, base="block").status_code in (200, 201)
    martin = site.headers(MARTIN)
    route = wado_routes(site.alice)[0]
    assert site.get(route, martin).status_code == 403
    grant = site.consent.http.post(
        f"{site.consent.url}/patients/{ALICE}/emergency-access",
        json={"reason": "unconscious patient in the emergency room"},
        headers=site.consent.auth(MARTIN["sub"], ["radiologist"], rpps=MARTIN["rpps"],
                                  organisation_oid=MARTIN["organisation_oid"]))
    assert grant.status_code == 201, grant.text
    assert site.get(route, martin).status_code == 200
    found = [e for e in events(site.consent, expect=2, patient=ALICE, agent=MARTIN["sub"])
             if event_code(e) == "110103"]
    by_outcome = {e["outcome"]: e for e in found}
    assert sorted(by_outcome) == ["0", "4"]
    permitted = by_outcome["0"]
    assert "110127" in [c["code"] for c in permitted["subtype"]]
    assert permitted["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"
