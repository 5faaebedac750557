"""The three complete NIST imaging studies of ``nist-testkit/imaging-std`` (images, the KOS that
references them, their PnR metadata) and which ids_2018 test each stands in for.

NIST's ids_2018 image set is not distributed; TESTS.md names these three studies as the
end-to-end RAD-68 → RAD-69 fixture. Each takes the place of the ids_2018-4801/4802/4803 variant
of the same shape: a single image (a), several images (b), the JPEG-compressed study (c).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pydicom
from lxml import etree
from pydicom.dataset import Dataset

from ihe import kos
from ihe.ebrim import Scheme

#: ids_2018 variant letter → imaging-std study (TESTS.md, "Imaging Document Source")
STUDIES = {"a": "IDS-DEPT022-a", "b": "IDS-DEPT024-a", "c": "IDS-DEPT042-a"}
#: repositoryUniqueId the IDS tests configure (ids_2018-4800 readme)
NIST_REPOSITORY = "1.3.6.1.4.1.21367.13.80.110"
#: assigning authority of accession numbers in the tests' affinity domain (ids_2018-4800)
ACCESSION_AUTHORITY = "1.3.6.1.4.1.21367.13.202.2000"
#: the affinity-domain codes the ids_2018-4800 readme asks a source to use: gateway setting →
#: (DocumentEntry classification scheme, code, coding scheme, display name)
AFFINITY_CODES = {
    "class_code": (Scheme.DE_CLASS_CODE, "IMAGES", "1.3.6.1.4.1.19376.1.2.6.1", "Images"),
    "confidentiality_code": (Scheme.DE_CONFIDENTIALITY_CODE, "R", "2.16.840.1.113883.5.25",
                             "restricted"),
    "healthcare_facility_type_code": (Scheme.DE_HEALTHCARE_FACILITY_TYPE_CODE, "35971002",
                                      "2.16.840.1.113883.6.96", "Ambulatory care site"),
    "practice_setting_code": (Scheme.DE_PRACTICE_SETTING_CODE, "Practice-A",
                              "1.3.6.1.4.1.21367.2017.3", "Radiology"),
}
#: the tags NIST's ``sameDcmImgs`` compares between a returned image and the original
SAME_TAGS = ("SOPClassUID", "SOPInstanceUID", "PatientID", "PatientBirthDate", "PatientSex",
             "StudyInstanceUID", "SeriesInstanceUID")


@dataclass(frozen=True)
class ImagingStudy:
    """One imaging-std study: its images as read from disk, its regional patient ID."""

    letter: str
    folder: Path
    images: tuple[Dataset, ...]
    #: the affinity-domain patient ID (CX) NIST maps the local ID to (its ``metadata.xml``)
    regional_id: str

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def head(self) -> Dataset:
        return self.images[0]

    @property
    def study_uid(self) -> str:
        return str(self.head.StudyInstanceUID)

    @property
    def series_uid(self) -> str:
        return str(self.head.SeriesInstanceUID)

    @property
    def sop_uid(self) -> str:
        return str(self.head.SOPInstanceUID)

    @property
    def gold_kos(self) -> Path:
        """The KOS NIST made for these images: the gold standard of ``sameKOSDcm``."""
        return self.folder / "kos" / "kos.dcm"

    def image(self, sop_instance_uid: str) -> Dataset | None:
        return next((ds for ds in self.images if ds.SOPInstanceUID == sop_instance_uid), None)

    def evidence(self) -> kos.Study:
        """The study as its headers describe it (what a KOS and its metadata must reflect)."""
        series: dict[str, kos.Series] = {}
        for ds in self.images:
            item = series.setdefault(ds.SeriesInstanceUID, kos.Series(
                str(ds.SeriesInstanceUID), str(ds.Modality), str(ds.get("BodyPartExamined", ""))))
            item.instances.append(kos.Instance(str(ds.SOPClassUID), str(ds.SOPInstanceUID)))
        head = self.head
        return kos.Study(
            study_instance_uid=self.study_uid, patient_id=str(head.PatientID),
            patient_name=str(head.get("PatientName", "")),
            patient_birth_date=str(head.get("PatientBirthDate", "")),
            patient_sex=str(head.get("PatientSex", "")), study_date=str(head.get("StudyDate", "")),
            study_time=str(head.get("StudyTime", "")),
            accession_number=str(head.get("AccessionNumber", "")),
            study_id=str(head.get("StudyID", "")),
            study_description=str(head.get("StudyDescription", "")),
            referring_physician_name=str(head.get("ReferringPhysicianName", "")),
            series=list(series.values()),
        )


def _regional_id(metadata: Path) -> str:
    tree = etree.parse(str(metadata), etree.XMLParser(resolve_entities=False, no_network=True))
    return next(str(el.get("value")) for el in tree.iter("{*}ExternalIdentifier")
                if el.get("identificationScheme") == Scheme.DE_PATIENT_ID)


def load(imaging_std: Path) -> dict[str, ImagingStudy]:
    """letter → study, images sorted by Instance Number."""
    studies = {}
    for letter, name in STUDIES.items():
        folder = imaging_std / name
        images = sorted((pydicom.dcmread(p) for p in (folder / "images").glob("*.dcm")),
                        key=lambda ds: int(ds.get("InstanceNumber") or 0))
        if not images:
            raise FileNotFoundError(f"no images in {folder / 'images'}")
        studies[letter] = ImagingStudy(letter, folder, tuple(images),
                                       _regional_id(folder / "kos" / "metadata.xml"))
    return studies
