"""Stored audit messages as FHIR R4 AuditEvent resources in a searchset Bundle (ITI-81 style,
the DICOM → FHIR mapping of the FHIR AuditEvent page, "DICOM audit message" section). Built
by hand: plain JSON, checked against fhir.resources' models in the tests."""

from __future__ import annotations

import base64
from typing import Any

from consent.audit.models import AuditRecord
from ihe.atna import AuditMessage
from ihe.atna.enum import Code

DCM = "http://dicom.nema.org/resources/ontology/DCM"
#: code systems of the audit XML's codeSystemName, as FHIR URIs
SYSTEMS = {"DCM": DCM, "IHE Transactions": "urn:ihe:event-type-code",
           "RFC-3881": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
           "2.16.840.1.113883.5.8": "http://terminology.hl7.org/CodeSystem/v3-ActReason"}
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
NETWORK_TYPE = {1: "1", 2: "2"}


def coding(code: Code) -> dict[str, str]:
    system = SYSTEMS.get(code[1], code[1] if ":" in code[1] else f"urn:oid:{code[1]}")
    return {"system": system, "code": code[0], "display": code[2]}


def audit_event(record: AuditRecord) -> dict[str, Any]:
    message = AuditMessage.from_bytes(record.xml)
    event = message.event
    agents = []
    for p in message.participants:
        agent: dict[str, Any] = {"requestor": p.is_requestor,
                                 "who": {"identifier": {"value": p.user_id}}}
        if p.user_name:
            agent["name"] = p.user_name
        if p.alternative_id:
            agent["altId"] = p.alternative_id
        if p.roles:
            agent["role"] = [{"coding": [coding(r)]} for r in p.roles]
        if p.organisation:
            agent["location"] = {"display": p.organisation}
        if p.network_access_point:
            agent["network"] = {"address": p.network_access_point,
                                "type": NETWORK_TYPE[int(p.network_access_point_type)]}
        agents.append(agent)
    entities = []
    for o in message.objects:
        entity: dict[str, Any] = {
            "what": {"identifier": {"type": {"coding": [coding(o.id_type)]},
                                    "value": o.object_id}},
            "type": {"system": ENTITY_TYPE, "code": str(int(o.object_type))}}
        if o.role is not None:
            entity["role"] = {"system": OBJECT_ROLE, "code": str(int(o.role))}
        if o.query:
            entity["query"] = base64.b64encode(o.query).decode("ascii")
        if o.details:
            entity["detail"] = [{"type": kind, "valueString": text} for kind, text in o.details]
        entities.append(entity)
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent", "id": str(record.id),
        "type": coding(event.event_id),
        "action": event.action.value,
        "recorded": event.date_time.isoformat(timespec="milliseconds"),
        "outcome": str(int(event.outcome)),
        "agent": agents,
        "source": {"observer": {"display": message.source.source_id}},
        "entity": entities,
    }
    if event.type_codes:
        resource["subtype"] = [coding(c) for c in event.type_codes]
    if event.purposes:
        resource["purposeOfEvent"] = [{"coding": [coding(c)]} for c in event.purposes]
    if message.source.site:
        resource["source"]["site"] = message.source.site
    return resource


def bundle(records: list[AuditRecord], base_url: str) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(records),
            "entry": [{"fullUrl": f"{base_url}/AuditEvent/{r.id}", "resource": audit_event(r),
                       "search": {"mode": "match"}} for r in records]}
