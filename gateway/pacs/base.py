"""What the gateway needs from a PACS, whatever it speaks (DIMSE or DICOMweb).

Queries return plain dataclasses with the attributes publishing needs (RAD TF-3 §4.68: the KOS
and the XDS-I metadata); retrieval streams Part 10 instances one at a time, so a study is never
held in memory. An unreachable PACS raises ``PacsUnavailable``; a PACS that answers with an
error, or stops in the middle of a transfer, raises ``PacsError`` — never a short success.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol, runtime_checkable

from pydicom.dataset import Dataset


class PacsError(Exception):
    """The PACS answered, but not with what was asked (failure status, truncated transfer)."""


class PacsUnavailable(PacsError):
    """The PACS could not be reached or dropped the connection."""


def text(ds: Dataset, keyword: str) -> str:
    """A single-valued attribute as stripped text ("" when absent or empty)."""
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


def number(ds: Dataset, keyword: str) -> int | None:
    """An integer attribute; ``None`` when absent, empty or not a number."""
    value = ds.get(keyword)
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def values(ds: Dataset, keyword: str) -> list[str]:
    """A multi-valued attribute as a list (pydicom gives a plain value when there is one)."""
    value = ds.get(keyword) or []
    return [str(v) for v in ([value] if isinstance(value, str) else value) if str(v)]


@dataclass(frozen=True)
class InstanceInfo:
    sop_class_uid: str
    sop_instance_uid: str
    instance_number: int | None = None
    number_of_frames: int | None = None

    @classmethod
    def from_dataset(cls, ds: Dataset) -> InstanceInfo:
        """From an IMAGE-level C-FIND or QIDO-RS answer."""
        return cls(text(ds, "SOPClassUID"), text(ds, "SOPInstanceUID"),
                   number(ds, "InstanceNumber"), number(ds, "NumberOfFrames"))


@dataclass
class SeriesInfo:
    series_instance_uid: str
    modality: str = ""
    series_number: int | None = None
    series_description: str = ""
    body_part_examined: str = ""
    instances: list[InstanceInfo] = field(default_factory=list)

    @classmethod
    def from_dataset(cls, ds: Dataset) -> SeriesInfo:
        """From a SERIES-level C-FIND or QIDO-RS answer (without its instances)."""
        return cls(
            series_instance_uid=text(ds, "SeriesInstanceUID"), modality=text(ds, "Modality"),
            series_number=number(ds, "SeriesNumber"),
            series_description=text(ds, "SeriesDescription"),
            body_part_examined=text(ds, "BodyPartExamined"),
        )


@dataclass
class StudyInfo:
    """Study-level attributes; ``series`` is filled by ``Pacs.study`` (not by ``find_studies``)."""

    study_instance_uid: str
    patient_id: str = ""
    issuer_of_patient_id: str = ""
    patient_name: str = ""
    patient_birth_date: str = ""
    patient_sex: str = ""
    study_date: str = ""
    study_time: str = ""
    accession_number: str = ""
    study_description: str = ""
    study_id: str = ""
    referring_physician_name: str = ""
    institution_name: str = ""
    modalities_in_study: tuple[str, ...] = ()
    number_of_instances: int | None = None
    series: list[SeriesInfo] = field(default_factory=list)

    @classmethod
    def from_dataset(cls, ds: Dataset) -> StudyInfo:
        """From a STUDY-level C-FIND or QIDO-RS answer (without its series)."""
        return cls(
            study_instance_uid=text(ds, "StudyInstanceUID"),
            patient_id=text(ds, "PatientID"), issuer_of_patient_id=text(ds, "IssuerOfPatientID"),
            patient_name=text(ds, "PatientName"), patient_birth_date=text(ds, "PatientBirthDate"),
            patient_sex=text(ds, "PatientSex"), study_date=text(ds, "StudyDate"),
            study_time=text(ds, "StudyTime"), accession_number=text(ds, "AccessionNumber"),
            study_description=text(ds, "StudyDescription"), study_id=text(ds, "StudyID"),
            referring_physician_name=text(ds, "ReferringPhysicianName"),
            institution_name=text(ds, "InstitutionName"),
            modalities_in_study=tuple(values(ds, "ModalitiesInStudy")),
            number_of_instances=number(ds, "NumberOfStudyRelatedInstances"),
        )


class Pacs(Protocol):
    """The local PACS. Implementations are thread-safe: the gateway serves requests
    concurrently."""

    def find_studies(
        self, *, since: date | None = None, until: date | None = None,
        study_instance_uid: str | None = None, patient_id: str | None = None,
    ) -> list[StudyInfo]:
        """Studies by StudyDate range (inclusive), UID or patient (study-level query)."""
        ...

    def study(self, study_instance_uid: str) -> StudyInfo | None:
        """The study with every series and instance (series- and instance-level queries);
        ``None`` when the PACS does not have it."""
        ...

    def retrieve(
        self, study_instance_uid: str, series_instance_uid: str | None = None,
        sop_instance_uids: list[str] | None = None,
    ) -> Iterator[bytes]:
        """Stream the Part 10 bytes of the selected instances, one instance at a time."""
        ...

    def close(self) -> None:
        """Release connections and threads."""
        ...


@runtime_checkable
class MetadataPacs(Pacs, Protocol):
    """A PACS that answers instance metadata itself (DICOMweb WADO-RS metadata): the gateway
    then describes a series it has not cached without moving any pixel data."""

    def metadata(self, study_instance_uid: str,
                 series_instance_uid: str | None = None) -> list[dict[str, Any]]:
        """DICOM JSON of every instance (PS3.18 §F.2); ``[]`` when the PACS lacks them."""
        ...
