"""Emergency ("break the glass") grants over real HTTP: granted where the patient allows it,
refused with the decision's reason otherwise; a grant lifts only the base choice, for its
holder, until it expires; each decision says how long it may be cached; each grant is audited
(110127, ETREAT, the reason) and is the patient's notification."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from partage.devissuer import DevIssuer
from tests.consent.conftest import ALICE, BOB, RADIOLOGIST, ConsentService, MovingClock, cx, start

STUDY, HIDDEN = "1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.2"
SITE_A, SITE_B = "1.2.250.1.999.1.1", "1.2.250.1.999.1.2"
REASON = "unconscious after a road accident, suspected brain injury"


@pytest.fixture
def clock() -> MovingClock:
    return MovingClock()


@pytest.fixture
def consent(issuer: DevIssuer, database_url: str, tmp_path: Path,
            clock: MovingClock) -> Iterator[ConsentService]:
    yield from start(issuer, database_url, tmp_path, clock, emergency_duration_s=3600)


def doctor(consent: ConsentService, user: dict[str, Any] = RADIOLOGIST) -> dict[str, str]:
    """The professional's own token headers (name and organisation as the IdP gives them)."""
    return consent.auth(user["sub"], user["roles"], rpps=user["rpps"], name="Dr Sophie Martin",
                        organisation="CHU Nord", organisation_oid=user["organisation_oid"])


def break_glass(consent: ConsentService, ins: str, reason: str = REASON,
                headers: dict[str, str] | None = None) -> httpx.Response:
    return consent.http.post(f"{consent.url}/patients/{ins}/emergency-access",
                             json={"reason": reason}, headers=headers or doctor(consent))


def active(consent: ConsentService, ins: str,
           headers: dict[str, str] | None = None) -> httpx.Response:
    return consent.http.get(f"{consent.url}/patients/{ins}/emergency-access/active",
                            headers=headers or doctor(consent))


def code(answer: dict[str, Any]) -> tuple[bool, str]:
    return answer["permit"], answer["reason"]["code"]


def test_a_grant_lifts_the_base_choice_until_it_expires(consent: ConsentService,
                                                        clock: MovingClock) -> None:
    consent.put_policy(ALICE, base="block", hidden_studies=[HIDDEN])
    denied = consent.decide(ALICE, study_instance_uid=STUDY, site_oid=SITE_A)
    assert code(denied) == (False, "patient-opted-out")
    assert denied["emergency_possible"] is True and denied["max_age_s"] == 0
    assert active(consent, ALICE).status_code == 404

    granted = break_glass(consent, ALICE, f"  {REASON}  ")
    assert granted.status_code == 201, granted.text
    grant = granted.json()
    assert set(grant) == {"id", "patient", "sub", "name", "rpps", "organisation", "reason",
                          "started_at", "expires_at"}
    assert (grant["patient"], grant["sub"], grant["rpps"], grant["reason"]) == (
        cx(ALICE), "dr-martin", "10001234567", REASON)
    assert (grant["name"], grant["organisation"]) == ("Dr Sophie Martin", "CHU Nord")
    assert active(consent, ALICE).json() == grant

    permitted = consent.decide(ALICE, study_instance_uid=STUDY, site_oid=SITE_A)
    assert code(permitted) == (True, "emergency-access") and permitted["emergency_possible"]
    assert permitted["max_age_s"] == 5 and permitted["emergency_reason"] == REASON
    assert denied["emergency_reason"] == ""
    # the hidden study stays hidden, and only the grant's holder is let in
    assert code(consent.decide(ALICE, study_instance_uid=HIDDEN)) == (False, "patient-hid-study")
    colleague = {**RADIOLOGIST, "sub": "dr-lefevre", "rpps": "10007654321"}
    assert code(consent.decide(ALICE, colleague, study_instance_uid=STUDY)) == (
        False, "patient-opted-out")
    # other patients are untouched by it
    consent.put_policy(BOB, base="block")
    assert code(consent.decide(BOB, study_instance_uid=STUDY)) == (False, "patient-opted-out")

    clock.advance(3600 - 3)  # the last seconds: caches keep the answer no longer than the grant
    assert consent.decide(ALICE, study_instance_uid=STUDY)["max_age_s"] == pytest.approx(3, 0.01)
    clock.advance(3)
    assert code(consent.decide(ALICE, study_instance_uid=STUDY)) == (False, "patient-opted-out")
    assert active(consent, ALICE).status_code == 404


def test_the_batch_carries_the_grant_and_cache_ages(consent: ConsentService) -> None:
    consent.put_policy(ALICE, base="block", hidden_studies=[HIDDEN])
    assert break_glass(consent, ALICE).status_code == 201
    body = {"patient": ALICE, "user": RADIOLOGIST,
            "targets": [{"study_instance_uid": STUDY}, {"study_instance_uid": HIDDEN}]}
    answer = consent.http.post(f"{consent.url}/decisions/batch", json=body,
                               headers=consent.service()).json()
    assert [(code(d), d["emergency_possible"], d["max_age_s"]) for d in answer["decisions"]] == [
        ((True, "emergency-access"), True, 5), ((False, "patient-hid-study"), False, 5)]


