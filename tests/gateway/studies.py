"""Test helpers on top of ``partage.studies``: put a synthetic study into a real Orthanc (the
``orthanc`` fixture) through its REST API or over DIMSE with dcmtk's ``storescu``, and read back
what Orthanc holds."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydicom.dataset import Dataset

from partage.orthanc import Orthanc
from partage.studies import Patient, StudySpec, build_study, part10

#: a patient of the site with its assigning authority (Issuer of Patient ID)
PATIENT = Patient("IPP000123", "MARTIN^Claire", "19580412", "F", issuer="1.2.250.1.999.1.1.1")


@dataclass
class StoredStudy:
    """A synthetic study as stored: the datasets sent, and Orthanc's identifiers for them."""

    spec: StudySpec
    datasets: list[Dataset]
    #: Orthanc's study identifier (``/studies/{id}``)
    orthanc_id: str

    @property
    def study_instance_uid(self) -> str:
        return self.spec.study_instance_uid

    @property
    def sop_instance_uids(self) -> set[str]:
        return {str(ds.SOPInstanceUID) for ds in self.datasets}

    @property
    def series_instance_uids(self) -> set[str]:
        return {str(ds.SeriesInstanceUID) for ds in self.datasets}


def make_spec(**overrides: object) -> StudySpec:
    """A small CT study (4 slices of 64×64) with an accession number, unless overridden."""
    values: dict[str, object] = {"patient": PATIENT, "accession_number": "ACC0001"}
    values.update(overrides)
    return StudySpec(**values)  # type: ignore[arg-type]


def orthanc_study_id(orthanc: Orthanc, study_instance_uid: str) -> str:
    """Orthanc's identifier of the study with this Study Instance UID (its REST ``tools/lookup``)."""
    answer = httpx.post(f"{orthanc.url}/tools/lookup", content=study_instance_uid, timeout=30)
    answer.raise_for_status()
    found = [item["ID"] for item in answer.json() if item["Type"] == "Study"]
    if not found:
        raise LookupError(f"Orthanc has no study {study_instance_uid}")
    return str(found[0])


def store_rest(orthanc: Orthanc, spec: StudySpec | None = None) -> StoredStudy:
    """Build the study and upload each instance with ``POST /instances`` (one HTTP client for
    all: creating one per request costs ~150 ms)."""
    spec = spec or make_spec()
    datasets = build_study(spec)
    with httpx.Client(base_url=orthanc.url, timeout=60) as client:
        for ds in datasets:
            client.post("/instances", content=part10(ds)).raise_for_status()
    return StoredStudy(spec, datasets, orthanc_study_id(orthanc, spec.study_instance_uid))


def dcmtk(tool: str) -> str:
    """The path of dcmtk's ``tool`` from the system directories: the virtualenv's ``bin`` holds
    pynetdicom's apps under the same names (``storescu``, ``findscu``, ``getscu``…)."""
    path = shutil.which(tool, path=os.defpath)
    if path is None:
        raise FileNotFoundError(f"dcmtk's {tool} is not installed")
    return path


def store_storescu(orthanc: Orthanc, folder: Path, spec: StudySpec | None = None) -> StoredStudy:
    """Build the study, write it to ``folder`` and send it with dcmtk ``storescu`` (C-STORE,
    TCP_NODELAY=1), as a modality would."""
    spec = spec or make_spec()
    datasets = build_study(spec)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for ds in datasets:
        path = folder / f"{ds.SOPInstanceUID}.dcm"
        path.write_bytes(part10(ds))
        paths.append(str(path))
    subprocess.run(
        [dcmtk("storescu"), "-aec", orthanc.config.ae_title, "-aet", "MODALITY",
         "127.0.0.1", str(orthanc.config.dicom_port), *paths],
        check=True, capture_output=True, timeout=120, env={**os.environ, "TCP_NODELAY": "1"},
    )
    return StoredStudy(spec, datasets, orthanc_study_id(orthanc, spec.study_instance_uid))


def orthanc_instance_files(orthanc: Orthanc, study: StoredStudy) -> dict[str, bytes]:
    """SOP Instance UID → the Part 10 bytes Orthanc serves at ``/instances/{id}/file``."""
    files = {}
    with httpx.Client(base_url=orthanc.url, timeout=60) as client:
        for instance in client.get(f"/studies/{study.orthanc_id}/instances").json():
            answer = client.get(f"/instances/{instance['ID']}/file")
            answer.raise_for_status()
            files[instance["MainDicomTags"]["SOPInstanceUID"]] = answer.content
    return files
