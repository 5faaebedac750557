"""Building blocks of a manifest: what the PACS queries give (the evidence) and what a manifest
references once built or parsed.

The evidence classes mirror the gateway's C-FIND / QIDO-RS results (study, series and instance
level) so that this package stays free of gateway imports; the gateway converts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydicom.uid import UID


@dataclass(frozen=True)
class Instance:
    """One stored SOP instance, as an instance-level query returns it."""

    sop_class_uid: str
    sop_instance_uid: str

    @property
    def is_image(self) -> bool:
        """Whether the SOP Class is an image storage class, referenced as an IMAGE content item
        (PS3.3 C.17.3.2.1); every other class is referenced as COMPOSITE."""
        return "Image Storage" in UID(self.sop_class_uid).name


@dataclass
class Series:
    """One series of the study with its instances (series- and instance-level queries)."""

    series_instance_uid: str
    modality: str = ""
    body_part_examined: str = ""
    instances: list[Instance] = field(default_factory=list)


@dataclass
class Study:
    """Patient and study attributes of the evidence (study-level query), with its series.

    Values are DICOM strings exactly as the PACS holds them: the manifest copies them unchanged
    (NIST ids_2018-4800: patient, study and accession attributes "shall not change").
    """

    study_instance_uid: str
    patient_id: str = ""
    issuer_of_patient_id: str = ""
    patient_name: str = ""
    patient_birth_date: str = ""
    patient_sex: str = ""
    study_date: str = ""
    study_time: str = ""
    accession_number: str = ""
    study_id: str = ""
    study_description: str = ""
    referring_physician_name: str = ""
    series: list[Series] = field(default_factory=list)

    @property
    def modalities(self) -> list[str]:
        """Distinct modalities of the series, in series order."""
        return list(dict.fromkeys(s.modality for s in self.series if s.modality))

    @property
    def body_parts(self) -> list[str]:
        """Distinct Body Part Examined values of the series, upper case, in series order."""
        return list(
            dict.fromkeys(s.body_part_examined.upper() for s in self.series if s.body_part_examined)
        )


@dataclass(frozen=True)
class RetrieveLocation:
    """Where consumers fetch the referenced instances (PS3.3 Table 10-4, RAD TF-3 §4.68.4.1.2).

    ``repository_unique_id`` is the gateway's repositoryUniqueId, written as Retrieve Location
    UID (0040,E011) and used by RAD-69; ``ae_title`` the gateway's DICOM AE, written as Retrieve
    AE Title (0008,0054); ``wado_rs_root`` the gateway's public WADO-RS base URL (no trailing
    slash), from which each series' Retrieve URL (0008,1190) is made; empty when not offered.
    """

    repository_unique_id: str
    ae_title: str
    wado_rs_root: str = ""

    def series_url(self, study_instance_uid: str, series_instance_uid: str) -> str:
        """WADO-RS URL of a series (PS3.18 §10.4.1: ``{root}/studies/{uid}/series/{uid}``)."""
        return f"{self.wado_rs_root}/studies/{study_instance_uid}/series/{series_instance_uid}"


@dataclass(frozen=True)
class Device:
    """The device that creates the manifest: the gateway (TID 1004 Device Observer)."""

    uid: str
    name: str
    manufacturer: str


@dataclass(frozen=True)
class Reference:
    """One instance a manifest references, with where to fetch it from."""

    study_instance_uid: str
    series_instance_uid: str
    sop_class_uid: str
    sop_instance_uid: str
    retrieve_location_uid: str
    retrieve_ae_title: str = ""
    retrieve_url: str = ""
