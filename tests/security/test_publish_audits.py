"""Each service audits its own part of publishing and retrieving, once, in the real audit
record repository: the gateway one RAD-68 Export per study published, replaced or withdrawn,
the repository one ITI-41 Import per submission and one ITI-43 Export per retrieve, the
registry one ITI-42 Import per registration (and nothing is counted twice)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from gateway.core.config import GatewaySettings
from gateway.models import ALEMBIC_DIR, PublishedStudy
from gateway.pacs.dicomweb import DicomwebPacs
from gateway.publisher import Publisher
from ihe.ebrim import DocumentRequest, RetrieveDocumentSetRequest
from partage import soapclient
from partage.audit import AuditTrail
from partage.db import Database, migrate
from partage.devissuer import DevIssuer
from partage.orthanc import Orthanc
from partage.serve import background
from partage.sources import REPOSITORY, SITE_GATEWAY
from registry.core.config import RegistrySettings
from registry.main import create_app as create_registry
from repository.core.config import RepositorySettings
from repository.main import create_app as create_repository
from tests.consent.conftest import ConsentService
from tests.gateway.studies import PATIENT, store_rest
from tests.gateway.test_publisher import add_instance
from tests.security.consent_region import (
    ALICE,
    consent_service,
    cx,
    event_code,
    events,
    service_client,
    transaction,
)

SITE = "1.2.250.1.999.1.1"


@dataclass
class Publishing:
    consent: ConsentService
    publisher: Publisher
    registry: str
    repository: str
    repository_unique_id: str
    issuer: DevIssuer


@pytest.fixture
def publishing(issuer: DevIssuer, orthanc: Orthanc, tmp_path: Path) -> Iterator[Publishing]:
    with consent_service(issuer, tmp_path) as consent:
        audit_url = f"{consent.url}/audit"
        registry_app = create_registry(RegistrySettings(
            data_dir=tmp_path / "registry", log_json=False, issuer=issuer.url,
            audit_url=audit_url, **service_client(issuer, ["service"])))
        with background(registry_app) as registry:
            repository_settings = RepositorySettings(
                data_dir=tmp_path / "repository", log_json=False, issuer=issuer.url,
                registry_url=f"{registry.url}/registry", audit_url=audit_url,
                # a registry writer that posts audits too
                **service_client(issuer, [REPOSITORY, "service"]))
            with background(create_repository(repository_settings)) as repository:
                feed = httpx.put(
                    f"{registry.url}/identity/patients/{quote(cx(ALICE), safe='')}",
                    json={"family_name": "MARTIN", "given_name": "Claire", "identifiers": [
                        {"authority": PATIENT.issuer, "local_id": PATIENT.patient_id}]},
                    headers={"Authorization":
                             f"Bearer {registry_app.state.ctx.settings.feed_token}"})
                feed.raise_for_status()
                settings = GatewaySettings(
                    data_dir=tmp_path / "gateway", log_json=False, pacs_adapter="dicomweb",
                    pacs_dicomweb_url=orthanc.dicomweb, registry_url=f"{registry.url}/registry",
                    repository_url=f"{repository.url}/repository",
                    identity_url=f"{registry.url}/identity", sweep_interval_s=0, dicom_port=0,
                    issuer=issuer.url, site_oid=SITE, audit_url=audit_url,
                    **service_client(issuer, [SITE_GATEWAY], site=SITE))
                db = Database(settings.resolved_database_url())
                migrate(db.engine, ALEMBIC_DIR)
                pacs = DicomwebPacs(settings.pacs_dicomweb_url)
                tokens = settings.token_source()
                assert tokens is not None
                with AuditTrail.from_settings(settings, "partage-gateway", tokens.token) as trail:
                    publisher = Publisher(settings, db, pacs, trail)
                    yield Publishing(consent, publisher, f"{registry.url}/registry",
                                     f"{repository.url}/repository",
                                     repository_settings.repository_unique_id, issuer)
                    publisher.close()
                tokens.close()
                pacs.close()
                db.engine.dispose()


def by_transaction(found: list[dict[str, object]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for event in found:
        out.setdefault(transaction(event), []).append(event_code(event))  # type: ignore[arg-type]
    return out


def test_publish_replace_and_withdraw_are_each_audited_once(publishing: Publishing,
                                                            orthanc: Orthanc) -> None:
    study = store_rest(orthanc)
    uid = study.study_instance_uid
    publishing.publisher.publish(uid)
    publishing.publisher.publish(uid)  # unchanged: nothing sent, nothing audited
    add_instance(orthanc, study)
    publishing.publisher.publish(uid)  # replaced (RPLC)
    httpx.delete(f"{orthanc.url}/studies/{study.orthanc_id}").raise_for_status()
    publishing.publisher.publish(uid)  # withdrawn (ITI-57)

    found = events(publishing.consent, expect=7, patient=ALICE)
    assert by_transaction(found) == {"RAD-68": ["110106"] * 3, "ITI-41": ["110107"] * 2,
                                     "ITI-42": ["110107"] * 2}
    assert all(e["outcome"] == "0" for e in found)
    for event in found:
        values = [e["what"]["identifier"]["value"] for e in event["entity"]]  # type: ignore[index]
        assert uid in values and cx(ALICE) in values


def test_a_retrieve_is_audited_by_the_repository(publishing: Publishing,
                                                 orthanc: Orthanc) -> None:
    study = store_rest(orthanc)
    publishing.publisher.publish(study.study_instance_uid)
    with publishing.publisher.db.session() as session:
        record = session.get_one(PublishedStudy, study.study_instance_uid)
        document = record.document_unique_id or ""
    reader = f"reader-{uuid.uuid4().hex[:6]}"
    token = publishing.issuer.token(reader, ["radiologist"])
    answer = soapclient.retrieve(publishing.repository, RetrieveDocumentSetRequest([
        DocumentRequest(publishing.repository_unique_id, document)]), token=token)
    assert len(answer.documents) == 1
    (event,) = events(publishing.consent, expect=1, agent=reader)
    assert (event_code(event), transaction(event), event["outcome"]) == ("110106", "ITI-43", "0")
    assert document in [e["what"]["identifier"]["value"] for e in event["entity"]]
