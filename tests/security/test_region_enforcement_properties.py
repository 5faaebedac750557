"""Property, end to end over HTTP in the whole region on loopback (development IdP, consent
service, registry, repository, two sites with their Orthanc and gateway, the portal): whatever
the patients choose, no portal page, no portal image route and no gateway response shows a
professional a study the decision API denies them, and every (professional, study, purpose)
that was permitted left exactly one access record in the patient's access log — none for what
was refused.

Hypothesis draws both patients' policies (base, emergency access, hidden studies, blocked sites,
blocked or allowed professionals) and which professionals break the glass for whom; each
patient writes their policy with their own token, grants are asked with the professional's. Then
every professional (two radiologists of different sites, a physician), signed in to the portal
through the IdP's login page, opens each patient's page and each study's image listing, and asks
the owning gateway for each study's metadata with their own token. The oracle is the consent
service's ``POST /decisions/batch`` asked as a region service. Services act on decisions at once
(``consent_cache_s=0``) so each drawn policy is the one judged. A case is one (policies, user,
study, request kind) judged; the counts are printed. The in-process property test beside this
one (``test_enforcement_properties.py``) covers every ITI-18 query and many more cases.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partage.auth import Principal
from partage.consent import ConsentUser
from partage.demo_sites import SITES, DemoPatient
from partage.idp import DEV_PORTAL_SECRET
from partage.region import Region, ports_for
from partage.regional_studies import StudyEntry, find_studies
from partage.settings import ServiceSettings
from portal.core.config import PortalSettings
from tests.portal.consent_region import PAUL, SITE_A, SITE_B, spec
from tests.portal.support import portal_sign_in

#: examples drawn; each judges 3 users × 5 studies × 3 request kinds = 45 cases
EXAMPLES = 24
PROFESSIONALS = {"dr.martin": "10001234567", "dr.lefevre": "10007654321",
                 "dr.roux": "10002345678"}
#: Jeanne PETIT known at both sites here
JEANNE = DemoPatient("2620875123458", "PETIT", "Jeanne", "19620815", "F",
                     (("a", "IPP-A-3001"), ("b", "CIS-50033")))
PATIENTS = {"paul.durand": PAUL, "jeanne.petit": JEANNE}
SPECS = {
    "paul.durand": [spec(PAUL, "a", "CT", "CT THORAX", "20250110"),
                    spec(PAUL, "b", "MR", "IRM CEREBRALE", "20240305"),
                    spec(PAUL, "a", "CR", "RADIO GENOU", "20190807")],
    "jeanne.petit": [spec(JEANNE, "a", "CR", "RADIO THORAX", "20250201"),
                     spec(JEANNE, "b", "MR", "IRM GENOU", "20230918")],
}
SITE_OIDS = (SITE_A.oid, SITE_B.oid)
ROW = re.compile(r'data-testid="study-row" data-study-id="([^"]+)"')
NOTICE = re.compile(r'data-testid="hidden-notice" data-count="(\d+)"')


@dataclass
class World:
    region: Region
    #: every study's registry entry by patient login, as a region service sees them
    entries: dict[str, list[StudyEntry]]
    patient_tokens: dict[str, str]
    user_tokens: dict[str, str]
    #: each professional's portal session (cookies of a browser signed in through the IdP)
    browsers: dict[str, httpx.Client]
    service_token: str
    http: httpx.Client
    #: each professional as the services see them (their token validated)
    users: dict[str, Principal] = field(default_factory=dict)

    def headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with Region(tmp_path_factory.mktemp("region"), ports_for(SITES), SITES,
                consent_cache_s=0) as region:
        region.feed(PATIENTS.values())
        for site in SITES:
            region.start_site(site, [s for specs in SPECS.values() for s in specs
                                     if s.institution == site.name], sweep_days=3650)
        for site in SITES:
            region.wait_published(site.key, sum(s.institution == site.name
                                                for specs in SPECS.values() for s in specs))
        region.start_portal()
        service = region.service_token()
        reader = PortalSettings(registry_url=f"{region.registry.url}/registry")
        entries = {login: find_studies(reader, service, patient.cx).studies
                   for login, patient in PATIENTS.items()}
        browsers = {login: httpx.Client(timeout=60) for login in PROFESSIONALS}
        try:
            for login, browser in browsers.items():
                portal_sign_in(browser, region.portal_url, login)
            world = World(
                region, entries,
                {login: region.user_token(login) for login in PATIENTS},
                {login: region.idp.user_token(login, client_id="partage-portal",
                                              secret=DEV_PORTAL_SECRET,
                                              redirect_base=region.portal_url)
                 for login in PROFESSIONALS},
                browsers, service, httpx.Client(timeout=60))
            validator = ServiceSettings(issuer=region.idp.issuer).token_validator()
            world.users = {login: validator.validate(token)
                           for login, token in world.user_tokens.items()}
            yield world
        finally:
            for browser in browsers.values():
                browser.close()


def policy_for(login: str) -> st.SearchStrategy[dict[str, object]]:
    studies = [s.study_instance_uid for s in SPECS[login]]
    rpps = list(PROFESSIONALS.values())
    return st.tuples(
        st.sampled_from(["default", "share", "block"]),
        st.sampled_from([None, True, False]),
        st.sets(st.sampled_from(studies), max_size=2),
        st.sets(st.sampled_from(SITE_OIDS), max_size=1),
        st.sets(st.sampled_from(rpps), max_size=1),
        st.sets(st.sampled_from(rpps), max_size=2),
    ).map(lambda t: {"base": t[0], "emergency_access": t[1], "hidden_studies": sorted(t[2]),
                     "blocked_sites": sorted(t[3]), "blocked_professionals": sorted(t[4]),
                     "allowed_professionals": sorted(t[5] - t[4])})


def oracle(world: World, login: str, patient_login: str) -> dict[str, dict[str, object]]:
    """The decision API's answer for each of the patient's studies, by Study Instance UID, about
    the user as their validated token describes them."""
    user = ConsentUser.from_principal(world.users[login])
    entries = world.entries[patient_login]
    answer = world.http.post(
        f"{world.region.consent_url}/decisions/batch", headers=world.headers(world.service_token),
        json={"patient": PATIENTS[patient_login].cx, "purpose_of_use": "TREAT",
              "user": user.body(),
              "targets": [{"study_instance_uid": e.study_instance_uid,
                           "document_unique_id": e.unique_id, "site_oid": e.site_oid}
                          for e in entries]})
    assert answer.status_code == 200, answer.text
    return {e.study_instance_uid: d
            for e, d in zip(entries, answer.json()["decisions"], strict=True)}


def judge(world: World, paul: dict[str, object], jeanne: dict[str, object],
          grants: set[tuple[str, str]], counts: Counter[str],
          permitted_accesses: set[tuple[str, str, str, str]]) -> None:
    """One example: the patients write their policies, professionals break the glass, then
    every professional's page, image listing and gateway answer is judged against the oracle;
    ``counts`` and ``permitted_accesses`` grow."""
    region = world.region
    for login, policy in (("paul.durand", paul), ("jeanne.petit", jeanne)):
        written = world.http.put(
            f"{region.consent_url}/patients/{PATIENTS[login].ins}/policy", json=policy,
            headers=world.headers(world.patient_tokens[login]))
        assert written.status_code == 200, written.text
    for user, patient in sorted(grants):
        asked = world.http.post(
            f"{region.consent_url}/patients/{PATIENTS[patient].ins}/emergency-access",
            json={"reason": "property test: patient unconscious"},
            headers=world.headers(world.user_tokens[user]))
        assert asked.status_code in (201, 403), asked.text

    for login, browser in world.browsers.items():
        for patient_login, patient in PATIENTS.items():
            decisions = oracle(world, login, patient_login)
            entries = world.entries[patient_login]
            page = browser.get(f"{region.portal_url}/patients/{quote(patient.cx, safe='')}")
            assert page.status_code == 200, page.text[:500]
            shown = set(ROW.findall(page.text))
            notice = NOTICE.search(page.text)
            denied = [e for e in entries if not decisions[e.study_instance_uid]["permit"]]
            assert (int(notice.group(1)) if notice else 0) == len(denied), (login, decisions)
            for entry in entries:
                decision = decisions[entry.study_instance_uid]
                permit = bool(decision["permit"])
                outcome = "permitted" if permit else "denied"
                # the portal's page: listed exactly when permitted, never named otherwise
                assert (entry.id in shown) == permit, (login, entry, decision)
                if not permit:
                    for secret in (entry.id, entry.study_instance_uid, entry.accession):
                        assert secret not in page.text, (login, secret, decision)
                counts[f"portal page {outcome}"] += 1
                # the portal's image route (the viewer's series listing)
                listing = browser.get(f"{region.portal_url}/api/studies/{entry.id}/series")
                assert listing.status_code == (200 if permit else 403), (login, entry, listing.text)
                counts[f"portal images {outcome}"] += 1
                # the owning gateway, asked directly with the professional's own token
                gateway = region.gateway_url("a" if entry.site_oid == SITE_A.oid else "b")
                pixels = world.http.get(
                    f"{gateway}/wado-rs/studies/{entry.study_instance_uid}/metadata",
                    headers={**world.headers(world.user_tokens[login]),
                             "Accept": "application/dicom+json"})
                assert pixels.status_code == (200 if permit else 403), (login, entry, pixels.text)
                counts[f"gateway {outcome}"] += 1
                if permit:
                    purpose = "ETREAT" if decision["reason"]["code"] == "emergency-access" \
                        else "TREAT"
                    permitted_accesses.add((patient_login, PROFESSIONALS[login],
                                            entry.study_instance_uid, purpose))


def test_nothing_denied_is_shown_and_each_permitted_access_is_recorded_once(
        world: World, record_property: Callable[[str, object], None]) -> None:
    """The property over the drawn examples, then the access logs: the gateways record one
    access per (user, study, purpose) per audit window (10 min, longer than this test),
    refusals not as reads; delivered in the background, so the logs are read until they
    settle."""
    counts: Counter[str] = Counter()
    permitted_accesses: set[tuple[str, str, str, str]] = set()

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(paul=policy_for("paul.durand"), jeanne=policy_for("jeanne.petit"),
           grants=st.sets(st.tuples(st.sampled_from(sorted(PROFESSIONALS)),
                                    st.sampled_from(sorted(PATIENTS))), max_size=2))
    def check(paul: dict[str, object], jeanne: dict[str, object],
              grants: set[tuple[str, str]]) -> None:
        judge(world, paul, jeanne, grants, counts, permitted_accesses)

    check()
    assert permitted_accesses, "the property judged nothing"
    admin = world.region.user_token("admin")

    def recorded() -> Counter[tuple[str, str, str, str]]:
        found: Counter[tuple[str, str, str, str]] = Counter()
        for login, patient in PATIENTS.items():
            log = world.http.get(f"{world.region.consent_url}/patients/{patient.ins}/access-log",
                                 headers=world.headers(admin))
            assert log.status_code == 200, log.text
            for access in log.json()["accesses"]:
                purpose = "ETREAT" if access["emergency"] else "TREAT"
                for study in access["studies"]:
                    found[(login, access["user"]["rpps"], study, purpose)] += 1
        return found

    deadline = time.monotonic() + 30
    found = recorded()
    while set(found) != permitted_accesses and time.monotonic() < deadline:
        time.sleep(0.5)
        found = recorded()
    time.sleep(1.0)  # anything late and extra would show now
    found = recorded()
    kinds = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    record_property("counts", f"region enforcement property: {sum(counts.values())} cases — "
                              f"{kinds}; {len(permitted_accesses)} (user, study, purpose) "
                              f"accesses, {sum(found.values())} access records")
    assert set(found) == permitted_accesses
    assert all(n == 1 for n in found.values()), {k: n for k, n in found.items() if n != 1}
    assert counts["gateway permitted"] and counts["gateway denied"]
