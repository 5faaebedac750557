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
from typing import Protocol


class PacsError(Exception):
    """The PACS answered, but not with what was asked (failure status, truncated transfer)."""


class PacsUnavailable(PacsError):
    """The PACS could not be reached or dropped the connection."""


@dataclass(frozen=True)
class InstanceInfo:
    sop_class_uid: str
    sop_instance_uid: str
    instance_number: int | None = None
    number_of_frames: int | None = None


@dataclass
class SeriesInfo:
    series_instance_uid: str
    modality: str = ""
    series_number: int | None = None
    series_description: str = ""
    body_part_examined: str = ""
    instances: list[InstanceInfo] = field(default_factory=list)


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
