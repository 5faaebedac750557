"""A study as one RAD-68 request: its KOS manifest (``ihe.kos.Manifest``) and the XDS-I.b
metadata of DESIGN.md step 2 (RAD TF-3 §4.68.4.1.2.3), optionally replacing (RPLC) the
DocumentEntry of its previous manifest (ITI TF-3 §4.2.2.2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.core.config import CodeSetting, GatewaySettings
from gateway.pacs import StudyInfo
from ihe import kos
from ihe.ebrim import (
    Association,
    AssociationType,
    ObjectType,
    ProvideAndRegisterDocumentSetRequest,
)
from ihe.ebrim.builders import Code


def _code(setting: CodeSetting) -> Code:
    return Code(setting.code, setting.scheme, setting.display)


@dataclass(frozen=True)
class DocumentIds:
    """Identifiers the publisher reserves before sending (the KOS SOP Instance UID is also the
    DocumentEntry uniqueId, RAD TF-3 §4.68.4.1.2.3.2)."""

    kos_sop_instance_uid: str
    kos_series_instance_uid: str
    entry_uuid: str
    submission_set_unique_id: str


def evidence(study: StudyInfo) -> kos.Study:
    """The PACS's answer as ``ihe.kos`` evidence."""
    return kos.Study(
        study_instance_uid=study.study_instance_uid, patient_id=study.patient_id,
        issuer_of_patient_id=study.issuer_of_patient_id, patient_name=study.patient_name,
        patient_birth_date=study.patient_birth_date, patient_sex=study.patient_sex,
        study_date=study.study_date, study_time=study.study_time,
        accession_number=study.accession_number, study_id=study.study_id,
        study_description=study.study_description,
        referring_physician_name=study.referring_physician_name,
        series=[
            kos.Series(
                series_instance_uid=s.series_instance_uid, modality=s.modality,
                body_part_examined=s.body_part_examined,
                instances=[kos.Instance(i.sop_class_uid, i.sop_instance_uid) for i in s.instances],
            )
            for s in study.series
        ],
    )


def site_profile(settings: GatewaySettings, patient_id_authority: str) -> kos.SiteProfile:
    """The site's publishing profile (codes from the settings); accession numbers are issued
    by the site itself."""
    return kos.SiteProfile(
        site_oid=settings.site_oid, site_name=settings.site_name,
        patient_id_authority=patient_id_authority,
        accession_authority=settings.accession_authority or settings.site_oid,
        class_code=_code(settings.class_code), type_code=_code(settings.type_code),
        practice_setting_code=_code(settings.practice_setting_code),
        healthcare_facility_type_code=_code(settings.healthcare_facility_type_code),
        confidentiality_codes=(_code(settings.confidentiality_code),),
        content_type_code=_code(settings.type_code), timezone=settings.timezone,
    )


def build(
    study_info: StudyInfo, settings: GatewaySettings, *, ids: DocumentIds, patient_id: str,
    patient_id_authority: str, replaces: str | None, now: datetime,
) -> ProvideAndRegisterDocumentSetRequest:
    """The ITI-41 request publishing ``study_info`` for regional patient ``patient_id``;
    ``replaces`` is the entryUUID of the Approved DocumentEntry it replaces, if any."""
    study = evidence(study_info)
    manifest = kos.Manifest(
        [study],
        sop_instance_uid=ids.kos_sop_instance_uid,
        series_instance_uid=ids.kos_series_instance_uid,
        content_datetime=now.astimezone(),
        retrieve=kos.RetrieveLocation(
            settings.repository_unique_id, settings.ae_title,
            f"{settings.public_url.rstrip('/')}/wado-rs",
        ),
        device=kos.Device(settings.repository_unique_id, settings.ae_title, "Partage"),
        institution_name=study_info.institution_name or settings.site_name,
    )
    request = kos.manifest_submission(
        manifest, study, site_profile(settings, patient_id_authority), patient_id=patient_id,
        document_entry_id=ids.entry_uuid, submission_set_id="SubmissionSet01",
        submission_set_unique_id=ids.submission_set_unique_id, creation_time=now,
        submission_time=now,
    )
    if replaces:
        request.submission.objects.append(Association(
            id="Replacement01", object_type=ObjectType.ASSOCIATION,
            association_type=AssociationType.RPLC,
            source_object=ids.entry_uuid, target_object=replaces,
        ))
    return request
