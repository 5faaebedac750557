"""A policy as an HL7 FHIR R4 Consent resource (IHE Privacy Consent on FHIR, PCF), built and
checked with the R4B models of ``fhir.resources`` (Consent did not change from R4 to R4B).

The base provision permits or denies sharing for treatment; nested provisions carry the
exceptions: hidden studies and documents (deny, ``data``), blocked sites and professionals
(deny, ``actor``), professionals allowed by name (permit, ``actor``) and emergency access
(permit or deny for purpose ETREAT). One patient's policy is one Consent whose ``meta.versionId``
is the policy version; its history is a FHIR ``history`` Bundle, newest first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.consent import Consent

from consent.decision import RegionRules, effective_emergency, effective_sharing
from consent.policy import Policy, RegionDefault

V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
V3_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
URI = "urn:ietf:rfc:3986"
DICOM_UID = "urn:dicom:uid"
#: French national professional identifier (IdNat_PS): "8" followed by the RPPS number
IDNAT_PS = "urn:oid:1.2.250.1.71.4.2.1"
#: information recipient: the party the data would be disclosed to
_RECIPIENT = {"coding": [{"system": V3_PARTICIPATION, "code": "IRCP",
                          "display": "information recipient"}]}


def resource_id(patient: str) -> str:
    """The Consent's logical id: the patient's INS, made a valid FHIR id (``[A-Za-z0-9-.]``)."""
    ins = patient.split("^", 1)[0]
    return re.sub(r"[^A-Za-z0-9.\-]", "-", ins)[:64]


def _actor(kind: str, system: str, value: str) -> dict[str, Any]:
    return {"role": _RECIPIENT,
            "reference": {"type": kind, "identifier": {"system": system, "value": value}}}


def _exceptions(policy: Policy, rules: RegionRules) -> list[dict[str, Any]]:
    hidden = [{"meaning": "instance", "reference": {
                  "type": "ImagingStudy",
                  "identifier": {"system": DICOM_UID, "value": f"urn:oid:{uid}"}}}
              for uid in sorted(policy.hidden_studies)]
    hidden += [{"meaning": "instance", "reference": {
                   "type": "DocumentReference",
                   "identifier": {"system": URI, "value": f"urn:oid:{uid}"}}}
               for uid in sorted(policy.hidden_documents)]
    blocked = [_actor("Organization", URI, f"urn:oid:{oid}")
               for oid in sorted(policy.blocked_sites)]
    blocked += [_actor("Practitioner", IDNAT_PS, f"8{rpps}")
                for rpps in sorted(policy.blocked_professionals)]
    allowed = [_actor("Practitioner", IDNAT_PS, f"8{rpps}")
               for rpps in sorted(policy.allowed_professionals)]
    provisions: list[dict[str, Any]] = [
        {"type": "permit" if effective_emergency(policy, rules) else "deny",
         "purpose": [{"system": V3_ACT_REASON, "code": "ETREAT",
                      "display": "emergency treatment"}]},
    ]
    if hidden:
        provisions.append({"type": "deny", "data": hidden})
    if blocked:
        provisions.append({"type": "deny", "actor": blocked})
    if allowed:
        provisions.append({"type": "permit", "actor": allowed})
    return provisions


def consent(policy: Policy, rules: RegionRules, authority: str, *, active: bool = True
            ) -> Consent:
    """The FHIR Consent of one version of ``policy`` (``active`` false: a superseded one)."""
    ins = policy.patient.split("^", 1)[0]
    model = RegionDefault(rules.default)
    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "id": resource_id(policy.patient),
        "meta": {"versionId": str(policy.version)},
        "status": "active" if active else "inactive",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "patient-privacy", "display": "Privacy Consent"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0",
                                  "display": "Patient Consent"}]}],
        "patient": {"identifier": {"system": f"urn:oid:{authority}", "value": ins}},
        "performer": [{"identifier": {"system": URI, "value": policy.author},
                       "display": policy.author_role}],
        # the region's model: OPTOUT shares unless refused, OPTIN only when agreed
        "policyRule": {"coding": [{"system": V3_ACT_CODE,
                                   "code": "OPTOUT" if model is RegionDefault.OPT_OUT
                                   else "OPTIN"}]},
        "provision": {
            "type": "permit" if effective_sharing(policy, rules) else "deny",
            "purpose": [{"system": V3_ACT_REASON, "code": "TREAT", "display": "treatment"}],
            "provision": _exceptions(policy, rules),
        },
    }
    if policy.created_at is not None:
        resource["meta"]["lastUpdated"] = policy.created_at.isoformat()
        resource["dateTime"] = policy.created_at.isoformat()
    return Consent.model_validate(resource)


def history(versions: Sequence[Policy], rules: RegionRules, authority: str, base_url: str
            ) -> Bundle:
    """The ``history`` Bundle of a patient's Consent, newest version first."""
    entries = []
    for policy in sorted(versions, key=lambda p: p.version, reverse=True):
        resource = consent(policy, rules, authority, active=policy is versions[-1])
        entry: dict[str, Any] = {
            "fullUrl": f"{base_url}/Consent/{resource.id}/_history/{policy.version}",
            "resource": resource.model_dump(mode="json", exclude_none=True),
            "request": {"method": "POST" if policy.version == 1 else "PUT",
                        "url": f"Consent/{resource.id}" if policy.version > 1 else "Consent"},
            "response": {"status": "201 Created" if policy.version == 1 else "200 OK",
                         "etag": f'W/"{policy.version}"'},
        }
        if policy.created_at is not None:
            entry["response"]["lastModified"] = policy.created_at.isoformat()
        entries.append(entry)
    return Bundle.model_validate({"resourceType": "Bundle", "type": "history",
                                  "total": len(entries), "entry": entries})
