"""StudyEntry read from the ebRIM a real registry answers (ITI-18 over SOAP with the user's
token), the registry's refusals as the portal's exceptions, and patient search parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ihe.ebrim.builders import Code
from ihe.ebrim.content import ExtrinsicObject
from ihe.kos import Device, Manifest, RetrieveLocation, Series
from ihe.kos import Instance as KosInstance
from ihe.kos import Study as KosStudy
from ihe.kos.metadata import SiteProfile, manifest_submission
from portal import patients
from portal.core.config import PortalSettings
from partage.regional_studies import (
    RegistryUnavailable,
    StudyEntry,
    TokenRefused,
    find_studies,
    get_study,
    parse_dtm,
)
from partage.serve import free_port
from tests.portal.conftest import CLAIRE_STUDIES, Published
from tests.portal.support import SITE_A, SITE_B, cx

CT = "1.2.840.10008.5.1.4.1.1.2"
SR = "1.2.840.10008.5.1.4.1.1.88.22"


def settings_for(published: Published, tmp_path: Path) -> PortalSettings:
    return PortalSettings(data_dir=tmp_path, log_json=False, issuer=published.issuer.url,
                          registry_url=published.registry.soap,
                          identity_url=published.registry.identity)


def test_find_studies_reads_every_attribute_of_the_published_manifests(
        published: Published, tmp_path: Path) -> None:
    token = published.issuer.token(roles=["radiologist"])
    found = find_studies(settings_for(published, tmp_path), token, published.patient_id).studies
    assert [s.accession for s in found] == [
        "A2025-0311", "A2024-9001", "B2024-0042", "B2023-7781", "A2021-5521"]  # newest first
    current = found[0]
    study = CLAIRE_STUDIES[0]
    assert current.id == study.id and current.entry_uuid == study.entry_uuid
    assert current.unique_id == study.unique_id
    assert current.study_instance_uid == study.study_instance_uid
    assert current.patient_id == published.patient_id
    assert current.started == datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
    assert current.date == "2025-03-14"
    assert (current.site, current.site_oid) == SITE_A
    assert current.modalities == ("CT",) and current.regions == ("Chest",)
    assert current.description == "CT thorax injecté"
    assert current.number_of_instances == 312
    assert current.repository_unique_id == f"{SITE_A[1]}.300"
    assert current.status == "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
    assert {s.site for s in found} == {SITE_A[0], SITE_B[0]}


def test_get_study_finds_one_manifest_by_id_and_nothing_for_an_unknown_or_malformed_id(
        published: Published, tmp_path: Path) -> None:
    settings = settings_for(published, tmp_path)
    token = published.issuer.token()
    prior = CLAIRE_STUDIES[2]
    study = get_study(settings, token, prior.id)
    assert study is not None and study.accession == "B2024-0042"
    assert study.modalities == ("MR",) and study.regions == ("Head",)
    assert get_study(settings, token, f"urn:uuid:{prior.id}") == study
    assert get_study(settings, token, "00000000-0000-4000-8000-000000000000") is None
    assert get_study(settings, token, "') OR ('1'='1") is None


def test_a_patient_without_studies_has_an_empty_timeline(published: Published,
                                                          tmp_path: Path) -> None:
    token = published.issuer.token()
    assert find_studies(settings_for(published, tmp_path), token, cx("1750399123457")).studies == []


def test_a_token_the_registry_refuses_is_reported_as_such(published: Published,
                                                           tmp_path: Path) -> None:
    settings = settings_for(published, tmp_path)
    expired = published.issuer.token(exp=int(datetime.now(UTC).timestamp()) - 3600)
    with pytest.raises(TokenRefused):
        find_studies(settings, expired, published.patient_id)
    with pytest.raises(TokenRefused):
        patients.get_patient(settings, expired, published.patient_id)


def test_an_unreachable_registry_is_unavailable(tmp_path: Path) -> None:
    port = free_port()
    settings = PortalSettings(data_dir=tmp_path, registry_url=f"http://127.0.0.1:{port}/registry",
                              identity_url=f"http://127.0.0.1:{port}/identity",
                              upstream_timeout_s=5)
    with pytest.raises(RegistryUnavailable):
        find_studies(settings, "token", cx("2801205123456"))
    with pytest.raises(RegistryUnavailable):
        patients.search(settings, "token", patients.Criteria(family="MARTIN"))


def test_patient_search_by_ins_cx_or_demographics(published: Published, tmp_path: Path) -> None:
    settings = settings_for(published, tmp_path)
    token = published.issuer.token()
    authority = settings.regional_id_authority
    by_ins = patients.search(settings, token, patients.parse_query("2801205123456", authority))
    by_cx = patients.search(settings, token, patients.parse_query(published.patient_id,
                                                                  authority))
    assert [p.patient_id for p in by_ins] == [p.patient_id for p in by_cx] == [
        published.patient_id]
    claire = by_ins[0]
    assert (claire.display_name, claire.birth_date, claire.ins) == (
        "MARTIN Claire", "1980-12-05", "2801205123456")
    by_name = patients.search(settings, token, patients.parse_query("martin claire 05/12/1980",
                                                                    authority))
    assert [p.patient_id for p in by_name] == [published.patient_id]
    assert patients.search(settings, token, patients.parse_query("martin 1975", authority)) == []
    assert patients.search(settings, token, patients.parse_query("2999999999999",
                                                                 authority)) == []


@pytest.mark.parametrize(("typed", "criteria"), [
    ("2801205123456", patients.Criteria(patient_id=cx("2801205123456"))),
    (" 2 80 12 05 123 456 ", patients.Criteria(patient_id=cx("2801205123456"))),
    ("180122A12345612", patients.Criteria(patient_id=cx("180122A12345612"))),
    (cx("2801205123456"), patients.Criteria(patient_id=cx("2801205123456"))),
    ("Martin", patients.Criteria(family="Martin")),
    ("MARTIN Claire Anne", patients.Criteria(family="MARTIN", given="Claire Anne")),
    ("martin 1980-12-05", patients.Criteria(family="martin", birth_date="1980-12-05")),
    ("05/12/1980", patients.Criteria(birth_date="1980-12-05")),
    ("martin 1980", patients.Criteria(family="martin", birth_date="1980")),
    ("", patients.Criteria()),
])
def test_the_search_box_is_read_as_an_id_or_demographics(typed: str,
                                                         criteria: patients.Criteria) -> None:
    assert patients.parse_query(typed, "1.2.250.1.213.1.4.10") == criteria


def test_explicit_identity_fields_win_over_the_search_box() -> None:
    assert patients.parse_query("MARTIN", "1.2.250.1.213.1.4.10", given="Claire",
                                birth_date="05/12/1980") == patients.Criteria(
        family="MARTIN", given="Claire", birth_date="1980-12-05")


@pytest.mark.parametrize(("dtm", "expected"), [
    ("2024", datetime(2024, 1, 1, tzinfo=UTC)),
    ("202403", datetime(2024, 3, 1, tzinfo=UTC)),
    ("20240315", datetime(2024, 3, 15, tzinfo=UTC)),
    ("202403151230", datetime(2024, 3, 15, 12, 30, tzinfo=UTC)),
    ("20240315123045", datetime(2024, 3, 15, 12, 30, 45, tzinfo=UTC)),
    ("", None), ("2024031", None), ("20241315", None), ("abcd", None),
])
def test_service_start_time_is_read_as_utc(dtm: str, expected: datetime | None) -> None:
    assert parse_dtm(dtm) == expected


def test_a_gateway_manifests_metadata_reads_back_as_the_study_it_describes() -> None:
    """What the gateways publish (``ihe.kos.metadata.manifest_submission``, RAD-68) read as a
    StudyEntry: local study time in UTC, CID 29 modalities, CID 4 regions, the site."""
    evidence = KosStudy("1.2.3.4", patient_id="IPP-A-1001", patient_name="MARTIN^Claire",
                        study_date="20250314", study_time="093000", accession_number="A2025-0311",
                        study_description="CT thorax injecté", series=[
                            Series("1.2.3.4.1", "CT", "CHEST", [KosInstance(CT, "1.2.3.4.1.1"),
                                                               KosInstance(CT, "1.2.3.4.1.2")]),
                            Series("1.2.3.4.2", "SR", "", [KosInstance(SR, "1.2.3.4.2.1")])])
    manifest = Manifest([evidence], sop_instance_uid="1.2.3.9.1", series_instance_uid="1.2.3.9",
                        content_datetime=datetime(2025, 3, 14, 10, 0),
                        retrieve=RetrieveLocation("1.2.250.1.999.1.1.2", "GW",
                                                  "http://gw/wado-rs"),
                        device=Device("1.2.3.8", "gw", "Partage"))
    site = SiteProfile(
        site_oid=SITE_A[1], site_name=SITE_A[0], patient_id_authority="1.2.250.1.999.1.1.1",
        accession_authority="1.2.250.1.999.1.1.3",
        class_code=Code("IMAGES", "1.2.250.1.213.1.1.4.1", "Images"),
        type_code=Code("18748-4", "2.16.840.1.113883.6.1", "Diagnostic imaging study"),
        practice_setting_code=Code("394914008", "2.16.840.1.113883.6.96", "Radiology"),
        healthcare_facility_type_code=Code("SA01", "1.2.250.1.71.4.2.4", "Hôpital"),
        confidentiality_codes=(Code("N", "2.16.840.1.113883.5.25", "Normal"),),
        content_type_code=Code("18748-4", "2.16.840.1.113883.6.1", "Diagnostic imaging study"),
        timezone="Europe/Paris")
    now = datetime(2025, 3, 14, 10, 0, tzinfo=UTC)
    request = manifest_submission(manifest, evidence, site, patient_id=cx("2801205123456"),
                                  document_entry_id="urn:uuid:8f6b1bb8-2d3e-4f7a-9c41-0a6c2b7d5e10",
                                  submission_set_id="SubmissionSet01",
                                  submission_set_unique_id="1.2.3.10", creation_time=now,
                                  submission_time=now)
    entry = next(o for o in request.submission.objects if isinstance(o, ExtrinsicObject))
    study = StudyEntry.from_entry(ExtrinsicObject.from_element(entry.to_element()))
    assert study.id == "8f6b1bb8-2d3e-4f7a-9c41-0a6c2b7d5e10"
    assert study.unique_id == "1.2.3.9.1" and study.study_instance_uid == "1.2.3.4"
    assert study.accession == "A2025-0311"
    assert study.started == datetime(2025, 3, 14, 8, 30, tzinfo=UTC)  # 09:30 in Paris
    assert (study.site, study.site_oid) == SITE_A
    assert study.modalities == ("CT",)  # SR is not an acquisition modality
    assert study.regions == ("Thorax",)  # CID 4 meaning of CHEST
    assert study.description == "CT thorax injecté"
    assert study.number_of_instances == 3
    assert study.patient_id == cx("2801205123456")
