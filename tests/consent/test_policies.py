"""Policies over real HTTP: versions, history, who may read and write, bad input."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import httpx

from tests.consent.conftest import ALICE, BOB, ConsentService, cx

STUDY = "1.2.826.0.1.3680043.8.498.1"
SITE = "1.2.250.1.999.1.2"


def test_health_needs_no_token(consent: ConsentService) -> None:
    assert consent.http.get(f"{consent.url}/health").json() == {"status": "ok"}


def test_never_chosen_is_version_0_at_region_defaults(consent: ConsentService) -> None:
    answer = consent.http.get(f"{consent.url}/patients/{ALICE}/policy",
                              headers=consent.patient(ALICE))
    assert answer.status_code == 200
    assert answer.headers["ETag"] == '"0"'
    body = answer.json()
    assert (body["patient"], body["version"], body["base"]) == (cx(ALICE), 0, "default")
    assert body["effective"] == {"region_default": "opt-out", "sharing": True,
                                 "emergency_access": True}


def test_every_change_is_a_new_version_with_its_author(consent: ConsentService) -> None:
    first = consent.put_policy(ALICE, hidden_studies=[STUDY])
    assert first.status_code == 200, first.text
    second = consent.put_policy(ALICE, base="block", emergency_access=False,
                                blocked_sites=[SITE])
    assert second.status_code == 200 and second.headers["ETag"] == '"2"'
    current = consent.http.get(f"{consent.url}/patients/{ALICE}/policy",
                               headers=consent.patient(ALICE)).json()
    assert current["version"] == 2 and current["hidden_studies"] == []
    assert current["blocked_sites"] == [SITE]
    assert current["effective"]["sharing"] is False
    assert current["effective"]["emergency_access"] is False
    history = consent.http.get(f"{consent.url}/patients/{ALICE}/policy/history",
                               headers=consent.patient(ALICE)).json()
    assert [v["version"] for v in history["versions"]] == [1, 2]
    assert history["versions"][0]["hidden_studies"] == [STUDY]  # the old version is kept
    assert {v["author"] for v in history["versions"]} == {f"patient-{ALICE}"}
    assert all(v["author_role"] == "patient" and v["created_at"] for v in history["versions"])


def test_cx_and_bare_ins_name_the_same_policy(consent: ConsentService) -> None:
    consent.put_policy(ALICE, base="share")
    answer = consent.http.get(f"{consent.url}/patients/{quote(cx(ALICE), safe='')}/policy",
                              headers=consent.patient(ALICE))
    assert answer.status_code == 200 and answer.json()["base"] == "share"


def test_a_patient_cannot_read_or_edit_another_patients_policy(consent: ConsentService) -> None:
    url = f"{consent.url}/patients/{BOB}/policy"
    for answer in (consent.http.get(url, headers=consent.patient(ALICE)),
                   consent.http.get(f"{url}/history", headers=consent.patient(ALICE)),
                   consent.http.get(f"{consent.url}/patients/{BOB}/Consent",
                                    headers=consent.patient(ALICE)),
                   consent.http.put(url, json={"base": "block"},
                                    headers=consent.patient(ALICE))):
        assert answer.status_code == 403
        assert answer.headers["content-type"] == "application/problem+json"
    assert consent.http.get(url, headers=consent.patient(BOB)).json()["version"] == 0


def test_region_admin_reads_any_policy_but_changes_none(consent: ConsentService) -> None:
    consent.put_policy(BOB, base="block")
    admin = consent.auth("admin", ["region-admin"])
    url = f"{consent.url}/patients/{BOB}/policy"
    assert consent.http.get(url, headers=admin).json()["base"] == "block"
    assert consent.http.get(f"{url}/history", headers=admin).status_code == 200
    assert consent.http.put(url, json={"base": "share"}, headers=admin).status_code == 403


def test_professionals_and_services_cannot_read_policies(consent: ConsentService) -> None:
    url = f"{consent.url}/patients/{ALICE}/policy"
    assert consent.http.get(url, headers=consent.auth("dr", ["radiologist"])).status_code == 403
    assert consent.http.get(url, headers=consent.service()).status_code == 403
    # a "patient" without the matching ins claim is not that patient
    assert consent.http.get(url, headers=consent.auth("p", ["patient"])).status_code == 403


def test_no_token_or_a_bad_one_is_401(consent: ConsentService) -> None:
    url = f"{consent.url}/patients/{ALICE}/policy"
    assert consent.http.get(url).status_code == 401
    forged = consent.issuer.token("x", ["patient"], ins=ALICE, iss="http://elsewhere")
    answer = consent.http.get(url, headers={"Authorization": f"Bearer {forged}"})
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert "invalid_token" in answer.headers["WWW-Authenticate"]


def test_bad_input_is_a_400_problem(consent: ConsentService) -> None:
    bad = [{"base": "maybe"}, {"hidden_studies": ["not a uid"]}, {"blocked_sites": ["1.02"]},
           {"blocked_professionals": ["123"]}, {"unknown": True},
           {"blocked_professionals": ["10001234567"], "allowed_professionals": ["10001234567"]}]
    for body in bad:
        answer = consent.put_policy(ALICE, **body)
        assert answer.status_code == 400, body
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["detail"]
    foreign = quote("123^^^&1.2.3&ISO", safe="")
    answer = consent.http.get(f"{consent.url}/patients/{foreign}/policy",
                              headers=consent.patient(ALICE))
    assert answer.status_code == 400 and "regional" in answer.json()["detail"]
    # nothing of it was recorded
    history = consent.http.get(f"{consent.url}/patients/{ALICE}/policy/history",
                               headers=consent.patient(ALICE)).json()
    assert history["versions"] == []


def test_if_match_refuses_a_change_based_on_an_old_version(consent: ConsentService) -> None:
    consent.put_policy(ALICE, base="share")
    url = f"{consent.url}/patients/{ALICE}/policy"
    stale = consent.http.put(url, json={"base": "block"},
                             headers={**consent.patient(ALICE), "If-Match": '"0"'})
    assert stale.status_code == 412
    fresh = consent.http.put(url, json={"base": "block"},
                             headers={**consent.patient(ALICE), "If-Match": '"1"'})
    assert fresh.status_code == 200 and fresh.json()["version"] == 2


def test_concurrent_changes_never_share_a_version(consent: ConsentService) -> None:
    def change(i: int) -> httpx.Response:
        with httpx.Client(timeout=30) as http:
            return http.put(f"{consent.url}/patients/{ALICE}/policy",
                            json={"hidden_studies": [f"{STUDY}.{i}"]},
                            headers=consent.patient(ALICE))

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(change, range(16)))
    print("\nconcurrent changes:", Counter(a.status_code for a in answers))
    assert {a.status_code for a in answers} <= {200, 409}
    recorded = sorted(a.json()["version"] for a in answers if a.status_code == 200)
    history = consent.http.get(f"{consent.url}/patients/{ALICE}/policy/history",
                               headers=consent.patient(ALICE)).json()["versions"]
    assert recorded == [v["version"] for v in history] == list(range(1, len(history) + 1))
