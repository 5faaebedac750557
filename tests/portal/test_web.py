"""The portal as a browser sees it, signed in through the real development IdP (Node,
deploy/idp) against a real registry that trusts the IdP's tokens: search, timeline, priors,
the viewer page; patients refused; session cookie, CSRF, refresh, logout, errors."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from itsdangerous import TimestampSigner

from partage.idp import DEV_PORTAL_SECRET, DevIdP, IdPError
from partage.serve import BackgroundServer, free_port
from partage.web.auth import CREDENTIALS, safe_next
from partage.web.oidc import Credentials
from partage.web.sessions import SALT, SessionStore
from portal.core.config import PortalSettings
from portal.main import create_app
from tests.conftest import REPOSITORY_CLIENT, REPOSITORY_SECRET
from tests.portal.conftest import CLAIRE, CLAIRE_STUDIES
from tests.portal.support import SITE_A, SITE_B, RunningRegistry, portal_sign_in, running_registry


@dataclass
class Portal:
    url: str
    settings: PortalSettings
    sessions: SessionStore
    registry: RunningRegistry
    patient_id: str

    def session_id(self, browser: httpx.Client) -> str:
        signed = browser.cookies.get(self.settings.session_cookie, domain="127.0.0.1")
        assert signed, "no portal session cookie"
        signer = TimestampSigner(self.settings.session_secret, salt=SALT)
        return signer.unsign(signed).decode()

    def credentials(self, browser: httpx.Client) -> Credentials:
        data = self.sessions.get(self.session_id(browser))
        assert data is not None and CREDENTIALS in data
        credentials: Credentials = data[CREDENTIALS]
        return credentials


@pytest.fixture(scope="module")
def portal(idp: DevIdP, portal_port: int, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Portal]:
    """The portal on ``portal_port`` (its redirect URI is registered at the IdP), reading a
    registry that trusts the IdP and holds Claire MARTIN's five studies from two sites."""
    root: Path = tmp_path_factory.mktemp("portal-web")
    with running_registry(root / "registry", idp.issuer) as registry:
        patient_id = registry.feed(*CLAIRE)
        writer = idp.service_token(REPOSITORY_CLIENT, REPOSITORY_SECRET)
        for study in CLAIRE_STUDIES:
            registry.publish(patient_id, study, writer)
        settings = PortalSettings(
            host="127.0.0.1", port=portal_port, data_dir=root / "portal", log_json=False,
            issuer=idp.issuer, signin_client_secret=DEV_PORTAL_SECRET,
            registry_url=registry.soap, identity_url=registry.identity,
        )
        app = create_app(settings)
        server = BackgroundServer(app, port=portal_port).start()
        try:
            yield Portal(server.url, settings, app.state.sessions, registry, patient_id)
        finally:
            server.stop()


def find_testids(page: httpx.Response, testid: str) -> list[str]:
    """The opening tags carrying ``data-testid="{testid}"``."""
    return re.findall(rf'<[^>]*data-testid="{re.escape(testid)}"[^>]*>', page.text)


def attribute(tag: str, name: str) -> str:
    match = re.search(rf'{name}="([^"]*)"', tag)
    return unescape(match.group(1)) if match else ""


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert match, "no CSRF token on the page"
    return match.group(1)


@contextmanager
def signed_in(portal: Portal, login: str = "dr.martin", next_path: str = "/"
              ) -> Iterator[tuple[httpx.Client, httpx.Response]]:
    """A browser signed in through the IdP's login page, and the page it landed on."""
    with httpx.Client(timeout=30) as browser:
        yield browser, portal_sign_in(browser, portal.url, login, next_path=next_path)


def test_a_radiologist_signs_in_finds_the_patient_and_sees_both_sites_on_one_timeline(
        portal: Portal) -> None:
    with signed_in(portal) as (browser, home):
        assert home.status_code == 200 and str(home.url) == f"{portal.url}/"
        assert find_testids(home, "search-box")
        assert "Dr Sophie Martin" in home.text and "Radiologue · CHU Nord" in home.text

        for typed in ("2801205123456", portal.patient_id, "MARTIN Claire"):
            results = browser.get(f"{portal.url}/patients", params={"q": typed})
            rows = find_testids(results, "result-row")
            assert [attribute(r, "data-patient-id") for r in rows] == [portal.patient_id]
        link = attribute(find_testids(results, "result-link")[0], "href")
        assert link == f"/patients/{quote(portal.patient_id, safe='')}"

        page = browser.get(f"{portal.url}{link}")
        assert page.status_code == 200
        rows = find_testids(page, "study-row")
        assert [attribute(r, "data-study-id") for r in rows] == [
            CLAIRE_STUDIES[i].id for i in (0, 4, 2, 1, 3)]  # newest first
        assert {attribute(r, "data-site") for r in rows} == {SITE_A[0], SITE_B[0]}
        marks = find_testids(page, "timeline-mark")
        assert len(marks) == 5 and {attribute(m, "data-site") for m in marks} == {
            SITE_A[0], SITE_B[0]}
        for expected in ("A2025-0311", "B2023-7781", "IRM cérébrale", "312", "Head"):
            assert expected in page.text


