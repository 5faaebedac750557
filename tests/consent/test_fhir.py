"""FHIR Consent export (IHE PCF) over real HTTP, read back with fhir.resources."""

from __future__ import annotations

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.consent import Consent

from tests.consent.conftest import ALICE, BOB, ConsentService

STUDY = "1.2.826.0.1.3680043.8.498.1"
DOCUMENT = "1.2.826.0.1.3680043.8.498.99"
SITE = "1.2.250.1.999.1.2"
BLOCKED, ALLOWED = "10002345678", "10001234567"


def test_current_policy_as_a_consent(consent: ConsentService) -> None:
    consent.put_policy(ALICE, base="share")
    consent.put_policy(ALICE, base="share", emergency_access=False, hidden_studies=[STUDY],
                       hidden_documents=[DOCUMENT], blocked_sites=[SITE],
                       blocked_professionals=[BLOCKED], allowed_professionals=[ALLOWED])
    answer = consent.http.get(f"{consent.url}/patients/{ALICE}/Consent",
                              headers=consent.patient(ALICE))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/fhir+json"
    resource = Consent.model_validate_json(answer.content)
    assert (resource.id, resource.status, resource.meta.versionId) == (ALICE, "active", "2")
    assert resource.patient.identifier.value == ALICE
    assert resource.patient.identifier.system == "urn:oid:1.2.250.1.213.1.4.10"
    assert resource.policyRule.coding[0].code == "OPTOUT"
    assert resource.provision.type == "permit"
    assert resource.provision.purpose[0].code == "TREAT"
    nested = {(p.type, "data" if p.data else "actor" if p.actor else "purpose"): p
              for p in resource.provision.provision}
    assert nested[("deny", "purpose")].purpose[0].code == "ETREAT"
    hidden = {d.reference.identifier.value for d in nested[("deny", "data")].data}
    assert hidden == {f"urn:oid:{STUDY}", f"urn:oid:{DOCUMENT}"}
    denied = {a.reference.identifier.value for a in nested[("deny", "actor")].actor}
    assert denied == {f"urn:oid:{SITE}", f"8{BLOCKED}"}
    allowed = {a.reference.identifier.value for a in nested[("permit", "actor")].actor}
    assert allowed == {f"8{ALLOWED}"}


def test_history_bundle_newest_first(consent: ConsentService) -> None:
    consent.put_policy(BOB, base="block")
    consent.put_policy(BOB, base="share")
    admin = consent.auth("admin", ["region-admin"])
    answer = consent.http.get(f"{consent.url}/patients/{BOB}/Consent/_history", headers=admin)
    assert answer.status_code == 200
    bundle = Bundle.model_validate_json(answer.content)
    assert (bundle.type, bundle.total) == ("history", 2)
    versions = [Consent.model_validate(e.resource.model_dump()) for e in bundle.entry]
    assert [(c.meta.versionId, c.status, c.provision.type) for c in versions] == [
        ("2", "active", "permit"), ("1", "inactive", "deny")]
    assert [e.request.method for e in bundle.entry] == ["PUT", "POST"]
    assert bundle.entry[0].fullUrl.endswith(f"/patients/{BOB}/Consent/{BOB}/_history/2")


def test_no_consent_recorded_is_404_and_an_empty_history(consent: ConsentService) -> None:
    answer = consent.http.get(f"{consent.url}/patients/{ALICE}/Consent",
                              headers=consent.patient(ALICE))
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    answer = consent.http.get(f"{consent.url}/patients/{ALICE}/Consent/_history",
                              headers=consent.patient(ALICE))
    assert Bundle.model_validate_json(answer.content).total == 0
