"""KOS manifests built from the three complete NIST imaging studies match the gold standards on
every check of the ids_2018-4801 ValidateKOS test plans; they round-trip, and the constructor
refuses what RAD TF-3 forbids."""

from __future__ import annotations

import shutil
import subprocess
from copy import deepcopy
from dataclasses import replace
from datetime import datetime
from io import BytesIO
from pathlib import Path

import pydicom
import pytest

from ihe.errors import RemoteProtocolError
from ihe.kos import (
    Device,
    Instance,
    Manifest,
    RetrieveLocation,
    Series,
    Study,
    differences,
)

#: repositoryUniqueId the NIST IDS tests configure (ids_2018-4800 readme)
NIST_REPOSITORY = "1.3.6.1.4.1.21367.13.80.110"
STUDIES = ["IDS-DEPT022-a", "IDS-DEPT024-a", "IDS-DEPT042-a"]
RETRIEVE = RetrieveLocation(NIST_REPOSITORY, "PARTAGE_GW", "https://gw.site-a.example/wado-rs")
DEVICE = Device("2.25.311861180375624389640396785624738270421", "Partage gateway", "Partage")
WHEN = datetime(2026, 11, 27, 10, 15, 30)


def read_study(folder: Path) -> Study:
    """The evidence as the gateway's queries would return it, read from the images' headers."""
    datasets = [pydicom.dcmread(p, stop_before_pixels=True)
                for p in sorted((folder / "images").glob("*.dcm"))]
    head = datasets[0]
    series: dict[str, Series] = {}
    for ds in datasets:
        item = series.setdefault(ds.SeriesInstanceUID, Series(
            ds.SeriesInstanceUID, ds.Modality, ds.get("BodyPartExamined", "")))
        item.instances.append(Instance(ds.SOPClassUID, ds.SOPInstanceUID))
    return Study(
        study_instance_uid=head.StudyInstanceUID,
        patient_id=head.PatientID,
        patient_name=str(head.PatientName),
        patient_birth_date=head.get("PatientBirthDate", ""),
        patient_sex=head.get("PatientSex", ""),
        study_date=head.get("StudyDate", ""),
        study_time=head.get("StudyTime", ""),
        accession_number=head.get("AccessionNumber", ""),
        study_id=head.get("StudyID", ""),
        study_description=head.get("StudyDescription", ""),
        referring_physician_name=str(head.get("ReferringPhysicianName", "")),
        series=list(series.values()),
    )


def build(study: Study, **overrides) -> Manifest:  # type: ignore[no-untyped-def]
    values = dict(
        sop_instance_uid="2.25.183774521397469453196587634498113485137",
        series_instance_uid="2.25.246800317447950148286046307455935633391",
        content_datetime=WHEN, retrieve=RETRIEVE, device=DEVICE, institution_name="CHU Nord",
    )
    values.update(overrides)
    return Manifest([study], **values)


@pytest.fixture(scope="module")
def imaging_std(conformance_dir: Path) -> Path:
    return conformance_dir / "nist-testkit" / "imaging-std"


@pytest.mark.parametrize("name", STUDIES)
def test_manifest_matches_the_gold_standard(imaging_std: Path, name: str) -> None:
    study = read_study(imaging_std / name)
    manifest = build(study)
    gold = pydicom.dcmread(imaging_std / name / "kos" / "kos.dcm")
    assert differences(manifest, gold) == []
    assert differences(gold, manifest) == []
    ds = manifest.document
    assert (ds.ConceptNameCodeSequence[0].CodeValue, ds.ConceptNameCodeSequence[0]
            .CodingSchemeDesignator) == ("113030", "DCM")
    assert ds.ContinuityOfContent == "SEPARATE"
    assert ds.SeriesInstanceUID not in {s.series_instance_uid for s in study.series}
    referenced = [(r.series_instance_uid, r.sop_class_uid, r.sop_instance_uid)
                  for r in manifest.references]
    assert sorted(referenced) == sorted(
        (s.series_instance_uid, i.sop_class_uid, i.sop_instance_uid)
        for s in study.series for i in s.instances
    )
    # every referenced image is also an IMAGE item of the content tree (TID 2010)
    content = {item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
               for item in ds.ContentSequence if item.ValueType == "IMAGE"}
    assert content == {r.sop_instance_uid for r in manifest.references}