def test_choosing_a_current_study_marks_the_most_relevant_prior_and_offers_compare(
        portal: Portal) -> None:
    current, best = CLAIRE_STUDIES[0], CLAIRE_STUDIES[1]  # CT chest 2025, CT chest 2023 (B)
    with signed_in(portal) as (browser, _):
        base = f"{portal.url}/patients/{quote(portal.patient_id, safe='')}"
        page = browser.get(base, params={"current": current.id, "site": SITE_B[0]})
        assert attribute(find_testids(page, "best-prior")[0], "data-study-id") == best.id
        prior_marks = [m for m in find_testids(page, "timeline-mark") if 'data-prior="true"' in m]
        assert [attribute(m, "data-study-id") for m in prior_marks] == [best.id]
        # the site filter keeps site B's studies only, and links keep the filter
        rows = find_testids(page, "study-row")
        assert {attribute(r, "data-site") for r in rows} == {SITE_B[0]}
        marks = find_testids(page, "timeline-mark")
        assert marks and all("site=Centre" in attribute(m, "href") for m in marks)
        compare = attribute(find_testids(page, "compare")[0], "href")
        assert parse_qs(urlsplit(compare).query) == {
            "current": [current.id], "prior": [best.id], "layout": ["2"]}

        viewer = browser.get(f"{portal.url}{compare}")
        assert viewer.status_code == 200
        assert '<link rel="stylesheet" href="/viewer/viewer.css">' in viewer.text
        assert '<script type="module" src="/viewer/viewer.js"></script>' in viewer.text
        config = json.loads(unescape(re.search(
            r"<div id=\"partage-viewer\" data-config='([^']*)'></div>", viewer.text).group(1)))
        assert config["current"] == current.id and config["prior"] == best.id
        assert config["layout"] == 2
        # the page names the two studies on screen; the viewer lists the others later
        assert [s["id"] for s in config["studies"]] == [current.id, best.id]
        first = config["studies"][1]
        assert first == {"id": best.id, "site": SITE_B[0], "date": "2023-06-02",
                         "modality": "CT", "description": "Scanner thoracique",
                         "seriesUrl": f"/api/studies/{best.id}/series"}
        listed = browser.get(f"{portal.url}{config['studiesUrl']}")
        assert listed.status_code == 200
        studies = listed.json()["studies"]
        assert len(studies) == 5 and first in studies  # every study, whatever the filter
        four = browser.get(f"{portal.url}/patients/{quote(portal.patient_id, safe='')}/compare",
                           params={"current": current.id, "layout": 4})
        assert '"layout":4' in unescape(four.text) and f'"prior":"{best.id}"' in unescape(
            four.text)
        bad = browser.get(f"{base}/compare", params={"current": current.id, "layout": 3})
        assert bad.status_code == 400 and find_testids(bad, "error")
        stranger = "00000000-0000-4000-8000-000000000000"  # no study of this patient
        foreign = browser.get(f"{base}/compare", params={"current": current.id, "prior": stranger})
        assert foreign.status_code == 404 and find_testids(foreign, "error")
        unknown = browser.get(f"{portal.url}/api/patients/9999999999999/studies")
        assert unknown.status_code == 404
        assert unknown.headers["content-type"].startswith("application/problem+json")


def test_a_patient_account_is_refused_with_a_clear_page(portal: Portal) -> None:
    with signed_in(portal, "claire.martin") as (browser, home):
        assert home.status_code == 403
        assert find_testids(home, "professionals-only")
        assert "patients manage their sharing in the privacy centre" in home.text
        assert "Traceback" not in home.text
        page = browser.get(f"{portal.url}/patients/{quote(portal.patient_id, safe='')}")
        assert page.status_code == 403 and find_testids(page, "professionals-only")
        api = browser.get(f"{portal.url}/api/studies/{CLAIRE_STUDIES[0].id}/series")
        assert api.status_code == 403
        assert api.headers["content-type"] == "application/problem+json"


