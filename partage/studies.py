"""Synthetic but realistic DICOM studies for the demo, the benchmarks and the tests.

Headers carry what a modality writes (patient, study, series, geometry, rescale, window); the
pixels are a phantom (body outline, organs, bone ring, noise) so viewers show a picture, not a
blank square. UIDs come from pydicom's ``generate_uid`` (UUID-derived, unique).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from io import BytesIO

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, generate_uid

#: SOP classes of the modalities we synthesise (16-bit monochrome cross-sections)
SOP_CLASS = {"CT": CTImageStorage, "MR": MRImageStorage}


@dataclass(frozen=True)
class Patient:
    patient_id: str
    name: str  # DICOM PN, e.g. "MARTIN^Claire"
    birth_date: str  # YYYYMMDD
    sex: str
    issuer: str = ""  # Issuer of Patient ID (the site's authority OID)


@dataclass
class StudySpec:
    patient: Patient
    modality: str = "CT"
    body_part: str = "CHEST"
    description: str = "CT THORAX"
    study_date: str = field(default_factory=lambda: date.today().strftime("%Y%m%d"))
    study_time: str = "101500"
    accession_number: str = ""
    institution: str = "CHU Nord"
    referring_physician: str = "DUPONT^Jean"
    series_count: int = 1
    slices: int = 4
    rows: int = 64
    columns: int = 64
    study_instance_uid: str = field(default_factory=generate_uid)


def phantom(rows: int, columns: int, slice_index: int, slices: int, seed: int) -> np.ndarray:
    """A CT-like slice in Hounsfield units + 1024 (air 0, soft tissue ~1064, bone ~1800)."""
    rng = np.random.default_rng(seed + slice_index)
    y, x = np.mgrid[-1 : 1 : rows * 1j, -1 : 1 : columns * 1j]
    z = (slice_index / max(slices - 1, 1)) * 2 - 1
    img = np.zeros((rows, columns), dtype=np.float64)
    body = (x / 0.85) ** 2 + (y / 0.65) ** 2 <= 1
    img[body] = 1064
    lung_r = 0.28 * (1 - 0.3 * z * z)
    for cx in (-0.38, 0.38):
        img[((x - cx) / lung_r) ** 2 + (y / (lung_r * 1.6)) ** 2 <= 1] = 250
    ring = (x**2 + (y + 0.45) ** 2 <= 0.12**2) & (x**2 + (y + 0.45) ** 2 >= 0.07**2)
    img[ring] = 1800
    img[(x**2 + (y - 0.05) ** 2) <= (0.12 + 0.05 * z) ** 2] = 1100
    img += rng.normal(0, 12, size=img.shape) * body
    return np.clip(img, 0, 4095).astype(np.uint16)


def build_study(spec: StudySpec) -> list[Dataset]:
    """Every instance of the study, series after series, ready to store."""
    frame_of_reference = generate_uid()
    datasets = []
    for s in range(spec.series_count):
        series_uid = generate_uid()
        for i in range(spec.slices):
            datasets.append(_instance(spec, s, series_uid, frame_of_reference, i))
    return datasets


def _instance(spec: StudySpec, series_index: int, series_uid: str, frame_of_reference: str,
              index: int) -> Dataset:
    sop_uid = generate_uid()
    sop_class = SOP_CLASS.get(spec.modality, CTImageStorage)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = spec.study_date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = spec.study_time
    ds.AccessionNumber = spec.accession_number
    ds.Modality = spec.modality
    ds.Manufacturer = "Partage synthetic"
    ds.InstitutionName = spec.institution
    ds.ReferringPhysicianName = spec.referring_physician
    ds.StudyDescription = spec.description
    ds.SeriesDescription = f"{spec.description} {'AXIAL' if series_index == 0 else 'RECON ' + str(series_index)}"
    ds.PatientName = spec.patient.name
    ds.PatientID = spec.patient.patient_id
    if spec.patient.issuer:
        ds.IssuerOfPatientID = spec.patient.issuer
    ds.PatientBirthDate = spec.patient.birth_date
    ds.PatientSex = spec.patient.sex
    ds.BodyPartExamined = spec.body_part
    ds.SliceThickness = "2.5"
    ds.StudyInstanceUID = spec.study_instance_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = spec.accession_number[-8:] or "1"
    ds.SeriesNumber = series_index + 1
    ds.InstanceNumber = index + 1
    ds.ImagePositionPatient = [-160.0, -160.0, -2.5 * index]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.FrameOfReferenceUID = frame_of_reference
    ds.SliceLocation = -2.5 * index
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = spec.rows
    ds.Columns = spec.columns
    ds.PixelSpacing = [320.0 / spec.rows, 320.0 / spec.columns]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.WindowCenter = 40
    ds.WindowWidth = 400
    seed = int(spec.study_instance_uid.replace(".", "")[-8:]) + series_index * 1000
    ds.PixelData = phantom(spec.rows, spec.columns, index, spec.slices, seed).tobytes()
    return ds


def part10(ds: Dataset) -> bytes:
    """The dataset as a DICOM Part 10 file."""
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
