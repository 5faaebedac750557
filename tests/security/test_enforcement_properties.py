"""Property: neither the registry's answers nor the gateway's responses ever expose what the
decision API denies, and each ITI-18 request and each new gateway access is audited exactly once.

Hypothesis draws a patient's policy (base, hidden studies and documents, blocked sites, blocked
or allowed professionals, emergency setting) and a purpose of use; then every user of the pool
(professionals of two sites, a region and a site administrator, both patients, a service) asks
with every request kind: five ITI-18 stored queries through the registry's handler and the
gateway's decision for each study (``gateway.api.serving.permit``, what every serving route
runs before a byte leaves). The oracle is the real consent service's ``POST /decisions/batch``
asked directly. Decisions are not cached here (``ttl_s=0``), so each policy is the one judged.
A case is one (policy, user, object, request kind) judged; the counts are printed.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import HTTPException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.access import Access
from gateway.api.serving import permit
from gateway.core.config import GatewaySettings
from gateway.models import ALEMBIC_DIR as GATEWAY_ALEMBIC
from gateway.models import PublishedStudy, PublishState
from gateway.publish import records
from ihe.ebrim import (
    AdhocQueryResponse,
    Association,
    RegistryPackage,
    ResponseStatus,
    Status,
)
from ihe.ebrim.enum import REFERENCE_ID_STUDY_INSTANCE_UID
from ihe.soap import Action, Envelope
from partage.audit import AuditTrail, HttpDestination
from partage.auth import Principal
from partage.consent import ConsentClient, ConsentUser
from partage.db import Database, migrate
from partage.devissuer import DevIssuer
from partage.soap import SoapReply, SoapRequest
from partage.tokens import ClientCredentials
from registry.api.deps import RegistryContext
from registry.api.routes import iti18
from registry.core.config import RegistrySettings
from registry.queries.consent_filter import WITHHELD, ConsentFilter
from tests.consent.conftest import ConsentService
from tests.registry.query_factory import Registry, database, query, quoted
from tests.security.consent_region import ALICE, BOB, consent_service, cx, service_client

NORD, SUD = "1.2.250.1.999.1.1", "1.2.250.1.999.1.2"
#: examples drawn: each judges at least 152 cases (8 users × (Bob's 4 entries in 4 queries, 1 in
#: another, 2 at the gateway)), so 70 give more than 10 000
EXAMPLES = 70
RPPS = ("10001234567", "10007654321", "10002345678")
CARE = {"radiologist", "physician"}
SERVICES = {"service", "site-gateway", "repository"}
USERS = [
    Principal("dr-martin", frozenset({"radiologist"}), "10001234567",
              claims={"organisation_oid": NORD}),
    Principal("dr-lefevre", frozenset({"radiologist"}), "10007654321",
              claims={"organisation_oid": SUD}),
    Principal("dr-roux", frozenset({"physician"}), "10002345678",
              claims={"organisation_oid": NORD}),
    Principal("admin", frozenset({"region-admin"}),
              claims={"organisation_oid": "1.2.250.1.999.1"}),
    Principal("nord-admin", frozenset({"site-admin"}), claims={"site": NORD}),
    Principal("patient-alice", frozenset({"patient"}), claims={"ins": ALICE}),
    Principal("patient-bob", frozenset({"patient"}), claims={"ins": BOB}),
    Principal("registry", frozenset({"service"})),
]


@dataclass(frozen=True)
class Entry:
    uuid: str
    unique_id: str
    study: str
    site: str
    patient: str
    submission_set: str


def uid() -> str:
    return f"2.25.{uuid.uuid4().int}"


def fill(registry: Registry) -> list[Entry]:
    entries = []
    for patient, site in [(ALICE, (NORD, SUD)[i % 2]) for i in range(6)] + [
            (BOB, (NORD, SUD)[i % 2]) for i in range(4)]:
        study, unique = uid(), uid()
        entry = registry.document(patient=cx(patient), unique_id=unique,
                                  reference_ids=[f"{study}^^^^{REFERENCE_ID_STUDY_INSTANCE_UID}"])
        package = registry.submission_set([entry], patient=cx(patient), source_id=site)
        entries.append(Entry(entry, unique, study, site, patient, package))
    registry.folder([e.uuid for e in entries if e.patient == ALICE], patient=cx(ALICE))
    return entries


policies = st.fixed_dictionaries({
    "base": st.sampled_from(["default", "share", "block"]),
    "emergency_access": st.sampled_from([None, True, False]),
    "hidden": st.sets(st.integers(0, 5), max_size=4),
    "hidden_documents": st.sets(st.integers(0, 5), max_size=3),
    "blocked_sites": st.sets(st.sampled_from([NORD, SUD]), max_size=2),
    "professionals": st.one_of(
        st.tuples(st.just("blocked"), st.sets(st.sampled_from(RPPS), max_size=2)),
        st.tuples(st.just("allowed"), st.sets(st.sampled_from(RPPS), max_size=2))),
})


class Oracle:
    """The decision API asked directly: may this user see this entry (the registry's rules for
    who is asked), and what does the PDP say for the gateway's question."""

    def __init__(self, consent: ConsentService) -> None:
        self.consent = consent

    def decisions(self, user: Principal, entries: list[Entry], purpose: str
                  ) -> dict[str, dict[str, Any]]:
        out = {}
        for patient in {e.patient for e in entries}:
            mine = [e for e in entries if e.patient == patient]
            answer = self.consent.http.post(
                f"{self.consent.url}/decisions/batch", headers=self.consent.service(),
                json={"patient": cx(patient), "user": ConsentUser.from_principal(user).body(),
                      "purpose_of_use": purpose, "targets": [
                          {"study_instance_uid": e.study, "document_unique_id": e.unique_id,
                           "site_oid": e.site} for e in mine]})
            assert answer.status_code == 200, answer.text
            out.update(zip((e.uuid for e in mine), answer.json()["decisions"], strict=True))
        return out

    @staticmethod
    def registry_sees(user: Principal, entry: Entry, decision: dict[str, Any]) -> bool:
        if user.roles & SERVICES:
            return True
        if user.roles & CARE:
            return bool(decision["permit"])
        if "patient" in user.roles:
            return user.claims.get("ins") == entry.patient
        return False


