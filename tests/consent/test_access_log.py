"""The patient's access log over real HTTP, built from audit records posted as the gateways post
them (only successful reads of their studies: no refusals, publishes or queries), and the
consent service's own consent-change audits, stored with each policy version."""

from __future__ import annotations

from datetime import UTC, datetime

import ihe.atna as atna
from tests.consent.conftest import ALICE, BOB, ConsentService, cx

LEFEVRE = atna.ActiveParticipant("dr-lefevre", True, "Dr Antoine Lefèvre", "10007654321",
                                 organisation="Centre d'imagerie Sud")
GATEWAY = atna.AuditSource("gateway-a", "1.2.250.1.999.1.1")
STUDY, OTHER = "1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.2"


def when(hour: int) -> datetime:
    return datetime(2026, 11, 27, hour, tzinfo=UTC)


def post(consent: ConsentService, message: atna.AuditMessage) -> None:
    answer = consent.http.post(f"{consent.url}/audit", content=message.to_bytes(),
                               headers=consent.auth("gateway-a", ["site-gateway"]))
    assert answer.status_code == 201, answer.text


def read(ins: str, hour: int, *, study: str = STUDY, reason: str = "",
         outcome: atna.EventOutcomeIndicator = atna.EventOutcomeIndicator.SUCCESS,
         transaction: atna.enum.Code = atna.enum.RAD_69,
         event: atna.EventID = atna.EventID.EXPORT) -> atna.AuditMessage:
    return atna.access(event=event, transaction=transaction, when=when(hour), user=LEFEVRE,
                       source=GATEWAY, patient_id=cx(ins), study_uids=(study,),
                       emergency_reason=reason, outcome=outcome,
                       purpose_of_use="ETREAT" if reason else "TREAT")


def test_the_access_log_lists_successful_reads_only(consent: ConsentService) -> None:
    post(consent, read(ALICE, 8))
    post(consent, read(ALICE, 9, study=OTHER, reason="coma after a fall"))
    post(consent, read(ALICE, 10, event=atna.EventID.INSTANCES_ACCESSED))
    post(consent, read(ALICE, 11, outcome=atna.EventOutcomeIndicator.MINOR_FAILURE))  # refused
    post(consent, read(ALICE, 12, transaction=atna.enum.RAD_68))  # a publish, not a read
    post(consent, atna.query(when=when(13), user=LEFEVRE, source=GATEWAY, patient_id=cx(ALICE),
                             query_bytes=b"<AdhocQuery/>"))
    post(consent, read(BOB, 14))
    log = consent.http.get(f"{consent.url}/patients/{ALICE}/access-log",
                           headers=consent.patient(ALICE))
    assert log.status_code == 200, log.text
    body = log.json()
    assert body["patient"] == cx(ALICE)
    accesses = body["accesses"]
    assert [(a["time"][11:13], a["event"], a["transaction"]) for a in accesses] == [
        ("10", "110103", "RAD-69"), ("09", "110106", "RAD-69"), ("08", "110106", "RAD-69")]
    emergency = accesses[1]
    assert emergency["user"] == {"sub": "dr-lefevre", "name": "Dr Antoine Lefèvre",
                                 "rpps": "10007654321", "organisation": "Centre d'imagerie Sud"}
    assert (emergency["studies"], emergency["site"], emergency["purpose"],
            emergency["emergency"], emergency["emergency_reason"]) == (
        [OTHER], "1.2.250.1.999.1.1", "ETREAT", True, "coma after a fall")
    assert accesses[2]["emergency"] is False and accesses[2]["purpose"] == "TREAT"


def test_only_the_patient_and_region_admins_read_the_log(consent: ConsentService) -> None:
    url = f"{consent.url}/patients/{ALICE}/access-log"
    assert consent.http.get(url).status_code == 401
    for headers in (consent.patient(BOB), consent.auth("dr-lefevre", ["radiologist"]),
                    consent.service()):
        answer = consent.http.get(url, headers=headers)
        assert answer.status_code == 403
        assert answer.headers["content-type"] == "application/problem+json"
    assert consent.http.get(url, headers=consent.auth("admin", ["region-admin"])
                            ).status_code == 200


def test_each_policy_version_is_audited_with_what_changed(consent: ConsentService) -> None:
    consent.put_policy(ALICE, base="block")
    consent.put_policy(ALICE, base="block", hidden_studies=[STUDY])
    refused = consent.http.put(f"{consent.url}/patients/{ALICE}/policy", json={"base": "share"},
                               headers=consent.patient(BOB))
    assert refused.status_code == 403
    bundle = consent.http.get(f"{consent.url}/AuditEvent", params={"patient": ALICE},
                              headers=consent.patient(ALICE)).json()
    changes = [e["resource"] for e in bundle["entry"]
               if e["resource"]["subtype"][0]["code"] == "consent-change"]
    assert [d["valueString"] for c in changes for d in c["entity"][0]["detail"]] == [
        f"version 2: hidden studies: + {STUDY}", "version 1: sharing: default → block"]
    assert {c["agent"][0]["who"]["identifier"]["value"] for c in changes} == {
        f"patient-{ALICE}"}
    assert all(c["type"]["code"] == "110110" and c["action"] == "U" for c in changes)
    # an audit of a consent change is not an access: the log stays empty
    log = consent.http.get(f"{consent.url}/patients/{ALICE}/access-log",
                           headers=consent.patient(ALICE)).json()
    assert log["accesses"] == []
    history = consent.http.get(f"{consent.url}/patients/{ALICE}/policy/history",
                               headers=consent.patient(ALICE)).json()
    assert [v["changes"] for v in history["versions"]] == [
        ["sharing: default → block"], [f"hidden studies: + {STUDY}"]]