def test_a_patient_who_later_forbids_emergency_access_stops_the_grant(
        consent: ConsentService) -> None:
    consent.put_policy(ALICE, base="block")
    assert break_glass(consent, ALICE).status_code == 201
    assert code(consent.decide(ALICE, study_instance_uid=STUDY))[0] is True
    consent.put_policy(ALICE, base="block", emergency_access=False)
    denied = consent.decide(ALICE, study_instance_uid=STUDY)
    assert code(denied) == (False, "patient-opted-out")
    assert denied["emergency_possible"] is False and denied["max_age_s"] == 5


def test_refusals_carry_the_reason(consent: ConsentService) -> None:
    def refused(answer: httpx.Response) -> str:
        assert answer.status_code == 403, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        body = answer.json()
        assert body["detail"] and body["detail"] != body["code"]
        return str(body["code"])

    assert refused(break_glass(consent, ALICE, "   ")) == "emergency-reason-missing"
    consent.put_policy(ALICE, emergency_access=False)
    assert refused(break_glass(consent, ALICE)) == "emergency-not-allowed"
    consent.put_policy(BOB, base="block", blocked_professionals=[RADIOLOGIST["rpps"]])
    assert refused(break_glass(consent, BOB)) == "patient-blocked-professional"
    consent.put_policy(BOB, base="block", blocked_sites=[SITE_A])  # the doctor's organisation
    assert refused(break_glass(consent, BOB)) == "patient-blocked-site"
    for roles in (["patient"], ["region-admin"], ["service"], ["site-admin"]):
        headers = consent.auth("someone", roles, ins=ALICE)
        assert refused(break_glass(consent, ALICE, headers=headers)) == "not-a-professional"
        assert active(consent, ALICE, headers).status_code == 403
    # nothing was granted by any of these
    notes = consent.http.get(f"{consent.url}/patients/{ALICE}/notifications",
                             headers=consent.patient(ALICE)).json()
    assert notes["notifications"] == [] and notes["unread"] == 0


def test_bad_requests(consent: ConsentService) -> None:
    url = f"{consent.url}/patients/{ALICE}/emergency-access"
    assert consent.http.post(url, json={"reason": REASON}).status_code == 401
    for body in ({}, {"reason": "x" * 1001}, {"reason": REASON, "sub": "dr-other"}):
        answer = consent.http.post(url, json=body, headers=doctor(consent))
        assert answer.status_code == 400, body
    answer = consent.http.post(f"{consent.url}/patients/1^^^&1.2.3&ISO/emergency-access",
                               json={"reason": REASON}, headers=doctor(consent))
    assert answer.status_code == 400


def test_a_grant_is_audited_and_notified_once(consent: ConsentService) -> None:
    granted = break_glass(consent, ALICE).json()
    bundle = consent.http.get(f"{consent.url}/AuditEvent", params={"patient": ALICE},
                              headers=consent.patient(ALICE)).json()
    emergencies = [e["resource"] for e in bundle["entry"]
                   if any(s["code"] == "110127" for s in e["resource"].get("subtype", []))]
    assert len(emergencies) == 1
    event = emergencies[0]
    assert event["type"]["code"] == "110113"  # Security Alert
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"
    assert event["agent"][0]["altId"] == "10001234567"
    details = [d["valueString"] for e in event["entity"] for d in e.get("detail", [])]
    assert details == [REASON]

    url = f"{consent.url}/patients/{ALICE}/notifications"
    notes = consent.http.get(url, headers=consent.patient(ALICE)).json()
    assert notes["unread"] == 1
    [note] = notes["notifications"]
    assert (note["id"], note["kind"], note["name"], note["rpps"], note["organisation"],
            note["reason"], note["read"]) == (granted["id"], "emergency-access",
                                              "Dr Sophie Martin", "10001234567", "CHU Nord",
                                              REASON, False)
    # someone else's notifications are not theirs to read or mark
    assert consent.http.get(url, headers=consent.patient(BOB)).status_code == 403
    assert consent.http.post(f"{url}/read", json={}, headers=consent.patient(BOB)
                             ).status_code == 403
    assert consent.http.post(f"{url}/read", json={}, headers=doctor(consent)).status_code == 403
    admin = consent.auth("admin", ["region-admin"])
    assert consent.http.get(url, headers=admin).json()["unread"] == 1
    assert consent.http.post(f"{url}/read", json={}, headers=admin).status_code == 403

    marked = consent.http.post(f"{url}/read", json={"ids": [granted["id"]]},
                               headers=consent.patient(ALICE)).json()
    assert marked == {"marked": 1, "unread": 0}
    again = consent.http.post(f"{url}/read", json={}, headers=consent.patient(ALICE)).json()
    assert again == {"marked": 0, "unread": 0}
    assert consent.http.get(url, headers=consent.patient(ALICE)).json()["notifications"][0][
        "read"] is True
