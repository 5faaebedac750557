"""RAD-68 publishing (RAD TF-3 §4.68) against a real Orthanc and our registry and repository over
HTTP: metadata found by ITI-18, idempotence, RPLC of a changed study, ITI-57 deprecation of a
deleted one, held-back patients, the registry's refusal kept, a lost answer not re-sent."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from pydicom.uid import generate_uid
from sqlalchemy import select

from gateway.core.config import GatewaySettings
from gateway.models import ALEMBIC_DIR, PublishedStudy, PublishState
from gateway.pacs.dicomweb import DicomwebPacs
from gateway.publisher import Publisher
from gateway.sweep import Sweeper
from ihe import kos
from ihe.ebrim import (
    AdhocQueryRequest,
    Association,
    AssociationType,
    DocumentRequest,
    ExtrinsicObject,
    RetrieveDocumentSetRequest,
    Scheme,
    Slot,
    Status,
)
from ihe.ebrim.enum import REFERENCE_ID_SLOT
from partage import soapclient
from partage.db import Database, migrate
from partage.orthanc import Orthanc
from partage.studies import part10
from tests.conftest import Region
from tests.gateway.studies import PATIENT, StoredStudy, store_rest

FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
FIND_BY_REFERENCE_ID = "urn:uuid:12941a89-e02e-4be5-967c-ce4bfc8fe492"
GET_ASSOCIATIONS = "urn:uuid:a7ae438b-4bc2-4642-93e9-be891f7bb155"
REGIONAL = "2801205123456^^^&1.2.250.1.213.1.4.10&ISO"
OTHER_REGIONAL = "1750399123456^^^&1.2.250.1.213.1.4.10&ISO"


@dataclass
class Site:
    settings: GatewaySettings
    db: Database
    publisher: Publisher
    sweeper: Sweeper
    region: Region
    orthanc: Orthanc

    def record(self, study_instance_uid: str) -> PublishedStudy:
        with self.db.session() as session:
            return session.get_one(PublishedStudy, study_instance_uid)


def site_settings(region: Region, orthanc: Orthanc, data_dir: Path) -> GatewaySettings:
    return GatewaySettings(
        data_dir=data_dir, log_json=False, pacs_adapter="dicomweb",
        pacs_dicomweb_url=orthanc.dicomweb, registry_url=region.registry,
        repository_url=region.repository, identity_url=f"{region.base}/identity",
        public_url="http://127.0.0.1:18030", sweep_interval_s=0, dicom_port=0,
        issuer=region.issuer.url, **region.service_client(),
    )


@pytest.fixture
def site(region: Region, orthanc: Orthanc, tmp_path: Path) -> Iterator[Site]:
    """A gateway's publishing side on its own SQLite database, reading Orthanc over DICOMweb."""
    settings = site_settings(region, orthanc, tmp_path / "gateway")
    db = Database(settings.resolved_database_url())
    migrate(db.engine, ALEMBIC_DIR)
    pacs = DicomwebPacs(settings.pacs_dicomweb_url)
    publisher = Publisher(settings, db, pacs)
    yield Site(settings, db, publisher, Sweeper(settings, db, pacs, publisher), region, orthanc)
    publisher.close()
    pacs.close()
    db.engine.dispose()


def feed(region: Region, regional_id: str, local_id: str = PATIENT.patient_id,
         authority: str = PATIENT.issuer) -> None:
    """Link a site's local ID to a regional patient through the registry's REST feed."""
    answer = httpx.put(
        f"{region.base}/identity/patients/{quote(regional_id, safe='')}",
        json={"family_name": "MARTIN", "given_name": "Claire",
              "identifiers": [{"authority": authority, "local_id": local_id}]},
        headers={"Authorization": f"Bearer {region.feed_token}"},
    )
    answer.raise_for_status()


def find_documents(region: Region, patient_id: str, *statuses: str) -> list[ExtrinsicObject]:
    wanted = ", ".join(f"'{s}'" for s in statuses or (Status.APPROVED,))
    answer = soapclient.stored_query(region.registry, AdhocQueryRequest(FIND_DOCUMENTS, [
        Slot("$XDSDocumentEntryPatientId", [f"'{patient_id}'"]),
        Slot("$XDSDocumentEntryStatus", [f"({wanted})"]),
    ]), token=region.token())
    return [o for o in answer.objects if isinstance(o, ExtrinsicObject)]