def test_the_session_cookie_holds_only_a_signed_id(portal: Portal) -> None:
    seen: list[httpx.Response] = []
    with httpx.Client(timeout=30, event_hooks={"response": [seen.append]}) as browser:
        portal_sign_in(browser, portal.url, "dr.martin")
        login, callback = (next(r for r in seen if r.url.path == path)
                           for path in ("/auth/login", "/auth/callback"))
        assert callback.status_code == 303 and callback.headers["location"] == "/"
        cookie = callback.headers["set-cookie"]
        name, _, value = cookie.partition(";")[0].partition("=")
        assert name == portal.settings.session_cookie
        flags = [f.strip() for f in cookie.split(";")[1:]]
        assert {"HttpOnly", "SameSite=Lax", "Path=/",
                f"Max-Age={portal.settings.session_max_age_s}"} <= set(flags)
        assert "Secure" not in flags  # http here; https public URLs get Secure
        credentials = portal.credentials(browser)
        assert credentials.access_token not in cookie and len(value) < 120
        assert credentials.principal.subject == "dr.martin"
        # the session that started the sign-in is not the signed-in one (no fixation)
        assert name in login.headers["set-cookie"] and value not in login.headers["set-cookie"]
        # a tampered cookie names no session
        browser.cookies.set(name, value[:-2] + ("AA" if not value.endswith("AA") else "BB"),
                            domain="127.0.0.1")
        refused = browser.get(f"{portal.url}/patients", params={"q": "MARTIN"})
        assert refused.status_code == 303
        assert refused.headers["location"].startswith("/auth/login?next=")


def test_posts_without_the_sessions_csrf_token_are_refused_and_logout_clears_the_session(
        portal: Portal, idp: DevIdP) -> None:
    with signed_in(portal) as (browser, home):
        token = csrf_of(home)
        old_id = portal.session_id(browser)
        id_token = portal.credentials(browser).id_token
        for headers, data in (({}, {}), ({"X-CSRF-Token": "forged"}, {}),
                              ({}, {"csrf_token": "forged"}),
                              ({"X-CSRF-Token": token, "Origin": "http://evil.example"}, {})):
            refused = browser.post(f"{portal.url}/auth/logout", headers=headers, data=data)
            assert refused.status_code == 403, (headers, data)
            assert refused.headers["content-type"] == "application/problem+json"
        assert portal.sessions.get(old_id) is not None  # still signed in

        out = browser.post(f"{portal.url}/auth/logout", data={"csrf_token": token})
        assert out.status_code == 303
        target = urlsplit(out.headers["location"])
        assert f"{target.scheme}://{target.netloc}{target.path}" == idp.end_session_url
        query = parse_qs(target.query)
        assert query["id_token_hint"] == [id_token]
        assert query["post_logout_redirect_uri"] == [f"{portal.url}/"]
        assert portal.sessions.get(old_id) is None
        assert "Max-Age=0" in out.headers["set-cookie"]
        again = browser.get(f"{portal.url}/patients", params={"q": "MARTIN"})
        assert again.status_code == 303 and again.headers["location"].startswith("/auth/login")


def test_an_expired_access_token_is_refreshed_else_the_user_signs_in_again(
        portal: Portal) -> None:
    with signed_in(portal) as (browser, _):
        session_id = portal.session_id(browser)
        data = portal.sessions.get(session_id)
        assert data is not None
        before: Credentials = data[CREDENTIALS]
        assert before.refresh_token, "the IdP grants the portal a refresh token"
        data[CREDENTIALS] = dataclasses.replace(before, expires_at=time.time())
        patient = f"{portal.url}/patients/{quote(portal.patient_id, safe='')}"
        page = browser.get(patient)
        assert page.status_code == 200 and len(find_testids(page, "study-row")) == 5
        after: Credentials = data[CREDENTIALS]
        assert after.access_token != before.access_token
        assert after.expires_at > time.time() + 60
        assert after.principal.subject == "dr.martin"

        data[CREDENTIALS] = dataclasses.replace(after, expires_at=time.time(),
                                                refresh_token="not-a-refresh-token")
        api = browser.get(f"{portal.url}/api/studies/{CLAIRE_STUDIES[0].id}/series")
        assert api.status_code == 401
        assert api.headers["content-type"] == "application/problem+json"
        page = browser.get(patient)
        assert page.status_code == 303
        assert page.headers["location"] == f"/auth/login?next={quote(urlsplit(patient).path, safe='')}"