def test_gold_standards_of_ids_2018_4801_are_read_and_compared(conformance_dir: Path) -> None:
    """The comparison the conformance harness runs works on the dcm4che-made gold standards and
    finds each planted difference."""
    tests = conformance_dir / "nist-testkit" / "tests"
    for letter in "abc":
        path = tests / f"ids_2018-4801{letter}" / "ValidateKOS" / "kos-evaluate.dcm"
        gold = pydicom.dcmread(path)
        manifest = Manifest.from_bytes(path.read_bytes())
        assert manifest.retrieve_location_uids == {NIST_REPOSITORY}
        assert differences(manifest, gold) == []
    gold = pydicom.dcmread(tests / "ids_2018-4801b" / "ValidateKOS" / "kos-evaluate.dcm")
    bad = deepcopy(gold)
    bad.PatientID = "OTHER"
    bad.SeriesInstanceUID = gold.CurrentRequestedProcedureEvidenceSequence[0] \
        .ReferencedSeriesSequence[0].SeriesInstanceUID
    series = bad.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence
    series[0].RetrieveLocationUID = "1.2.3"
    series[1].RetrieveAETitle = ""
    del series[2].ReferencedSOPSequence[0]
    found = differences(bad, gold)
    assert any(f.startswith("PatientID") for f in found)
    assert any("not in a new series" in f for f in found)
    assert any("Retrieve Location UID '1.2.3'" in f for f in found)
    assert any("no Retrieve AE Title" in f for f in found)
    assert any("is missing" in f for f in found)
    assert len(found) == 5
    assert differences(b"not dicom at all", gold)[0].startswith("not a valid DICOM file")


@pytest.mark.parametrize("name", STUDIES)
def test_round_trip(imaging_std: Path, name: str) -> None:
    manifest = build(read_study(imaging_std / name))
    data = manifest.to_bytes()
    assert data[128:132] == b"DICM"
    parsed = Manifest.from_bytes(data)
    assert parsed.references == manifest.references
    assert parsed.sop_instance_uid == manifest.sop_instance_uid
    assert parsed.to_bytes() == data
    for ref in parsed.references:
        assert ref.retrieve_location_uid == NIST_REPOSITORY
        assert ref.retrieve_ae_title == "PARTAGE_GW"
        assert ref.retrieve_url == (f"https://gw.site-a.example/wado-rs/studies/"
                                    f"{ref.study_instance_uid}/series/{ref.series_instance_uid}")


def test_build_is_reproducible_and_uses_the_callers_time(imaging_std: Path) -> None:
    study = read_study(imaging_std / "IDS-DEPT024-a")
    first, second = build(study).to_bytes(), build(study).to_bytes()
    assert first == second
    ds = build(study).document
    stamps = (ds.ContentDate, ds.ContentTime, ds.InstanceCreationDate, ds.InstanceCreationTime)
    assert [str(v) for v in stamps] == ["20261127", "101530", "20261127", "101530"]


def test_patient_and_study_attributes_are_copied(imaging_std: Path) -> None:
    study = replace(read_study(imaging_std / "IDS-DEPT022-a"),
                    issuer_of_patient_id="1.2.250.1.999.1", patient_name="Élodie^Bérénice")
    ds = pydicom.dcmread(BytesIO(build(study).to_bytes()))
    assert ds.IssuerOfPatientID == "1.2.250.1.999.1"
    assert str(ds.PatientName) == "Élodie^Bérénice"  # UTF-8 (ISO_IR 192) survives
    assert ds.StudyTime == "134500"  # the archive's ACR-NEMA "13:45:00", made a valid TM
    assert (ds.AccessionNumber, ds.StudyID, ds.PatientBirthDate) == (
        "IDC022-a", "IDC022-a", "19780322")


def test_no_wado_rs_means_no_retrieve_url(imaging_std: Path) -> None:
    manifest = build(read_study(imaging_std / "IDS-DEPT042-a"),
                     retrieve=RetrieveLocation(NIST_REPOSITORY, "PARTAGE_GW"))
    series = manifest.document.CurrentRequestedProcedureEvidenceSequence[0] \
        .ReferencedSeriesSequence[0]
    assert "RetrieveURL" not in series and series.RetrieveLocationUID == NIST_REPOSITORY