def ask(ctx: RegistryContext, user: Principal, request: Any) -> AdhocQueryResponse:
    reply = iti18.make_handler(ctx)(
        SoapRequest(Envelope(body=request.to_element(), action=Action.STORED_QUERY)), user)
    assert isinstance(reply, SoapReply)
    return AdhocQueryResponse.from_element(reply.body_element())


def test_no_answer_exposes_what_the_decision_api_denies(
        issuer: DevIssuer, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    counts: Counter[str] = Counter()
    with consent_service(issuer, tmp_path) as consent:
        client = service_client(issuer, ["service"])
        tokens = ClientCredentials(client["client_id"], client["client_secret"],
                                   issuer=issuer.url)
        audit_url = f"{consent.url}/audit"
        db = database(f"sqlite:///{tmp_path / 'registry.sqlite'}")
        ctx = RegistryContext(settings=RegistrySettings(
            data_dir=tmp_path / "registry", issuer=issuer.url, audit_url=audit_url,
            consent_url=consent.url, **client), db=db, codes=None)
        ctx.consent = ConsentFilter(ConsentClient(consent.url, tokens.token, ttl_s=0),
                                    ctx.settings.regional_authority)
        with db.session() as session:
            entries = fill(Registry(session))
        gateway_settings = GatewaySettings(data_dir=tmp_path / "gateway", site_oid=NORD,
                                           audit_window_s=600)
        gateway_db = Database(gateway_settings.resolved_database_url())
        migrate(gateway_db.engine, GATEWAY_ALEMBIC)
        with gateway_db.session() as session:  # the Nord gateway holds its own site's studies
            for e in (e for e in entries if e.site == NORD):
                records.save(session, PublishedStudy(
                    study_instance_uid=e.study, state=PublishState.PUBLISHED,
                    local_patient_id="IPP", local_authority="1.2.3", attempts=1,
                    regional_patient_id=cx(e.patient), document_unique_id=e.unique_id,
                    entry_uuid=e.uuid, approved_entry_uuid=e.uuid, instance_count=1,
                    created_at=records.now()))
        gateway_trail = AuditTrail(tmp_path / "gateway-audit.sqlite",
                                   [HttpDestination(audit_url, tokens.token)])
        access = Access(gateway_settings, gateway_db,
                        ConsentClient(consent.url, tokens.token, ttl_s=0), gateway_trail)
        oracle = Oracle(consent)
        every_entry = {e.uuid for e in entries}
        audited: set[tuple[str, str, str, int]] = set()

        @settings(max_examples=EXAMPLES, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture,
                                         HealthCheck.too_slow])
        @given(patient=st.sampled_from([ALICE, BOB]), policy=policies,
               purpose=st.sampled_from(["", "TREAT", "ETREAT"]))
        def check(patient: str, policy: dict[str, Any], purpose: str) -> None:
            mine = [e for e in entries if e.patient == patient]
            kind, professionals = policy["professionals"]
            body = {"base": policy["base"], "emergency_access": policy["emergency_access"],
                    "hidden_studies": [mine[i].study for i in policy["hidden"] if i < len(mine)],
                    "hidden_documents": [mine[i].unique_id for i in policy["hidden_documents"]
                                         if i < len(mine)],
                    "blocked_sites": sorted(policy["blocked_sites"]),
                    f"{kind}_professionals": sorted(professionals)}
            assert consent.put_policy(patient, **body).status_code in (200, 201)
            for base_user in USERS:
                user = Principal(base_user.subject, base_user.roles, base_user.rpps,
                                 base_user.organisation, purpose, claims=base_user.claims)
                decided = oracle.decisions(user, entries, purpose or "TREAT")
                sees = {e.uuid for e in entries
                        if Oracle.registry_sees(user, e, decided[e.uuid])}
                check_registry(user, patient, mine, sees)
                check_gateway(user, mine, decided)

        def check_registry(user: Principal, patient: str, mine: list[Entry],
                           sees: set[str]) -> None:
            mine_ids = {e.uuid for e in mine}
            requests = {
                "FindDocuments/LeafClass": query(
                    "FindDocuments", "LeafClass", XDSDocumentEntryPatientId=f"'{cx(patient)}'",
                    XDSDocumentEntryStatus=quoted(Status.APPROVED)),
                "FindDocuments/ObjectRef": query(
                    "FindDocuments", "ObjectRef", XDSDocumentEntryPatientId=f"'{cx(patient)}'",
                    XDSDocumentEntryStatus=quoted(Status.APPROVED)),
                "GetDocuments": query("GetDocuments", "LeafClass",
                                      XDSDocumentEntryEntryUUID=quoted(*mine_ids)),
                "GetAll": query("GetAll", "LeafClass", patientId=f"'{cx(patient)}'",
                                XDSDocumentEntryStatus=quoted(Status.APPROVED),
                                XDSSubmissionSetStatus=quoted(Status.APPROVED),
                                XDSFolderStatus=quoted(Status.APPROVED)),
                "GetSubmissionSetAndContents": query(
                    "GetSubmissionSetAndContents", "LeafClass",
                    XDSSubmissionSetEntryUUID=f"'{mine[0].submission_set}'"),
                # associations alone, of every patient's entries and SubmissionSets
                "GetAssociations": query("GetAssociations", "ObjectRef", uuid=quoted(
                    *every_entry, *(e.submission_set for e in entries))),
            }
            for name, request in requests.items():
                before = ctx.audit.pending()
                response = ask(ctx, user, request)
                assert ctx.audit.pending() == before + 1, name  # one Query audit per request
                counts["registry audits"] += 1
                assert response.status == ResponseStatus.SUCCESS, response.errors
                asked = {"GetSubmissionSetAndContents": {mine[0].uuid},
                         "GetAssociations": set()}.get(name, mine_ids)
                returned = {o.id for o in response.objects} & every_entry
                assert returned == asked & sees, (name, user.subject)
                withheld = [e for e in response.errors if e.code == WITHHELD]
                silent = "patient" in user.roles or user.roles & SERVICES
                assert len(withheld) == (0 if silent else len(asked - sees)), name
                denied = every_entry - sees
                if name == "GetAssociations":
                    denied |= {e.submission_set for e in entries if e.uuid not in sees}
                    # one HasMember per SubmissionSet, plus Alice's Folder's, of what is seen
                    expected = len(sees) + len(sees & {e.uuid for e in entries
                                                       if e.patient == ALICE})
                    assert len(response.objects) == expected, (user.subject, sees)
                    counts["registry cases"] += len(entries)
                for obj in response.objects:
                    if isinstance(obj, Association):
                        assert not {obj.source_object, obj.target_object} & denied, name
                    if isinstance(obj, RegistryPackage) and obj.is_submission_set:
                        assert obj.id not in {e.submission_set for e in mine
                                              if e.uuid in denied}, name
                for error in withheld:
                    assert not any(x in error.context + error.location
                                   for e in mine for x in (e.uuid, e.unique_id, e.study)), name
                counts["registry cases"] += len(asked)
                counts["registry permitted"] += len(returned)

        def check_gateway(user: Principal, mine: list[Entry],
                          decided: dict[str, dict[str, Any]]) -> None:
            for e in (e for e in mine if e.site == NORD):
                own_site = "site-admin" in user.roles and user.claims.get("site") == NORD
                allowed = own_site or bool(decided[e.uuid]["permit"])
                before = gateway_trail.pending()
                try:
                    permit(access, user, e.study)
                    served = True
                except HTTPException as exc:
                    assert exc.status_code == 403, exc.detail
                    served = False
                assert served == allowed, (user.subject, decided[e.uuid])
                key = (user.subject, e.study, user.purpose_of_use or "TREAT", 0 if served else 4)
                new = key not in audited
                audited.add(key)
                assert gateway_trail.pending() == before + (1 if new else 0)
                counts["gateway cases"] += 1
                counts["gateway permitted"] += served
                counts["gateway audits"] += new

        check()
        record_property("counts", (
            f"enforcement property: {counts['registry cases']} registry cases "
            f"({counts['registry permitted']} permitted), {counts['gateway cases']} gateway "
            f"cases ({counts['gateway permitted']} permitted), "
            f"{counts['registry cases'] + counts['gateway cases']} in all; audits: "
            f"{counts['registry audits']} registry queries, {counts['gateway audits']} "
            f"gateway accesses"))
        assert counts["registry cases"] + counts["gateway cases"] >= 10_000
        ctx.close()
        tokens.close()
        db.engine.dispose()
        gateway_db.engine.dispose()

