"""The portal as the third consent enforcement point, over HTTP against the whole region on
loopback (development IdP, consent service, registry, repository, two sites with their Orthanc
and gateway, the portal), signed in through the IdP's login page as a browser does.

Paul DURAND hides his MR and blocks Dr Lefèvre (set through the consent API as Paul): Dr Martin
sees only the CT, with a notice naming no study, and gets 403 on the MR's images even by URL;
Dr Lefèvre sees nothing of Paul and gets 403. Jeanne PETIT shares nothing but allows emergency
access: Dr Martin breaks the glass with a written reason and sees her study until the grant
ends; the patient finds it in her access log and notifications, and a download made meanwhile is
audited as an emergency access. The portal's own audits (sign-in, a failed sign-in, a download,
a send to a PACS) reach the audit record repository. Without an answering decision point,
nothing is shown.
"""

from __future__ import annotations

import re
import time
from html import unescape
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from itsdangerous import TimestampSigner

from partage.demo_sites import DemoPatient
from partage.idp import DEV_PORTAL_SECRET
from partage.region import PORTAL_SERVICE_CLIENT, Region
from partage.serve import BackgroundServer, free_port
from partage.web.auth import CREDENTIALS
from partage.web.oidc import Credentials
from partage.web.sessions import SALT
from portal.audit import SOURCE_ID as SOURCE
from portal.core.config import PortalSettings
from portal.main import create_app
from partage.regional_studies import StudyEntry, find_studies
from tests.portal.consent_region import (
    JEANNE, JEANNE_CR, LEFEVRE_RPPS, PAUL, PAUL_CT, PAUL_MR, SITE_B, consent_region,
)
from tests.portal.support import portal_sign_in

@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Region]:
    with consent_region(tmp_path_factory.mktemp("region")) as running:
        yield running


@pytest.fixture(scope="module")
def entries(region: Region) -> dict[str, StudyEntry]:
    """Every published study's registry entry by Study Instance UID, as a service (unfiltered)
    sees them."""
    token = region.idp.service_token(PORTAL_SERVICE_CLIENT, region.portal_service_secret)
    settings = PortalSettings(registry_url=f"{region.registry.url}/registry")
    found = {}
    for patient in (PAUL, JEANNE):
        for entry in find_studies(settings, token, patient.cx).studies:
            found[entry.study_instance_uid] = entry
    return found


@pytest.fixture(scope="module")
def policies(region: Region) -> dict[str, dict[str, Any]]:
    """The patients' choices, written by each patient through the consent API."""
    return {
        "paul": region.set_policy("paul.durand", {"hidden_studies": [PAUL_MR.study_instance_uid],
                                                  "blocked_professionals": [LEFEVRE_RPPS]}),
        "jeanne": region.set_policy("jeanne.petit", {"base": "block",
                                                     "emergency_access": True}),
    }


def find_testids(page: httpx.Response, testid: str) -> list[str]:
    return re.findall(rf'<[^>]*data-testid="{re.escape(testid)}"[^>]*>', page.text)


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert match, "no CSRF token on the page"
    return match.group(1)


def patient_page(region: Region, patient: DemoPatient) -> str:
    return f"{region.portal_url}/patients/{quote(patient.cx, safe='')}"


