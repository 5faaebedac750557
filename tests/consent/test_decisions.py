"""The decision API over real HTTP: every rule, the batch form, who may ask, bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from partage.devissuer import DevIssuer
from tests.consent.conftest import ALICE, BOB, RADIOLOGIST, ConsentService, cx, start

STUDY, OTHER_STUDY = "1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.2"
DOCUMENT = "1.2.826.0.1.3680043.8.498.99"
SITE_A, SITE_B = "1.2.250.1.999.1.1", "1.2.250.1.999.1.2"
PHYSICIAN = {"sub": "dr-durand", "rpps": "10002345678", "roles": ["physician"],
             "organisation_oid": "1.2.250.1.999.1.3"}


def reason(answer: dict[str, object]) -> tuple[bool, str]:
    return answer["permit"], answer["reason"]["code"]  # type: ignore[index,return-value]


def test_opt_out_region_shares_until_the_patient_objects(consent: ConsentService) -> None:
    answer = consent.decide(ALICE, study_instance_uid=STUDY, site_oid=SITE_A)
    assert reason(answer) == (True, "region-opt-out") and answer["policy_version"] == 0
    assert answer["reason"]["text"]  # type: ignore[index]
    consent.put_policy(ALICE, base="block")
    answer = consent.decide(cx(ALICE), study_instance_uid=STUDY)
    assert reason(answer) == (False, "patient-opted-out") and answer["policy_version"] == 1
    consent.put_policy(ALICE, base="share")
    assert reason(consent.decide(ALICE)) == (True, "patient-opted-in")


def test_hidden_study_and_document(consent: ConsentService) -> None:
    consent.put_policy(ALICE, base="share", hidden_studies=[STUDY], hidden_documents=[DOCUMENT],
                       allowed_professionals=[RADIOLOGIST["rpps"]])
    assert reason(consent.decide(ALICE, study_instance_uid=STUDY)) == (False,
                                                                       "patient-hid-study")
    assert reason(consent.decide(ALICE, document_unique_id=DOCUMENT)) == (False,
                                                                          "patient-hid-study")
    emergency = consent.decide(ALICE, study_instance_uid=STUDY, purpose_of_use="ETREAT",
                               emergency_reason="unconscious, suspected stroke")
    assert reason(emergency) == (False, "patient-hid-study")
    text = consent.decide(ALICE, study_instance_uid=STUDY)["reason"]["text"]  # type: ignore
    assert STUDY not in text and "patient's request" in text
    assert reason(consent.decide(ALICE, study_instance_uid=OTHER_STUDY))[0] is True


def test_blocked_site_as_source_and_as_the_users_organisation(consent: ConsentService) -> None:
    consent.put_policy(ALICE, base="share", blocked_sites=[SITE_B])
    assert reason(consent.decide(ALICE, study_instance_uid=STUDY, site_oid=SITE_B)) == (
        False, "patient-blocked-site")
    at_b = {**PHYSICIAN, "organisation_oid": SITE_B}
    assert reason(consent.decide(ALICE, at_b, study_instance_uid=STUDY, site_oid=SITE_A)) == (
        False, "patient-blocked-site")
    assert reason(consent.decide(ALICE, study_instance_uid=STUDY, site_oid=SITE_A))[0] is True


def test_blocked_and_allowed_professionals(consent: ConsentService) -> None:
    consent.put_policy(ALICE, base="block", blocked_professionals=[PHYSICIAN["rpps"]],
                       allowed_professionals=[RADIOLOGIST["rpps"]])
    assert reason(consent.decide(ALICE, RADIOLOGIST)) == (True, "patient-allowed-professional")
    assert reason(consent.decide(ALICE, PHYSICIAN)) == (False, "patient-blocked-professional")
    emergency = consent.decide(ALICE, PHYSICIAN, purpose_of_use="ETREAT",
                               emergency_reason="cardiac arrest")
    assert reason(emergency) == (False, "patient-blocked-professional")
    other = {**PHYSICIAN, "rpps": "10009999999", "sub": "dr-other"}
    assert reason(consent.decide(ALICE, other)) == (False, "patient-opted-out")


def test_emergency_access(consent: ConsentService) -> None:
    consent.put_policy(ALICE, base="block")
    assert reason(consent.decide(ALICE, purpose_of_use="ETREAT")) == (
        False, "emergency-reason-missing")
    assert reason(consent.decide(ALICE, purpose_of_use="ETREAT", emergency_reason="coma")) == (
        True, "emergency-access")
    consent.put_policy(ALICE, base="share", emergency_access=False)
    assert reason(consent.decide(ALICE, purpose_of_use="ETREAT", emergency_reason="coma")) == (
        False, "emergency-not-allowed")
    assert reason(consent.decide(ALICE))[0] is True  # ordinary care is unaffected


def test_not_a_professional_and_purpose_not_allowed(consent: ConsentService) -> None:
    for roles in ([], ["patient"], ["region-admin"], ["service"]):
        user = {"sub": "someone", "roles": roles}
        assert reason(consent.decide(ALICE, user)) == (False, "not-a-professional")
    assert reason(consent.decide(ALICE, purpose_of_use="HRESCH")) == (False,
                                                                      "purpose-not-allowed")


def test_batch_decides_each_target_in_order(consent: ConsentService) -> None:
    consent.put_policy(BOB, hidden_studies=[STUDY], blocked_sites=[SITE_B])
    targets = [{"study_instance_uid": STUDY, "site_oid": SITE_A},
               {"study_instance_uid": OTHER_STUDY, "site_oid": SITE_A},
               {"study_instance_uid": OTHER_STUDY, "site_oid": SITE_B},
               {"document_unique_id": DOCUMENT}]
    answer = consent.http.post(f"{consent.url}/decisions/batch", headers=consent.service(),
                               json={"patient": BOB, "user": RADIOLOGIST, "targets": targets})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["patient"] == cx(BOB) and body["policy_version"] == 1
    assert [reason(d) for d in body["decisions"]] == [
        (False, "patient-hid-study"), (True, "region-opt-out"),
        (False, "patient-blocked-site"), (True, "region-opt-out")]
    assert [d["target"]["study_instance_uid"] for d in body["decisions"]] == [
        STUDY, OTHER_STUDY, OTHER_STUDY, ""]


def test_who_may_ask(consent: ConsentService) -> None:
    url = f"{consent.url}/decisions"
    body = {"patient": ALICE, "user": RADIOLOGIST}
    assert consent.http.post(url, json=body).status_code == 401
    gateway = consent.auth("gateway-a", ["site-gateway"])
    assert consent.http.post(url, json=body, headers=gateway).status_code == 200
    himself = consent.auth(RADIOLOGIST["sub"], ["radiologist"])  # type: ignore[arg-type]
    assert consent.http.post(url, json=body, headers=himself).status_code == 200
    someone_else = consent.auth("dr-durand", ["physician"])
    refused = consent.http.post(url, json=body, headers=someone_else)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    patient = consent.patient(ALICE)
    assert consent.http.post(url, json=body, headers=patient).status_code == 403


def test_bad_decision_requests_are_400_problems(consent: ConsentService) -> None:
    url = f"{consent.url}/decisions"
    for body in ({"user": RADIOLOGIST}, {"patient": ALICE},
                 {"patient": "1^^^&1.2.3&ISO", "user": RADIOLOGIST},
                 {"patient": ALICE, "user": RADIOLOGIST, "study_instance_uid": 3},
                 {"patient": ALICE, "user": {**RADIOLOGIST, "roles": "radiologist"}}):
        answer = consent.http.post(url, json=body, headers=consent.service())
        assert answer.status_code == 400, body
        assert answer.headers["content-type"] == "application/problem+json"
    too_many = {"patient": ALICE, "user": RADIOLOGIST, "targets": [{}] * 5001}
    answer = consent.http.post(f"{url}/batch", json=too_many, headers=consent.service())
    assert answer.status_code == 400


@pytest.fixture
def opt_in(issuer: DevIssuer, database_url: str, tmp_path: Path) -> Iterator[ConsentService]:
    yield from start(issuer, database_url, tmp_path, region_default="opt-in",
                     emergency_default=False)


def test_opt_in_region_shares_only_what_the_patient_agreed(opt_in: ConsentService) -> None:
    assert reason(opt_in.decide(ALICE)) == (False, "patient-not-opted-in")
    assert reason(opt_in.decide(ALICE, purpose_of_use="ETREAT", emergency_reason="coma")) == (
        False, "emergency-not-allowed")
    policy = opt_in.http.get(f"{opt_in.url}/patients/{ALICE}/policy",
                             headers=opt_in.patient(ALICE)).json()
    assert policy["effective"] == {"region_default": "opt-in", "sharing": False,
                                   "emergency_access": False}
    opt_in.put_policy(ALICE, base="share", emergency_access=True)
    assert reason(opt_in.decide(ALICE)) == (True, "patient-opted-in")
    assert reason(opt_in.decide(ALICE, purpose_of_use="ETREAT", emergency_reason="coma")) == (
        True, "emergency-access")