def test_a_token_the_registry_refuses_sends_the_user_to_sign_in_again(portal: Portal) -> None:
    with signed_in(portal) as (browser, _):
        data = portal.sessions.get(portal.session_id(browser))
        assert data is not None
        good: Credentials = data[CREDENTIALS]
        head, payload, signature = good.access_token.split(".")
        forged = ".".join((head, payload, signature[::-1]))  # unexpired, badly signed
        data[CREDENTIALS] = dataclasses.replace(good, access_token=forged)
        page = browser.get(f"{portal.url}/patients", params={"q": "MARTIN"})
        assert page.status_code == 303
        assert page.headers["location"] == "/auth/login?next=%2Fpatients%3Fq%3DMARTIN"
        assert CREDENTIALS not in data


def test_not_signed_in_pages_redirect_to_sign_in_and_apis_answer_401(portal: Portal) -> None:
    with httpx.Client() as browser:
        home = browser.get(f"{portal.url}/")
        assert home.status_code == 200 and find_testids(home, "login")
        page = browser.get(f"{portal.url}/patients", params={"q": "MARTIN"})
        assert page.status_code == 303
        assert page.headers["location"] == "/auth/login?next=%2Fpatients%3Fq%3DMARTIN"
        api = browser.get(f"{portal.url}/api/studies/{CLAIRE_STUDIES[0].id}/series")
        assert api.status_code == 401 and api.json()["title"] == "Not signed in"


def test_after_sign_in_the_browser_lands_where_it_was_going_and_never_off_site(
        portal: Portal) -> None:
    target = f"/patients/{quote(portal.patient_id, safe='')}"
    with signed_in(portal, next_path=target) as (browser, page):
        assert str(page.url) == f"{portal.url}{target}" and find_testids(page, "timeline")
    with signed_in(portal, next_path="https://evil.example/") as (browser, page):
        assert str(page.url) == f"{portal.url}/"


@pytest.mark.parametrize(("value", "safe"), [
    ("/patients?q=x", "/patients?q=x"), ("/", "/"), (None, "/"), ("", "/"),
    ("https://evil.example/", "/"), ("//evil.example/", "/"), ("/\\evil.example", "/"),
    ("patients", "/"), ("/x\r\nSet-Cookie: a=b", "/"),
])
def test_safe_next_accepts_only_paths_of_this_site(value: str | None, safe: str) -> None:
    assert safe_next(value) == safe


def test_unknown_patient_is_a_404_page_and_a_registry_down_a_502_page(portal: Portal) -> None:
    with signed_in(portal) as (browser, _):
        unknown = browser.get(f"{portal.url}/patients/2999999999999")
        assert unknown.status_code == 404 and find_testids(unknown, "error")
        stranger = browser.get(f"{portal.url}/patients/{quote(portal.patient_id, safe='')}",
                               params={"current": "00000000-0000-4000-8000-000000000000"})
        assert stranger.status_code == 404
        up = portal.settings.registry_url, portal.settings.identity_url
        dead = f"http://127.0.0.1:{free_port()}"
        portal.settings.registry_url, portal.settings.identity_url = (
            f"{dead}/registry", f"{dead}/identity")
        try:
            down = browser.get(f"{portal.url}/patients", params={"q": "MARTIN"})
        finally:
            portal.settings.registry_url, portal.settings.identity_url = up
        assert down.status_code == 502 and find_testids(down, "error")
        assert "Registre régional indisponible" in down.text and "Traceback" not in down.text


def test_every_answer_carries_the_security_headers(portal: Portal) -> None:
    answer = httpx.get(f"{portal.url}/")
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self' 'wasm-unsafe-eval'" in csp
    assert "worker-src 'self' blob:" in csp and "frame-ancestors 'none'" in csp
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"
    css = httpx.get(f"{portal.url}/static/portal.css")
    assert css.status_code == 200 and "no-store" not in css.headers.get("cache-control", "")


def test_the_dev_idp_signs_a_demo_user_in_for_a_token_through_its_login_page(
        portal: Portal, idp: DevIdP) -> None:
    """``DevIdP.user_token``: the code flow with PKCE through the login page, the code taken
    from the redirect to the client's callback; a wrong password gets no token."""
    token = idp.user_token("claire.martin", client_id="partage-portal", secret=DEV_PORTAL_SECRET,
                           redirect_base=portal.url)
    principal = portal.settings.token_validator().validate(token)
    assert principal.subject == "claire.martin" and principal.roles == {"patient"}
    assert principal.claims["ins"] == "2801205123456"
    with pytest.raises(IdPError, match="did not come back"):
        idp.user_token("claire.martin", client_id="partage-portal", secret=DEV_PORTAL_SECRET,
                       redirect_base=portal.url, password="wrong")
    with pytest.raises(IdPError):
        idp.user_token("claire.martin", client_id="partage-portal", secret="not-the-secret",
                       redirect_base=portal.url)
