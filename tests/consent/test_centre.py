"""The privacy centre as a browser sees it, signed in through the real development IdP (Node,
deploy/idp) as the centre's own client ``partage-privacy``, reading a real registry with the
patient's own token: their studies by site, hiding one, the sharing form, the history, the
access log (fed by POST /audit as a gateway does) with its one-click block, emergency-access
notifications, the FHIR download; professionals refused; CSRF; sign-ins audited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html import unescape
from pathlib import Path

import httpx
import pytest

import ihe.atna as atna
from consent.core.config import ConsentSettings
from consent.main import create_app
from partage.idp import DEV_PRIVACY_SECRET, PRIVACY_CLIENT, DevIdP, portal_client, service_client
from partage.serve import BackgroundServer, free_port
from tests.conftest import REPOSITORY_CLIENT, REPOSITORY_SECRET
from tests.portal.conftest import CLAIRE, CLAIRE_STUDIES
from tests.portal.support import SITE_A, SITE_B, RunningRegistry, portal_sign_in, running_registry
from tests.portal.test_web import attribute, find_testids

GATEWAY_CLIENT, GATEWAY_SECRET = "gateway-a", "gateway-a-dev-secret"
LEFEVRE_RPPS, MARTIN_RPPS = "10007654321", "10001234567"


@dataclass
class Centre:
    url: str
    idp: DevIdP
    registry: RunningRegistry
    patient_id: str

    def doctor_token(self, login: str) -> str:
        return self.idp.user_token(login, client_id=PRIVACY_CLIENT, secret=DEV_PRIVACY_SECRET,
                                   redirect_base=self.url)

    def gateway(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.idp.service_token(GATEWAY_CLIENT, GATEWAY_SECRET)}"}

    def decide(self, login: str, rpps: str, study: str, site: str = "") -> tuple[bool, str]:
        user = {"sub": login, "rpps": rpps, "roles": ["radiologist"],
                "organisation_oid": SITE_A[1]}
        answer = httpx.post(f"{self.url}/decisions", headers=self.gateway(), json={
            "patient": self.patient_id, "user": user, "study_instance_uid": study,
            "site_oid": site})
        assert answer.status_code == 200, answer.text
        return answer.json()["permit"], answer.json()["reason"]["code"]


@pytest.fixture(scope="module")
def centre(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Centre]:
    """The IdP (the centre's client, a gateway's, the repository's), a registry with Claire
    MARTIN's five studies from two sites, and the consent service with its centre."""
    root: Path = tmp_path_factory.mktemp("centre")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    clients = [portal_client(url, PRIVACY_CLIENT, DEV_PRIVACY_SECRET),
               service_client(GATEWAY_CLIENT, GATEWAY_SECRET, ["site-gateway"], SITE_A[1]),
               service_client(REPOSITORY_CLIENT, REPOSITORY_SECRET, ["repository"])]
    with DevIdP.running(root / "idp", clients) as idp, \
            running_registry(root / "registry", idp.issuer) as registry:
        patient_id = registry.feed(*CLAIRE)
        for name, oid in (SITE_A, SITE_B):  # the site directory names the sites
            httpx.put(f"{registry.identity}/sites/{oid}",
                      json={"name": name, "repository_unique_id": f"{oid}.300"},
                      headers={"Authorization": f"Bearer {registry.feed_token}"}
                      ).raise_for_status()
        writer = idp.service_token(REPOSITORY_CLIENT, REPOSITORY_SECRET)
        for study in CLAIRE_STUDIES:
            registry.publish(patient_id, study, writer)
        settings = ConsentSettings(
            host="127.0.0.1", port=port, data_dir=root / "consent", log_json=False,
            issuer=idp.issuer, signin_client_secret=DEV_PRIVACY_SECRET,
            registry_url=registry.soap, identity_url=registry.identity)
        server = BackgroundServer(create_app(settings), port=port).start()
        try:
            yield Centre(server.url, idp, registry, patient_id)
        finally:
            server.stop()


def form_of(page: httpx.Response, action: str, index: int = 0) -> dict[str, str]:
    """The hidden fields of the ``index``-th form posting to ``action``."""
    forms = re.findall(rf'<form method="post" action="{re.escape(action)}".*?</form>', page.text,
                       re.S)
    return {attribute(tag, "name"): attribute(tag, "value")
            for tag in re.findall(r'<input type="hidden"[^>]*>', forms[index])}


@pytest.fixture
def claire(centre: Centre) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as browser:
        page = portal_sign_in(browser, centre.url, "claire.martin", next_path="/studies")
        assert page.status_code == 200 and str(page.url).endswith("/studies"), page.text[:500]
        yield browser


def test_studies_by_site_and_hiding_one(centre: Centre, claire: httpx.Client) -> None:
    page = claire.get(f"{centre.url}/studies")
    rows = find_testids(page, "study-row")
    assert sorted(attribute(r, "data-study-uid") for r in rows) == sorted(
        s.study_instance_uid for s in CLAIRE_STUDIES)
    assert len(find_testids(page, "site-group")) == 2
    assert SITE_A[0] in unescape(page.text) and SITE_B[0] in unescape(page.text)
    assert "Claire Martin" in page.text  # the header names who is signed in
    target = CLAIRE_STUDIES[1].study_instance_uid
    assert centre.decide("dr-lefevre", LEFEVRE_RPPS, target)[0] is True

    index = [attribute(r, "data-study-uid") for r in rows].index(target)
    fields = form_of(page, "/studies/visibility", index)
    assert fields["study_instance_uid"] == target and fields["hide"] == "true"
    done = claire.post(f"{centre.url}/studies/visibility", data=fields, follow_redirects=True)
    assert done.status_code == 200
    hidden = {attribute(r, "data-study-uid"): attribute(r, "data-hidden")
              for r in find_testids(done, "study-row")}
    assert hidden[target] == "true" and list(hidden.values()).count("true") == 1
    assert centre.decide("dr-lefevre", LEFEVRE_RPPS, target) == (False, "patient-hid-study")

    # the same form again is stale (the version moved on): nothing changes, the patient is told
    again = claire.post(f"{centre.url}/studies/visibility", data={**fields, "hide": "false"})
    assert again.status_code == 412 and find_testids(again, "error")
    # unhide from the fresh page
    page = claire.get(f"{centre.url}/studies")
    index = [attribute(r, "data-study-uid") for r in find_testids(page, "study-row")].index(target)
    fields = form_of(page, "/studies/visibility", index)
    assert fields["hide"] == "false"
    claire.post(f"{centre.url}/studies/visibility", data=fields)
    assert centre.decide("dr-lefevre", LEFEVRE_RPPS, target)[0] is True


def test_sharing_form_and_history(centre: Centre, claire: httpx.Client) -> None:
    page = claire.get(f"{centre.url}/policy")
    assert find_testids(page, "policy-base") and find_testids(page, "save-policy")
    assert "partage sauf opposition" in page.text  # the region's default is said
    fields = form_of(page, "/policy")
    saved = claire.post(f"{centre.url}/policy", follow_redirects=True, data={
        **fields, "base": "share", "emergency_access": "allow",
        "blocked_professionals": LEFEVRE_RPPS, "allowed_professionals": ""})
    assert saved.status_code == 200 and find_testids(saved, "saved")
    assert LEFEVRE_RPPS in saved.text
    study = CLAIRE_STUDIES[0].study_instance_uid
    assert centre.decide("dr-lefevre", LEFEVRE_RPPS, study) == (
        False, "patient-blocked-professional")
    assert centre.decide("dr-martin", MARTIN_RPPS, study) == (True, "patient-opted-in")

    # blocking a site from the directory's checkboxes
    boxes = {attribute(t, "data-site-oid"): t for t in find_testids(saved, "block-site")}
    assert set(boxes) == {SITE_A[1], SITE_B[1]}
    blocked = claire.post(f"{centre.url}/policy", follow_redirects=True, data={
        **form_of(saved, "/policy"), "base": "share", "emergency_access": "allow",
        "blocked_sites": [SITE_B[1]], "blocked_professionals": LEFEVRE_RPPS})
    assert blocked.status_code == 200
    checked = [attribute(t, "data-site-oid") for t in find_testids(blocked, "block-site")
               if " checked" in t]
    assert checked == [SITE_B[1]]
    at_b = CLAIRE_STUDIES[1]
    assert centre.decide("dr-martin", MARTIN_RPPS, at_b.study_instance_uid, SITE_B[1]) == (
        False, "patient-blocked-site")

    bad = claire.post(f"{centre.url}/policy", data={
        **form_of(saved, "/policy"), "base": "share", "emergency_access": "allow",
        "blocked_professionals": "123"})
    assert bad.status_code == 400 and find_testids(bad, "error")

    history = claire.get(f"{centre.url}/history")
    changes = [unescape(c) for c in re.findall(
        r'data-testid="history-change">([^<]*)<', history.text)]
    assert f"blocked professionals: + {LEFEVRE_RPPS}" in changes
    assert f"blocked sites: + {SITE_B[1]}" in changes
    assert "par vous" in history.text
    # put it back for the other tests
    claire.post(f"{centre.url}/policy", data={
        **form_of(claire.get(f"{centre.url}/policy"), "/policy"), "base": "default",
        "emergency_access": "default"})
    assert centre.decide("dr-lefevre", LEFEVRE_RPPS, study)[0] is True
    assert centre.decide("dr-martin", MARTIN_RPPS, at_b.study_instance_uid, SITE_B[1])[0]


def test_access_log_and_one_click_block(centre: Centre, claire: httpx.Client) -> None:
    study = CLAIRE_STUDIES[2].study_instance_uid
    lefevre = atna.ActiveParticipant("dr-lefevre", True, "Dr Antoine Lefèvre", LEFEVRE_RPPS,
                                     organisation="Centre d'imagerie Sud")
    retrieve = atna.access(event=atna.EventID.EXPORT, transaction=atna.enum.RAD_69,
                           when=datetime.now(UTC), user=lefevre,
                           source=atna.AuditSource("gateway-a", SITE_A[1]),
                           patient_id=centre.patient_id, study_uids=(study,))
    posted = httpx.post(f"{centre.url}/audit", content=retrieve.to_bytes(),
                        headers=centre.gateway())
    assert posted.status_code == 201, posted.text
    page = claire.get(f"{centre.url}/access-log")
    rows = [r for r in find_testids(page, "access-row")
            if attribute(r, "data-rpps") == LEFEVRE_RPPS]
    assert len(rows) == 1 and attribute(rows[0], "data-studies") == study
    described = CLAIRE_STUDIES[2]  # the log names the study as the patient knows it
    assert f"{described.description}, {described.started:%Y-%m-%d}" in unescape(page.text)
    assert "Dr Antoine Lefèvre" in unescape(page.text) and "Centre d&#39;imagerie Sud" in page.text
    block = form_of(page, "/policy/block-professional")
    assert block["rpps"] == LEFEVRE_RPPS
    done = claire.post(f"{centre.url}/policy/block-professional", data=block,
                       follow_redirects=True)
    assert done.status_code == 200 and find_testids(done, "saved")
    assert centre.decide("dr-lefevre", LEFEVRE_RPPS, study) == (
        False, "patient-blocked-professional")
    claire.post(f"{centre.url}/policy", data={
        **form_of(claire.get(f"{centre.url}/policy"), "/policy"), "base": "default",
        "emergency_access": "default", "blocked_professionals": ""})


def test_emergency_access_is_notified(centre: Centre, claire: httpx.Client) -> None:
    before = claire.get(f"{centre.url}/notifications")
    count = len(find_testids(before, "notification-row"))
    token = centre.doctor_token("dr.martin")
    granted = httpx.post(f"{centre.url}/patients/{CLAIRE[0]}/emergency-access",
                         json={"reason": "patiente inconsciente aux urgences"},
                         headers={"Authorization": f"Bearer {token}"})
    assert granted.status_code == 201, granted.text
    assert granted.json()["name"] == "Dr Sophie Martin"
    assert granted.json()["organisation"] == "CHU Nord"
    page = claire.get(f"{centre.url}/notifications")
    rows = find_testids(page, "notification-row")
    assert len(rows) == count + 1 and attribute(rows[0], "data-read") == "false"
    assert "patiente inconsciente aux urgences" in page.text
    [badge] = re.findall(r'data-testid="notification-count"[^>]*>(\d+)<', page.text)
    assert int(badge) >= 1
    mark = form_of(page, "/notifications/read")
    read = claire.post(f"{centre.url}/notifications/read", data=mark, follow_redirects=True)
    assert not find_testids(read, "notification-count")
    assert all(attribute(r, "data-read") == "true" for r in find_testids(read, "notification-row"))


def test_fhir_consent_download(centre: Centre, claire: httpx.Client) -> None:
    claire.post(f"{centre.url}/policy", data={
        **form_of(claire.get(f"{centre.url}/policy"), "/policy"), "base": "share",
        "emergency_access": "default"})
    answer = claire.get(f"{centre.url}/consent.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/fhir+json")
    assert "attachment" in answer.headers["content-disposition"]
    assert answer.json()["resourceType"] == "Consent"


def test_csrf_and_sign_in_required(centre: Centre, claire: httpx.Client) -> None:
    fields = form_of(claire.get(f"{centre.url}/policy"), "/policy")
    forged = claire.post(f"{centre.url}/policy", data={
        **fields, "csrf_token": "forged", "base": "block", "emergency_access": "forbid"})
    assert forged.status_code == 403
    elsewhere = claire.post(f"{centre.url}/policy", headers={"Origin": "http://evil.example"},
                            data={**fields, "base": "block", "emergency_access": "forbid"})
    assert elsewhere.status_code == 403
    with httpx.Client(timeout=30) as anonymous:
        answer = anonymous.get(f"{centre.url}/policy")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/auth/login?next=%2Fpolicy")
    # the cookie is the centre's own, not the portal's
    assert claire.cookies.get("partage_privacy_session")
    page = claire.get(f"{centre.url}/policy")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"  # pages with patient data never cached
    assert page.headers["x-frame-options"] == "DENY"


def test_professionals_are_refused(centre: Centre) -> None:
    with httpx.Client(timeout=30) as browser:
        page = portal_sign_in(browser, centre.url, "dr.martin", next_path="/studies")
        assert page.status_code == 403
        assert "réservé aux patients" in page.text
        assert not find_testids(page, "study-row")


def test_sign_ins_are_audited(centre: Centre) -> None:
    with httpx.Client(timeout=30) as browser:
        portal_sign_in(browser, centre.url, "paul.durand")
    admin = centre.doctor_token("admin")
    bundle = httpx.get(f"{centre.url}/AuditEvent", params={"agent": "paul.durand"},
                       headers={"Authorization": f"Bearer {admin}"}).json()
    logins = [e["resource"] for e in bundle.get("entry", [])
              if e["resource"]["type"]["code"] == "110114"]
    assert logins and logins[0]["outcome"] == "0"


def test_overview_and_sign_out(centre: Centre) -> None:
    with httpx.Client(timeout=30) as browser:
        page = portal_sign_in(browser, centre.url, "paul.durand")
        assert page.status_code == 200 and str(page.url) == f"{centre.url}/"
        [state] = find_testids(page, "sharing-state")
        assert attribute(state, "data-sharing") == "on"  # opt-out region, never chosen
        assert "partage sauf opposition" in page.text
        none = browser.get(f"{centre.url}/consent.json")
        assert none.status_code == 404 and find_testids(none, "error")
        out = browser.post(f"{centre.url}/auth/logout",
                           data={"csrf_token": form_of(page, "/auth/logout")["csrf_token"]})
        assert out.status_code == 303
        assert browser.get(f"{centre.url}/policy").status_code == 303  # signed out