def add_instance(orthanc: Orthanc, study: StoredStudy) -> str:
    """Store one more slice into the study's first series; its SOP Instance UID."""
    extra = copy.deepcopy(study.datasets[0])
    extra.SOPInstanceUID = extra.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    extra.InstanceNumber = len(study.datasets) + 1
    orthanc.upload(part10(extra))
    return str(extra.SOPInstanceUID)


def codes(entry: ExtrinsicObject, scheme: str) -> set[str]:
    return {c.node_representation for c in entry.classified(scheme)}


def test_published_study_is_found_with_xds_i_metadata(site: Site, orthanc: Orthanc) -> None:
    study = store_rest(orthanc)
    feed(site.region, REGIONAL)

    assert site.publisher.publish(study.study_instance_uid) == PublishState.PUBLISHED

    [entry] = find_documents(site.region, REGIONAL)
    record = site.record(study.study_instance_uid)
    assert entry.id == record.entry_uuid == record.approved_entry_uuid
    assert entry.unique_id == record.document_unique_id == record.kos_sop_instance_uid
    assert entry.mime_type == "application/dicom"
    assert codes(entry, Scheme.DE_FORMAT_CODE) == {"1.2.840.10008.5.1.4.1.1.88.59"}
    assert {"CT", "816094009"} <= codes(entry, Scheme.DE_EVENT_CODE)  # modality, Thorax
    references = entry.slot_values(REFERENCE_ID_SLOT)
    accession = f"ACC0001^^^&{site.settings.site_oid}&ISO^urn:ihe:iti:xds:2013:accession"
    assert accession in references
    assert (f"{study.study_instance_uid}^^^^urn:ihe:iti:xds:2016:studyInstanceUID"
            in references)
    assert entry.slot_value("sourcePatientId") == f"IPP000123^^^&{PATIENT.issuer}&ISO"

    by_accession = soapclient.stored_query(site.region.registry, AdhocQueryRequest(
        FIND_BY_REFERENCE_ID, [
            Slot("$XDSDocumentEntryPatientId", [f"'{REGIONAL}'"]),
            Slot("$XDSDocumentEntryStatus", [f"('{Status.APPROVED}')"]),
            Slot("$XDSDocumentEntryReferenceIdList", [f"('{accession}')"]),
        ]), token=site.region.token())
    assert [o.id for o in by_accession.objects] == [entry.id]

    # the manifest the repository keeps points every series at this gateway
    [document] = soapclient.retrieve(site.region.repository, RetrieveDocumentSetRequest([
        DocumentRequest(site.region.repository_unique_id, entry.unique_id or ""),
    ]), token=site.region.token()).documents
    manifest = kos.Manifest.from_bytes(document.data)
    assert manifest.retrieve_location_uids == {site.settings.repository_unique_id}
    assert {r.sop_instance_uid for r in manifest.references} == study.sop_instance_uids
    assert {r.retrieve_url for r in manifest.references} == {
        f"http://127.0.0.1:18030/wado-rs/studies/{study.study_instance_uid}/series/{uid}"
        for uid in study.series_instance_uids
    }


def test_publishing_twice_sends_nothing_twice(site: Site, orthanc: Orthanc) -> None:
    study = store_rest(orthanc)
    feed(site.region, REGIONAL)
    site.publisher.publish(study.study_instance_uid)
    before, first = site.region.count_rows(), site.record(study.study_instance_uid)

    assert site.publisher.publish(study.study_instance_uid) == PublishState.PUBLISHED
    assert site.sweeper.sweep().outcomes == {"published": 1}

    assert site.region.count_rows() == before
    again = site.record(study.study_instance_uid)
    assert (again.entry_uuid, again.instances_hash) == (first.entry_uuid, first.instances_hash)