def eventually(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """``check()``'s first truthy answer, asked until ``timeout`` (audits are delivered by a
    background sender)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.25)


def audit_events(region: Region, reader: str, **params: str) -> list[dict[str, Any]]:
    """The FHIR AuditEvents the audit record repository gives ``reader`` (a demo login)."""
    token = region.user_token(reader)
    answer = httpx.get(f"{region.consent_url}/AuditEvent", params=params,
                       headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return [e["resource"] for e in answer.json().get("entry", [])]


def event_code(event: dict[str, Any]) -> str:
    return str(event["type"]["code"])


def test_the_policies_are_versions_written_by_the_patients(
        policies: dict[str, dict[str, Any]]) -> None:
    assert policies["paul"]["version"] == 1 and policies["paul"]["author"] == "paul.durand"
    assert policies["jeanne"]["effective"]["sharing"] is False
    assert policies["jeanne"]["effective"]["emergency_access"] is True


def test_a_hidden_study_is_neither_shown_nor_named_and_its_images_are_refused(
        region: Region, entries: dict[str, StudyEntry],
        policies: dict[str, dict[str, Any]]) -> None:
    ct, mr = entries[PAUL_CT.study_instance_uid], entries[PAUL_MR.study_instance_uid]
    with httpx.Client(timeout=60) as browser:
        portal_sign_in(browser, region.portal_url, "dr.martin")
        page = browser.get(patient_page(region, PAUL))
        assert page.status_code == 200
        rows = find_testids(page, "study-row")
        assert len(rows) == 1 and ct.id in rows[0]
        [notice] = find_testids(page, "hidden-notice")
        assert 'data-count="1"' in notice
        assert "hidden at the patient&#39;s request" in page.text
        for secret in (mr.id, PAUL_MR.study_instance_uid, PAUL_MR.description, "IRM"):
            assert secret not in page.text
        # Paul's base choice shares: no grant to ask for
        assert not find_testids(page, "emergency-open")

        for url in (f"/api/studies/{mr.id}/series", f"/api/studies/{mr.id}/download",
                    f"/dicomweb/{mr.id}/studies/{PAUL_MR.study_instance_uid}/series/x/metadata"):
            refused = browser.get(f"{region.portal_url}{url}")
            assert refused.status_code == 403, url
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["detail"] == "hidden at the patient's request"
        compare = browser.get(f"{patient_page(region, PAUL)}/compare",
                              params={"current": ct.id, "prior": mr.id})
        assert compare.status_code == 403 and "hidden at the patient&#39;s request" in compare.text
        assert PAUL_MR.description not in compare.text
        assert browser.get(f"{region.portal_url}/api/studies/{ct.id}/series").status_code == 200
        listed = browser.get(f"{region.portal_url}/api/patients/"
                             f"{quote(PAUL.cx, safe='')}/studies").json()["studies"]
        assert [s["id"] for s in listed] == [ct.id]


def test_a_blocked_radiologist_sees_nothing_of_the_patient_and_cannot_break_the_glass(
        region: Region, entries: dict[str, StudyEntry],
        policies: dict[str, dict[str, Any]]) -> None:
    ct = entries[PAUL_CT.study_instance_uid]
    with httpx.Client(timeout=60) as browser:
        portal_sign_in(browser, region.portal_url, "dr.lefevre")
        page = browser.get(patient_page(region, PAUL))
        assert page.status_code == 200 and not find_testids(page, "study-row")
        [notice] = find_testids(page, "hidden-notice")
        assert 'data-count="2"' in notice
        assert "not shared with you at the patient&#39;s request" in page.text
        assert not find_testids(page, "emergency-open")
        refused = browser.get(f"{region.portal_url}/api/studies/{ct.id}/series")
        assert refused.status_code == 403
        assert refused.json()["detail"] == "not shared with you at the patient's request"
        frames = browser.get(f"{region.portal_url}/dicomweb/{ct.id}/studies/"
                             f"{PAUL_CT.study_instance_uid}/series/x/instances/y/frames/1")
        assert frames.status_code == 403
    # the gateway refuses the pixels too, asked directly with Dr Lefèvre's own token
    token = region.idp.user_token("dr.lefevre", client_id="partage-portal",
                                  secret=DEV_PORTAL_SECRET, redirect_base=region.portal_url)
    direct = httpx.get(f"{region.gateway_url('a')}/wado-rs/studies/"
                       f"{PAUL_CT.study_instance_uid}/metadata",
                       headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert direct.status_code == 403


def test_emergency_access_with_a_reason_opens_the_patient_and_is_shown_to_her(
        region: Region, entries: dict[str, StudyEntry],
        policies: dict[str, dict[str, Any]]) -> None:
    cr = entries[JEANNE_CR.study_instance_uid]
    page_url = patient_page(region, JEANNE)
    with httpx.Client(timeout=60) as browser:
        portal_sign_in(browser, region.portal_url, "dr.martin")
        page = browser.get(page_url)
        assert page.status_code == 200 and not find_testids(page, "study-row")
        assert find_testids(page, "hidden-notice") and find_testids(page, "emergency-open")
        assert find_testids(page, "emergency-reason") and find_testids(page, "emergency-submit")
        assert not find_testids(page, "emergency-banner")
        assert browser.get(f"{region.portal_url}/api/studies/{cr.id}/series").status_code == 403
        token = csrf_of(page)

        forged = browser.post(f"{page_url}/emergency-access",
                              data={"reason": "Polytraumatisé inconscient"})
        assert forged.status_code == 403  # no CSRF token: nothing granted
        blank = browser.post(f"{page_url}/emergency-access",
                             data={"reason": "  ", "csrf_token": token}, follow_redirects=True)
        assert find_testids(blank, "emergency-refused")
        assert not find_testids(blank, "emergency-banner")

        reason = "Patiente inconsciente aux urgences, suspicion d'embolie pulmonaire"
        granted = browser.post(f"{page_url}/emergency-access",
                               data={"reason": reason, "csrf_token": token})
        assert granted.status_code == 303
        page = browser.get(page_url)
        [banner] = find_testids(page, "emergency-banner")
        assert re.search(r"Accès en urgence jusqu'à \d\d:\d\d", page.text)
        rows = find_testids(page, "study-row")
        assert len(rows) == 1 and cr.id in rows[0]
        assert not find_testids(page, "emergency-open")
        assert browser.get(f"{region.portal_url}/api/studies/{cr.id}/series").status_code == 200
        download = browser.get(f"{region.portal_url}/api/studies/{cr.id}/download")
        assert download.status_code == 200 and download.content[:2] == b"PK"

    def flagged_export() -> list[dict[str, Any]]:
        return [e for e in audit_events(region, "admin", agent="dr.martin")
                if e["source"]["observer"]["display"] == SOURCE and event_code(e) == "110106"
                and JEANNE_CR.study_instance_uid in str(e["entity"])
                and "ETREAT" in str(e.get("purposeOfEvent")) and reason in str(e["entity"])]

    assert eventually(flagged_export), "the download is not audited as an emergency access"

    patient = {"Authorization": f"Bearer {region.user_token('jeanne.petit')}"}
    notifications = httpx.get(f"{region.consent_url}/patients/{JEANNE.ins}/notifications",
                              headers=patient, timeout=30)
    assert notifications.status_code == 200
    assert reason in notifications.text and "10001234567" in notifications.text

    def emergency_reads() -> list[Any]:
        log = httpx.get(f"{region.consent_url}/patients/{JEANNE.ins}/access-log",
                        headers=patient, timeout=30)
        assert log.status_code == 200
        return [e for e in log.json()["accesses"] if e["emergency"]]

    assert eventually(emergency_reads), "the emergency read is not in the patient's access log"

    with httpx.Client(timeout=60) as browser:  # the portal is for professionals: it links
        refused = portal_sign_in(browser, region.portal_url, "jeanne.petit")  # her there
        assert refused.status_code == 403
        [link] = find_testids(refused, "privacy-link")
        assert f'href="{region.consent_url}/"' in link
    with httpx.Client(timeout=60) as browser:  # and in her privacy centre, signed in as her
        portal_sign_in(browser, region.consent_url, "jeanne.petit")
        shown = browser.get(f"{region.consent_url}/notifications")
        assert shown.status_code == 200 and find_testids(shown, "notification-row")
        assert reason in unescape(shown.text)
        log = browser.get(f"{region.consent_url}/access-log")
        assert any('data-emergency="true"' in row and 'data-rpps="10001234567"' in row
                   for row in find_testids(log, "access-row"))


def test_sign_in_and_a_download_are_audited_by_the_portal(
        region: Region, entries: dict[str, StudyEntry],
        policies: dict[str, dict[str, Any]]) -> None:
    ct = entries[PAUL_CT.study_instance_uid]
    with httpx.Client(timeout=60) as browser:
        portal_sign_in(browser, region.portal_url, "dr.roux")
        download = browser.get(f"{region.portal_url}/api/studies/{ct.id}/download")
        assert download.status_code == 200 and download.content[:2] == b"PK"
        page = browser.get(patient_page(region, PAUL))
        sent = browser.post(f"{region.portal_url}/api/studies/{ct.id}/send",
                            headers={"X-CSRF-Token": csrf_of(page)})
        assert sent.status_code == 202, sent.text

    def portal_events(agent: str, code: str) -> list[dict[str, Any]]:
        return [e for e in audit_events(region, "admin", agent=agent)
                if event_code(e) == code and e["source"]["observer"]["display"] == SOURCE]

    signed_in = eventually(lambda: portal_events("dr.roux", "110114"))
    assert signed_in and signed_in[0]["outcome"] == "0"
    exported = eventually(lambda: len(portal_events("dr.roux", "110106")) == 2
                          and portal_events("dr.roux", "110106"))
    assert exported, "no Export audit for the download and the send"
    assert all(PAUL_CT.study_instance_uid in str(e["entity"]) for e in exported)
    others = [[a["who"]["identifier"]["value"] for a in e["agent"] if not a["requestor"]]
              for e in exported]
    pacs = f"{SITE_B.pacs_ae_title}@127.0.0.1:{region.ports['b_pacs_dicom']}"
    assert sorted(others, key=len) == [[], [pacs]]  # the send names the PACS it stored into

    with httpx.Client(timeout=60) as browser:  # a sign-in the IdP answers with an error
        failed = browser.get(f"{region.portal_url}/auth/callback",
                             params={"error": "access_denied", "error_description": "cancelled"})
        assert failed.status_code == 400
    refused = eventually(lambda: portal_events("unknown", "110114"))
    assert refused and refused[0]["outcome"] != "0"


def test_without_the_decision_point_the_portal_shows_nothing(
        region: Region, entries: dict[str, StudyEntry], tmp_path: Path) -> None:
    """A portal whose consent service does not answer fails closed: its pages say so (503)
    and show no study, its APIs answer 503 — though the registry would give the studies."""
    port = free_port()
    settings = PortalSettings(
        data_dir=tmp_path, port=port, issuer=region.idp.issuer, log_json=False,
        registry_url=f"{region.registry.url}/registry",
        identity_url=f"{region.registry.url}/identity",
        repository_url=f"{region.repository.url}/repository",
        consent_url=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        client_id=PORTAL_SERVICE_CLIENT, client_secret=region.portal_service_secret,
        token_url=region.idp.token_url)
    token = region.idp.user_token("dr.martin", client_id="partage-portal",
                                  secret=DEV_PORTAL_SECRET, redirect_base=region.portal_url)
    principal = settings.token_validator().validate(token)
    app = create_app(settings)
    server = BackgroundServer(app, port=port).start()
    try:
        session_id = "signed-in-by-the-test"
        app.state.sessions.put(session_id, {CREDENTIALS: Credentials(
            token, None, None, float(principal.claims["exp"]), principal)})
        cookie = TimestampSigner(settings.session_secret, salt=SALT).sign(session_id).decode()
        with httpx.Client(timeout=60, cookies={settings.session_cookie: cookie}) as browser:
            page = browser.get(f"{server.url}/patients/{quote(PAUL.cx, safe='')}")
            assert page.status_code == 503
            assert "Service de consentement indisponible" in page.text
            assert not find_testids(page, "study-row")
            ct = entries[PAUL_CT.study_instance_uid]
            api = browser.get(f"{server.url}/api/studies/{ct.id}/series")
            assert api.status_code == 503
            assert api.headers["content-type"] == "application/problem+json"
    finally:
        server.stop()
