"""Synthetic studies written as Part 10 files for a benchmark: large series made of one phantom
slice reused (rendering 512×512 phantoms costs ~40 ms each; the bytes on the wire are what is
measured, so the headers differ per instance and the pixels need not), and backlogs of tiny
studies over many patients."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from pydicom.uid import generate_uid

from partage.studies import Patient, StudySpec, build_study


@dataclass
class WrittenStudy:
    """A study on disk: its UIDs in the order written, and its size in bytes."""

    study_instance_uid: str
    series: dict[str, list[str]] = field(default_factory=dict)
    size: int = 0

    @property
    def first_series(self) -> str:
        return next(iter(self.series))

    @property
    def instances(self) -> int:
        return sum(len(sops) for sops in self.series.values())


def write_study(folder: Path, spec: StudySpec, instances_per_series: int,
                series_count: int = 1) -> WrittenStudy:
    """``series_count`` series of ``instances_per_series`` slices of ``spec``'s size (one
    phantom slice reused), written to ``folder``."""
    template = build_study(replace(spec, slices=1, series_count=1))[0]
    written = WrittenStudy(spec.study_instance_uid)
    folder.mkdir(parents=True, exist_ok=True)
    for s in range(series_count):
        series_uid = generate_uid()
        sops = written.series.setdefault(series_uid, [])
        template.SeriesInstanceUID = series_uid
        template.SeriesNumber = s + 1
        for i in range(instances_per_series):
            sop = generate_uid()
            template.SOPInstanceUID = template.file_meta.MediaStorageSOPInstanceUID = sop
            template.InstanceNumber = i + 1
            template.ImagePositionPatient = [-160.0, -160.0, -2.5 * i]
            template.SliceLocation = -2.5 * i
            path = folder / f"{sop}.dcm"
            template.save_as(path, enforce_file_format=True)
            written.size += path.stat().st_size
            sops.append(sop)
    return written


def write_backlog(folder: Path, count: int, patients: list[Patient], study_date: str
                  ) -> list[str]:
    """``count`` one-instance 64×64 CT studies dated ``study_date``, round-robin over
    ``patients``; their Study Instance UIDs."""
    folder.mkdir(parents=True, exist_ok=True)
    uids = []
    for n in range(count):
        spec = StudySpec(patients[n % len(patients)], study_date=study_date, slices=1,
                         accession_number=f"BENCH{n:06d}")
        written = write_study(folder, spec, instances_per_series=1)
        uids.append(written.study_instance_uid)
    return uids