def test_changed_study_replaces_its_manifest(site: Site, orthanc: Orthanc) -> None:
    study = store_rest(orthanc)
    feed(site.region, REGIONAL)
    site.publisher.publish(study.study_instance_uid)
    old = site.record(study.study_instance_uid)

    added = add_instance(orthanc, study)
    assert site.publisher.publish(study.study_instance_uid) == PublishState.PUBLISHED

    new = site.record(study.study_instance_uid)
    assert new.entry_uuid != old.entry_uuid and new.instances_hash != old.instances_hash
    assert new.instance_count == old.instance_count + 1
    statuses = {e.id: e.status for e in
                find_documents(site.region, REGIONAL, Status.APPROVED, Status.DEPRECATED)}
    assert statuses == {old.entry_uuid: Status.DEPRECATED, new.entry_uuid: Status.APPROVED}
    associations = soapclient.stored_query(site.region.registry, AdhocQueryRequest(
        GET_ASSOCIATIONS, [Slot("$uuid", [f"('{new.entry_uuid}')"])]),
        token=site.region.token()).objects
    assert any(isinstance(a, Association) and a.association_type == AssociationType.RPLC
               and a.source_object == new.entry_uuid and a.target_object == old.entry_uuid
               for a in associations)
    [document] = soapclient.retrieve(site.region.repository, RetrieveDocumentSetRequest([
        DocumentRequest(site.region.repository_unique_id, new.document_unique_id or ""),
    ]), token=site.region.token()).documents
    assert added in {r.sop_instance_uid for r in kos.Manifest.from_bytes(document.data).references}


def test_deleted_study_is_deprecated(site: Site, orthanc: Orthanc) -> None:
    study = store_rest(orthanc)
    feed(site.region, REGIONAL)
    site.publisher.publish(study.study_instance_uid)
    entry_uuid = site.record(study.study_instance_uid).entry_uuid

    httpx.delete(f"{orthanc.url}/studies/{study.orthanc_id}").raise_for_status()
    assert site.sweeper.sweep().outcomes == {"deprecated": 1}

    assert find_documents(site.region, REGIONAL) == []
    [entry] = find_documents(site.region, REGIONAL, Status.DEPRECATED)
    assert entry.id == entry_uuid
    record = site.record(study.study_instance_uid)
    assert (record.state, record.approved_entry_uuid) == (PublishState.DEPRECATED, None)
    assert site.publisher.publish(study.study_instance_uid) == PublishState.DEPRECATED


def test_unknown_patient_is_held_back_until_mapped(site: Site, orthanc: Orthanc) -> None:
    study = store_rest(orthanc)
    before = site.region.count_rows()

    assert site.publisher.publish(study.study_instance_uid) == PublishState.HELD_BACK
    record = site.record(study.study_instance_uid)
    assert (record.local_patient_id, record.local_authority) == ("IPP000123", PATIENT.issuer)
    assert record.regional_patient_id is None
    assert site.region.count_rows() == before  # nothing reached the region

    feed(site.region, REGIONAL)
    assert site.sweeper.sweep().outcomes == {"published": 1}
    assert site.record(study.study_instance_uid).regional_patient_id == REGIONAL
    assert len(find_documents(site.region, REGIONAL)) == 1


def test_registry_refusal_is_recorded_with_its_code(site: Site, orthanc: Orthanc) -> None:
    """The site corrects its patient link (local ID moved to another regional patient): the
    replacement of the old patient's entry is refused by the registry, and kept as such."""
    study = store_rest(orthanc)
    feed(site.region, REGIONAL)
    site.publisher.publish(study.study_instance_uid)
    feed(site.region, OTHER_REGIONAL)
    add_instance(orthanc, study)

    assert site.publisher.publish(study.study_instance_uid) == PublishState.FAILED

    record = site.record(study.study_instance_uid)
    assert record.error_code == "XDSPatientIdDoesNotMatch"
    assert record.error_context
    assert len(find_documents(site.region, REGIONAL)) == 1  # the old entry stays Approved
    assert find_documents(site.region, OTHER_REGIONAL) == []


def test_lost_answer_is_not_published_twice(site: Site, orthanc: Orthanc) -> None:
    """The repository registered the manifest but the gateway stopped before recording it:
    the next attempt finds the uniqueId in the registry (ITI-18) instead of sending again."""
    study = store_rest(orthanc)
    feed(site.region, REGIONAL)
    site.publisher.publish(study.study_instance_uid)
    before = site.region.count_rows()
    with site.db.session() as session:
        row = session.get_one(PublishedStudy, study.study_instance_uid)
        row.state, row.approved_entry_uuid = PublishState.PENDING, None

    assert site.publisher.publish(study.study_instance_uid) == PublishState.PUBLISHED

    assert site.region.count_rows() == before
    record = site.record(study.study_instance_uid)
    assert record.approved_entry_uuid == record.entry_uuid
    with site.db.session() as session:
        assert session.scalars(select(PublishedStudy.state)).all() == ["published"]