def test_pieces_of_one_study_are_merged(imaging_std: Path) -> None:
    study = read_study(imaging_std / "IDS-DEPT024-a")
    series = study.series[0]
    half = len(series.instances) // 2
    part1 = replace(study, series=[replace(series, instances=series.instances[:half + 1])])
    part2 = replace(study, series=[replace(series, instances=series.instances[half:])])
    merged = Manifest([part1, part2], sop_instance_uid="2.25.1", series_instance_uid="2.25.2",
                      content_datetime=WHEN, retrieve=RETRIEVE, device=DEVICE)
    assert len(merged.references) == len(series.instances)


def test_constructor_refusals(imaging_std: Path) -> None:
    study = read_study(imaging_std / "IDS-DEPT024-a")
    kwargs = dict(sop_instance_uid="2.25.1", series_instance_uid="2.25.2",
                  content_datetime=WHEN, retrieve=RETRIEVE, device=DEVICE)
    with pytest.raises(ValueError, match="No evidence"):
        Manifest([], **kwargs)
    with pytest.raises(ValueError, match="No instance"):
        Manifest([replace(study, series=[])], **kwargs)
    other = replace(study, study_instance_uid="2.25.99")
    with pytest.raises(ValueError, match="spans 2 studies"):
        Manifest([study, other], **kwargs)
    with pytest.raises(ValueError, match="several patients"):
        Manifest([study, replace(study, patient_id="X")], **kwargs)
    with pytest.raises(ValueError, match=r"Retrieve Location UID \(0040,E011\) is required"):
        Manifest([study], **{**kwargs, "retrieve": RetrieveLocation("", "PARTAGE_GW")})
    with pytest.raises(ValueError, match="not a valid DICOM UID"):
        Manifest([study], **{**kwargs, "retrieve": RetrieveLocation("1.2.03", "PARTAGE_GW")})
    with pytest.raises(ValueError, match="Retrieve AE Title"):
        Manifest([study], **{**kwargs, "retrieve": RetrieveLocation(NIST_REPOSITORY, "")})
    with pytest.raises(ValueError, match="new series"):
        Manifest([study], **{**kwargs,
                             "series_instance_uid": study.series[0].series_instance_uid})
    with pytest.raises(ValueError, match="belongs to the evidence"):
        Manifest([study], **{**kwargs,
                             "sop_instance_uid": study.series[0].instances[0].sop_instance_uid})
    empty = replace(study, series=[*study.series, Series("2.25.3", "PT")])
    with pytest.raises(ValueError, match="have no instances"):
        Manifest([empty], **kwargs)
    with pytest.raises(TypeError, match="ihe.kos.Study"):
        Manifest([study.series[0]], **kwargs)  # type: ignore[list-item]


def test_parse_refusals(imaging_std: Path) -> None:
    data = (imaging_std / "IDS-DEPT024-a" / "kos" / "kos.dcm").read_bytes()
    with pytest.raises(RemoteProtocolError, match="not a DICOM Part 10 file"):
        Manifest.from_bytes(b"\0" * 200)
    image = (imaging_std / "IDS-DEPT042-a" / "images" / "000000.dcm").read_bytes()
    with pytest.raises(RemoteProtocolError, match="is not Key Object Selection"):
        Manifest.from_bytes(image)
    ds = pydicom.dcmread(BytesIO(data))
    del ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0] \
        .RetrieveLocationUID
    with pytest.raises(RemoteProtocolError, match="no Retrieve Location UID"):
        Manifest.from_dataset(ds)
    ds = pydicom.dcmread(BytesIO(data))
    ds.ConceptNameCodeSequence[0].CodeValue = "113000"  # Of Interest: not a manifest
    with pytest.raises(RemoteProtocolError, match="document title"):
        Manifest.from_dataset(ds)


@pytest.mark.skipif(shutil.which("dcmdump") is None, reason="dcmtk is not installed")
def test_dcmtk_reads_the_manifest(imaging_std: Path, tmp_path: Path) -> None:
    path = tmp_path / "kos.dcm"
    path.write_bytes(build(read_study(imaging_std / "IDS-DEPT024-a")).to_bytes())
    out = subprocess.run(["dcmdump", "-q", "+P", "0040,e011", "+P", "0008,0054",
                          "+P", "0008,0100", "+P", "0008,1155", str(path)],
                         capture_output=True, text=True, check=True).stdout
    assert f"[{NIST_REPOSITORY}]" in out and "[PARTAGE_GW]" in out and "[113030]" in out
    assert out.count("ReferencedSOPInstanceUID") == 20  # 10 in the evidence, 10 in the content
    assert "E:" not in out
