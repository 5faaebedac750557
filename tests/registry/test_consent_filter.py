"""The registry's consent enforcement over real HTTP: ITI-18 answers screened by the real
consent service's decisions, and every query and submission audited there once.

Alice (two studies at two sites, one of them hidden by her) and Bob (one study) are written as
registry rows; the registry serves them with the consent service as its decision point and
audit record repository, and the tests ask with an independent SOAP client (zeep)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ihe.ebrim import (
    AdhocQueryResponse,
    Association,
    ExtrinsicObject,
    ResponseStatus,
    Severity,
    Status,
)
from ihe.ebrim.enum import REFERENCE_ID_STUDY_INSTANCE_UID
from partage import soapclient
from partage.devissuer import DevIssuer
from partage.serve import background, free_port
from registry.core.config import RegistrySettings
from registry.main import create_app
from registry.queries.consent_filter import WITHHELD
from tests.consent.conftest import ConsentService
from tests.registry.query_factory import Registry, query, quoted
from tests.security.consent_region import (
    ALICE,
    BOB,
    LEFEVRE,
    MARTIN,
    consent_service,
    cx,
    event_code,
    events,
    service_client,
    transaction,
)

NORD, SUD = "1.2.250.1.999.1.1", "1.2.250.1.999.1.2"


def study_ref(uid: str) -> str:
    return f"{uid}^^^^{REFERENCE_ID_STUDY_INSTANCE_UID}"


@dataclass
class Content:
    """What the registry holds: per name, the DocumentEntry's entryUUID, uniqueId, study and
    the entryUUID of its SubmissionSet."""

    entries: dict[str, tuple[str, str, str, str]]
    folder: str

    def uuid(self, name: str) -> str:
        return self.entries[name][0]

    def unique_id(self, name: str) -> str:
        return self.entries[name][1]

    def study(self, name: str) -> str:
        return self.entries[name][2]

    def submission_set(self, name: str) -> str:
        return self.entries[name][3]


@dataclass
class Served:
    url: str
    issuer: DevIssuer
    consent: ConsentService
    content: Content

    def ask(self, request: object, roles: list[str], sub: str = "dr-martin",
            **claims: object) -> AdhocQueryResponse:
        token = self.issuer.token(sub, roles, **claims)
        return soapclient.stored_query(self.url, request, token=token)  # type: ignore[arg-type]

    def martin(self, request: object) -> AdhocQueryResponse:
        return self.ask(request, ["radiologist"], MARTIN["sub"], rpps=MARTIN["rpps"],
                        organisation_oid=MARTIN["organisation_oid"])


def fill(registry: Registry) -> Content:
    entries: dict[str, tuple[str, str, str, str]] = {}
    for name, patient, site in (("alice-nord", ALICE, NORD), ("alice-sud", ALICE, SUD),
                                ("bob-nord", BOB, NORD)):
        study = f"1.2.826.0.1.3680043.10.{uuid.uuid4().int % 10**12}"
        unique = f"1.2.826.0.1.3680043.11.{uuid.uuid4().int % 10**12}"
        entry = registry.document(patient=cx(patient), unique_id=unique,
                                  reference_ids=[study_ref(study)])
        package = registry.submission_set([entry], patient=cx(patient), source_id=site)
        entries[name] = (entry, unique, study, package)
    folder = registry.folder([entries["alice-nord"][0], entries["alice-sud"][0]],
                             patient=cx(ALICE))
    return Content(entries, folder)


def registry_settings(issuer: DevIssuer, data_dir: Path, consent_url: str,
                      audit_url: str = "", database_url: str = "") -> RegistrySettings:
    return RegistrySettings(data_dir=data_dir, log_json=False, issuer=issuer.url,
                            database_url=database_url,
                            consent_url=consent_url, audit_url=audit_url,
                            **service_client(issuer, ["service"]))


@pytest.fixture
def served(issuer: DevIssuer, tmp_path: Path, database_url: str) -> Iterator[Served]:
    """The registry on SQLite, and on PostgreSQL when the tests have it."""
    with consent_service(issuer, tmp_path) as consent:
        app = create_app(registry_settings(issuer, tmp_path / "registry", consent.url,
                                           f"{consent.url}/audit", database_url))
        with app.state.ctx.db.session() as session:
            content = fill(Registry(session))
        hidden = consent.put_policy(ALICE, hidden_studies=[content.study("alice-sud")])
        assert hidden.status_code in (200, 201), hidden.text
        with background(app) as server:
            yield Served(f"{server.url}/registry", issuer, consent, content)


def find_documents(patient: str, return_type: str = "LeafClass") -> object:
    return query("FindDocuments", return_type, XDSDocumentEntryPatientId=f"'{cx(patient)}'",
                 XDSDocumentEntryStatus=quoted(Status.APPROVED))


def ids(response: AdhocQueryResponse) -> set[str]:
    return {o.id for o in response.objects}


def withheld(response: AdhocQueryResponse) -> list[tuple[str, str]]:
    """(reason code, text) of each PartageConsentWithheld warning."""
    assert all(e.severity == Severity.WARNING for e in response.errors if e.code == WITHHELD)
    return [(e.location, e.context) for e in response.errors if e.code == WITHHELD]


def assert_names_nothing(response: AdhocQueryResponse, content: Content, *names: str) -> None:
    """No warning names a withheld entry, its study or its uniqueId."""
    for error in response.errors:
        for name in names:
            for secret in (content.uuid(name), content.unique_id(name), content.study(name)):
                assert secret not in error.context and secret not in error.location


def test_a_hidden_study_is_left_out_with_a_warning(served: Served) -> None:
    content = served.content
    for return_type in ("LeafClass", "ObjectRef"):
        response = served.martin(find_documents(ALICE, return_type))
        assert response.status == ResponseStatus.SUCCESS
        assert ids(response) == {content.uuid("alice-nord")}
        assert [code for code, _ in withheld(response)] == ["patient-hid-study"]
        assert_names_nothing(response, content, "alice-sud")
    leaf = served.martin(find_documents(ALICE))
    assert all(isinstance(o, ExtrinsicObject) for o in leaf.objects)


def test_packages_and_associations_do_not_lead_to_a_hidden_entry(served: Served) -> None:
    content = served.content
    hidden, shown = content.uuid("alice-sud"), content.uuid("alice-nord")
    hidden_set = content.submission_set("alice-sud")
    answers = {
        "GetSubmissionSetAndContents": served.martin(query(
            "GetSubmissionSetAndContents", "LeafClass",
            XDSSubmissionSetEntryUUID=f"'{hidden_set}'")),
        "FindSubmissionSets": served.martin(query(
            "FindSubmissionSets", "ObjectRef", XDSSubmissionSetPatientId=f"'{cx(ALICE)}'",
            XDSSubmissionSetStatus=quoted(Status.APPROVED))),
        "GetAssociations": served.martin(query(
            "GetAssociations", "LeafClass", uuid=quoted(hidden, hidden_set, content.folder))),
        "GetFolderAndContents": served.martin(query(
            "GetFolderAndContents", "LeafClass", XDSFolderEntryUUID=f"'{content.folder}'")),
        "GetAll": served.martin(query(
            "GetAll", "LeafClass", patientId=f"'{cx(ALICE)}'",
            XDSDocumentEntryStatus=quoted(Status.APPROVED),
            XDSSubmissionSetStatus=quoted(Status.APPROVED),
            XDSFolderStatus=quoted(Status.APPROVED))),
        "GetDocuments": served.martin(query(
            "GetDocuments", "LeafClass", XDSDocumentEntryEntryUUID=quoted(hidden, shown))),
    }
    for name, response in answers.items():
        assert response.status == ResponseStatus.SUCCESS, (name, response.errors)
        # a withheld entry of the answer is announced; associations to one just go
        assert bool(withheld(response)) == (name != "GetAssociations"), name
        assert_names_nothing(response, content, "alice-sud")
        returned = ids(response)
        assert hidden not in returned and hidden_set not in returned, name
        for obj in response.objects:
            if isinstance(obj, Association):
                assert hidden not in (obj.source_object, obj.target_object), name
                assert hidden_set not in (obj.source_object, obj.target_object), name
    assert shown in ids(answers["GetAll"]) and content.folder in ids(answers["GetAll"])
    assert shown in ids(answers["GetDocuments"])
    assert ids(answers["FindSubmissionSets"]) == {content.submission_set("alice-nord")}
    links = [o for o in answers["GetFolderAndContents"].objects if isinstance(o, Association)]
    assert [(a.source_object, a.target_object) for a in links] == [(content.folder, shown)]


def test_a_blocked_professional_sees_none_of_the_patients_entries(served: Served) -> None:
    assert served.consent.put_policy(
        BOB, blocked_professionals=[LEFEVRE["rpps"]]).status_code in (200, 201)
    lefevre = served.ask(find_documents(BOB), ["radiologist"], LEFEVRE["sub"],
                         rpps=LEFEVRE["rpps"], organisation_oid=LEFEVRE["organisation_oid"])
    assert lefevre.status == ResponseStatus.SUCCESS and lefevre.objects == []
    assert [code for code, _ in withheld(lefevre)] == ["patient-blocked-professional"]
    assert ids(served.martin(find_documents(BOB))) == {served.content.uuid("bob-nord")}


def test_a_patient_sees_their_own_entries_only(served: Served) -> None:
    content = served.content
    own = served.ask(find_documents(ALICE), ["patient"], "patient-alice", ins=ALICE)
    assert ids(own) == {content.uuid("alice-nord"), content.uuid("alice-sud")}
    assert own.errors == []  # her own entries are not filtered by her policy
    other = served.ask(find_documents(BOB), ["patient"], "patient-alice", ins=ALICE)
    assert other.status == ResponseStatus.SUCCESS and other.objects == [] and other.errors == []
    by_id = served.ask(query("GetDocuments", "ObjectRef", XDSDocumentEntryEntryUUID=quoted(
        content.uuid("bob-nord"), content.uuid("alice-nord"))), ["patient"], "patient-alice",
        ins=ALICE)
    assert ids(by_id) == {content.uuid("alice-nord")}
    no_claim = served.ask(find_documents(ALICE), ["patient"], "patient-x")
    assert no_claim.objects == []


def test_services_are_not_filtered_and_others_see_nothing(served: Served) -> None:
    content = served.content
    everything = {content.uuid("alice-nord"), content.uuid("alice-sud")}
    for role in ("service", "site-gateway", "repository"):
        response = served.ask(find_documents(ALICE), [role], f"svc-{role}")
        assert ids(response) == everything and response.errors == [], role
    for roles in (["region-admin"], ["site-admin"], []):
        response = served.ask(find_documents(ALICE, "ObjectRef"), roles, "someone")
        assert response.status == ResponseStatus.SUCCESS and response.objects == [], roles
        assert [code for code, _ in withheld(response)] == ["not-a-professional"] * 2, roles


def test_every_query_is_audited_once_with_its_patient(served: Served) -> None:
    for _ in range(3):
        served.martin(find_documents(ALICE))
    served.ask(find_documents(ALICE), ["patient"], "patient-alice", ins=ALICE)
    found = events(served.consent, expect=3, patient=ALICE, agent=MARTIN["sub"])
    queries = [e for e in found if event_code(e) == "110112"]
    assert len(queries) == 3 and all(transaction(e) == "ITI-18" for e in queries)
    assert all(e["outcome"] == "0" for e in queries)
    own = events(served.consent, expect=1, settle=0, patient=ALICE, agent="patient-alice")
    assert len(own) == 1


def test_no_consent_service_means_no_answer(issuer: DevIssuer, tmp_path: Path) -> None:
    """Fail closed: the decision point down, a professional's query fails; a service's does
    not need it."""
    app = create_app(registry_settings(issuer, tmp_path / "registry",
                                       f"http://127.0.0.1:{free_port()}"))
    with app.state.ctx.db.session() as session:
        fill(Registry(session))
    with background(app) as server:
        url = f"{server.url}/registry"
        token = issuer.token("dr-martin", ["radiologist"], rpps=MARTIN["rpps"])
        response = soapclient.stored_query(url, find_documents(ALICE), token=token)
        assert response.status == ResponseStatus.FAILURE and response.objects == []
        assert [(e.code, e.context) for e in response.errors] == [
            ("XDSRegistryError", "consent service unavailable")]
        service = soapclient.stored_query(url, find_documents(ALICE),
                                          token=issuer.token("svc", ["service"]))
        assert len(service.objects) == 2


def test_without_consent_url_professionals_see_everything(issuer: DevIssuer,
                                                          tmp_path: Path) -> None:
    """Consent not enforced (consent_url empty): the role rules only."""
    app = create_app(RegistrySettings(data_dir=tmp_path / "registry", log_json=False,
                                      issuer=issuer.url))
    with app.state.ctx.db.session() as session:
        content = fill(Registry(session))
    with background(app) as server:
        url = f"{server.url}/registry"
        token = issuer.token("dr-martin", ["radiologist"])
        found = soapclient.stored_query(url, find_documents(ALICE, "ObjectRef"), token=token)
        assert ids(found) == {content.uuid("alice-nord"), content.uuid("alice-sud")}
        admin = soapclient.stored_query(url, find_documents(ALICE, "ObjectRef"),
                                        token=issuer.token("admin", ["region-admin"]))
        assert admin.objects == [] and len(withheld(admin)) == 2



def test_an_emergency_grant_lifts_the_opt_out_for_its_holder(served: Served) -> None:
    assert served.consent.put_policy(BOB, base="block").status_code in (200, 201)
    refused = served.martin(find_documents(BOB))
    assert refused.objects == [] and [c for c, _ in withheld(refused)] == ["patient-opted-out"]
    grant = served.consent.http.post(
        f"{served.consent.url}/patients/{BOB}/emergency-access",
        json={"reason": "road accident, unconscious"},
        headers=served.consent.auth(MARTIN["sub"], ["radiologist"], rpps=MARTIN["rpps"],
                                    organisation_oid=MARTIN["organisation_oid"]))
    assert grant.status_code == 201, grant.text
    opened = served.martin(find_documents(BOB))
    assert ids(opened) == {served.content.uuid("bob-nord")} and withheld(opened) == []
    lefevre = served.ask(find_documents(BOB), ["radiologist"], LEFEVRE["sub"],
                         rpps=LEFEVRE["rpps"], organisation_oid=LEFEVRE["organisation_oid"])
    assert lefevre.objects == []  # the grant is Dr Martin's only


def test_a_patient_learns_nothing_of_others_through_associations(served: Served) -> None:
    content = served.content
    bob = (content.uuid("bob-nord"), content.submission_set("bob-nord"))
    answer = served.ask(query("GetAssociations", "ObjectRef", uuid=quoted(*bob)), ["patient"],
                        "patient-alice", ins=ALICE)
    assert answer.status == ResponseStatus.SUCCESS and answer.objects == []
    own = served.ask(query("GetAssociations", "ObjectRef", uuid=quoted(
        content.uuid("alice-nord"))), ["patient"], "patient-alice", ins=ALICE)
    assert len(own.objects) == 2  # its SubmissionSet's and its Folder's HasMember
